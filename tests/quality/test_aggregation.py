"""Aggregation on small synthetic crowds with a known truth: Dawid–Skene, gold anchoring, skills,
majority vote's tie policy, and span/box agreement and medoids."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labelshare.aggregation import IOU_MATCH, agreement, aggregate_structured, dawid_skene, majority_vote

PROBES = range(160, 200)  # tasks answered only by the expert and the two workers who outvote it


def _frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def _accuracy(labels, truth: dict, tasks) -> float:
    return float(np.mean([labels[t] == truth[t] for t in tasks]))


def _expert_outvoted(colluding: bool, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """200 binary tasks. An always-right expert; two workers who are coin flips on tasks 0-159
    (independent, or ``colluding``: the same flip) and both wrong on the probes 160-199; three
    75%-right workers on tasks 0-159 only. On the probes the expert is outvoted 2 to 1."""
    rng = np.random.default_rng(seed)
    rows, truth = [], {}
    for task in range(200):
        y = int(rng.integers(2))
        truth[task] = y
        rows.append((task, "expert", y))
        if task in PROBES:
            rows += [(task, "c1", 1 - y), (task, "c2", 1 - y)]
            continue
        flips = [int(rng.integers(2))] * 2 if colluding else [int(rng.integers(2)) for _ in range(2)]
        rows += [(task, "c1", flips[0]), (task, "c2", flips[1])]
        rows += [(task, f"n{i}", y if rng.random() < 0.75 else 1 - y) for i in range(3)]
    return _frame(rows), truth


# ------------------------------------------------------------------------------ Dawid–Skene


def test_dawidSkene_expertOutvotedByTwoNoisyWorkers_recoversTruthWhereMajorityVoteFails():
    answers, truth = _expert_outvoted(colluding=False)
    result = dawid_skene(answers)
    assert _accuracy(majority_vote(answers, seed=0), truth, PROBES) == 0.0
    assert _accuracy(result.labels, truth, PROBES) == 1.0
    assert _accuracy(result.labels, truth, truth) >= 0.97
    assert result.skills["expert"] > 0.95 > max(result.skills["c1"], result.skills["c2"])


def test_dawidSkene_goldAnchoring_defeatsColludingPair():
    """Two workers who always answer alike look, to unanchored Dawid–Skene, like two experts; a few
    gold tasks reveal them and turn every probe decision around."""
    answers, truth = _expert_outvoted(colluding=True)
    gold = pd.Series({task: truth[task] for task in range(0, 160, 8)})  # 20 gold tasks, none a probe
    without, anchored = dawid_skene(answers), dawid_skene(answers, gold=gold)
    assert _accuracy(without.labels, truth, PROBES) == 0.0  # captured by the colluders
    assert _accuracy(anchored.labels, truth, PROBES) == 1.0
    assert all(anchored.labels[task] == label for task, label in gold.items())
    assert anchored.skills["expert"] > 0.9 > 0.5 > max(anchored.skills["c1"], anchored.skills["c2"])


def test_dawidSkene_goldOnTaskWithoutAnswers_isIgnored():
    answers, truth = _expert_outvoted(colluding=False)
    gold = pd.Series({0: truth[0], "never-answered": 1})
    result = dawid_skene(answers, gold=gold)
    assert "never-answered" not in result.labels and result.labels[0] == truth[0]


@pytest.fixture(scope="module")
def three_class_crowd() -> tuple[pd.DataFrame, dict]:
    """300 tasks, 3 classes: five 90%-right workers, a random clicker, one who always answers 2."""
    rng = np.random.default_rng(1)
    rows, truth = [], {}
    for task in range(300):
        y = int(rng.integers(3))
        truth[task] = y
        rows += [(task, f"good{i}", y if rng.random() < 0.9 else int(rng.integers(3))) for i in range(5)]
        rows += [(task, "random", int(rng.integers(3))), (task, "constant", 2)]
    return _frame(rows), truth


def test_dawidSkene_skills_chanceForRandomAndConstantWorkers_highForGoodOnes(three_class_crowd):
    answers, truth = three_class_crowd
    result = dawid_skene(answers)
    assert result.chance == pytest.approx(1 / 3)
    assert result.skills["constant"] == pytest.approx(1 / 3, abs=0.01)
    assert result.skills["random"] == pytest.approx(1 / 3, abs=0.08)
    assert all(result.skills[f"good{i}"] > 0.85 for i in range(5))
    assert result.answers["random"] == 300
    assert _accuracy(result.labels, truth, truth) > 0.97


def test_dawidSkene_confidence_isProbabilityPerTask(three_class_crowd):
    answers, _ = three_class_crowd
    result = dawid_skene(answers)
    assert set(result.confidence) == set(answers["task"])
    assert all(0.0 <= c <= 1.0 for c in result.confidence.values())
    assert min(result.confidence.values()) >= 1 / 3  # the argmax of three probabilities


def test_dawidSkene_duplicateAnswer_countsOnce(three_class_crowd):
    answers, _ = three_class_crowd
    doubled = pd.concat([answers, answers[answers["worker"] == "random"]])
    assert dawid_skene(doubled).answers["random"] == 300


# ------------------------------------------------------------------------------ majority vote


def _tied_answers() -> pd.DataFrame:
    """Tasks 0-39 tied 1-1 between 'a' and 'b'; task 'clear' 2-1 for 'a'."""
    rows = [(task, w, label) for task in range(40) for w, label in (("x", "a"), ("y", "b"))]
    rows += [("clear", "x", "a"), ("clear", "y", "a"), ("clear", "z", "b")]
    return _frame(rows)


def test_majorityVote_ties_seededAndReproducible():
    answers = _tied_answers()
    first, again = majority_vote(answers, seed=7), majority_vote(answers, seed=7)
    assert first.equals(again)
    ties = first.drop("clear")
    assert set(ties) == {"a", "b"}  # random, not "first label seen"
    assert 0.2 < (ties == "a").mean() < 0.8
    assert not majority_vote(answers, seed=8).equals(first)


def test_majorityVote_clearMajority_ignoresSeed():
    answers = _tied_answers()
    assert {majority_vote(answers, seed=seed)["clear"] for seed in range(10)} == {"a"}


# ------------------------------------------------------------------------------ spans and boxes


def _span(start: int, end: int, label: str = "PER") -> dict:
    return {"start": start, "end": end, "label": label}


def _box(x: float, y: float, w: float, h: float, label: str = "car") -> dict:
    return {"x": x, "y": y, "w": w, "h": h, "label": label}


def test_agreement_identical_isOne():
    assert agreement("spans", {"spans": [_span(0, 5), _span(8, 12, "ORG")]},
                     {"spans": [_span(8, 12, "ORG"), _span(0, 5)]}) == 1.0
    assert agreement("boxes", {"boxes": [_box(1, 2, 3, 4)]}, {"boxes": [_box(1, 2, 3, 4)]}) == 1.0


def test_agreement_differentLabel_isZero():
    assert agreement("spans", {"spans": [_span(0, 5, "PER")]}, {"spans": [_span(0, 5, "ORG")]}) == 0.0
    assert agreement("boxes", {"boxes": [_box(0, 0, 2, 2, "car")]}, {"boxes": [_box(0, 0, 2, 2, "bus")]}) == 0.0


@pytest.mark.parametrize(("end", "expected"), [(49, 0.0), (50, 1.0), (51, 1.0)])
def test_agreement_spanIou_thresholdAtHalf(end, expected):
    """IoU of [0, 100) and [0, end) is end/100."""
    assert IOU_MATCH == 0.5
    assert agreement("spans", {"spans": [_span(0, 100)]}, {"spans": [_span(0, end)]}) == expected


@pytest.mark.parametrize(("height", "expected"), [(4.9, 0.0), (5.1, 1.0)])
def test_agreement_boxIou_thresholdAtHalf(height, expected):
    """IoU of a 10x10 box and a 10 x height box in its corner is height/10."""
    assert agreement("boxes", {"boxes": [_box(0, 0, 10, 10)]}, {"boxes": [_box(0, 0, 10, height)]}) == expected


def test_agreement_emptyAnswers():
    assert agreement("spans", {"spans": []}, {"spans": []}) == 1.0
    assert agreement("boxes", {"boxes": []}, {"boxes": []}) == 1.0
    assert agreement("spans", {"spans": []}, {"spans": [_span(0, 5)]}) == 0.0
    assert agreement("boxes", {"boxes": [_box(0, 0, 1, 1)]}, {"boxes": []}) == 0.0


def test_agreement_oneToOne_duplicateItemMatchesOnce():
    """Two copies of one span against one span: one match, F1 = 2*1/(2+1)."""
    one = {"spans": [_span(0, 10)]}
    assert agreement("spans", {"spans": [_span(0, 10), _span(0, 10)]}, one) == pytest.approx(2 / 3)
    assert agreement("spans", {"spans": [_span(0, 10), _span(20, 30)]}, one) == pytest.approx(2 / 3)


def test_agreement_oneToOne_maximisesMatches():
    """IoUs: x1-y1 0.4, x1-y2 0.6, x2-y1 0.5, x2-y2 0.8. Pairing x1-y2 and x2-y1 matches both
    (F1 = 1); pairing by largest summed IoU (x1-y1, x2-y2: 1.2 > 1.1) matches only one."""
    left = {"spans": [_span(1, 5), _span(0, 5)]}
    right = {"spans": [_span(0, 10), _span(0, 4)]}
    assert agreement("spans", left, right) == 1.0


def _answer(*spans: dict) -> str:
    return json.dumps({"spans": list(spans)}, sort_keys=True)


S1, S2 = _span(0, 5), _span(10, 15, "ORG")


def test_aggregateStructured_picksMedoid():
    """w1 has both spans, w2 and w3 one each: w1's answer agrees most with the others (2/3 each),
    though nobody gave exactly that answer."""
    answers = [("t", "w1", _answer(S1, S2)), ("t", "w2", _answer(S1)), ("t", "w3", _answer(S2))]
    result = aggregate_structured("spans", answers)
    assert result.labels["t"] == _answer(S1, S2)
    assert result.confidence["t"] == pytest.approx(2 / 3)
    assert result.skills == pytest.approx({"w1": 1.0, "w2": 2 / 3, "w3": 2 / 3})
    assert result.chance == 0.0


def test_aggregateStructured_honoursGold():
    answers = [("t", "w1", _answer(S1, S2)), ("t", "w2", _answer(S1)), ("t", "w3", _answer(S2))]
    result = aggregate_structured("spans", answers, gold={"t": _answer(S1)})
    assert result.labels["t"] == _answer(S1)
    assert result.confidence["t"] == 1.0
    assert result.skills == pytest.approx({"w1": 2 / 3, "w2": 1.0, "w3": 0.0})


def test_aggregateStructured_singleAnswer_verifiesNothing():
    result = aggregate_structured("spans", [("t", "w1", _answer(S1))])
    assert result.labels["t"] == _answer(S1) and result.confidence["t"] == 0.0
