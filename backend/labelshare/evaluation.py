"""Offline evaluation of label aggregation against ground truth, through the same code path as the
live backend (``aggregation``).

A dataset is a folder holding ``answers.csv`` (``task,worker,label``, one row per answer) and
``truth.csv`` (``task,truth``), e.g. the public RTE and dog sets in ``../shared/crowd-data`` (read
from there, never copied into the repository). For each dataset we score, against the truth:

- majority vote with random tie-break, averaged over ``tie_breaks`` seeds (its expectation);
- Dawid–Skene on every answer;
- with a share of the truth revealed as control tasks (one random draw per seed): majority vote,
  Dawid–Skene without the gold and Dawid–Skene anchored on it, all scored only on the truth
  tasks that were not revealed, averaged over seeds.

Accuracy always; F1 (positive class = the larger label) when the data is binary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table
from sklearn.metrics import f1_score

from labelshare.aggregation import dawid_skene, majority_vote
from labelshare.errors import InvalidInput

__all__ = [
    "DS", "DS_GOLD", "MV", "Dataset", "EvaluationReport", "MethodScore", "evaluate", "find_datasets",
    "load_dataset", "report_markdown", "report_table",
]

MV, DS, DS_GOLD = "majority vote", "Dawid–Skene", "Dawid–Skene + gold"
ANSWERS, TRUTH = "answers.csv", "truth.csv"
_COLUMNS = {ANSWERS: ("task", "worker", "label"), TRUTH: ("task", "truth")}


@dataclass(frozen=True)
class Dataset:
    name: str
    answers: pd.DataFrame  # task, worker, label
    truth: pd.Series  # task -> true label, restricted to tasks with answers


@dataclass(frozen=True)
class MethodScore:
    method: str
    accuracy: float
    f1: float | None  # binary data only
    scored: int  # truth tasks scored (per seed, for the gold-revealed rows)
    gold_share: float = 0.0  # share of the truth revealed as control tasks; 0 = none


@dataclass(frozen=True)
class EvaluationReport:
    dataset: str
    tasks: int
    workers: int
    answers: int
    classes: list[Any]
    truth_tasks: int
    gold_share: float
    seeds: int
    tie_breaks: int
    rows: list[MethodScore] = field(default_factory=list)

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    def score(self, method: str, gold: bool = False) -> MethodScore:
        """The row of ``method``, on all truth tasks or (``gold``) with gold revealed."""
        for row in self.rows:
            if row.method == method and (row.gold_share > 0) == gold:
                return row
        raise KeyError(f"{method!r} (gold revealed: {gold}) not in the report")


# ------------------------------------------------------------------------------ loading


def _read(folder: Path, name: str) -> pd.DataFrame:
    path = folder / name
    if not path.is_file():
        raise InvalidInput(f"{folder}: missing {name} (expected columns {', '.join(_COLUMNS[name])})", field=name)
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InvalidInput(f"{path}: not a readable CSV file ({err})", field=name) from err
    missing = [c for c in _COLUMNS[name] if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{path}: missing column(s) {', '.join(missing)} "
                           f"(found {', '.join(map(str, frame.columns)) or 'none'})", field=name)
    frame = frame[list(_COLUMNS[name])]
    if frame.empty:
        raise InvalidInput(f"{path}: no rows", field=name)
    if frame.isna().any().any():
        raise InvalidInput(f"{path}: empty values in {', '.join(frame.columns[frame.isna().any()])}", field=name)
    return frame


def load_dataset(folder: str | Path) -> Dataset:
    """Read ``answers.csv`` and ``truth.csv`` from ``folder``; ``InvalidInput`` naming the file
    and column when one is missing or malformed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"{folder}: no such dataset folder")
    answers, truth = _read(folder, ANSWERS), _read(folder, TRUTH)
    if truth["task"].duplicated().any():
        raise InvalidInput(f"{folder / TRUTH}: duplicate tasks", field=TRUTH)
    truth = truth.set_index("task")["truth"]
    truth = truth[truth.index.isin(answers["task"])]
    if truth.empty:
        raise InvalidInput(f"{folder}: no task of {TRUTH} has an answer in {ANSWERS}")
    return Dataset(name=folder.name, answers=answers, truth=truth)


def find_datasets(path: str | Path) -> list[Path]:
    """``path`` itself if it holds ``answers.csv``, else its sub-folders that do (sorted)."""
    path = Path(path)
    if not path.is_dir():
        raise InvalidInput(f"{path}: no such folder")
    if (path / ANSWERS).exists() or (path / TRUTH).exists():
        return [path]
    found = sorted(p for p in path.iterdir() if p.is_dir() and ((p / ANSWERS).exists() or (p / TRUTH).exists()))
    if not found:
        raise InvalidInput(f"{path}: neither a dataset folder ({ANSWERS}, {TRUTH}) nor a folder of them")
    return found


# ------------------------------------------------------------------------------ scoring


def _scores(predicted: pd.Series, truth: pd.Series, positive: Any | None) -> tuple[float, float | None]:
    """Accuracy (and F1 of ``positive`` when given) of ``predicted`` on ``truth``'s tasks."""
    y_true = truth.to_numpy()
    y_pred = predicted.reindex(truth.index).to_numpy()
    accuracy = float(np.mean(y_pred == y_true))
    if positive is None:
        return accuracy, None
    return accuracy, float(f1_score(y_true == positive, y_pred == positive))


def _mean(scores: list[tuple[float, float | None]]) -> tuple[float, float | None]:
    accuracy = float(np.mean([a for a, _ in scores]))
    f1s = [f for _, f in scores if f is not None]
    return accuracy, float(np.mean(f1s)) if f1s else None


def _row(method: str, scores: list[tuple[float, float | None]], scored: int, gold_share: float = 0.0) -> MethodScore:
    accuracy, f1 = _mean(scores)
    return MethodScore(method=method, accuracy=accuracy, f1=f1, scored=scored, gold_share=gold_share)


def _reveal_size(truth: pd.Series, share: float) -> int:
    return min(max(1, round(share * len(truth))), len(truth) - 1)


def _reveal(truth: pd.Series, share: float, seed: int) -> pd.Series:
    """A random ``share`` of the truth (at least one task, never all), drawn with ``seed``."""
    chosen = np.random.default_rng(seed).choice(truth.index.to_numpy(), size=_reveal_size(truth, share), replace=False)
    return truth.loc[chosen]


def _gold_rows(data: Dataset, mv: list[pd.Series], ds: pd.Series, share: float, seeds: int,
               positive: Any | None) -> list[MethodScore]:
    by_method: dict[str, list[tuple[float, float | None]]] = {MV: [], DS: [], DS_GOLD: []}
    for seed in range(seeds):
        gold = _reveal(data.truth, share, seed)
        held_out = data.truth.drop(gold.index)
        anchored = pd.Series(dawid_skene(data.answers, gold=gold).labels)
        by_method[MV].append(_mean([_scores(labels, held_out, positive) for labels in mv]))
        by_method[DS].append(_scores(ds, held_out, positive))
        by_method[DS_GOLD].append(_scores(anchored, held_out, positive))
    scored = len(data.truth) - _reveal_size(data.truth, share)
    return [_row(method, scores, scored, share) for method, scores in by_method.items()]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def evaluate(data: Dataset, gold_share: float = 0.10, seeds: int = 5, tie_breaks: int = 25) -> EvaluationReport:
    """Score majority vote and Dawid–Skene on ``data``, then (``gold_share`` > 0, ``seeds`` > 0) the
    same plus Dawid–Skene anchored on ``gold_share`` of the truth revealed, on the rest."""
    if not 0 <= gold_share < 1:
        raise InvalidInput(f"gold share must be in [0, 1), got {gold_share}", field="gold_share")
    if seeds < 0 or tie_breaks < 1:
        raise InvalidInput("seeds must be >= 0 and tie breaks >= 1")
    classes = sorted(set(data.answers["label"]) | set(data.truth), key=lambda c: (str(type(c)), c))
    positive = classes[-1] if len(classes) == 2 else None
    mv = [majority_vote(data.answers, seed=seed) for seed in range(tie_breaks)]
    ds = pd.Series(dawid_skene(data.answers).labels)
    rows = [_row(MV, [_scores(labels, data.truth, positive) for labels in mv], len(data.truth)),
            _row(DS, [_scores(ds, data.truth, positive)], len(data.truth))]
    if gold_share > 0 and seeds > 0 and len(data.truth) > 1:
        rows += _gold_rows(data, mv, ds, gold_share, seeds, positive)
    return EvaluationReport(
        dataset=data.name, tasks=int(data.answers["task"].nunique()), workers=int(data.answers["worker"].nunique()),
        answers=len(data.answers), classes=[_plain(c) for c in classes], truth_tasks=len(data.truth),
        gold_share=gold_share, seeds=seeds, tie_breaks=tie_breaks, rows=rows,
    )


# ------------------------------------------------------------------------------ rendering


def _cells(report: EvaluationReport, row: MethodScore) -> list[str]:
    gold = f"{row.gold_share:.0%}" if row.gold_share else "-"
    scored = f"{row.scored} held out" if row.gold_share else f"{row.scored} (all)"
    cells = [row.method, gold, scored, f"{row.accuracy:.4f}"]
    if report.binary:
        cells.append(f"{row.f1:.4f}" if row.f1 is not None else "")
    return cells


def _header(report: EvaluationReport) -> list[str]:
    return ["method", "gold revealed", "truth tasks scored", "accuracy"] + (["F1"] if report.binary else [])


def _summary(report: EvaluationReport) -> str:
    return (f"{report.dataset}: {report.tasks} tasks, {report.workers} workers, {report.answers} answers, "
            f"{len(report.classes)} classes")


def _notes(report: EvaluationReport) -> str:
    notes = f"majority vote: random tie-break, mean of {report.tie_breaks} seeds"
    if any(row.gold_share for row in report.rows):
        notes += f"; gold revealed: mean of {report.seeds} random draws"
    return notes + (f"; F1 of class {report.classes[-1]}" if report.binary else "")


def report_table(report: EvaluationReport) -> Table:
    """The report as a rich table, one row per method and setting; the best accuracy in bold."""
    table = Table(title=_summary(report), caption=_notes(report), title_justify="left", caption_justify="left")
    for i, name in enumerate(_header(report)):
        table.add_column(name, justify="left" if i < 2 else "right")
    best = {r.gold_share: max(o.accuracy for o in report.rows if o.gold_share == r.gold_share) for r in report.rows}
    for i, row in enumerate(report.rows):
        cells = _cells(report, row)
        if np.isclose(row.accuracy, best[row.gold_share]):
            cells[3] = f"[bold]{cells[3]}[/]"
        last_plain = i + 1 < len(report.rows) and report.rows[i + 1].gold_share != row.gold_share
        table.add_row(*cells, end_section=last_plain)
    return table


def report_markdown(report: EvaluationReport) -> str:
    """The report as a markdown table between a summary line and its notes."""
    header = _header(report)
    lines = [f"**{_summary(report)}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cells(report, row)) + " |" for row in report.rows]
    return "\n".join(lines + ["", _notes(report)])
