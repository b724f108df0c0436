"""Tasks: import (JSON, JSONL, CSV) with a per-row error report, and offering the next task to an
annotator (respecting overlap, qualifications and never the same task twice).

An import is all-or-nothing: if any row is invalid nothing is stored and every bad row is
reported, so a requester fixes the file and sends it again.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from eth_abi import encode
from eth_utils import keccak
from pydantic import ValidationError
from sqlalchemy import and_, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labelshare.db.models import Assignment, Project, Submission, Task, utcnow
from labelshare.errors import Conflict, InvalidInput, LabelShareError
from labelshare.labels import label_schema_adapter, validate_label
from labelshare.task_formats import ROW_RULES, TaskRow

__all__ = ["ImportRejected", "ImportReport", "RowError", "import_tasks", "offer_next_task", "parse_rows", "task_key"]

ASSIGNMENT_TTL = timedelta(minutes=30)
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


def offer_next_task(session: Session, project: Project, annotator: str, rng: random.Random | None = None) -> Task | None:
    """Assigns ``annotator`` a task of ``project`` they have not seen, or None if there is none.

    A normal task is offered while its submissions plus live assignments to others stay below
    the overlap; gold tasks are mixed in at the project's gold rate and look the same.
    """
    rng = rng or random.SystemRandom()
    now = utcnow()
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
            session.add(Assignment(task_id=task.id, annotator=annotator, expires_at=now + ASSIGNMENT_TTL))
            try:
                session.flush()
            except IntegrityError:
                raise Conflict("this task was just offered to you in another request; ask again") from None
            return task
    return None

