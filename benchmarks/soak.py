"""Soak: sustained mixed load against ``labelshare serve`` with its settlement worker running,
for minutes, checking that nothing fails, memory does not grow, and every accepted annotation
ends up settled exactly once with a clean audit.

    python -m benchmarks.soak --minutes 5          # writes .bench/soak.json and .bench/soak.md
    python -m benchmarks.soak --seconds 30 --out /tmp/soak.json   # the short run tests/backend/test_soak.py makes

What runs: a throwaway anvil with the protocol deployed by ``ape run deploy`` (benchmarks.stack)
and ``labelshare serve`` (one process: API + settlement worker, SQLite, default rate limits,
epochs every 2 s, at most 4 payouts a chunk so epochs settle in several transactions). The load:
the requester (anvil's development account #4) keeps projects (overlap 3) coming with their
tasks, one stream of projects per team of 3 annotators; ``--annotators`` wallets (fresh keys,
a multiple of 3) each sign in again every 20 s (EIP-4361), take a
task (``/tasks/next``), sign it (EIP-712) and submit it (the task's true label 95% of the time,
the odd mistake outvoted: always one label would be a spammer, and is suspended), at
``--rate`` submissions a second each, and read ``/me/rewards`` (every 4th), ``/epochs`` (every
8th), ``/me/submissions`` (every 25th) and a manifest (every 40th). Every answer is tallied per
endpoint: any 5xx, transport error or status outside the endpoint's expected set (no 4xx is
expected) is a failure. The server's RSS, threads and open files are sampled every 2 s.

Why teams: when every task of a project's first review passes was labelled by different workers
(each seen once), Dawid–Skene (crowd-kit) cannot tell the classes apart and returns confidence
0.5 for every task, so the first label wins and a unanimous "dog" is rejected; honest annotators
were then suspended as "at chance level". Teams of 3 on a project avoid that start (reported, not
fixed here: labelshare.quality / aggregation).

At the end the load stops, the worker drains (every accepted annotation in a settled epoch), and
the run checks, from the database and the chain directly: token supply == the sum of accepted
rewards, no accepted annotation outside a settled epoch; then ``labelshare audit``. Memory: a
least-squares slope of RSS over the run after its warm-up (the first quarter, at least 10 s);
``growth`` = slope x steady minutes; flagged above ``--max-growth-mb``. Exit status 1 on any
problem, which the JSON lists.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3

from benchmarks.stack import DEV_REQUESTER_KEY, local_stack
from labelshare.client import siwe_message, submission_body

__all__ = ["run", "markdown"]

COMMAND = "python -m benchmarks.soak"
ROOT = Path(__file__).resolve().parents[1]
SIGN_IN_EVERY = 20.0  # seconds between an annotator's sign-ins
TASKS_PER_PROJECT = 200
OVERLAP = 3
ACCURACY = 0.95  # an annotator's share of right answers: honest workers, the odd mistake outvoted
SAMPLE_EVERY = 2.0  # seconds between RSS samples
SERVER_ENV = {
    "LABELSHARE_EPOCH_MAX_AGE_SECONDS": "2",
    "LABELSHARE_SETTLEMENT_POLL_SECONDS": "0.5",
    "LABELSHARE_PAYOUTS_PER_CHUNK": "4",
}
# What each endpoint may answer under this load; anything else is a failure.
EXPECTED = {
    "GET /chain": {200}, "GET /auth/nonce": {200}, "POST /auth/verify": {200},
    "POST /projects": {201}, "POST /projects/{id}/tasks": {201}, "GET /projects/{id}/stats": {200},
    "GET /tasks/next": {200, 204}, "POST /submissions": {201},
    "GET /me/rewards": {200}, "GET /epochs": {200}, "GET /me/submissions": {200}, "GET /epochs/{id}/manifest": {200},
}


# -------------------------------------------------------------------------------- tallies


@dataclass
class Tally:
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unexpected: list[dict[str, Any]] = field(default_factory=list)
    transport_errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, http: httpx.Client, method: str, path: str, name: str, **kwargs: Any) -> httpx.Response | None:
        key = f"{method} {name}"
        started = time.perf_counter()
        try:
            response = http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            with self.lock:
                self.transport_errors[f"{key}: {type(err).__name__}"] += 1
            return None
        elapsed = time.perf_counter() - started
        with self.lock:
            self.statuses[key][response.status_code] += 1
            self.latencies[key].append(elapsed)
            if response.status_code not in EXPECTED[key] and len(self.unexpected) < 50:
                self.unexpected.append({"endpoint": key, "status": response.status_code, "body": response.text[:300]})
        return response

    def count(self, key: str, status: int) -> int:
        with self.lock:
            return self.statuses[key][status]


# ------------------------------------------------------------------------------------ load


def sign_in(http: httpx.Client, tally: Tally, account: LocalAccount) -> bool:
    chain = tally.call(http, "GET", "/chain", "/chain")
    nonce = tally.call(http, "GET", "/auth/nonce", "/auth/nonce")
    if chain is None or nonce is None or chain.status_code != 200 or nonce.status_code != 200:
        return False
    info = chain.json()
    domain = info["siwe_domain"]
    message = siwe_message(account.address, nonce.json()["nonce"], info["chain_id"], domain, f"http://{domain}")
    signature = "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()
    verified = tally.call(http, "POST", "/auth/verify", "/auth/verify",
                          json={"message": message, "signature": signature})
    if verified is None or verified.status_code != 200:
        return False
    http.headers["Authorization"] = f"Bearer {verified.json()['token']}"
    return True


class Projects:
    """The requester's projects per team of annotators, newest last; the requester adds one for a
    team whenever its newest is half labelled."""

    def __init__(self, teams: int) -> None:
        self.ids: list[list[int]] = [[] for _ in range(teams)]
        self.lock = threading.Lock()
        self.created = 0

    def snapshot(self, team: int) -> list[int]:
        with self.lock:
            return list(self.ids[team])

    def create(self, http: httpx.Client, tally: Tally, team: int) -> bool:
        n = self.created
        response = tally.call(http, "POST", "/projects", "/projects", json={
            "name": f"soak {n}", "instructions": "What animal is it?", "domain": "general",
            "label_schema": {"type": "classification", "labels": ["cat", "dog"]},
            "reward_per_label": str(10**16), "overlap": OVERLAP, "gold_rate": 0.0})
        if response is None or response.status_code != 201:
            return False
        project_id = response.json()["id"]
        rows = "".join(json.dumps({"id": f"p{n}t{i}", "data": {"text": f"item {i} of project {n}"}}) + "\n"
                       for i in range(TASKS_PER_PROJECT))
        upload = tally.call(http, "POST", f"/projects/{project_id}/tasks", "/projects/{id}/tasks",
                            params={"format": "jsonl"}, content=rows.encode())
        if upload is None or upload.status_code != 201:
            return False
        with self.lock:
            self.ids[team].append(project_id)
            self.created += 1
        return True


def truth_of(text: str) -> str:
    """The true label of a task the requester made: "item <i> of project <n>" is a cat for even i."""
    return "cat" if int(text.split()[1]) % 2 == 0 else "dog"


def requester_loop(url: str, tally: Tally, projects: Projects, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=60) as http:
        if not sign_in(http, tally, Account.from_key(DEV_REQUESTER_KEY)):
            return
        teams = len(projects.ids)
        for team in range(teams):
            projects.create(http, tally, team)
        while not stop.wait(2.0):
            for team in range(teams):
                newest = projects.snapshot(team)[-1]
                stats = tally.call(http, "GET", f"/projects/{newest}/stats", "/projects/{id}/stats")
                if stats is not None and stats.status_code == 200 and \
                        stats.json()["submissions"] >= TASKS_PER_PROJECT * OVERLAP // 2:
                    projects.create(http, tally, team)


def annotator_loop(url: str, tally: Tally, projects: Projects, stop: threading.Event, rate: float,
                   seed: int, submitted: Counter[str]) -> None:
    team = seed // OVERLAP
    rng = random.Random(seed)
    account = Account.create()
    with httpx.Client(base_url=url, timeout=60) as http:
        if not sign_in(http, tally, account):
            return
        signed_in_at = time.monotonic() + rng.uniform(0, SIGN_IN_EVERY)  # spread the sign-ins
        position, iteration, next_at = 0, 0, time.monotonic()
        settled_epochs: list[int] = []
        while not stop.is_set():
            now = time.monotonic()
            if now - signed_in_at >= SIGN_IN_EVERY:
                sign_in(http, tally, account)
                signed_in_at = now
            ids = projects.snapshot(team)
            if not ids:
                stop.wait(0.2)
                continue
            position = min(position, len(ids) - 1)
            offer = tally.call(http, "GET", "/tasks/next", "/tasks/next", params={"project_id": ids[position]})
            if offer is None or offer.status_code != 200:
                if offer is not None and offer.status_code == 204:
                    if position < len(ids) - 1:
                        position += 1
                        continue
                stop.wait(0.5)  # nothing left for me yet: the requester is adding a project
                continue
            task = offer.json()
            truth = truth_of(task["data"]["text"])
            label = truth if rng.random() < ACCURACY else ("dog" if truth == "cat" else "cat")
            body = submission_body(account, task, {"label": label})
            response = tally.call(http, "POST", "/submissions", "/submissions", json=body)
            if response is not None and response.status_code == 201:
                submitted["submissions"] += 1
            iteration += 1
            if iteration % 4 == 0:
                rewards = tally.call(http, "GET", "/me/rewards", "/me/rewards")
                if rewards is not None and rewards.status_code == 200:
                    settled_epochs = [e["epoch_id"] for e in rewards.json()["epochs"]
                                      if e.get("status") == "settled" and "epoch_id" in e] or settled_epochs
            if iteration % 8 == 0:
                epochs = tally.call(http, "GET", "/epochs", "/epochs")
                if epochs is not None and epochs.status_code == 200 and not settled_epochs:
                    settled_epochs = [e["id"] for e in epochs.json() if e["status"] == "settled"]
            if iteration % 25 == 0:
                tally.call(http, "GET", "/me/submissions", "/me/submissions")
            if iteration % 40 == 0 and settled_epochs:
                tally.call(http, "GET", f"/epochs/{rng.choice(settled_epochs)}/manifest", "/epochs/{id}/manifest")
            next_at = max(next_at + 1.0 / rate, time.monotonic() - 1.0)  # paced; no burst to catch up
            stop.wait(max(0.0, next_at - time.monotonic()))


# ---------------------------------------------------------------------------------- server


def _proc(pid: int) -> dict[str, int]:
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "Threads"):
                values[key] = int(rest.split()[0])
        values["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    return values


def sampler_loop(pid: int, started: float, samples: list[dict[str, float]], stop: threading.Event) -> None:
    while True:
        values = _proc(pid)
        if values:
            samples.append({"t": round(time.monotonic() - started, 1), "rss_mb": round(values["VmRSS"] / 1024, 1),
                            "threads": values.get("Threads", 0), "fds": values.get("fds", 0)})
        if stop.wait(SAMPLE_EVERY):
            return


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    if len(points) < 3:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in points) / var * 60


def memory_report(samples: list[dict[str, float]], duration: float, max_growth_mb: float) -> dict[str, Any]:
    warmup = max(10.0, duration / 4)
    steady = [s for s in samples if s["t"] >= warmup] or samples
    slope = slope_per_minute([(s["t"], s["rss_mb"]) for s in steady])
    minutes = (steady[-1]["t"] - steady[0]["t"]) / 60 if len(steady) > 1 else 0.0
    growth = slope * minutes
    half = len(steady) // 2
    return {
        "samples": len(samples), "every_s": SAMPLE_EVERY, "warmup_s": round(warmup, 1),
        "first_mb": samples[0]["rss_mb"] if samples else None, "last_mb": samples[-1]["rss_mb"] if samples else None,
        "max_mb": max(s["rss_mb"] for s in samples) if samples else None,
        "steady_first_mb": steady[0]["rss_mb"] if steady else None,
        "slope_mb_per_min": round(slope, 2), "steady_minutes": round(minutes, 2), "growth_mb": round(growth, 1),
        "max_growth_mb": max_growth_mb, "flagged": growth > max_growth_mb,
        # A leak keeps its slope; warm-up and allocator growth flatten: the two halves tell which.
        "slope_halves_mb_per_min": [round(slope_per_minute([(s["t"], s["rss_mb"]) for s in part]), 2)
                                    for part in (steady[:half], steady[half:])],
        "threads": {"first": samples[0]["threads"], "last": samples[-1]["threads"],
                    "max": max(s["threads"] for s in samples)} if samples else None,
        "fds": {"first": samples[0]["fds"], "last": samples[-1]["fds"],
                "max": max(s["fds"] for s in samples)} if samples else None,
        "series": [[s["t"], s["rss_mb"]] for s in samples],  # seconds, MB
    }


# --------------------------------------------------------------------------------- checks


def wait_drained(url: str, database: Path, timeout: float = 120.0) -> dict[str, Any]:
    """Waits until every accepted annotation is in a settled epoch and no epoch is unsettled,
    twice in a row a few worker passes apart (a review pass may accept more meanwhile)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = ledger_state_from_db(database)
        if state["unsettled_accepted"] == 0 and state["unsettled_epochs"] == 0:
            quiet += 1
            if quiet >= 2:
                return state | {"drained": True}
        else:
            quiet = 0
        time.sleep(1.5)
    return state | {"drained": False}


def ledger_state_from_db(database: Path) -> dict[str, Any]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
        accepted = db.execute("SELECT reward, epoch_id FROM submissions WHERE status = 'accepted'").fetchall()
        epochs = dict(db.execute("SELECT id, status FROM epochs").fetchall())
        chunks = db.execute("SELECT count(*) FROM epoch_chunks").fetchone()[0]
        statuses = dict(db.execute("SELECT status, count(*) FROM submissions GROUP BY status").fetchall())
    return {
        "submissions_by_status": statuses, "accepted": len(accepted),
        "accepted_reward": sum(int(r) for r, _ in accepted),
        "unsettled_accepted": sum(1 for _, e in accepted if e is None or epochs.get(e) != "settled"),
        "epochs": len(epochs), "unsettled_epochs": sum(1 for s in epochs.values() if s != "settled"), "chunks": chunks,
    }


def token_supply(rpc_url: str, deployment_file: Path) -> int:
    deployment = json.loads(deployment_file.read_text())
    token = deployment["contracts"]["token"]["address"]
    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    return int(w3.eth.call({"to": token, "data": "0x18160ddd"}).hex(), 16)  # totalSupply()


def count_log(log_file: Path) -> dict[str, int]:
    text = log_file.read_text(errors="replace") if log_file.exists() else ""
    errors = len(re.findall(r"^\S+ \S+ (ERROR|CRITICAL) ", text, re.M))  # labelshare's logging format
    errors += len(re.findall(r"^(ERROR|CRITICAL):", text, re.M))  # uvicorn's
    return {"error_lines": errors, "tracebacks": text.count("Traceback"),
            "failed_settlement_passes": text.count("settlement pass failed"),
            "epochs_settled": text.count(" settled on-chain ("), "rpc_retries": text.count("attempt 1 of")}


# -------------------------------------------------------------------------------------- run


def run(seconds: float, annotators: int, rate: float, max_growth_mb: float, keep: Path | None = None) -> dict[str, Any]:
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="labelshare-soak-"))
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "soak.db"
    tally, projects, submitted = Tally(), Projects(annotators // OVERLAP), Counter[str]()
    samples: list[dict[str, float]] = []
    with local_stack(folder) as stack:
        with stack.api(f"sqlite:///{database}", workers=1, **SERVER_ENV) as (url, process):
            stop, sampler_stop = threading.Event(), threading.Event()
            started = time.monotonic()
            sampler = threading.Thread(target=sampler_loop, args=(process.pid, started, samples, sampler_stop),
                                       daemon=True)
            sampler.start()
            threads = [threading.Thread(target=requester_loop, args=(url, tally, projects, stop), daemon=True)]
            threads += [threading.Thread(target=annotator_loop, args=(url, tally, projects, stop, rate, i, submitted),
                                         daemon=True) for i in range(annotators)]
            for t in threads:
                t.start()
            time.sleep(seconds)
            stop.set()
            for t in threads:
                t.join(timeout=60)
            load_seconds = time.monotonic() - started
            drained = wait_drained(url, database)
            sampler_stop.set()
            sampler.join(timeout=10)
            supply = token_supply(stack.rpc_url, stack.deployment_file)
            audit = subprocess.run(["labelshare", "audit"], env=stack.env(f"sqlite:///{database}", COLUMNS="200"),
                                   cwd=ROOT, capture_output=True, text=True, timeout=600)
            log_files = sorted(folder.glob("api-*.log"))
        server_log = count_log(log_files[-1]) if log_files else {}

    audit_line = next((line for line in audit.stdout.splitlines() if line.startswith("epochs ")), "")
    memory = memory_report(samples, load_seconds, max_growth_mb)
    requests = {k: dict(sorted(v.items())) for k, v in sorted(tally.statuses.items())}
    latency = {k: {"p50_ms": round(statistics.median(v) * 1000, 1),
                   "p99_ms": round(sorted(v)[max(0, math.ceil(len(v) * 0.99) - 1)] * 1000, 1), "n": len(v)}
               for k, v in sorted(tally.latencies.items())}
    five_xx = sum(n for v in tally.statuses.values() for s, n in v.items() if s >= 500)
    problems = []
    if five_xx:
        problems.append(f"{five_xx} answers 5xx")
    if tally.unexpected:
        problems.append(f"{sum(n for k, v in tally.statuses.items() for s, n in v.items() if s not in EXPECTED[k])} "
                        "answers outside the expected statuses")
    if tally.transport_errors:
        problems.append(f"{sum(tally.transport_errors.values())} transport errors")
    if memory["flagged"]:
        problems.append(f"RSS grew {memory['growth_mb']} MB over the steady part (limit {max_growth_mb} MB)")
    if memory["fds"] and memory["fds"]["last"] - memory["fds"]["first"] > 50:
        problems.append(f"open files grew from {memory['fds']['first']} to {memory['fds']['last']}")
    if not drained["drained"]:
        problems.append(f"not drained: {drained['unsettled_accepted']} accepted annotations unsettled")
    if supply != drained["accepted_reward"]:
        problems.append(f"token supply {supply} != accepted rewards {drained['accepted_reward']}")
    if audit.returncode != 0 or "audit clean" not in audit.stdout:
        problems.append("labelshare audit failed")
    if server_log.get("error_lines") or server_log.get("tracebacks"):
        problems.append(f"server log: {server_log['error_lines']} ERROR lines, {server_log['tracebacks']} tracebacks")
    if server_log.get("failed_settlement_passes"):
        problems.append(f"{server_log['failed_settlement_passes']} failed settlement passes")
    if submitted["submissions"] == 0 or drained["epochs"] == 0:
        problems.append("no load reached the settlement")

    return {
        "command": f"{COMMAND} --seconds {seconds:g} --annotators {annotators} --rate {rate:g}",
        "load_seconds": round(load_seconds, 1), "annotators": annotators, "rate_per_annotator": rate,
        "submissions": submitted["submissions"], "submissions_per_s": round(submitted["submissions"] / load_seconds, 1),
        "requests_total": sum(sum(v.values()) for v in tally.statuses.values()),
        "projects": projects.created, "requests": requests, "latency": latency, "unexpected": tally.unexpected[:10],
        "transport_errors": dict(tally.transport_errors), "memory": memory,
        "settlement": drained | {"token_supply": str(supply), "accepted_reward": str(drained["accepted_reward"])},
        "audit": {"returncode": audit.returncode, "clean": "audit clean" in audit.stdout, "summary": audit_line},
        "server_log": server_log, "folder": str(folder) if keep else None,
        "problems": problems, "ok": not problems,
    }


def markdown(result: dict[str, Any]) -> str:
    m, s = result["memory"], result["settlement"]
    lines = [
        f"# Soak: {result['load_seconds']} s of mixed load ({'ok' if result['ok'] else 'FAILED'})", "",
        f"`{result['command']}`", "",
        f"- {result['annotators']} annotators, {result['submissions']} signed submissions "
        f"({result['submissions_per_s']}/s), {result['requests_total']} requests in all, {result['projects']} projects",
        f"- answers: " + ", ".join(f"{k} {v}" for k, v in result["requests"].items()),
        f"- server RSS: first {m['first_mb']} MB, last {m['last_mb']} MB, max {m['max_mb']} MB; after "
        f"{m['warmup_s']} s warm-up slope {m['slope_mb_per_min']} MB/min (halves {m['slope_halves_mb_per_min']}) "
        f"= {m['growth_mb']} MB over "
        f"{m['steady_minutes']} min (limit {m['max_growth_mb']} MB){' FLAGGED' if m['flagged'] else ''}; "
        f"threads {m['threads']}; open files {m['fds']}",
        f"- settlement: {s['accepted']} accepted annotations in {s['epochs']} epochs ({s['chunks']} chunks), "
        f"unsettled {s['unsettled_accepted']}; token supply {s['token_supply']} == accepted rewards "
        f"{s['accepted_reward']}: {s['token_supply'] == s['accepted_reward']}",
        f"- audit: {'clean' if result['audit']['clean'] else 'FAILED'} ({result['audit']['summary']})",
        f"- server log: {result['server_log']}",
        f"- problems: {'; '.join(result['problems']) or 'none'}",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=None, help="load duration in minutes (default 5)")
    parser.add_argument("--seconds", type=float, default=None, help="load duration in seconds (instead of --minutes)")
    parser.add_argument("--annotators", type=int, default=6)
    parser.add_argument("--rate", type=float, default=2.0, help="submissions per second per annotator")
    parser.add_argument("--max-growth-mb", type=float, default=24.0, help="RSS growth over the steady part that fails")
    parser.add_argument("--out", type=Path, default=ROOT / ".bench" / "soak.json")
    parser.add_argument("--keep", type=Path, default=None, help="keep the stack's folder (logs, database) here")
    args = parser.parse_args()
    if args.annotators < OVERLAP or args.annotators % OVERLAP:
        parser.error(f"--annotators must be a multiple of {OVERLAP} (teams of {OVERLAP} label each project)")
    seconds = args.seconds if args.seconds is not None else 60 * (args.minutes if args.minutes is not None else 5)
    result = run(seconds, args.annotators, args.rate, args.max_growth_mb, args.keep)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result), end="")
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
