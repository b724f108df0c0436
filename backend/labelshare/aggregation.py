"""Label aggregation: from several annotators' answers to a verified label per task, a confidence
per task and a skill per annotator.

One code path serves the live backend (``quality.review_project``) and the offline evaluation
(``evaluation``):

- categorical labels (classification, pairwise preference): crowd-kit's Dawid–Skene, optionally
  anchored on gold answers (``true_labels``). Skill is the annotator's *balanced* accuracy from
  their estimated confusion matrix — the mean over true classes of P(answer = truth | truth) —
  so both a random clicker and an always-same-label annotator score exactly chance (1/K).
- structured labels (spans, boxes), where no crowd-kit aggregator fits: the medoid answer under
  an agreement score (F1 of label-matched items at IoU >= 0.5, optimally matched with SciPy's
  Hungarian solver); confidence is the medoid's mean agreement, skill an annotator's mean
  agreement with the verified labels.

Answers are a DataFrame with columns ``task, worker, label``; labels are any hashable value (the
backend uses canonical JSON strings).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from crowdkit.aggregation import DawidSkene, MajorityVote
from scipy.optimize import linear_sum_assignment

__all__ = ["Aggregate", "IOU_MATCH", "agreement", "aggregate_structured", "dawid_skene", "majority_vote"]

IOU_MATCH = 0.5  # two spans/boxes with the same label match at this IoU or more


@dataclass(frozen=True)
class Aggregate:
    labels: dict[Any, Any]  # task -> verified label
    confidence: dict[Any, float]  # task -> probability (or agreement) of the verified label
    skills: dict[Any, float]  # worker -> skill in [0, 1]
    answers: dict[Any, int]  # worker -> answers the skill was estimated from
    chance: float  # the skill of an annotator who ignores the task


def _dedupe(answers: pd.DataFrame) -> pd.DataFrame:
    return answers.drop_duplicates(["task", "worker"], keep="first")[["task", "worker", "label"]]


def dawid_skene(answers: pd.DataFrame, gold: pd.Series | None = None, n_iter: int = 100) -> Aggregate:
    """Dawid–Skene over categorical ``answers``; ``gold`` (task -> true label) anchors the EM on
    known answers. Labels of gold tasks come back as the gold answer."""
    data = _dedupe(answers)
    classes = sorted(set(data["label"]) | (set(gold) if gold is not None else set()), key=str)
    model = DawidSkene(n_iter=n_iter)
    if gold is not None and len(gold):
        model.fit(data, true_labels=gold[gold.index.isin(data["task"])])
    else:
        model.fit(data)
    probas = model.probas_
    labels = probas.idxmax(axis=1)
    confidence = probas.max(axis=1)
    errors = model.errors_  # index (worker, answered label), columns: true label -> P(answer | truth)
    skills: dict[Any, float] = {}
    for worker, matrix in errors.groupby(level="worker"):
        rows = matrix.droplevel("worker")
        skills[worker] = float(np.mean([rows.at[c, c] if c in rows.index and c in rows.columns else 0.0
                                        for c in classes]))
    return Aggregate(
        labels=labels.to_dict(), confidence={t: float(c) for t, c in confidence.items()}, skills=skills,
        answers=data.groupby("worker").size().astype(int).to_dict(), chance=1.0 / max(len(classes), 2),
    )


def majority_vote(answers: pd.DataFrame, seed: int | None = None) -> pd.Series:
    """Majority vote (crowd-kit); ties broken uniformly at random with ``seed`` — an explicit tie
    policy, since "first label seen" moves accuracy by points on balanced binary data."""
    probas = MajorityVote().fit(_dedupe(answers)).probas_
    rng = np.random.default_rng(seed)
    top = probas.max(axis=1)
    labels = {}
    for task, row in probas.iterrows():
        tied = [label for label, share in row.items() if np.isclose(share, top[task])]
        labels[task] = tied[rng.integers(len(tied))] if len(tied) > 1 else tied[0]
    return pd.Series(labels, name="agg_label")


# ------------------------------------------------------------------------- structured labels


def _iou_1d(a: dict, b: dict) -> float:
    inter = max(0, min(a["end"], b["end"]) - max(a["start"], b["start"]))
    union = max(a["end"], b["end"]) - min(a["start"], b["start"])
    return inter / union if union > 0 else 0.0


def _iou_2d(a: dict, b: dict) -> float:
    ix = max(0.0, min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]))
    iy = max(0.0, min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]))
    inter = ix * iy
    union = a["w"] * a["h"] + b["w"] * b["h"] - inter
    return inter / union if union > 0 else 0.0


_ITEMS: dict[str, tuple[str, Callable[[dict, dict], float]]] = {"spans": ("spans", _iou_1d), "boxes": ("boxes", _iou_2d)}


def agreement(kind: str, a: dict, b: dict) -> float:
    """F1 between two span/box answers: items match when their labels are equal and IoU >= 0.5,
    paired one-to-one to maximise the matches (Hungarian). Two empty answers agree fully."""
    key, iou = _ITEMS[kind]
    left, right = a[key], b[key]
    if not left and not right:
        return 1.0
    if not left or not right:
        return 0.0
    ious = np.array([[iou(x, y) if x["label"] == y["label"] else 0.0 for y in right] for x in left])
    # Maximise the number of matches first; IoU only breaks ties between equally many.
    rows, cols = linear_sum_assignment((ious >= IOU_MATCH) + 1e-6 * ious, maximize=True)
    matches = int(np.sum(ious[rows, cols] >= IOU_MATCH))
    return 2 * matches / (len(left) + len(right))


def aggregate_structured(kind: str, answers: Iterable[tuple[Any, Any, str]], gold: dict[Any, str] | None = None
                         ) -> Aggregate:
    """Medoid aggregation of span/box ``answers`` (task, worker, canonical JSON). A gold task's
    label is its gold answer; skills are mean agreement with the verified (or gold) labels."""
    by_task: dict[Any, list[tuple[Any, str]]] = defaultdict(list)
    for task, worker, label in answers:
        by_task[task].append((worker, label))
    gold = gold or {}
    labels, confidence = {}, {}
    scores: dict[Any, list[float]] = defaultdict(list)
    for task, given in by_task.items():
        parsed = [json.loads(label) for _, label in given]
        if task in gold:
            best, best_parsed, conf = gold[task], json.loads(gold[task]), 1.0
        elif len(given) == 1:
            best, best_parsed, conf = given[0][1], parsed[0], 0.0  # one answer verifies nothing
        else:
            mean = [np.mean([agreement(kind, p, q) for j, q in enumerate(parsed) if j != i]) for i, p in enumerate(parsed)]
            i = int(np.argmax(mean))
            best, best_parsed, conf = given[i][1], parsed[i], float(mean[i])
        labels[task], confidence[task] = best, conf
        for (worker, _), p in zip(given, parsed, strict=True):
            scores[worker].append(agreement(kind, p, best_parsed))
    return Aggregate(labels=labels, confidence=confidence,
                     skills={w: float(np.mean(s)) for w, s in scores.items()},
                     answers={w: len(s) for w, s in scores.items()}, chance=0.0)
