"""SQLAlchemy 2 models. Uniqueness that protects money lives in the database, not in memory:
one submission per (task, annotator), one use per (annotator, nonce), one use per sign-in nonce,
and one epoch per accepted annotation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String
from sqlalchemy import Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Assignment", "AuthNonce", "AuthSession", "Base", "Epoch", "EpochChunk", "Project", "QualificationAttempt",
    "QualificationItem", "QualificationTest", "Reliability", "Submission", "Suspension", "Task", "MAX_ID", "Uint256",
    "utcnow",
]


# Ids are 32-bit signed integers on PostgreSQL: a larger id cannot exist, so lookups answer
# "not found" instead of sending the driver a value it rejects.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class Uint256(TypeDecorator[int]):
    """A uint256 stored as decimal text: exact on every engine (SQLite integers stop at 2^63)."""

    impl = String(78)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Any) -> str | None:
        return None if value is None else str(int(value))

    def process_result_value(self, value: str | None, dialect: Any) -> int | None:
        return None if value is None else int(value)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every engine (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # the ledger's project id
    owner: Mapped[str] = mapped_column(String(42), index=True)  # requester wallet, checksummed
    name: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text, default="")
    domain: Mapped[str] = mapped_column(String(31))
    label_schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec_hash: Mapped[str] = mapped_column(String(66))
    reward_per_label: Mapped[int] = mapped_column(Uint256)
    overlap: Mapped[int] = mapped_column(Integer)
    gold_rate: Mapped[float] = mapped_column(Float, default=0.0)
    # rewards.RewardPolicy as JSON, fixed at creation and covered by spec_hash.
    reward_policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    open: Mapped[bool] = mapped_column(Boolean, default=True)
    registered_tx: Mapped[str] = mapped_column(String(66))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    tasks: Mapped[list[Task]] = relationship(back_populates="project")


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("project_id", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(200))
    task_key: Mapped[str] = mapped_column(String(66), unique=True)  # bytes32 hex, signed as taskId
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    is_gold: Mapped[bool] = mapped_column(Boolean, default=False)
    gold_answer: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    submission_count: Mapped[int] = mapped_column(Integer, default=0)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_label: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)  # of the verified label
    # Complete tasks wait for the next review (aggregation) pass while this is null.
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    project: Mapped[Project] = relationship(back_populates="tasks")


class Assignment(Base):
    """A task offered to an annotator by ``/tasks/next``; only offered tasks can be submitted."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("task_id", "annotator"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    annotator: Mapped[str] = mapped_column(String(42), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("task_id", "annotator", name="uq_submission_task_annotator"),
        UniqueConstraint("annotator", "nonce", name="uq_submission_annotator_nonce"),
        Index("ix_submissions_pending_epoch", "status", "epoch_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    annotator: Mapped[str] = mapped_column(String(42), index=True)
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON (RFC 8785)
    label_hash: Mapped[str] = mapped_column(String(66))
    nonce: Mapped[int] = mapped_column(Uint256)
    deadline: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(String(132))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|accepted|rejected
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reward: Mapped[int] = mapped_column(Uint256, default=0)
    quality_factor_bps: Mapped[int | None] = mapped_column(Integer, nullable=True)  # applied to the reward
    epoch_id: Mapped[int | None] = mapped_column(ForeignKey("epochs.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AuthNonce(Base):
    __tablename__ = "auth_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AuthSession(Base):
    __tablename__ = "auth_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the token
    address: Mapped[str] = mapped_column(String(42), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Epoch(Base):
    """An epoch from the moment it closes. Its plan (root, chunks) is persisted before anything
    is sent, so a restart resumes from here and the chain."""

    __tablename__ = "epochs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # the ledger's epoch id
    status: Mapped[str] = mapped_column(String(16), default="settling")  # settling|settled
    root: Mapped[str] = mapped_column(String(66))
    annotation_count: Mapped[int] = mapped_column(Integer)
    total_reward: Mapped[int] = mapped_column(Uint256)
    chunk_count: Mapped[int] = mapped_column(Integer)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    closed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    chunks: Mapped[list[EpochChunk]] = relationship(back_populates="epoch", order_by="EpochChunk.chunk_index")


class EpochChunk(Base):
    __tablename__ = "epoch_chunks"

    epoch_id: Mapped[int] = mapped_column(ForeignKey("epochs.id"), primary_key=True)
    chunk_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    payouts: Mapped[list[list[Any]]] = mapped_column(JSON)  # [[annotator, projectId, annotations, amount]]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|confirmed
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    tx_nonce: Mapped[int | None] = mapped_column(Integer, nullable=True)
    raw_tx: Mapped[str | None] = mapped_column(Text, nullable=True)  # signed, to rebroadcast as is
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    gas_used: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    epoch: Mapped[Epoch] = relationship(back_populates="chunks")


class Reliability(Base):
    """An annotator's record in one domain: gold answers (all, and the most recent as a string of
    "1"/"0", oldest first), the sequential spam test's log-likelihood ratio, and the skill the
    last aggregation estimated."""

    __tablename__ = "reliability"

    annotator: Mapped[str] = mapped_column(String(42), primary_key=True)
    domain: Mapped[str] = mapped_column(String(31), primary_key=True)
    gold_answered: Mapped[int] = mapped_column(Integer, default=0)
    gold_correct: Mapped[int] = mapped_column(Integer, default=0)
    gold_chance: Mapped[float] = mapped_column(Float, default=0.0)  # expected correct answers by guessing
    recent_gold: Mapped[str] = mapped_column(String(32), default="")
    spam_llr: Mapped[float] = mapped_column(Float, default=0.0)
    skill: Mapped[float | None] = mapped_column(Float, nullable=True)
    skill_chance: Mapped[float | None] = mapped_column(Float, nullable=True)
    skill_answers: Mapped[int] = mapped_column(Integer, default=0)
    # Set when reliability falls below the bar: submissions are refused, and the on-chain
    # revocation is sent once the domain's accepted work is settled.
    revoke_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    revoked_tx: Mapped[str | None] = mapped_column(String(66), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Suspension(Base):
    """A suspended annotator: every submission and qualification attempt is refused with ``reason``."""

    __tablename__ = "suspensions"

    annotator: Mapped[str] = mapped_column(String(42), primary_key=True)
    reason: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class QualificationTest(Base):
    """A domain's qualification test: ``questions`` gold items drawn from its pool, passed at
    ``pass_accuracy``; a failed attempt may be retried after ``cooldown_seconds``."""

    __tablename__ = "qualification_tests"

    domain: Mapped[str] = mapped_column(String(31), primary_key=True)
    label_schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    questions: Mapped[int] = mapped_column(Integer)
    pass_accuracy: Mapped[float] = mapped_column(Float)
    cooldown_seconds: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class QualificationItem(Base):
    __tablename__ = "qualification_items"
    __table_args__ = (UniqueConstraint("domain", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain: Mapped[str] = mapped_column(ForeignKey("qualification_tests.domain"), index=True)
    external_id: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)


class QualificationAttempt(Base):
    __tablename__ = "qualification_attempts"
    __table_args__ = (Index("ix_qualification_attempts_annotator_domain", "annotator", "domain"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain: Mapped[str] = mapped_column(ForeignKey("qualification_tests.domain"))
    annotator: Mapped[str] = mapped_column(String(42))
    item_ids: Mapped[list[int]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    graded_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    correct: Mapped[int | None] = mapped_column(Integer, nullable=True)
    passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    grant_tx: Mapped[str | None] = mapped_column(String(66), nullable=True)
