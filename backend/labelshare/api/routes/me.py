from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter
from sqlalchemy import select

from labelshare.api.deps import CurrentAnnotator, SessionDep
from labelshare.api.routes.submissions import submission_out
from labelshare.api.schemas import DomainReliability, EpochReward, QualityOut, RewardsOut, SubmissionOut
from labelshare.db.models import Epoch, EpochChunk, Reliability, Submission, Suspension, Task
from labelshare.rewards import RewardPolicy, quality_factor_bps

router = APIRouter(prefix="/me", tags=["me"])


@router.get("/submissions", response_model=list[SubmissionOut])
def my_submissions(annotator: CurrentAnnotator, session: SessionDep) -> list[SubmissionOut]:
    """The signed-in annotator's submissions with their status, newest first."""
    rows = session.execute(select(Submission, Task.task_key).join(Task, Submission.task_id == Task.id)
                           .where(Submission.annotator == annotator).order_by(Submission.id.desc())).all()
    return [submission_out(s, key) for s, key in rows]


@router.get("/rewards", response_model=RewardsOut)
def my_rewards(annotator: CurrentAnnotator, session: SessionDep) -> RewardsOut:
    """Rewards: pending (accepted, not yet settled) and settled per epoch with transaction hashes."""
    accepted = session.execute(select(Submission.reward, Submission.epoch_id, Epoch.status)
                               .outerjoin(Epoch, Submission.epoch_id == Epoch.id)
                               .where(Submission.annotator == annotator, Submission.status == "accepted")).all()
    pending, pending_count, settled = 0, 0, 0
    per_epoch: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    statuses: dict[int, str] = {}
    for reward, epoch_id, status in accepted:
        if epoch_id is None or status != "settled":
            pending += reward
            pending_count += 1
        else:
            settled += reward
        if epoch_id is not None:
            per_epoch[epoch_id][0] += reward
            per_epoch[epoch_id][1] += 1
            statuses[epoch_id] = status
    epochs = []
    for epoch_id in sorted(per_epoch):
        chunks = session.scalars(select(EpochChunk).where(EpochChunk.epoch_id == epoch_id)).all()
        hashes = [c.tx_hash for c in chunks
                  if c.tx_hash and c.status == "confirmed" and any(p[0] == annotator for p in c.payouts)]
        amount, count = per_epoch[epoch_id]
        epochs.append(EpochReward(epoch_id=epoch_id, amount=str(amount), annotations=count,
                                  status=statuses[epoch_id], tx_hashes=hashes))
    return RewardsOut(address=annotator, pending=str(pending), pending_annotations=pending_count,
                      settled=str(settled), epochs=epochs)


@router.get("/quality", response_model=QualityOut)
def my_quality(annotator: CurrentAnnotator, session: SessionDep) -> QualityOut:
    """Reliability per domain (gold record, estimated skill, quality factor) and any suspension."""
    suspension = session.get(Suspension, annotator)
    records = session.scalars(select(Reliability).where(Reliability.annotator == annotator)
                              .order_by(Reliability.domain)).all()
    default = RewardPolicy()
    return QualityOut(
        address=annotator, suspended=suspension is not None, suspension_reason=suspension and suspension.reason,
        domains=[DomainReliability(
            domain=r.domain, gold_answered=r.gold_answered, gold_correct=r.gold_correct, recent_gold=r.recent_gold,
            quality_factor_bps=quality_factor_bps(default, r.recent_gold), skill=r.skill,
            skill_chance=r.skill_chance, skill_answers=r.skill_answers, qualification_revoke_reason=r.revoke_reason,
        ) for r in records])
