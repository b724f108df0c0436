"""Aggregation against real crowds with expert ground truth (RTE, dog), through
``labelshare.evaluation`` and ``labelshare evaluate``.

The data is research data with no licence, kept outside the repository: it is read from
``$LABELSHARE_CROWD_DATA``, by default ``<repo>/../shared/crowd-data``; the tests that need it skip
when it is absent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelshare.cli import app
from labelshare.errors import InvalidInput
from labelshare.evaluation import DS, DS_GOLD, MV, EvaluationReport, evaluate, find_datasets, load_dataset

REPO = Path(__file__).resolve().parents[2]
CROWD_DATA = Path(os.environ.get("LABELSHARE_CROWD_DATA", REPO.parent / "shared" / "crowd-data"))

# Dawid–Skene accuracy against gold measured with crowd-kit 1.4.2 defaults, from the table
# "Reference accuracies" in ../shared/crowd-data/README.md (Dawid–Skene row: 0.9275 rte, 0.8426 dog).
DS_REFERENCE = {"rte": 0.9275, "dog": 0.8426}
CLASSES = {"rte": 2, "dog": 4}

runner = CliRunner()


@pytest.fixture(scope="module")
def crowd_data() -> Path:
    if not all((CROWD_DATA / name / "answers.csv").is_file() for name in DS_REFERENCE):
        pytest.skip(f"crowd data not found: looked for rte/ and dog/ (answers.csv, truth.csv) in {CROWD_DATA}; "
                    "set LABELSHARE_CROWD_DATA to the folder holding them to run these tests")
    return CROWD_DATA


@pytest.fixture(scope="module")
def reports(crowd_data) -> dict[str, EvaluationReport]:
    """Each dataset evaluated once with the defaults (25 tie-breaks, 10% gold over 5 seeds)."""
    return {name: evaluate(load_dataset(crowd_data / name)) for name in DS_REFERENCE}


@pytest.mark.parametrize("name", list(DS_REFERENCE))
def test_evaluate_dawidSkene_beatsMajorityVote_andMatchesReference(reports, name):
    report = reports[name]
    assert (report.tasks, report.answers, len(report.classes)) == (
        {"rte": 800, "dog": 807}[name], {"rte": 8000, "dog": 8070}[name], CLASSES[name])
    ds, mv = report.score(DS), report.score(MV)
    assert ds.scored == mv.scored == report.truth_tasks
    assert ds.accuracy > mv.accuracy
    assert ds.accuracy == pytest.approx(DS_REFERENCE[name], abs=0.01)


@pytest.mark.parametrize("name", list(DS_REFERENCE))
def test_evaluate_goldRevealed_dawidSkeneBeatsMajorityVoteOnHeldOutTasks(reports, name):
    report = reports[name]
    anchored, unanchored, mv = (report.score(m, gold=True) for m in (DS_GOLD, DS, MV))
    assert anchored.gold_share == unanchored.gold_share == mv.gold_share == 0.10
    assert anchored.scored == mv.scored == report.truth_tasks - round(0.10 * report.truth_tasks)
    assert anchored.accuracy > mv.accuracy
    assert unanchored.accuracy > mv.accuracy


@pytest.mark.parametrize("name", list(DS_REFERENCE))
def test_evaluate_f1_onlyForBinaryData(reports, name):
    report = reports[name]
    assert report.binary == (name == "rte")
    for row in report.rows:
        assert (row.f1 is not None) == report.binary
        if row.f1 is not None:
            assert 0.8 < row.f1 <= 1.0


def test_findDatasets_folderOfDatasets(crowd_data):
    assert {p.name for p in find_datasets(crowd_data)} >= set(DS_REFERENCE)
    assert find_datasets(crowd_data / "rte") == [crowd_data / "rte"]


def test_cli_evaluate_printsBothMethodsPerDataset(crowd_data, tmp_path):
    out = tmp_path / "reports.json"
    result = runner.invoke(app, ["evaluate", str(crowd_data), "--seeds", "1", "--tie-breaks", "2",
                                 "--json", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for text in ("rte", "dog", "majority vote", "Dawid–Skene", "Dawid–Skene + gold", "10%"):
        assert text in result.output
    written = {report["dataset"]: report for report in json.loads(out.read_text())}
    assert written["rte"]["classes"] == [0, 1]
    assert {row["method"] for row in written["dog"]["rows"]} == {MV, DS, DS_GOLD}


def test_cli_evaluate_missingPath_exitsWithClearError(tmp_path):
    missing = tmp_path / "nowhere"
    result = runner.invoke(app, ["evaluate", str(missing)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "no such folder" in result.output and "nowhere" in result.output


def _malformed(tmp_path: Path) -> Path:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "answers.csv").write_text("task,worker\n1,a\n2,b\n")
    (folder / "truth.csv").write_text("task,truth\n1,0\n")
    return folder


def test_cli_evaluate_malformedFolder_namesFileAndColumn(tmp_path):
    result = runner.invoke(app, ["evaluate", str(_malformed(tmp_path))], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "answers.csv" in result.output and "missing column(s) label" in result.output


def test_loadDataset_malformed_raisesInvalidInput(tmp_path):
    with pytest.raises(InvalidInput, match=r"answers\.csv: missing column\(s\) label"):
        load_dataset(_malformed(tmp_path))
    folder = tmp_path / "no-truth"
    folder.mkdir()
    (folder / "answers.csv").write_text("task,worker,label\n1,a,0\n")
    with pytest.raises(InvalidInput, match=r"missing truth\.csv"):
        load_dataset(folder)
    with pytest.raises(InvalidInput, match="no such folder"):
        find_datasets(tmp_path / "absent")
    (tmp_path / "plain" / "sub").mkdir(parents=True)
    with pytest.raises(InvalidInput, match="neither a dataset folder"):
        find_datasets(tmp_path / "plain")


def test_evaluate_smallBinaryFolder_endToEnd(tmp_path):
    """A tiny dataset written by hand: runs without the shared data and scores as expected."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    rows = [(t, w, t % 2) for t in range(20) for w in ("a", "b")] + [(t, "c", 1 - t % 2) for t in range(20)]
    (folder / "answers.csv").write_text("task,worker,label\n" + "".join(f"{t},{w},{y}\n" for t, w, y in rows))
    (folder / "truth.csv").write_text("task,truth\n" + "".join(f"{t},{t % 2}\n" for t in range(20)))
    report = evaluate(load_dataset(folder), gold_share=0.2, seeds=2, tie_breaks=3)
    assert report.binary and report.classes == [0, 1]
    assert report.score(MV).accuracy == report.score(DS).accuracy == 1.0
    assert report.score(DS_GOLD, gold=True).scored == 16
    assert report.score(MV).f1 == 1.0
