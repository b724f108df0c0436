"""Signed submissions: verification and storage. A gold task's submission is decided at once;
a normal task's wait for the review pass that aggregates complete tasks (``quality``).

Every check runs before anything is written, cheapest first; a rejected submission stores
nothing. Uniqueness of (task, annotator) and (annotator, nonce) is enforced by the database's
unique constraints, so it holds across any number of API processes.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from eth_utils import is_hex_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labelshare.chain import Chain
from labelshare.config import Settings
from labelshare.db.models import Assignment, Project, Submission, Task, utcnow
from labelshare.domains import GENERAL, domain_id
from labelshare.errors import (
    AlreadySubmitted, Conflict, DeadlineExpired, InvalidInput, InvalidSignature, NonceReused, NotFound, NotOffered,
    SignerMismatch, WrongDomain,
)
from labelshare.labels import label_hash, label_schema_adapter, validate_label
from labelshare.quality import check_can_work, record_gold
from labelshare.signatures import Submission as SignedSubmission
from labelshare.signatures import recover_signer

__all__ = ["SubmissionIn", "submit"]

log = logging.getLogger(__name__)


class SubmissionIn(BaseModel):
    """A label and the annotator's EIP-712 signature over it (see ``signatures.Submission``)."""

    model_config = ConfigDict(extra="forbid")

    project_id: int = Field(ge=1)
    task_id: str = Field(description="the task's bytes32 id (hex), as signed")
    payload: Any = Field(description="the label, JSON as the project's schema describes")
    label_hash: str = Field(description="keccak256 of the RFC 8785 canonical payload (hex)")
    nonce: int = Field(ge=0, lt=2**256, description="any unused number, per annotator")
    deadline: int = Field(ge=0, lt=2**256, description="unix seconds after which the signature is void")
    chain_id: int = Field(ge=1, description="EIP-712 domain chainId the client signed under")
    verifying_contract: str = Field(description="EIP-712 domain verifyingContract the client signed under")
    signature: str = Field(max_length=200, description="65-byte signature, hex")


def _bytes32(value: str, field: str) -> bytes:
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InvalidInput(f"{field} must be 32 bytes of hex", field=field)
    return raw


def submit(session: Session, chain: Chain, settings: Settings, annotator: str, body: SubmissionIn) -> Submission:
    """Verifies ``body`` for the signed-in ``annotator`` and stores it; raises on any problem."""
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
    # 3. Task and project.
    # Locks the task row (PostgreSQL) so concurrent submissions to one task are decided in turn.
    task = session.scalars(select(Task).where(Task.task_key == "0x" + task_id.hex()).with_for_update()).first()
    if task is None or task.project_id != body.project_id:
        raise NotFound(f"task {body.task_id} does not exist in project {body.project_id}", field="task_id")
    project = session.get(Project, task.project_id)
    assert project is not None
    # 4. Payload: size, schema, and the hash that was signed.
    schema = label_schema_adapter.validate_python(project.label_schema)
    canonical = validate_label(schema, task.data, body.payload, settings.max_payload_bytes)
    if label_hash(body.payload) != claimed_hash:
        raise InvalidInput("label_hash is not keccak256 of the canonical (RFC 8785) payload", field="label_hash")
    # 5. Signature.
    signed = SignedSubmission(annotator, project.id, task_id, claimed_hash, body.nonce, body.deadline)
    signer = recover_signer(chain.domain.digest(signed), signature)
    if signer != annotator:
        raise SignerMismatch(f"signature is by {signer}, not the signed-in {annotator}", field="signature")
    # 6. State: not suspended, open, offered, qualified, not a duplicate, nonce unused.
    check_can_work(session, annotator, project.domain)
    if not project.open or task.complete:
        raise Conflict(f"task {body.task_id} is closed", field="task_id")
    offered = session.scalars(select(Assignment).where(Assignment.task_id == task.id,
                                                       Assignment.annotator == annotator)).first()
    if offered is None:
        raise NotOffered("this task was not offered to you: ask /tasks/next", field="task_id")
    if offered.expires_at <= utcnow():
        raise NotOffered("your assignment of this task expired: ask /tasks/next", field="task_id")
    if project.domain != GENERAL and not chain.ledger.functions.isQualified(annotator, domain_id(project.domain)).call():
        raise NotOffered(f"you are not qualified in {project.domain}", field="task_id")
    if session.scalars(select(Submission.id).where(Submission.task_id == task.id,
                                                   Submission.annotator == annotator)).first():
        raise AlreadySubmitted("you already submitted a label for this task", field="task_id")
    if session.scalars(select(Submission.id).where(Submission.annotator == annotator,
                                                   Submission.nonce == body.nonce)).first():
        raise NonceReused(f"nonce {body.nonce} was already used by this address", field="nonce")
    record = Submission(
        task_id=task.id, project_id=project.id, annotator=annotator, payload=canonical.decode(),
        label_hash="0x" + claimed_hash.hex(), nonce=body.nonce, deadline=body.deadline, signature="0x" + signature.hex(),
    )
    session.add(record)
    task.submission_count += 1
    try:
        session.flush()
    except IntegrityError as err:  # a concurrent request won the race for the same slot
        session.rollback()
        text = str(err.orig)
        if "nonce" in text:
            raise NonceReused(f"nonce {body.nonce} was already used by this address", field="nonce") from None
        raise AlreadySubmitted("you already submitted a label for this task", field="task_id") from None
    log.info("submission %s received: %s on task %s of project %s", record.id, annotator, task.external_id, project.id)
    if task.is_gold:
        record_gold(session, project, task, record, settings)
    elif task.submission_count >= project.overlap:
        task.complete = True  # the next review pass aggregates it
    return record
