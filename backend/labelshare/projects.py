"""Projects: creation (registered on the ledger first, so the project id is the ledger's),
listing, statistics and export of verified labels."""

from __future__ import annotations

import csv
import io
import json
import logging
from typing import Any

from eth_utils import keccak, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from labelshare.chain import Chain
from labelshare.db.models import MAX_ID, Project, Reliability, Submission, Task
from labelshare.db.params import in_values
from labelshare.domains import GENERAL, SPECIALIST_DOMAINS, domain_id
from labelshare.errors import Forbidden, NotFound
from labelshare.labels import LabelSchema, canonical_bytes
from labelshare.rewards import RewardPolicy
from labelshare.wire import DecimalString

__all__ = ["ProjectCreate", "create_project", "export_labels", "get_project", "list_tasks", "project_quality",
           "project_stats", "set_project_open"]

log = logging.getLogger(__name__)
DOMAINS = (GENERAL, *SPECIALIST_DOMAINS)


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    instructions: str = Field(default="", max_length=20_000)
    domain: str = GENERAL
    label_schema: LabelSchema
    reward_per_label: DecimalString = Field(description="base reward per accepted label, smallest token unit, as a "
                                                        "decimal string: 1 to 2^128 - 1")
    overlap: int = Field(default=3, ge=1, le=50)
    gold_rate: float = Field(default=0.0, ge=0.0, le=0.5)
    gold_window: int = Field(default=3, ge=0, le=16,
                             description="the quality factor looks at the annotator's last N gold answers (rewards)")
    quality_floor_bps: int = Field(default=0, ge=0, le=10_000,
                                   description="share of the reward still paid after a wrong gold answer, bps")

    @field_validator("reward_per_label")
    @classmethod
    def _reward_in_range(cls, value: str) -> str:
        if not 0 < int(value) < 2**128:
            raise ValueError("reward_per_label must be 1 to 2^128 - 1")
        return str(int(value))  # no leading zeros: one spelling, one spec hash

    @field_validator("domain")
    @classmethod
    def _known_domain(cls, value: str) -> str:
        if value not in DOMAINS:
            raise ValueError(f"domain must be one of {', '.join(DOMAINS)}")
        return value

    def spec_hash(self) -> bytes:
        """keccak256 of the canonical (RFC 8785) spec: what the ledger records as the project's
        content. Token amounts are decimal strings: JSON numbers are exact only below 2^53."""
        spec = self.model_dump(mode="json")
        spec["reward_policy"] = self.reward_policy().model_dump()
        return keccak(canonical_bytes(spec))

    def reward_policy(self) -> RewardPolicy:
        return RewardPolicy.for_domain(self.domain, self.gold_window, self.quality_floor_bps)


def create_project(session: Session, chain: Chain, owner: str, spec: ProjectCreate) -> Project:
    """Registers the project on the ledger through the registrar key, then stores it."""
    spec_hash = spec.spec_hash()
    call = chain.ledger.functions.createProject(
        to_checksum_address(owner), spec_hash, domain_id(spec.domain), int(spec.reward_per_label), spec.overlap)
    receipt = chain.transact("registrar", call)
    event = chain.ledger.events.ProjectCreated().process_receipt(receipt)[0]
    project = Project(
        id=event["args"]["projectId"], owner=to_checksum_address(owner), name=spec.name,
        instructions=spec.instructions, domain=spec.domain, label_schema=spec.label_schema.model_dump(mode="json"),
        spec_hash="0x" + spec_hash.hex(), reward_per_label=int(spec.reward_per_label), overlap=spec.overlap,
        gold_rate=spec.gold_rate, reward_policy=spec.reward_policy().model_dump(), open=True, registered_tx="0x" + bytes(receipt["transactionHash"]).hex(),
    )
    session.add(project)
    session.flush()
    log.info("project %s registered on-chain in %s by %s", project.id, project.registered_tx, project.owner)
    return project


def set_project_open(session: Session, chain: Chain, project: Project, open_: bool) -> Project:
    """Opens or closes ``project`` on the ledger (as its registrar), then here."""
    if project.open != open_:
        chain.transact("registrar", chain.ledger.functions.setProjectOpen(project.id, open_))
        project.open = open_
        log.info("project %s %s", project.id, "reopened" if open_ else "closed")
    return project


def get_project(session: Session, project_id: int, owner: str | None = None) -> Project:
    project = session.get(Project, project_id) if 1 <= project_id <= MAX_ID else None
    if project is None:
        raise NotFound(f"project {project_id} does not exist", field="project_id")
    if owner is not None and project.owner != to_checksum_address(owner):
        raise Forbidden(f"project {project_id} belongs to another requester", field="project_id")
    return project


def project_stats(session: Session, project: Project) -> dict[str, Any]:
    tasks = session.execute(
        select(func.count(), func.sum(case((Task.complete, 1), else_=0)), func.sum(case((Task.is_gold, 1), else_=0)))
        .where(Task.project_id == project.id)
    ).one()
    by_status = dict(session.execute(
        select(Submission.status, func.count()).where(Submission.project_id == project.id).group_by(Submission.status)
    ).all())
    settled = session.scalar(
        select(func.count()).select_from(Submission)
        .where(Submission.project_id == project.id, Submission.status == "accepted", Submission.epoch_id.is_not(None))
    )
    annotators = session.scalar(
        select(func.count(func.distinct(Submission.annotator))).where(Submission.project_id == project.id))
    total = sum(by_status.values())
    return {
        "project_id": project.id,
        "tasks": tasks[0] or 0,
        "tasks_complete": int(tasks[1] or 0),
        "gold_tasks": int(tasks[2] or 0),
        "submissions": total,
        "accepted": by_status.get("accepted", 0),
        "rejected": by_status.get("rejected", 0),
        "pending": by_status.get("pending", 0),
        "awaiting_review": int(session.scalar(select(func.count()).select_from(Task).where(
            Task.project_id == project.id, Task.complete.is_(True), Task.is_gold.is_(False),
            Task.reviewed_at.is_(None))) or 0),
        "in_epochs": settled or 0,
        "annotators": annotators or 0,
        "acceptance_rate": (by_status.get("accepted", 0) / total) if total else None,
    }


LOW_CONFIDENCE = 0.7  # a verified label below this confidence is flagged for the requester


def project_quality(session: Session, project: Project) -> dict[str, Any]:
    """The requester's quality summary: how sure the verified labels are, and each annotator's
    record on this project (decisions, gold answers here, the skill aggregation last estimated in
    the project's domain)."""
    confidence = session.execute(
        select(func.count(), func.avg(Task.confidence), func.sum(case((Task.confidence < LOW_CONFIDENCE, 1), else_=0)))
        .where(Task.project_id == project.id, Task.is_gold.is_(False), Task.verified_label.is_not(None))
    ).one()
    rows = session.execute(
        select(Submission.annotator, Submission.status, Task.is_gold, func.count())
        .join(Task, Submission.task_id == Task.id).where(Submission.project_id == project.id)
        .group_by(Submission.annotator, Submission.status, Task.is_gold)
    ).all()
    per: dict[str, dict[str, Any]] = {}
    for annotator, status, is_gold, count in rows:
        record = per.setdefault(annotator, {"address": annotator, "submissions": 0, "accepted": 0, "rejected": 0,
                                            "pending": 0, "gold_answered": 0, "gold_correct": 0})
        record["submissions"] += count
        record[status] += count
        if is_gold:
            record["gold_answered"] += count
            record["gold_correct"] += count if status == "accepted" else 0
    skills = dict(session.execute(select(Reliability.annotator, Reliability.skill).where(
        Reliability.domain == project.domain, Reliability.annotator.in_(in_values(per)))).all()) if per else {}
    annotators = []
    for address in sorted(per, key=lambda a: (-per[a]["submissions"], a)):
        record = per[address]
        decided = record["accepted"] + record["rejected"]
        annotators.append(record | {"acceptance_rate": record["accepted"] / decided if decided else None,
                                    "skill": skills.get(address)})
    return {
        "project_id": project.id,
        "verified_tasks": confidence[0] or 0,
        "mean_confidence": float(confidence[1]) if confidence[1] is not None else None,
        "low_confidence_tasks": int(confidence[2] or 0),
        "low_confidence_below": LOW_CONFIDENCE,
        "annotators": annotators,
    }


def list_tasks(session: Session, project: Project, status: str | None, offset: int, limit: int) -> list[dict[str, Any]]:
    """The project's tasks in upload order; ``status`` is open, complete (awaiting review),
    verified or gold."""
    query = select(Task).where(Task.project_id == project.id)
    if status == "open":
        query = query.where(Task.complete.is_(False), Task.is_gold.is_(False))
    elif status == "complete":
        query = query.where(Task.complete.is_(True), Task.is_gold.is_(False), Task.reviewed_at.is_(None))
    elif status == "verified":
        query = query.where(Task.is_gold.is_(False), Task.verified_label.is_not(None))
    elif status == "gold":
        query = query.where(Task.is_gold.is_(True))
    tasks = session.scalars(query.order_by(Task.id).offset(offset).limit(limit)).all()
    return [{"task_id": t.external_id, "task_key": t.task_key, "data": t.data, "gold": t.is_gold,
             "submissions": t.submission_count, "complete": t.complete, "verified_label": t.verified_label,
             "confidence": t.confidence} for t in tasks]


def export_labels(session: Session, project: Project, fmt: str,
                  epochs: tuple[int, int] | None = None) -> tuple[str, str]:
    """Verified labels of completed non-gold tasks as (content, media type). With ``epochs``
    (a dataset version's range) only tasks with accepted work settled in those epochs, each with
    that work as committed on-chain (annotator, label hash, reward, epoch, submission id), so a
    licensee can prove every record against the epochs' roots (``GET /epochs/{id}/proof/{submission_id}``)."""
    query = select(Task).where(Task.project_id == project.id, Task.complete.is_(True), Task.is_gold.is_(False),
                               Task.verified_label.is_not(None))
    work: dict[int, list[dict[str, Any]]] = {}
    if epochs is not None:
        accepted = session.execute(
            select(Submission.task_id, Submission.id, Submission.annotator, Submission.label_hash, Submission.reward,
                   Submission.epoch_id)
            .where(Submission.project_id == project.id, Submission.status == "accepted",
                   Submission.epoch_id.between(*epochs)).order_by(Submission.id)).all()
        for task_id, sub_id, annotator, label_hash, reward, epoch_id in accepted:
            work.setdefault(task_id, []).append({"submission_id": sub_id, "annotator": annotator,
                                                 "label_hash": label_hash, "reward": str(reward), "epoch_id": epoch_id})
        query = query.where(Task.id.in_(in_values(work)))
    rows = session.execute(query.order_by(Task.id)).scalars().all()
    records = [{"task_id": t.external_id, "task_key": t.task_key, "data": t.data, "label": t.verified_label,
                "confidence": t.confidence} | ({"annotations": work[t.id]} if epochs is not None else {})
               for t in rows]
    if fmt == "jsonl":
        return "".join(json.dumps(r, sort_keys=True) + "\n" for r in records), "application/x-ndjson"
    out = io.StringIO()
    writer = csv.writer(out)
    columns = ["task_id", "task_key", "data", "label", "confidence"] + (["annotations"] if epochs is not None else [])
    writer.writerow(columns)
    for r in records:
        writer.writerow([r["task_id"], r["task_key"], json.dumps(r["data"], sort_keys=True),
                         json.dumps(r["label"], sort_keys=True), r["confidence"]]
                        + ([json.dumps(r["annotations"], sort_keys=True)] if epochs is not None else []))
    return out.getvalue(), "text/csv"
