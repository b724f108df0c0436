"""Specialist qualification tests: a pool of gold items per domain; an attempt draws
``questions`` of them at random; passing at ``pass_accuracy`` grants the domain's qualification
on the ledger through the backend's qualifier key, with the attempt's hash as evidence.

The answers count as gold answers in the annotator's reliability for the domain, so guessing
through a test also feeds the spam test. A failed attempt can be retried after the cooldown.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

from eth_utils import keccak
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labelshare.chain import Chain
from labelshare.config import Settings
from labelshare.db.models import QualificationAttempt, QualificationItem, QualificationTest, utcnow
from labelshare.db.params import in_values
from labelshare.domains import SPECIALIST_DOMAINS, domain_id
from labelshare.errors import Conflict, InvalidInput, LabelShareError, NotFound
from labelshare.labels import LabelSchema, canonical_bytes, label_schema_adapter, validate_label
from labelshare.quality import chance_level, check_can_work, is_correct, locked_reliability, suspend, update_gold

__all__ = ["AttemptAnswers", "QualificationTestIn", "grade_attempt", "put_test", "start_attempt"]

log = logging.getLogger(__name__)
ATTEMPT_TTL = timedelta(minutes=30)
QUALIFIED_LEVEL = 1


class QualificationItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    data: dict[str, Any]
    answer: Any = Field(description="the correct label, as the schema describes")


class QualificationTestIn(BaseModel):
    """Creates a domain's test or adds items to it (items are never removed: attempts cite them)."""

    model_config = ConfigDict(extra="forbid")

    label_schema: LabelSchema
    questions: int = Field(default=10, ge=1, le=100, description="items drawn per attempt")
    pass_accuracy: float = Field(default=0.8, gt=0.0, le=1.0)
    cooldown_seconds: int = Field(default=24 * 3600, ge=0, le=30 * 24 * 3600,
                                  description="wait after a failed attempt")
    items: list[QualificationItemIn] = Field(default_factory=list, max_length=10_000)


class AttemptAnswers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: dict[str, Any] = Field(description="item_id (as a string) -> label")


def _specialist(domain: str) -> str:
    if domain not in SPECIALIST_DOMAINS:
        raise NotFound(f"no qualification exists for {domain!r}: specialist domains are "
                       f"{', '.join(SPECIALIST_DOMAINS)}", field="domain")
    return domain


def put_test(session: Session, domain: str, spec: QualificationTestIn, max_payload_bytes: int) -> tuple[int, int]:
    """Creates or updates ``domain``'s test and adds ``spec.items``; returns (added, pool size)."""
    _specialist(domain)
    schema = spec.label_schema.model_dump(mode="json")
    test = session.get(QualificationTest, domain, with_for_update=True)
    if test is not None and test.label_schema != schema and session.scalar(
            select(func.count()).select_from(QualificationItem).where(QualificationItem.domain == domain)):
        raise Conflict("the test's label schema cannot change once it has items", field="label_schema")
    if test is None:
        test = QualificationTest(domain=domain)
        session.add(test)
    test.label_schema, test.questions = schema, spec.questions
    test.pass_accuracy, test.cooldown_seconds = spec.pass_accuracy, spec.cooldown_seconds
    existing = set(session.scalars(select(QualificationItem.external_id).where(QualificationItem.domain == domain)))
    for i, item in enumerate(spec.items):
        if item.id in existing:
            raise InvalidInput(f"item {item.id!r} already exists in the {domain} test", field=f"items[{i}].id")
        try:
            validate_label(spec.label_schema, item.data, item.answer, max_payload_bytes)
        except LabelShareError as err:
            raise InvalidInput(f"item {item.id!r}: {err.detail}", field=f"items[{i}].answer") from None
        existing.add(item.id)
        session.add(QualificationItem(domain=domain, external_id=item.id, data=item.data, answer=item.answer))
    pool = len(existing)
    if pool < spec.questions:
        raise InvalidInput(f"the pool has {pool} items; an attempt draws {spec.questions}", field="items")
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("these items were added concurrently; retry", field="items") from None
    log.info("%s qualification test: %d items added, pool %d", domain, len(spec.items), pool)
    return len(spec.items), pool


def start_attempt(session: Session, chain: Chain, annotator: str, domain: str,
                  rng: random.Random | None = None) -> tuple[QualificationAttempt, QualificationTest,
                                                             list[QualificationItem]]:
    """Starts (or returns the open) attempt of ``annotator`` at ``domain``'s test."""
    test = session.get(QualificationTest, _specialist(domain))
    if test is None:
        raise NotFound(f"the {domain} qualification test has not been set up", field="domain")
    check_can_work(session, annotator, domain)
    if chain.ledger.functions.isQualified(annotator, domain_id(domain)).call():
        raise Conflict(f"you are already qualified in {domain}", field="domain")
    now = utcnow()
    last = session.scalars(select(QualificationAttempt).where(
        QualificationAttempt.annotator == annotator, QualificationAttempt.domain == domain)
        .order_by(QualificationAttempt.id.desc()).limit(1)).first()
    if last is not None and last.graded_at is None and last.expires_at > now:
        return last, test, _items(session, last)
    if last is not None and last.passed is False:
        retry = last.graded_at + timedelta(seconds=test.cooldown_seconds)  # type: ignore[operator]
        if retry > now:
            raise Conflict(f"you failed this test; retry after {retry.isoformat()}", field="domain")
    pool = session.scalars(select(QualificationItem.id).where(QualificationItem.domain == domain)).all()
    chosen = (rng or random.SystemRandom()).sample(list(pool), min(test.questions, len(pool)))
    attempt = QualificationAttempt(domain=domain, annotator=annotator, item_ids=chosen, expires_at=now + ATTEMPT_TTL)
    session.add(attempt)
    session.flush()
    return attempt, test, _items(session, attempt)


def _items(session: Session, attempt: QualificationAttempt) -> list[QualificationItem]:
    by_id = {i.id: i for i in session.scalars(select(QualificationItem).where(
        QualificationItem.id.in_(in_values(attempt.item_ids))))}
    return [by_id[i] for i in attempt.item_ids]


def grade_attempt(session: Session, chain: Chain, settings: Settings, annotator: str, attempt_id: int,
                  body: AttemptAnswers) -> QualificationAttempt:
    """Grades an attempt; on a pass, grants the qualification on-chain. Every item must be
    answered; an invalid answer is refused (400) and changes nothing."""
    attempt = session.get(QualificationAttempt, attempt_id, with_for_update=True) if 0 < attempt_id < 2**31 else None
    if attempt is None or attempt.annotator != annotator:
        raise NotFound(f"attempt {attempt_id} does not exist", field="attempt_id")
    if attempt.graded_at is not None:
        raise Conflict(f"attempt {attempt_id} was already graded", field="attempt_id")
    if attempt.expires_at <= utcnow():
        raise Conflict(f"attempt {attempt_id} expired; start a new one", field="attempt_id")
    test = session.get(QualificationTest, attempt.domain)
    assert test is not None
    schema = label_schema_adapter.validate_python(test.label_schema)
    items = _items(session, attempt)
    expected = {str(i.id) for i in items}
    if unknown := sorted(set(body.answers) - expected):
        raise InvalidInput(f"items {unknown} are not part of this attempt", field="answers")
    if missing := sorted(expected - set(body.answers), key=int):
        raise InvalidInput(f"items {missing} are not answered", field="answers")
    canonical = {}
    for item in items:
        try:
            canonical[item.id] = validate_label(schema, item.data, body.answers[str(item.id)],
                                                settings.max_payload_bytes).decode()
        except LabelShareError as err:  # name the answer at fault, not a "payload" the request lacks
            field = f"answers.{item.id}" + (err.field or "").removeprefix("payload")
            raise type(err)(f"item {item.id}: {err.detail}", field=field) from None
    check_can_work(session, annotator, attempt.domain)
    rel = locked_reliability(session, annotator, attempt.domain)
    chance = chance_level(test.label_schema)
    correct, reason, results = 0, None, ""
    for item in items:
        ok = is_correct(test.label_schema, canonical[item.id], item.answer, settings.accept_min_agreement)
        correct += ok
        results += "1" if ok else "0"
        reason = update_gold(rel, ok, chance, settings) or reason
    attempt.correct, attempt.graded_at = correct, utcnow()
    attempt.passed = reason is None and correct >= test.pass_accuracy * len(items)
    if reason is not None:
        suspend(session, annotator, reason)
    if attempt.passed:
        # A fresh start in the domain: the test is the recent record a revocation judges.
        rel.recent_gold, rel.revoke_reason, rel.revoked_tx = results, None, None
        evidence = keccak(canonical_bytes({"attempt": attempt.id, "annotator": annotator, "domain": attempt.domain,
                                           "items": attempt.item_ids, "answers": [canonical[i.id] for i in items],
                                           "correct": correct}))
        receipt = chain.transact("qualifier", chain.ledger.functions.grantQualification(
            annotator, domain_id(attempt.domain), QUALIFIED_LEVEL, evidence))
        attempt.grant_tx = "0x" + bytes(receipt["transactionHash"]).hex()
        log.info("%s qualified in %s (%d/%d) in %s", annotator, attempt.domain, correct, len(items), attempt.grant_tx)
    session.flush()
    return attempt
