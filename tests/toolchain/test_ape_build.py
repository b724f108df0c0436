"""The Ape build sees every contract in contracts/ (regression: Ape lists at most 500 files under
contracts/, and an unpacked dependency in contracts/.cache once pushed ours out of the list)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DECLARATION = re.compile(r"^(?:abstract\s+)?(?:contract|interface|library)\s+(\w+)", re.MULTILINE)


def test_project_listsEveryDeclaredContract(project):
    sources = [p for p in (ROOT / "contracts").rglob("*.sol") if ".cache" not in p.parts]
    declared = {name for path in sources for name in DECLARATION.findall(path.read_text())}
    assert {"LabelLedger", "RewardToken", "LabelShareTimelock"} <= declared
    assert declared <= set(project.contracts)
    cache = ROOT / "contracts" / ".cache"
    cached = sum(1 for _ in cache.rglob("*.*")) if cache.exists() else 0
    assert cached + len(sources) < 500, "contracts/.cache is large enough to hide our sources from Ape"
