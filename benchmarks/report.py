"""Merges the parts' results (``.bench/*.json``) into ``docs/benchmarks.json`` and
``docs/benchmarks.md``, with the machine they ran on and the command that reproduces each.

    python -m benchmarks.report [--parts .bench] [--out docs] [--update]

``--update`` replaces only the parts found in ``--parts`` and keeps the others (and the header's
machine and commit) from the existing ``<out>/benchmarks.json``; a part measured on its own says
so, with its own commit and date.
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

ORDER = ("gas", "api", "replicas", "settlement")
TITLES = {"gas": "Gas per accepted annotation", "api": "API: verified submissions per second",
          "replicas": "API: replicas on PostgreSQL", "settlement": "Settlement at scale"}
RENDERERS = {"gas": "benchmarks.gas", "api": "benchmarks.api_load", "replicas": "benchmarks.api_load",
             "settlement": "benchmarks.settlement"}


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


def build(parts_dir: Path, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report from the parts in ``parts_dir``; with ``previous`` (an earlier report), its
    other parts and header are kept and each new part is stamped with its own commit and date."""
    found = {name: json.loads((parts_dir / f"{name}.json").read_text()) for name in ORDER
             if (parts_dir / f"{name}.json").is_file()}
    if previous is None:
        return {"machine": machine(), "command": "make bench", "parts": found}
    now = machine()
    for part in found.values():
        part["measured_separately"] = {"git_commit": now["git_commit"], "measured_at": now["measured_at"]}
    parts = {name: found.get(name, previous["parts"].get(name)) for name in ORDER}
    return {**previous, "parts": {name: part for name, part in parts.items() if part is not None}}


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
        if alone := part.get("measured_separately"):
            lines += ["", f"Measured on its own (`--update`): commit {alone['git_commit']}, {alone['measured_at']}."]
        if part.get("notes") and not self_contained:
            lines += [""] + [f"- {note}" for note in part["notes"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", type=Path, default=Path(".bench"))
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--update", action="store_true",
                        help="replace only the parts in --parts, keeping the rest of <out>/benchmarks.json")
    args = parser.parse_args()
    existing = args.out / "benchmarks.json"
    if args.update and not existing.is_file():
        raise SystemExit(f"--update: there is no {existing} to update")
    report = build(args.parts, json.loads(existing.read_text()) if args.update else None)
    if not report["parts"]:
        raise SystemExit(f"no results in {args.parts}: run the parts first (make bench)")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "benchmarks.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
