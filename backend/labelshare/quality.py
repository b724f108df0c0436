"""Deciding which submissions are accepted.

This is the acceptance rule the settlement path is built and tested against: a gold task's
submission is accepted when its canonical payload equals the gold answer; a normal task, once it
has ``overlap`` submissions, takes the strict plurality of canonical payloads as its verified
label and accepts the submissions that agree. A tie waits for one more annotator, up to twice the
overlap, then rejects all. Statistical aggregation (Dawid–Skene through crowd-kit, per-annotator
reliability) replaces the plurality rule in the quality work that builds on this.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from labelshare.labels import canonical_bytes

__all__ = ["Decision", "decide_gold", "decide_task"]


@dataclass
class Decision:
    verified_label: dict | None = None
    accepted: list[int] = field(default_factory=list)  # submission ids
    rejected: dict[int, str] = field(default_factory=dict)  # submission id -> reason
    complete: bool = False  # the task takes no more submissions


def decide_gold(gold_answer: dict, submission_id: int, payload: str) -> Decision:
    if canonical_bytes(gold_answer).decode() == payload:
        return Decision(gold_answer, accepted=[submission_id])
    return Decision(gold_answer, rejected={submission_id: "disagrees with the gold answer"})


def decide_task(overlap: int, submissions: list[tuple[int, str]]) -> Decision | None:
    """``submissions`` are (id, canonical payload) of one task; None while more are needed."""
    if len(submissions) < overlap:
        return None
    counts = Counter(payload for _, payload in submissions).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        if len(submissions) < 2 * overlap:
            return None  # tied: one more annotator breaks it
        return Decision(rejected={sid: "annotators did not agree" for sid, _ in submissions}, complete=True)
    winner = counts[0][0]
    decision = Decision(json.loads(winner), complete=True)
    for sid, payload in submissions:
        if payload == winner:
            decision.accepted.append(sid)
        else:
            decision.rejected[sid] = "disagrees with the verified label"
    return decision
