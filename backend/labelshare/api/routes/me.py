from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter
from sqlalchemy import select

from labelshare.api.deps import Before, CurrentAnnotator, Limit, SessionDep, SessionsDep, SettledViewDep
from labelshare.api.routes.submissions import submission_out
from labelshare.api.schemas import DomainReliability, EpochReward, QualityOut, RewardsOut, SubmissionOut
from labelshare.db.models import Epoch, EpochChunk, Reliability, Submission, Suspension, Task
from labelshare.db.params import in_values
from labelshare.rewards import RewardPolicy, quality_factor_bps
from labelshare.settled import CONFIRMING, RESENDING, SETTLED, UNVERIFIED

router = APIRouter(prefix="/me", tags=["me"])


@router.get("/submissions", response_model=list[SubmissionOut])
def my_submissions(annotator: CurrentAnnotator, session: SessionDep, limit: Limit = 100,
                   before: Before = None) -> list[SubmissionOut]:
    """The signed-in annotator's submissions with their status, newest first: ``limit`` of them,
    older than submission ``before`` when given (pass the last id to page on)."""
    query = (select(Submission, Task.task_key).join(Task, Submission.task_id == Task.id)
             .where(Submission.annotator == annotator))
    if before is not None:
        query = query.where(Submission.id < before)
    rows = session.execute(query.order_by(Submission.id.desc()).limit(limit)).all()
    return [submission_out(s, key) for s, key in rows]


@router.get("/rewards", response_model=RewardsOut)
def my_rewards(annotator: CurrentAnnotator, sessions: SessionsDep, view: SettledViewDep, limit: Limit = 50) -> RewardsOut:
    """Rewards: settled (what the ledger holds at the configured confirmations), pending (the rest
    of what was accepted), and the ``limit`` most recent epochs with their amounts, status and the
    transactions that paid them."""
    with sessions() as session:  # closed before the chain is asked (a transaction holds SQLite's lock)
        accepted = session.execute(select(Submission.reward, Submission.epoch_id, Epoch.status)
                                   .outerjoin(Epoch, Submission.epoch_id == Epoch.id)
                                   .where(Submission.annotator == annotator, Submission.status == "accepted")).all()
        per_epoch: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        recorded: dict[int, str] = {}
        for reward, epoch_id, status in accepted:
            if epoch_id is not None:
                per_epoch[epoch_id][0] += reward
                per_epoch[epoch_id][1] += 1
                recorded[epoch_id] = status
        recent = sorted(per_epoch)[-limit:]
        # One query for the recent epochs' chunks (not one per epoch): which transactions paid me.
        hashes: dict[int, list[str]] = defaultdict(list)
        for chunk in session.scalars(select(EpochChunk).where(EpochChunk.epoch_id.in_(in_values(recent)),
                                                              EpochChunk.status == "confirmed")
                                     .order_by(EpochChunk.epoch_id, EpochChunk.chunk_index)):
            if chunk.tx_hash and any(p[0] == annotator for p in chunk.payouts):
                hashes[chunk.epoch_id].append(chunk.tx_hash)
    onchain = view.statuses(recorded)  # every epoch of mine, for the totals: one batched read
    totals: dict[str, int] = defaultdict(int)
    pending_count = 0
    for reward, epoch_id, _ in accepted:
        status = onchain[epoch_id].status if epoch_id is not None else "unassigned"
        if status in (SETTLED, UNVERIFIED):
            totals[status] += reward
            continue
        totals["pending"] += reward
        pending_count += 1
        if status in (RESENDING, CONFIRMING):
            totals[RESENDING] += reward
    epochs = [EpochReward(epoch_id=e, amount=str(per_epoch[e][0]), annotations=per_epoch[e][1],
                          status=onchain[e].status, reason=onchain[e].reason, tx_hashes=hashes[e]) for e in recent]
    reasons = sorted({answer.reason for answer in onchain.values() if answer.reason})
    return RewardsOut(address=annotator, pending=str(totals["pending"]), pending_annotations=pending_count,
                      settled=str(totals[SETTLED]), resending=str(totals[RESENDING]),
                      unverified=str(totals[UNVERIFIED]), reason="; ".join(reasons) or None, epochs=epochs)


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
