"""`make slither`: slither over every contract in contracts/, compiled by the solc-js adapter.

Runs with the python of slither's own virtual environment (.tools/slither), from any directory:

1. Writes a standard-JSON compiler input naming every ``contracts/**/*.sol``. crytic-compile then
   compiles it in its ``solc-json`` mode (``--compile-force-framework solc-json``), which drives the
   compiler with ``--standard-json`` as tools/solc/solc does; its default mode needs solc's legacy
   ``--combined-json``, and its directory mode (``slither contracts --solc-standard-json``) takes
   only the top folder's files.
2. Runs ``slither INPUT --compile-force-framework solc-json --config-file slither.config.json
   --json FILE``. The config names the adapter and the OpenZeppelin remapping, keeps findings with
   an element in contracts/, reports disable comments that suppress nothing, and makes slither fail
   on an open high or medium finding.
3. Checks every ``// slither-disable-...`` comment in contracts/: it names known detectors (never
   ``all``), gives its reason on the same line after ``--``, and suppresses something.
4. Writes OUT/slither.json (slither's JSON output with the repository's path taken out of every
   path, and unused-disable reports kept for contracts/ only) and OUT/slither.md (the triage).

Exit status: 0 when clean; 1 when a high or medium finding is open or a disable comment is
wrong; 2 when slither could not compile or run.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
ADAPTER = ROOT / "tools" / "solc" / "solc"
CONFIG = ROOT / "slither.config.json"
SEVERITIES = ("High", "Medium", "Low", "Informational", "Optimization")
GATING = ("High", "Medium")
MIN_REASON_WORDS = 3

# Findings fixed in the contracts because of slither, kept for the triage page:
# (severity, detector, where, what changed). None so far: no finding showed a defect.
FIXED: tuple[tuple[str, str, str, str], ...] = ()

# What slither itself honours (slither/core/slither_core.py): the comment must open its line.
DIRECTIVE = re.compile(
    r"^\s*//\s*slither-disable-(?P<kind>next-line|start|end)\s*(?P<detectors>[a-zA-Z0-9_,-]*)(?P<rest>.*)$")
ANY_DIRECTIVE = re.compile(r"slither-disable-(?:next-line|start|end)")


def sources() -> list[str]:
    """The protocol's contracts; contracts/mocks holds test-only stand-ins (a mintable stablecoin,
    deliberately hostile tokens and receivers) that are never deployed off a local chain."""
    return sorted(p.relative_to(ROOT).as_posix() for p in CONTRACTS.rglob("*.sol")
                  if ".cache" not in p.parts and "mocks" not in p.relative_to(CONTRACTS).parts)


def detector_impacts() -> dict[str, str]:
    """Every detector slither knows, by its command-line name, with its severity."""
    os.environ["VIRTUAL_ENV"] = sys.prefix  # solc-select, imported on the way, makes its folder there, not in $HOME
    from slither.detectors import all_detectors
    from slither.detectors.abstract_detector import AbstractDetector, classification_txt

    return {cls.ARGUMENT: classification_txt[cls.IMPACT]
            for _, cls in inspect.getmembers(all_detectors, inspect.isclass)
            if issubclass(cls, AbstractDetector) and getattr(cls, "ARGUMENT", "")}


def run_slither(input_file: Path, json_file: Path) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    command = [str(Path(sys.prefix) / "bin" / "slither"), str(input_file), "--compile-force-framework", "solc-json",
               "--config-file", CONFIG.name, "--json", str(json_file)]
    # solc-select (imported by crytic-compile) makes its folder under $VIRTUAL_ENV, else in $HOME.
    path = f"{ROOT / 'node_modules' / '.bin'}:{os.environ.get('PATH', '')}"
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix, "PATH": path}
    return command, subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def relative(value):
    """``value`` with the repository's absolute path removed from every string in it."""
    prefix = f"{ROOT}/"
    if isinstance(value, str):
        return value.replace(prefix, "")
    if isinstance(value, list):
        return [relative(v) for v in value]
    if isinstance(value, dict):
        return {k: relative(v) for k, v in value.items()}
    return value


def directives(known: dict[str, str]) -> tuple[list[dict], list[str]]:
    """Every disable comment in contracts/, and what is wrong with any of them."""
    found, problems = [], []
    for name in sources():
        lines = (ROOT / name).read_text(encoding="utf8").splitlines()
        for number, text in enumerate(lines, start=1):
            if not ANY_DIRECTIVE.search(text):
                continue
            where = f"{name}:{number}"
            match = DIRECTIVE.match(text)
            if not match:
                problems.append(f"{where}: a slither-disable comment must open its line (slither ignores it)")
                continue
            kind, names = match["kind"], [d for d in match["detectors"].split(",") if d]
            reason = match["rest"].strip().removeprefix("--").strip()
            if not names:
                problems.append(f"{where}: names no detector")
            for detector in names:
                if detector == "all":
                    problems.append(f"{where}: disables every detector; name the ones accepted")
                elif detector not in known:
                    problems.append(f"{where}: unknown detector {detector!r}")
            if kind == "end":
                continue
            if not match["rest"].strip().startswith("--") or len(reason.split()) < MIN_REASON_WORDS:
                problems.append(f"{where}: give the reason on the same line: `// slither-disable-{kind} "
                                f"{match['detectors']} -- why this finding is accepted`")
            target = next((lines[i].strip() for i in range(number, len(lines)) if lines[i].strip()
                           and not lines[i].strip().startswith("//")), "")
            found.append({"file": name, "line": number, "kind": kind, "detectors": names, "reason": reason,
                          "code": target})
    return found, problems


def location(result: dict) -> str:
    for element in result.get("elements", []):
        mapping = element.get("source_mapping") or {}
        if mapping.get("filename_relative", "").startswith("contracts/") and mapping.get("lines"):
            lines = mapping["lines"]
            return f"{mapping['filename_relative']}:{lines[0]}" + (f"-{lines[-1]}" if len(lines) > 1 else "")
    return "?"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(findings: list[dict], accepted: list[dict], known: dict[str, str], facts: dict) -> str:
    by_severity = {s: [f for f in findings if f["impact"] == s] for s in SEVERITIES}
    accepted_rows = [(known.get(d, "?"), d, a) for a in accepted for d in a["detectors"]]
    accepted_rows.sort(key=lambda r: (SEVERITIES.index(r[0]) if r[0] in SEVERITIES else 9, r[2]["file"], r[2]["line"]))
    out = [
        "# Static analysis: slither",
        "",
        "Written by `make slither` (`tools/slither/run.py`); run it again after changing a contract. The reason",
        "for each accepted finding is the comment that disables it, on the line above the code it is about;",
        "this page collects them.",
        "",
        f"- **Tool**: slither-analyzer {facts['slither']} with crytic-compile {facts['crytic_compile']}, in its own",
        "  virtual environment `.tools/slither` (pinned by `tools/slither/requirements.txt`); "
        f"{facts['detectors']} detectors.",
        f"- **Compiler**: solc {facts['solc']} (solc-js) through the adapter `tools/solc/solc`: one standard-JSON",
        f"  compilation of the {len(facts['sources'])} files under `contracts/` "
        "(crytic-compile's `solc-json` mode), `@openzeppelin/contracts`",
        "  remapped to `.deps/openzeppelin-contracts`. Settings in `slither.config.json`.",
        "- **Scope**: findings with an element in `contracts/` (`include_paths`). Findings entirely inside",
        "  OpenZeppelin are out of scope. `include_paths` rather than `filter_paths`: slither drops a finding",
        "  when any one of its elements matches `filter_paths`, so excluding `.deps/` that way would also hide",
        "  findings in our code that name an OpenZeppelin element (the `pragma` finding below is one).",
        "- **Gate**: slither fails on an open High or Medium finding (`fail_on: medium`); the run also fails on",
        "  a disable comment in `contracts/` that gives no reason, names an unknown detector or `all`, or",
        "  suppresses nothing (`warn_unused_ignores`). `tests/toolchain/test_slither.py` runs the same target.",
        "",
        "## Findings by severity",
        "",
        "| severity | open | accepted (disable comments) | fixed |",
        "|---|---:|---:|---:|",
    ]
    for severity in SEVERITIES:
        accepted_count = sum(1 for r in accepted_rows if r[0] == severity)
        fixed_count = sum(1 for f in FIXED if f[0] == severity)
        out.append(f"| {severity} | {len(by_severity[severity])} | {accepted_count} | {fixed_count} |")
    out += ["", "## Open findings", ""]
    if findings:
        out += ["| severity | confidence | detector | where | finding |", "|---|---|---|---|---|"]
        for severity in SEVERITIES:
            for f in by_severity[severity]:
                first = f["description"].strip().splitlines()[0]
                out.append(f"| {severity} | {f['confidence']} | `{f['check']}` | {location(f)} | {cell(first)} |")
    else:
        out.append("None.")
    out += ["", "## Accepted findings", "",
            "Each row is one detector named by a `// slither-disable-next-line` comment; `where` is the comment's",
            "line, `code` the line it covers.", ""]
    if accepted_rows:
        out += ["| severity | detector | where | code | reason |", "|---|---|---|---|---|"]
        for severity, detector, a in accepted_rows:
            code = a["code"] if len(a["code"]) <= 70 else a["code"][:67] + "..."
            where = f"{a['file']}:{a['line']}"
            out.append(f"| {severity} | `{detector}` | {where} | `{cell(code)}` | {cell(a['reason'])} |")
    else:
        out.append("None.")
    out += ["", "## Fixed", ""]
    if FIXED:
        out += ["| severity | detector | where | change |", "|---|---|---|---|"]
        out += [f"| {s} | `{d}` | {w} | {cell(c)} |" for s, d, w, c in FIXED]
    else:
        out.append("Nothing: no finding showed a defect in the contracts (see the reasons above).")
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where slither.json and slither.md go")
    args = parser.parse_args()
    out_dir = args.out if args.out.is_absolute() else Path.cwd() / args.out
    started = time.monotonic()

    files = sources()
    compiler_input = {
        "language": "Solidity",
        "sources": {name: {"urls": [name]} for name in files},
        # As the Ape build compiles (ape-config.yaml); slither analyses the AST, so no optimizer.
        "settings": {"evmVersion": "cancun"},
    }
    with tempfile.TemporaryDirectory(prefix="slither-") as tmp:
        input_file, json_file = Path(tmp) / "contracts.standard.json", Path(tmp) / "slither.json"
        input_file.write_text(json.dumps(compiler_input, indent=1))
        command, proc = run_slither(input_file, json_file)
        if not json_file.exists():
            sys.stderr.write(proc.stdout + proc.stderr)
            print(f"slither: no output ({' '.join(command)} exited {proc.returncode})", file=sys.stderr)
            return 2
        output = relative(json.loads(json_file.read_text()))
    if not output.get("success") or output.get("error"):
        sys.stderr.write(proc.stderr)
        print(f"slither: failed: {output.get('error')}", file=sys.stderr)
        return 2

    known = detector_impacts()
    results = output.get("results", {}).get("detectors", [])
    findings, unused = [], []
    for result in results:
        if result["check"] != "unused-ignore-directive":
            findings.append(result)
            continue
        seen = set()
        for item in result.get("unused_ignores", []):
            key = (item["file"], item["line"], tuple(item["unused_detectors"]))
            if item["file"].startswith("contracts/") and key not in seen:
                seen.add(key)
                unused.append(item)
    kept = list(findings)
    if unused:
        kept.append({"check": "unused-ignore-directive", "impact": "Informational", "confidence": "High",
                     "description": f"Found {len(unused)} unused slither-disable directive(s) in contracts/",
                     "elements": [], "unused_ignores": unused})
    output["results"]["detectors"] = kept
    if not kept:
        output["results"] = {}  # what slither writes when nothing is found

    accepted, problems = directives(known)
    problems += [f"{u['file']}:{u['line']}: disables {', '.join(u['unused_detectors'])} but suppresses nothing "
                 "(remove the comment, or move it to the line above the finding)" for u in unused]
    gating = [f for f in findings if f["impact"] in GATING]

    solc = subprocess.run([str(ADAPTER), "--version"], capture_output=True, text=True, timeout=120).stdout
    analysed = re.search(r"analyzed \((\d+) contracts with (\d+) detectors\)", proc.stderr)
    facts = {
        "slither": version("slither-analyzer"), "crytic_compile": version("crytic-compile"),
        "solc": (re.search(r"Version: (\d+\.\d+\.\d+)", solc) or [None, "?"])[1],
        "detectors": analysed[2] if analysed else len(known), "sources": files,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "slither.json").write_text(json.dumps(output, indent=1, sort_keys=True) + "\n")
    (out_dir / "slither.md").write_text(render(findings, accepted, known, facts))

    elapsed = time.monotonic() - started
    counts = ", ".join(f"{s} {sum(f['impact'] == s for f in findings)}" for s in SEVERITIES)
    print(f"slither {facts['slither']} over {len(files)} files in contracts/ "
          f"({analysed[1] if analysed else '?'} contracts analysed with OpenZeppelin) in {elapsed:.1f} s")
    print(f"open findings: {counts}; accepted: {sum(len(a['detectors']) for a in accepted)} "
          f"(disable comments with reasons); wrote {out_dir / 'slither.md'} and slither.json")
    for f in findings:
        print(f"  open {f['impact']}: {f['check']} at {location(f)}")
    for problem in problems:
        print(f"  disable comment: {problem}")
    if gating or problems:
        print(f"FAILED: {len(gating)} open high/medium finding(s), {len(problems)} disable-comment problem(s)",
              file=sys.stderr)
        return 1
    if proc.returncode != 0:  # slither's own fail_on gate disagrees with ours: say so rather than pass
        sys.stderr.write(proc.stderr[-4000:])
        print(f"slither exited {proc.returncode} although no high/medium finding is open", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
