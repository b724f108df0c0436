"""Live quality control: gold answers, aggregation of overlapping labels, reliability, spammer
suspension and the reward each accepted label earns.

- A gold task's submission is decided at once against the gold answer; it updates the
  annotator's reliability in the project's domain and their sequential spam test.
- A normal task, once it has ``overlap`` submissions, waits for the next review pass
  (``Reviewer``, run by the background worker before each settlement pass): the pass aggregates
  the project's recent labels with ``aggregation`` — the same code the offline evaluation runs —
  anchored on the project's gold answers, accepts the submissions that agree with the verified
  label and records every annotator's estimated skill.
- Spammers are suspended on either of two tests, both stated in the suspension's reason:
  a sequential probability ratio test (Wald) on gold answers, "chance level" against "at least
  ``honest_skill`` of the way from chance to perfect", which keeps honest annotators' false
  suspension rate near ``spam_alpha`` however often it is checked; and an aggregation skill at
  most ``spam_margin`` of the way from chance to perfect over at least ``spam_min_answers``
  answers. A suspended annotator's pending, unaccepted work is rejected (unpaid) and its slots
  reopen to others.
- A specialist whose recent gold accuracy falls below ``revoke_accuracy`` can no longer submit
  in that domain; the on-chain qualification is revoked once their accepted work there is settled
  (the ledger would refuse to pay it afterwards).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from labelshare.aggregation import Aggregate, agreement, aggregate_structured, dawid_skene
from labelshare.chain import Chain
from labelshare.config import Settings
from labelshare.db.models import Assignment, Epoch, Project, Reliability, Submission, Suspension, Task, utcnow
from labelshare.db.params import in_values
from labelshare.domains import GENERAL, domain_id
from labelshare.errors import NotOffered, Suspended
from labelshare.labels import canonical_bytes, label_schema_adapter
from labelshare.rewards import RewardPolicy, quality_factor_bps, reward

__all__ = ["Reviewer", "check_can_work", "chance_level", "evidence_needed", "is_correct", "record_gold", "suspend"]

log = logging.getLogger(__name__)
RECENT_GOLD = 32  # gold answers kept per annotator and domain (Reliability.recent_gold)
STRUCTURED = ("spans", "boxes")
# A guessed span/box answer almost never matches: the spam test's stand-in for "chance".
STRUCTURED_CHANCE = 0.05


def chance_level(label_schema: dict[str, Any]) -> float:
    """The accuracy of an annotator who ignores the task."""
    schema = label_schema_adapter.validate_python(label_schema)
    if schema.type == "classification":
        return 1.0 / len(schema.labels)
    if schema.type == "pairwise":
        return 1.0 / (3 if schema.allow_tie else 2)
    return STRUCTURED_CHANCE


def is_correct(label_schema: dict[str, Any], payload: str, answer: dict[str, Any], min_agreement: float) -> bool:
    """Whether canonical ``payload`` matches ``answer``: equal for categorical labels, at least
    ``min_agreement`` (aggregation.agreement) for spans and boxes."""
    kind = label_schema["type"]
    if kind in STRUCTURED:
        return agreement(kind, json.loads(payload), answer) >= min_agreement
    return canonical_bytes(answer).decode() == payload


def check_can_work(session: Session, annotator: str, domain: str) -> None:
    """Raises Suspended or NotOffered when ``annotator`` may not work in ``domain``."""
    suspension = session.get(Suspension, annotator)
    if suspension is not None:
        raise Suspended(f"you are suspended: {suspension.reason}")
    if domain != GENERAL:
        rel = session.get(Reliability, (annotator, domain))
        if rel is not None and rel.revoke_reason and rel.revoked_tx is None:
            raise NotOffered(f"your {domain} qualification is being revoked: {rel.revoke_reason}")


def locked_reliability(session: Session, annotator: str, domain: str) -> Reliability:
    """The (annotator, domain) row, created if missing and locked for this transaction."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(Reliability).values(annotator=annotator, domain=domain).on_conflict_do_nothing())
    return session.scalars(select(Reliability).where(Reliability.annotator == annotator, Reliability.domain == domain)
                           .with_for_update().execution_options(populate_existing=True)).one()


def _spam_step(chance: float, honest_skill: float, correct: bool) -> float:
    """One answer's log-likelihood ratio of "guessing" (p0) against "honest" (p1)."""
    p0 = min(max(chance, 1e-3), 0.99)
    p1 = p0 + (1 - p0) * honest_skill
    return math.log(p0 / p1) if correct else math.log((1 - p0) / (1 - p1))


def update_gold(rel: Reliability, correct: bool, chance: float, settings: Settings) -> str | None:
    """Adds one gold answer to ``rel``; returns a suspension reason when the spam test fires."""
    rel.gold_answered += 1
    rel.gold_correct += int(correct)
    rel.gold_chance += chance
    rel.recent_gold = (rel.recent_gold + ("1" if correct else "0"))[-RECENT_GOLD:]
    # Wald's SPRT, floored at its "honest" boundary so a later turn to guessing is caught as fast.
    upper = math.log((1 - settings.spam_beta) / settings.spam_alpha)
    lower = math.log(settings.spam_beta / (1 - settings.spam_alpha))
    rel.spam_llr = max(lower, rel.spam_llr + _spam_step(chance, settings.honest_skill, correct))
    if rel.spam_llr >= upper:
        return (f"gold answers at chance level: {rel.gold_correct} of {rel.gold_answered} correct in {rel.domain}, "
                f"{rel.gold_chance / rel.gold_answered:.0%} expected by guessing")
    if rel.domain != GENERAL and rel.revoke_reason is None and len(rel.recent_gold) >= settings.revoke_min_gold:
        accuracy = rel.recent_gold.count("1") / len(rel.recent_gold)
        if accuracy < settings.revoke_accuracy:
            rel.revoke_reason = (f"recent gold accuracy {accuracy:.0%} over {len(rel.recent_gold)} answers is "
                                 f"below {settings.revoke_accuracy:.0%}")
            log.info("%s: %s qualification to be revoked (%s)", rel.annotator, rel.domain, rel.revoke_reason)
    return None


def suspend(session: Session, annotator: str, reason: str) -> None:
    """Suspends ``annotator``: their pending (unaccepted) work is rejected and its slots reopen."""
    if session.get(Suspension, annotator) is not None:
        return
    session.add(Suspension(annotator=annotator, reason=reason[:300]))
    now = utcnow()
    pending = session.execute(select(Submission, Task).join(Task, Submission.task_id == Task.id)
                              .where(Submission.annotator == annotator, Submission.status == "pending")).all()
    for submission, task in pending:
        submission.status, submission.decided_at = "rejected", now
        submission.reason = f"annotator suspended: {reason}"[:200]
        if not task.is_gold and task.reviewed_at is None:
            task.submission_count -= 1
            task.complete = False
    # Offers they hold but have not answered stop counting against the tasks' overlap.
    session.execute(update(Assignment).where(Assignment.annotator == annotator, Assignment.expires_at > now)
                    .values(expires_at=now))
    log.warning("annotator %s suspended (%s); %d pending submissions rejected", annotator, reason, len(pending))


def evidence_needed(policy: RewardPolicy, gold_rate: float, gold_tasks: int) -> int:
    """Gold answers in the domain an annotator needs before their normal labels in a project with
    ``gold_tasks`` gold tasks are decided: a full quality-factor window, or all the project's gold
    when it has less (more could never come). An empty record would pay full: a guesser's first
    labels would be paid or not depending on when the review pass ran. 0 without gold in play."""
    return min(policy.gold_window, gold_tasks) if gold_rate > 0 else 0


def _accept(submission: Submission, project: Project, recent_gold: str, now: Any) -> None:
    policy = RewardPolicy.model_validate(project.reward_policy)
    factor = quality_factor_bps(policy, recent_gold)
    submission.status, submission.accepted_at, submission.decided_at = "accepted", now, now
    submission.quality_factor_bps = factor
    submission.reward = reward(project.reward_per_label, policy, factor)


def _reject(submission: Submission, reason: str, now: Any) -> None:
    submission.status, submission.reason, submission.decided_at = "rejected", reason, now


def record_gold(session: Session, project: Project, task: Task, submission: Submission, settings: Settings) -> None:
    """Decides a gold task's submission now and updates the annotator's reliability."""
    assert task.gold_answer is not None
    correct = is_correct(project.label_schema, submission.payload, task.gold_answer, settings.accept_min_agreement)
    rel = locked_reliability(session, submission.annotator, project.domain)
    reason = update_gold(rel, correct, chance_level(project.label_schema), settings)
    now = utcnow()
    if correct:
        _accept(submission, project, rel.recent_gold, now)
    else:
        _reject(submission, "disagrees with the gold answer", now)
    log.info("gold submission %s %s", submission.id, submission.status)
    if reason is not None:
        suspend(session, submission.annotator, reason)


# ---------------------------------------------------------------------------- review pass


@dataclass(frozen=True)
class ReviewResult:
    project_id: int
    tasks: int
    accepted: int
    rejected: int
    suspended: tuple[str, ...]


class Reviewer:
    """Aggregates complete tasks and decides their submissions, project by project; then sends
    the qualification revocations that are due."""

    def __init__(self, sessions: sessionmaker[Session], chain: Chain | None, settings: Settings) -> None:
        self.sessions = sessions
        self.chain = chain
        self.settings = settings

    def run_once(self) -> list[ReviewResult]:
        with self.sessions() as session:
            due = session.scalars(select(Task.project_id).where(
                Task.complete.is_(True), Task.is_gold.is_(False), Task.reviewed_at.is_(None)).distinct()).all()
            held = session.scalars(select(Submission.project_id).join(Task, Submission.task_id == Task.id).where(
                Submission.status == "pending", Task.is_gold.is_(False), Task.reviewed_at.is_not(None)
            ).distinct()).all()
        results = [self.review_project(pid) for pid in sorted({*due, *held})]
        if self.chain is not None:
            self.send_revocations()
        return results

    # -------------------------------------------------------------- aggregation

    def _answers(self, session: Session, project: Project, due: Sequence[int]
                 ) -> tuple[list[tuple[int, str, str]], dict[int, str]]:
        """(task, annotator, payload) of the ``due`` tasks, the project's recent complete tasks and
        its gold tasks, from annotators who are not suspended; and the gold answers as canonical JSON."""
        recent = (select(Task.id).where(Task.project_id == project.id, Task.is_gold.is_(False), Task.complete.is_(True))
                  .order_by(Task.id.desc()).limit(self.settings.review_window_tasks))
        gold_tasks = session.execute(select(Task.id, Task.gold_answer).where(
            Task.project_id == project.id, Task.is_gold.is_(True))).all()
        task_ids = sorted({*due, *session.scalars(recent), *(tid for tid, _ in gold_tasks)})
        suspended = select(Suspension.annotator)
        rows: list[tuple[int, str, str]] = []
        for start in range(0, len(task_ids), 4096):  # below SQL parameter limits; a power of two (db.params)
            rows += [tuple(r) for r in session.execute(  # type: ignore[misc]
                select(Submission.task_id, Submission.annotator, Submission.payload)
                .where(Submission.task_id.in_(in_values(task_ids[start:start + 4096])), Submission.annotator.not_in(suspended)))]
        return rows, {tid: canonical_bytes(answer).decode() for tid, answer in gold_tasks}

    def aggregate(self, project: Project, rows: list[tuple[int, str, str]], gold: dict[int, str]) -> Aggregate:
        kind = project.label_schema["type"]
        if kind in STRUCTURED:
            result = aggregate_structured(kind, rows, gold)
        else:
            answers = pd.DataFrame(rows, columns=["task", "worker", "label"])
            result = dawid_skene(answers, pd.Series(gold, dtype=object) if gold else None)
        # The schema knows every class; the answers may not have used them all.
        return replace(result, chance=chance_level(project.label_schema))

    def review_project(self, project_id: int) -> ReviewResult:
        # Read, fit outside any write transaction (a fit can take a second), then write.
        with self.sessions() as session:
            project = session.get(Project, project_id)
            assert project is not None
            due = session.scalars(select(Task.id).where(
                Task.project_id == project_id, Task.complete.is_(True), Task.is_gold.is_(False),
                Task.reviewed_at.is_(None)).order_by(Task.id).limit(self.settings.review_window_tasks)).all()
            rows, gold = self._answers(session, project, due)
        aggregate = self.aggregate(project, rows, gold) if rows else None
        with self.sessions.begin() as session:
            return self._decide(session, project_id, list(due), aggregate)

    def _decide(self, session: Session, project_id: int, due: list[int], aggregate: Aggregate | None
                ) -> ReviewResult:
        project = session.get(Project, project_id)
        assert project is not None
        kind = project.label_schema["type"]
        # Only the tasks the fit saw complete: one that completed since waits for the next pass.
        labels = aggregate.labels if aggregate is not None else {}
        tasks = [t for t in session.scalars(select(Task).where(
            Task.id.in_(in_values(due)), Task.complete.is_(True), Task.reviewed_at.is_(None)).with_for_update()).all()
            if t.id in labels]
        now = utcnow()
        accepted = rejected = 0
        reliabilities: dict[str, Reliability] = {}

        def rel(annotator: str) -> Reliability:
            if annotator not in reliabilities:
                reliabilities[annotator] = locked_reliability(session, annotator, project.domain)
            return reliabilities[annotator]

        for task in tasks:
            assert aggregate is not None
            task.verified_label, task.confidence, task.reviewed_at = \
                json.loads(labels[task.id]), aggregate.confidence[task.id], now
        gold_tasks = session.scalar(select(func.count()).select_from(Task).where(
            Task.project_id == project_id, Task.is_gold.is_(True)))
        needed = evidence_needed(RewardPolicy.model_validate(project.reward_policy), project.gold_rate, gold_tasks or 0)
        # The pending labels of the tasks just verified and of those verified before (held then).
        pending = session.execute(select(Submission, Task).join(Task, Submission.task_id == Task.id).where(
            Task.project_id == project_id, Task.is_gold.is_(False), Task.reviewed_at.is_not(None),
            Submission.status == "pending").order_by(Submission.id)).all()
        for submission, task in pending:
            record = rel(submission.annotator)
            if record.gold_answered < needed:
                continue  # held until its annotator's gold record can price it
            assert task.verified_label is not None
            if kind in STRUCTURED:
                agrees = (agreement(kind, json.loads(submission.payload), task.verified_label)
                          >= self.settings.accept_min_agreement)
            else:
                agrees = submission.payload == canonical_bytes(task.verified_label).decode()
            if agrees:
                _accept(submission, project, record.recent_gold, now)
                accepted += 1
            else:
                _reject(submission, "disagrees with the verified label", now)
                rejected += 1
        suspended = []
        if aggregate is not None:
            for annotator, skill in aggregate.skills.items():
                if annotator not in aggregate.answers:
                    continue
                record = rel(annotator)
                record.skill, record.skill_chance, record.skill_answers = skill, aggregate.chance, aggregate.answers[annotator]
                if (record.skill_answers >= self.settings.spam_min_answers
                        and skill <= aggregate.chance + self.settings.spam_margin * (1 - aggregate.chance)
                        and session.get(Suspension, annotator) is None):
                    suspend(session, annotator, f"estimated skill {skill:.2f} over {record.skill_answers} answers in "
                                                f"project {project_id} is at chance level ({aggregate.chance:.2f})")
                    suspended.append(annotator)
        log.info("review of project %s: %d tasks, %d accepted, %d rejected, %d suspended",
                 project_id, len(tasks), accepted, rejected, len(suspended))
        return ReviewResult(project_id, len(tasks), accepted, rejected, tuple(suspended))

    # -------------------------------------------------------------- revocations

    def send_revocations(self) -> list[str]:
        """Revokes on-chain the qualifications marked for revocation whose work in the domain is
        all decided and its accepted part settled. Returns the transaction hashes."""
        assert self.chain is not None
        sent = []
        with self.sessions() as session:
            due = session.execute(select(Reliability.annotator, Reliability.domain).where(
                Reliability.revoke_reason.is_not(None), Reliability.revoked_tx.is_(None))).all()
            waiting = {(a, d) for a, d in session.execute(
                select(Submission.annotator, Project.domain).join(Project, Submission.project_id == Project.id)
                .outerjoin(Epoch, Submission.epoch_id == Epoch.id)  # in an epoch still settling, or
                .where(or_(Submission.status == "pending",  # pending review, which may accept it
                           and_(Submission.status == "accepted", or_(Epoch.id.is_(None), Epoch.status != "settled"))))
                .distinct())}
        for annotator, domain in due:
            if (annotator, domain) in waiting:
                continue
            tx_hash = self._revoke(annotator, domain)
            with self.sessions.begin() as session:
                session.execute(update(Reliability).where(Reliability.annotator == annotator, Reliability.domain == domain)
                                .values(revoked_tx=tx_hash))
            sent.append(tx_hash)
        return sent

    def _revoke(self, annotator: str, domain: str) -> str:
        assert self.chain is not None
        ledger = self.chain.ledger.functions
        if ledger.qualificationLevel(annotator, domain_id(domain)).call() == 0:
            return "0x" + "00" * 32  # nothing on-chain to revoke
        receipt = self.chain.transact("qualifier", ledger.revokeQualification(
            annotator, domain_id(domain), b"reliability".ljust(32, b"\0")))
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        log.info("revoked %s qualification of %s in %s", domain, annotator, tx_hash)
        return tx_hash
