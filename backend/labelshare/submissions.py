"""Signed submissions: verification and storage. A gold task's submission is decided at once;
a normal task's wait for the review pass that aggregates complete tasks (``quality``).

Every check runs before anything is written, cheapest first; a rejected submission stores
nothing. Uniqueness of (task, annotator) and (annotator, nonce) is enforced by the database's
unique constraints, so it holds across any number of API processes: a duplicate is refused when
its row is written (and rolled back), without a query of its own on the accepted path.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from eth_utils import is_hex_address, keccak, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from labelshare.chain import Chain
from labelshare.config import Settings
from labelshare.db.models import Assignment, Project, Submission, Task, Uint256, utcnow
from labelshare.domains import GENERAL, domain_id
from labelshare.errors import (
    AlreadySubmitted, Conflict, DeadlineExpired, InvalidInput, InvalidSignature, LabelShareError, NonceReused, NotFound,
    NotOffered, SignerMismatch, WrongDomain,
)
from labelshare.labels import label_schema_adapter, validate_label
from labelshare.quality import check_can_work, record_gold
from labelshare.signatures import Submission as SignedSubmission
from labelshare.signatures import recover_signer
from labelshare.wire import ADDRESS, BYTES32, MAX_SAFE_INTEGER, SIGNATURE, documented_pattern

__all__ = ["SubmissionIn", "submit"]

log = logging.getLogger(__name__)


class SubmissionIn(BaseModel):
    """A label and the annotator's EIP-712 signature over it (see ``signatures.Submission``)."""

    model_config = ConfigDict(extra="forbid")

    project_id: int = Field(ge=1, le=MAX_SAFE_INTEGER)
    task_id: str = Field(description="the task's bytes32 id (hex), as signed",
                         json_schema_extra=documented_pattern(BYTES32))
    payload: Any = Field(description="the label, JSON as the project's schema describes (LabelPayload)")
    label_hash: str = Field(description="keccak256 of the RFC 8785 canonical payload (hex)",
                            json_schema_extra=documented_pattern(BYTES32))
    # uint256 on-chain; bounded here so they stay exact JSON numbers (clients draw nonces below 2^53).
    nonce: int = Field(ge=0, le=MAX_SAFE_INTEGER, description="any unused number, per annotator")
    deadline: int = Field(ge=0, le=MAX_SAFE_INTEGER, description="unix seconds after which the signature is void")
    chain_id: int = Field(ge=1, le=MAX_SAFE_INTEGER, description="EIP-712 domain chainId the client signed under")
    verifying_contract: str = Field(description="EIP-712 domain verifyingContract the client signed under",
                                    json_schema_extra=documented_pattern(ADDRESS))
    signature: str = Field(max_length=200, description="65-byte signature, hex",
                           json_schema_extra=documented_pattern(SIGNATURE))


def _bytes32(value: str, field: str) -> bytes:
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InvalidInput(f"{field} must be 32 bytes of hex", field=field)
    return raw


# Statements built once: building a select() per request cost more than running it.
_TASK_PROJECT_OFFER = (
    select(Task, Project, Assignment)
    .join(Project, Project.id == Task.project_id)
    .outerjoin(Assignment, and_(Assignment.task_id == Task.id, Assignment.annotator == bindparam("annotator")))
    .where(Task.task_key == bindparam("task_key"))
    # Locks the task row (PostgreSQL) so concurrent submissions to one task are decided in turn.
    .with_for_update(of=Task)
)
_INSERT_SUBMISSION = insert(Submission.__table__)
_UPDATE_TASK = (update(Task.__table__).where(Task.__table__.c.id == bindparam("task_row"))
                .values(submission_count=bindparam("count"), complete=bindparam("complete")))
_SUBMITTED_TASK = select(Submission.id).where(Submission.task_id == bindparam("task_id"),
                                              Submission.annotator == bindparam("annotator")).limit(1)
_USED_NONCE = select(Submission.id).where(Submission.annotator == bindparam("annotator"),
                                          Submission.nonce == bindparam("nonce", type_=Uint256())).limit(1)


def _duplicate(session: Session, task_id: int, annotator: str, body: SubmissionIn) -> LabelShareError | None:
    """Which uniqueness rule ``body`` breaks, if any: one label per task, then one use per nonce."""
    if session.scalars(_SUBMITTED_TASK, {"task_id": task_id, "annotator": annotator}).first():
        return AlreadySubmitted("you already submitted a label for this task", field="task_id")
    if session.scalars(_USED_NONCE, {"annotator": annotator, "nonce": body.nonce}).first():
        return NonceReused(f"nonce {body.nonce} was already used by this address", field="nonce")
    return None


def submit(session: Session, chain: Chain, settings: Settings, annotator: str, body: SubmissionIn) -> Submission:
    """Verifies ``body`` for the signed-in ``annotator`` and stores it; raises on any problem.

    The checks and their order (the first failing one is reported) are those of the module
    docstring; the CPU-bound part of step 5 (digest and public-key recovery) runs first, before
    the transaction takes any lock, and its outcome is reported at step 5.
    """
    annotator = to_checksum_address(annotator)
    # 1. The EIP-712 domain the client signed under must be ours.
    if body.chain_id != chain.chain_id:
        raise WrongDomain(f"signed for chain {body.chain_id}; this ledger is on chain {chain.chain_id}", field="chain_id")
    if not is_hex_address(body.verifying_contract) or \
            to_checksum_address(body.verifying_contract) != chain.ledger.address:
        raise WrongDomain(f"signed for contract {body.verifying_contract}; the ledger is {chain.ledger.address}",
                          field="verifying_contract")
    # 2. Deadline.
    now = int(time.time())
    if body.deadline <= now:
        raise DeadlineExpired(f"deadline {body.deadline} has passed (now {now})", field="deadline")
    if body.deadline > now + settings.max_deadline_seconds:
        raise InvalidInput(f"deadline is more than {settings.max_deadline_seconds}s away", field="deadline")
    task_id = _bytes32(body.task_id, "task_id")
    claimed_hash = _bytes32(body.label_hash, "label_hash")
    try:
        signature = bytes.fromhex(body.signature.removeprefix("0x"))
    except ValueError:
        raise InvalidSignature("signature must be hex", field="signature") from None
    # 5 (computed now, reported below). The project id signed for is the task's once step 3 has
    # matched them; a project id no task can have is refused at step 3.
    signer: str | None = None
    bad_signature: InvalidSignature | None = None
    if body.project_id < 2**256:
        signed = SignedSubmission(annotator, body.project_id, task_id, claimed_hash, body.nonce, body.deadline)
        try:
            signer = recover_signer(chain.domain.digest(signed), signature)
        except InvalidSignature as err:
            bad_signature = err
    # 3. Task and project (and this annotator's offer of the task, for step 6), in one query.
    row = session.execute(_TASK_PROJECT_OFFER, {"task_key": "0x" + task_id.hex(), "annotator": annotator}).first()
    if row is None or row[0].project_id != body.project_id:
        raise NotFound(f"task {body.task_id} does not exist in project {body.project_id}", field="task_id")
    task, project, offered = row
    # 4. Payload: size, schema, and the hash that was signed.
    schema = label_schema_adapter.validate_python(project.label_schema)
    canonical = validate_label(schema, task.data, body.payload, settings.max_payload_bytes)
    if keccak(canonical) != claimed_hash:  # label_hash(payload): keccak256 of the canonical payload
        raise InvalidInput("label_hash is not keccak256 of the canonical (RFC 8785) payload", field="label_hash")
    # 5. Signature.
    if bad_signature is not None:
        raise bad_signature
    if signer != annotator:
        raise SignerMismatch(f"signature is by {signer}, not the signed-in {annotator}", field="signature")
    # 6. State: not suspended, open, offered, qualified, not a duplicate, nonce unused.
    check_can_work(session, annotator, project.domain)
    if not project.open or task.complete:
        raise Conflict(f"task {body.task_id} is closed", field="task_id")
    if offered is None:
        raise NotOffered("this task was not offered to you: ask /tasks/next", field="task_id")
    if offered.expires_at <= utcnow():
        raise NotOffered("your assignment of this task expired: ask /tasks/next", field="task_id")
    if project.domain != GENERAL and not chain.ledger.functions.isQualified(annotator, domain_id(project.domain)).call():
        raise NotOffered(f"you are not qualified in {project.domain}", field="task_id")
    # Duplicates and reused nonces are refused by the database's unique constraints when the row
    # is written (also across concurrent requests); the cause is looked up only then.
    values = {
        "task_id": task.id, "project_id": project.id, "annotator": annotator, "payload": canonical.decode(),
        "label_hash": "0x" + claimed_hash.hex(), "nonce": body.nonce, "deadline": body.deadline,
        "signature": "0x" + signature.hex(), "status": "pending", "reason": None, "reward": 0, "created_at": utcnow(),
    }
    task_row_id = task.id
    count = task.submission_count + 1
    try:
        if task.is_gold:  # decided now by record_gold, which works on the ORM objects
            record = Submission(**values)
            session.add(record)
            task.submission_count = count
            session.flush()
        else:  # two plain statements: the ORM's unit of work cost more than the writes themselves
            complete = task.complete or count >= project.overlap  # complete: the next review pass aggregates it
            record_id = session.execute(_INSERT_SUBMISSION, values).inserted_primary_key[0]
            session.execute(_UPDATE_TASK, {"task_row": task_row_id, "count": count, "complete": complete})
            set_committed_value(task, "submission_count", count)
            set_committed_value(task, "complete", complete)
            record = Submission(id=record_id, **values)  # the row as stored
    except IntegrityError as err:  # already submitted, or the nonce is used (maybe by a concurrent request)
        session.rollback()
        text = str(err.orig)
        with Session(session.get_bind()) as probe:  # this transaction is over: ask in a new one
            duplicate = _duplicate(probe, task_row_id, annotator, body)
        raise duplicate or (
            NonceReused(f"nonce {body.nonce} was already used by this address", field="nonce") if "nonce" in text
            else AlreadySubmitted("you already submitted a label for this task", field="task_id")) from None
    log.info("submission %s received: %s on task %s of project %s", record.id, annotator, task.external_id, project.id)
    if task.is_gold:
        record_gold(session, project, task, record, settings)
    return record
