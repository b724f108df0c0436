from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

from labelshare.api.deps import ChainDep, CurrentAdmin, CurrentAnnotator, SessionDep, SettingsDep
from labelshare.api.schemas import (
    AttemptOut, GradeOut, QualificationQuestion, QualificationTestOut, QualificationTestUpdated,
)
from labelshare.db.models import QualificationItem, QualificationTest
from labelshare.qualifications import AttemptAnswers, QualificationTestIn, grade_attempt, put_test, start_attempt
from labelshare.rewards import DOMAIN_MULTIPLIER_BPS

router = APIRouter(prefix="/qualifications", tags=["qualifications"])


@router.get("", response_model=list[QualificationTestOut])
def list_tests(session: SessionDep) -> list[QualificationTestOut]:
    """The specialist domains that have a qualification test."""
    pools = dict(session.execute(select(QualificationItem.domain, func.count()).group_by(QualificationItem.domain)).all())
    return [QualificationTestOut(domain=t.domain, label_schema=t.label_schema, questions=t.questions,
                                 pass_accuracy=t.pass_accuracy, cooldown_seconds=t.cooldown_seconds,
                                 pool=pools.get(t.domain, 0), domain_multiplier_bps=DOMAIN_MULTIPLIER_BPS[t.domain])
            for t in session.scalars(select(QualificationTest).order_by(QualificationTest.domain))]


@router.put("/{domain}", response_model=QualificationTestUpdated)
def put(domain: str, body: QualificationTestIn, admin: CurrentAdmin, session: SessionDep,
        settings: SettingsDep) -> QualificationTestUpdated:
    """Creates or updates a domain's test and adds gold items to its pool (admins only)."""
    added, pool = put_test(session, domain, body, settings.max_payload_bytes)
    return QualificationTestUpdated(domain=domain, added=added, pool=pool)


@router.post("/{domain}/attempts", response_model=AttemptOut, status_code=201)
def start(domain: str, annotator: CurrentAnnotator, session: SessionDep, chain: ChainDep) -> AttemptOut:
    """Starts an attempt (or returns the one still open): questions drawn from the pool, without answers."""
    attempt, test, items = start_attempt(session, chain, annotator, domain)
    return AttemptOut(attempt_id=attempt.id, domain=domain, expires_at=attempt.expires_at,
                      label_schema=test.label_schema, pass_accuracy=test.pass_accuracy,
                      questions=[QualificationQuestion(item_id=str(i.id), data=i.data) for i in items])


@router.post("/attempts/{attempt_id}", response_model=GradeOut)
def grade(attempt_id: int, body: AttemptAnswers, annotator: CurrentAnnotator, session: SessionDep, chain: ChainDep,
          settings: SettingsDep) -> GradeOut:
    """Grades the attempt; a pass grants the qualification on the ledger."""
    attempt = grade_attempt(session, chain, settings, annotator, attempt_id, body)
    return GradeOut(attempt_id=attempt.id, domain=attempt.domain, correct=attempt.correct or 0,
                    total=len(attempt.item_ids), passed=bool(attempt.passed), grant_tx=attempt.grant_tx)
