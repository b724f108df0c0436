"""Tasks: import (JSON, JSONL, CSV) with a per-row error report, and offering the next task to an
annotator (respecting overlap, qualifications and never the same task twice).

An offer (an ``Assignment``) holds one of the task's overlap slots until it is submitted, it
expires (``offer_ttl_seconds``) or its holder releases it. Wallets are free, so what one wallet
can hold is capped: ``max_open_offers_per_project`` open offers in a project (asking again at the
cap answers the oldest of them again: an annotator who reloads the page gets the same task) and
``max_open_offers`` across projects (over it: 409 until one is submitted, released or expired).
A released or expired offer is never offered to its wallet again, like any task it has seen.

An import is all-or-nothing: if any row is invalid nothing is stored and every bad row is
reported, so a requester fixes the file and sends it again.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eth_abi import encode
from eth_utils import keccak
from pydantic import ValidationError
from sqlalchemy import and_, exists, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labelshare.config import Settings
from labelshare.db.models import Assignment, Project, Submission, Task, utcnow
from labelshare.errors import Conflict, InvalidInput, LabelShareError, NotFound
from labelshare.labels import label_schema_adapter, validate_label
from labelshare.task_formats import ROW_RULES, TaskRow

__all__ = [
    "ImportRejected", "ImportReport", "RowError", "import_tasks", "offer_next_task", "parse_rows", "release_offer",
    "task_key",
]

FORMATS = ("json", "jsonl", "csv")


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based row (line for JSONL/CSV data rows, item for JSON)
    field: str
    message: str


class ImportRejected(InvalidInput):
    """A task upload with invalid rows: ``rows`` lists each with its field; nothing is imported."""

    code = "invalid_rows"

    def __init__(self, errors: list[RowError], total: int) -> None:
        super().__init__(f"{len(errors)} of {total} rows are invalid; nothing was imported")
        self.rows = errors


@dataclass(frozen=True)
class ImportReport:
    created: int
    gold: bool


def task_key(project_id: int, external_id: str) -> str:
    """The task's bytes32 id, as annotators sign it: keccak256(abi.encode(projectId, externalId))."""
    return "0x" + keccak(encode(("uint256", "string"), (project_id, external_id))).hex()


def parse_rows(content: bytes, fmt: str) -> list[tuple[int, Any]]:
    """(row number, row) pairs of an upload: the item's position in a JSON list, the line in a
    JSONL file, the line in a CSV file. InvalidInput when the file as a whole cannot be read."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", field="format")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("file is not UTF-8 text", field="file") from None
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidInput(f"not valid JSON: {err}", field="file") from None
        if isinstance(data, dict) and isinstance(data.get("tasks"), list):
            data = data["tasks"]
        if not isinstance(data, list):
            raise InvalidInput('JSON must be a list of tasks or {"tasks": [...]}', field="file")
        return list(enumerate(data, start=1))
    if fmt == "jsonl":
        rows: list[tuple[int, Any]] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as err:
                rows.append((number, RowError(number, "line", f"not valid JSON: {err.msg}")))
        return rows
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "id" not in reader.fieldnames:
        raise InvalidInput("CSV needs a header row with an 'id' column", field="file")
    rows = []
    for record in reader:
        row: dict[str, Any] = {"id": record.pop("id")}
        gold = record.pop("gold", None)
        if gold:
            try:
                row["gold"] = json.loads(gold)
            except json.JSONDecodeError:
                row["gold"] = RowError(reader.line_num, "gold", "gold column must hold the answer as JSON")
        row["data"] = {k: v for k, v in record.items() if k is not None}
        rows.append((reader.line_num, row))
    return rows


def import_tasks(session: Session, project: Project, rows: list[tuple[int, Any]], gold: bool,
                 max_payload_bytes: int) -> ImportReport:
    schema = label_schema_adapter.validate_python(project.label_schema)
    existing = set(session.scalars(select(Task.external_id).where(Task.project_id == project.id)))
    seen: set[str] = set()
    errors: list[RowError] = []
    valid: list[Task] = []
    for number, row in rows:
        if isinstance(row, RowError):
            errors.append(row)
            continue
        if not isinstance(row, dict):
            errors.append(RowError(number, "row", "each task must be an object"))
            continue
        try:  # the model the OpenAPI document and the README describe a row with
            task_row = TaskRow.model_validate(row)
        except ValidationError as err:
            field = str(err.errors()[0]["loc"][0])
            errors.append(RowError(number, field, f"{field} must be {ROW_RULES[field]}"))
            continue
        external_id, data, answer = str(task_row.id), task_row.data, row.get("gold")
        if external_id in seen:
            errors.append(RowError(number, "id", f"id {external_id!r} appears twice in this file"))
        elif external_id in existing:
            errors.append(RowError(number, "id", f"task {external_id!r} already exists in this project"))
        elif gold and answer is None:
            errors.append(RowError(number, "gold", "a gold task needs its answer in 'gold'"))
        elif not gold and answer is not None:
            errors.append(RowError(number, "gold", "answers belong in a gold import (gold=true)"))
        elif isinstance(answer, RowError):
            errors.append(RowError(number, answer.field, answer.message))
        else:
            if gold:
                try:
                    validate_label(schema, data, answer, max_payload_bytes)
                except LabelShareError as err:
                    errors.append(RowError(number, f"gold.{err.field or ''}".rstrip("."), err.detail))
                    continue
            seen.add(external_id)
            valid.append(Task(project_id=project.id, external_id=external_id, task_key=task_key(project.id, external_id),
                              data=data, is_gold=gold, gold_answer=answer if gold else None))
    if not rows:
        raise InvalidInput("the file holds no tasks", field="file")
    if errors:
        raise ImportRejected(errors, len(rows))
    session.add_all(valid)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("some of these tasks were imported concurrently; retry", field="file") from None
    return ImportReport(created=len(valid), gold=gold)


# The namespace of the per-wallet advisory locks (PostgreSQL's two-key form, apart from the
# one-key locks of leader.py and engine.py).
_OFFER_LOCK_NAMESPACE = 0x4C53_0F


def _lock_wallet(session: Session, annotator: str) -> None:
    """Serialises the offers of one wallet until the transaction ends, so two concurrent asks
    cannot both pass its caps. SQLite needs nothing: every transaction is BEGIN IMMEDIATE."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(bytes.fromhex(annotator[2:10]), "big", signed=True)  # 4 bytes of the address
        session.execute(text("SELECT pg_advisory_xact_lock(:namespace, :key)"),
                        {"namespace": _OFFER_LOCK_NAMESPACE, "key": key})


def _open_offers(session: Session, annotator: str, now: datetime) -> list[tuple[Assignment, Task]]:
    """The wallet's offers that still hold a slot (unexpired, unsubmitted, task still open), oldest first."""
    return list(session.execute(
        select(Assignment, Task).join(Task, Task.id == Assignment.task_id)
        .where(Assignment.annotator == annotator, Assignment.expires_at > now, Task.complete.is_(False),
               ~exists().where(and_(Submission.task_id == Assignment.task_id, Submission.annotator == annotator)))
        .order_by(Assignment.created_at, Assignment.id)).tuples())


def offer_next_task(session: Session, project: Project, annotator: str, settings: Settings,
                    rng: random.Random | None = None) -> tuple[Task, Assignment] | None:
    """Offers ``annotator`` a task of ``project`` (see the module docstring for the caps), or
    None if there is none for them.

    A normal task is offered while its submissions plus live assignments to others stay below
    the overlap; gold tasks are mixed in at the project's gold rate and look the same.
    """
    rng = rng or random.SystemRandom()
    _lock_wallet(session, annotator)
    now = utcnow()
    held = _open_offers(session, annotator, now)
    here = [(task, offer) for offer, task in held if task.project_id == project.id]
    if len(here) >= settings.max_open_offers_per_project:
        return here[0]
    if len(held) >= settings.max_open_offers:
        raise Conflict(f"you hold {len(held)} open offers, the most one wallet may: submit or release one "
                       f"(DELETE /tasks/{{task_id}}/offer) or let it expire", field="project_id")
    already = select(Assignment.task_id).where(Assignment.annotator == annotator)
    live_others = (
        select(func.count()).select_from(Assignment)
        .where(Assignment.task_id == Task.id, Assignment.annotator != annotator, Assignment.expires_at > now,
               ~exists().where(and_(Submission.task_id == Assignment.task_id,
                                    Submission.annotator == Assignment.annotator)))
        .scalar_subquery()
    )
    base = select(Task).where(Task.project_id == project.id, Task.complete.is_(False), Task.id.not_in(already))
    normal = base.where(Task.is_gold.is_(False), Task.submission_count + live_others < project.overlap)
    gold = base.where(Task.is_gold.is_(True))
    pick_gold = project.gold_rate > 0 and rng.random() < project.gold_rate
    # Gold is only ever mixed in: once normal work runs out, serving gold alone would reveal it.
    order = (gold, normal) if pick_gold else (normal,)
    for query in order:
        task = session.scalars(query.order_by(Task.submission_count.desc(), Task.id).limit(1)).first()
        if task is not None:
            offer = Assignment(task_id=task.id, annotator=annotator, created_at=now,
                               expires_at=now + timedelta(seconds=settings.offer_ttl_seconds))
            session.add(offer)
            try:
                session.flush()
            except IntegrityError:
                raise Conflict("this task was just offered to you in another request; ask again") from None
            return task, offer
    return None


def release_offer(session: Session, task_id: str, annotator: str) -> None:
    """Gives up ``annotator``'s open offer of the task ``task_id`` (its bytes32 hex id): the slot
    is free for others at once, and the task is not offered to this wallet again."""
    key = task_id.lower()
    if not re.fullmatch(r"0x[0-9a-f]{64}", key):
        raise InvalidInput("task_id must be the task's bytes32 id: 0x and 64 hex digits", field="task_id")
    row = session.execute(
        select(Assignment).join(Task, Task.id == Assignment.task_id)
        .where(Task.task_key == key, Assignment.annotator == annotator)
        .with_for_update(of=Assignment)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"you hold no offer of task {task_id}", field="task_id")
    submitted = session.scalars(select(Submission.id).where(Submission.task_id == row.task_id,
                                                            Submission.annotator == annotator).limit(1)).first()
    if submitted is not None:
        raise Conflict("you already submitted a label for this task: there is no offer to release", field="task_id")
    now = utcnow()
    if row.expires_at <= now:
        raise Conflict(f"your offer of this task ended at {row.expires_at.isoformat()} (expired or released)",
                       field="task_id")
    row.expires_at = now  # what expiry does: the slot stops counting against the overlap
