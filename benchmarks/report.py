"""Merges the parts' results (``.bench/*.json``) into ``docs/benchmarks.json`` and
``docs/benchmarks.md``, with the machine they ran on and the command that reproduces each.

    python -m benchmarks.report [--parts .bench] [--out docs]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

ORDER = ("gas", "api", "settlement")
TITLES = {"gas": "Gas per accepted annotation", "api": "API: verified submissions per second",
          "settlement": "Settlement at scale"}
RENDERERS = {"gas": "benchmarks.gas", "api": "benchmarks.api_load", "settlement": "benchmarks.settlement"}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                         if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        memory_kb = 0

    def version(*command: str) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "unknown"

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(memory_kb / 2**20, 1),
            "os": platform.platform(), "python": platform.python_version(), "anvil": version("anvil", "--version"),
            "postgresql": version("psql", "--version"), "sqlite": __import__("sqlite3").sqlite_version,
            "git_commit": version("git", "rev-parse", "--short", "HEAD"),
            "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}


def build(parts_dir: Path) -> dict[str, Any]:
    parts = {}
    for name in ORDER:
        path = parts_dir / f"{name}.json"
        if path.is_file():
            parts[name] = json.loads(path.read_text())
    return {"machine": machine(), "command": "make bench", "parts": parts}


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = ["# LabelShare benchmarks", "",
             "Written by `make bench` (each part can be run alone with the command under its heading). "
             "Figures are measurements on the machine below; they are reported, never asserted by tests.", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {m['os']}; Python {m['python']}; "
             f"SQLite {m['sqlite']}; {m['postgresql']}; {m['anvil']}. Commit {m['git_commit']}, "
             f"{m['measured_at']}.", "", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for part in report["parts"].values():
        for t in part.get("targets", []):
            lines.append(f"| {t['name']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |")
    for name, part in report["parts"].items():
        rendered = import_module(RENDERERS[name]).markdown(part).rstrip()
        self_contained = rendered.startswith("## ")  # the part renders its own heading, command and notes
        if self_contained:
            rendered = rendered.split("\n", 1)[1].lstrip("\n")
        lines += ["", f"## {TITLES[name]}", "", f"`{part['command']}`", "", rendered]
        if load := part.get("machine", {}).get("loadavg_end"):
            lines += ["", f"Load average when this part ended: {', '.join(map(str, load))} (1, 5, 15 min) on "
                          f"{report['machine']['cores']} cores: other work shared the machine when above it."]
        if part.get("notes") and not self_contained:
            lines += [""] + [f"- {note}" for note in part["notes"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", type=Path, default=Path(".bench"))
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    report = build(args.parts)
    if not report["parts"]:
        raise SystemExit(f"no results in {args.parts}: run the parts first (make bench)")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "benchmarks.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
