"""Scale-out: two API replicas (separate ``labelshare serve`` processes on separate ports) on one
PostgreSQL database and one anvil, each running a settlement worker, as ``deploy/Procfile``
lays them out.

- Whatever two replicas are asked at the same moment, the database decides once: a sign-in
  nonce, a submission nonce, a submission and a task's last slot are each used once; sessions
  opened on one replica work on the other; project registrations sent at once from both (one
  registrar key, one nonce sequence) all land.
- One leader settles; SIGKILLed in the middle of a multi-chunk epoch, the other replica takes
  over, finishes from the persisted plan, the stored signed transactions and the chain, and every
  accepted annotation ends settled exactly once with ``labelshare audit`` clean.

PostgreSQL only (SQLite serves one machine): skipped, saying so, when none is reachable.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.stack import Stack
from fault_support import REWARD, SCHEMA, assert_settled_exactly_once, create_project, wait_until
from labelshare.chain import Chain
from labelshare.client import LabelShareClient
from labelshare.db.engine import make_engine, make_session_factory
from labelshare.db.models import Assignment, Epoch, EpochChunk, Submission, Task, utcnow

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

SIWE_DOMAIN = "localhost:8000"  # the name both replicas answer to, as behind one load balancer


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60,
                            headers={"Authorization": f"Bearer {token}"} if token else {})

    def status(self) -> dict[str, Any] | None:
        """``/status``, or None once the process is gone."""
        try:
            return httpx.get(f"{self.url}/status", timeout=5).json()
        except httpx.HTTPError:
            return None


@dataclass
class Cluster:
    replicas: list[Replica]
    sessions: sessionmaker[Session]
    settings: Any

    def leader(self) -> Replica | None:
        """The replica whose /status says it leads, if exactly one does."""
        leading = [r for r in self.replicas if (s := r.status()) and s["settlement"]["leader"]]
        return leading[0] if len(leading) == 1 else None


def _replica_env(settings: Any) -> dict[str, str]:
    """The environment of a replica serving what ``settings`` (the test's, with its ``settings``
    marker) describes."""
    env = {f"LABELSHARE_{name.upper()}": str(getattr(settings, name)).lower() if isinstance(
        getattr(settings, name), bool) else str(getattr(settings, name)) for name in (
        "requesters", "settlement_enabled", "settlement_poll_seconds", "settlement_max_backoff_seconds",
        "epoch_max_age_seconds", "epoch_max_annotations", "payouts_per_chunk", "max_open_offers_per_project")}
    # anvil's published development keys of the test accounts: local test chain only.
    for role in ("verifier", "qualifier", "registrar"):
        env[f"LABELSHARE_{role.upper()}_KEY"] = getattr(settings, f"{role}_key").get_secret_value()
    return {**env, "LABELSHARE_SIWE_DOMAIN": SIWE_DOMAIN}


@pytest.fixture
def cluster(settings, tmp_path) -> Iterator[Cluster]:
    """Two replicas on the test's PostgreSQL database and ape's anvil, started at once."""
    env = _replica_env(settings)
    stack = Stack(tmp_path, settings.rpc_url, settings.deployment_file)
    engine = make_engine(settings.database_url)
    with ExitStack() as running:
        started: list[tuple[str, subprocess.Popen[bytes]]] = []
        threads = [threading.Thread(target=lambda: started.append(running.enter_context(
            stack.api(settings.database_url, **env)))) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(started) == 2, "a replica did not start: see api-*.log in " + str(tmp_path)
        replicas = [Replica(url, process, tmp_path / f"api-{url.rsplit(':', 1)[1]}.log") for url, process in started]
        yield Cluster(replicas, make_session_factory(engine), settings)
    engine.dispose()


def _sign_in(replica: Replica, account: Any) -> str:
    """EIP-4361 through the SDK, as a real client; the session token."""
    with LabelShareClient(replica.url, account) as client:
        client.sign_in()
        return client.http.headers["Authorization"].removeprefix("Bearer ")


def _at_once(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Runs ``calls`` on threads released together by a barrier; their responses in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], httpx.Response]) -> None:
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# ====================================================== the database decides, on any replica


@pytest.mark.settings(max_open_offers_per_project=2)  # race 2 holds two offers of one project at once
def test_twoReplicas_sameNonceSlotOrSubmissionAtOnce_databaseAcceptsEachOnce(cluster, wallet, requester_account,
                                                                             ledger):
    a, b = cluster.replicas
    requester = _sign_in(a, requester_account)
    with a.client(requester) as on_a, b.client(requester) as on_b:  # a session from A works on B
        assert on_b.get("/projects", params={"owner": requester_account.address}).status_code == 200
        with b.client("not-a-session") as stranger:
            assert stranger.get("/me/submissions").status_code == 401

        # Project registrations from both replicas at once: one registrar key, one nonce sequence.
        before = ledger.projectCount()
        created = _at_once(*[lambda c=c: c.post("/projects", json={
            "name": "race", "instructions": "", "domain": "general", "label_schema": SCHEMA,
            "reward_per_label": str(REWARD), "overlap": 2, "gold_rate": 0.0}) for c in (on_a, on_b, on_a, on_b)])
        assert [r.status_code for r in created] == [201] * 4, [r.text for r in created]
        ids = sorted(r.json()["id"] for r in created)
        assert ids == list(range(before + 1, before + 5)) and ledger.projectCount() == before + 4

        project = create_project(on_a, tasks=4, overlap=2, upload_through=on_b)

    # 1. One SIWE nonce, the same signed message sent to both replicas at once: one session.
    for _ in range(3):
        w = wallet()
        with a.client() as c:
            nonce = c.get("/auth/nonce").json()["nonce"]
            chain_id = c.get("/chain").json()["chain_id"]
        message = w.siwe_message(nonce, chain_id, domain=SIWE_DOMAIN)
        body = {"message": message, "signature": w.sign_text(message)}
        answers = _at_once(lambda: a.client().post("/auth/verify", json=body),
                           lambda: b.client().post("/auth/verify", json=body))
        assert sorted(r.status_code for r in answers) == [200, 403], [r.text for r in answers]

    # 2. One submission nonce on two tasks, one through each replica: one is stored.
    w = wallet()
    token = _sign_in(a, w.account)
    with a.client(token) as on_a, b.client(token) as on_b:
        offers = [on_a.get("/tasks/next", params={"project_id": project["id"]}).json(),
                  on_b.get("/tasks/next", params={"project_id": project["id"]}).json()]
        assert offers[0]["task_id"] != offers[1]["task_id"]
        same_nonce = [w.sign_submission(offer, {"label": "cat"}, nonce=77) for offer in offers]
        answers = _at_once(lambda: on_a.post("/submissions", json=same_nonce[0]),
                           lambda: on_b.post("/submissions", json=same_nonce[1]))
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        assert {r.json()["error"] for r in answers if r.status_code == 409} == {"nonce_reused"}

        # 3. The same signed submission through both replicas at once: stored once.
        lost = offers[[r.status_code for r in answers].index(409)]
        body = w.sign_submission(lost, {"label": "cat"}, nonce=78)
        answers = _at_once(lambda: on_a.post("/submissions", json=body), lambda: on_b.post("/submissions", json=body))
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]

    # 4. A task's last slot: overlap 2, three annotators holding live offers of the same task (two
    # concurrent /tasks/next under read committed can hand out more offers than slots; the third
    # offer is written straight into the database to make that certain). All three submit at
    # once through the two replicas: two are stored, the third is refused, the count is 2.
    with cluster.sessions() as s:
        task_id, task_key = s.execute(select(Task.id, Task.task_key).where(
            Task.project_id == project["id"], Task.submission_count == 0).order_by(Task.id).limit(1)).one()
    racers = [wallet() for _ in range(3)]
    tokens = [_sign_in(a if i % 2 else b, r.account) for i, r in enumerate(racers)]
    with cluster.sessions.begin() as s:
        for r in racers:
            s.add(Assignment(task_id=task_id, annotator=r.address, expires_at=utcnow() + timedelta(minutes=30)))
    with a.client() as c:
        chain = c.get("/chain").json()
    offer = {"project_id": project["id"], "task_id": task_key, "eip712_domain": chain["eip712_domain"],
             "eip712_types": chain["eip712_types"]}  # what /tasks/next would have answered each of them
    bodies = [r.sign_submission(offer, {"label": "dog"}) for r in racers]
    answers = _at_once(*[lambda i=i: (a if i % 2 else b).client(tokens[i]).post("/submissions", json=bodies[i])
                         for i in range(3)])
    assert sorted(r.status_code for r in answers) == [201, 201, 409], [r.text for r in answers]
    with cluster.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Submission).where(Submission.task_id == task_id)) == 2
        assert s.scalar(select(Task.submission_count).where(Task.id == task_id)) == 2
        nonces = s.execute(select(Submission.annotator, Submission.nonce)).all()
    assert len(nonces) == len(set(nonces))


# ================================================= one leader; killed mid-epoch, the other finishes


def _label_concurrently(cluster: Cluster, wallet: Any, project_id: int, annotators: int) -> tuple[int, int]:
    """``annotators`` wallets at once, each signed in on one replica, taking tasks from one
    replica and submitting through the other, until no task is left for them. Returns how many
    submissions were stored (201) and how many met a task whose slots had just been filled (409
    conflict: concurrent offers under read committed can outnumber the slots; the database's row
    lock keeps the submissions within them). Any other answer fails the test."""
    stored: Counter[int] = Counter()
    closed: Counter[int] = Counter()
    failures: list[str] = []

    def work(i: int) -> None:
        w = wallet()
        here, there = cluster.replicas[i % 2], cluster.replicas[(i + 1) % 2]
        token = _sign_in(here, w.account)
        with here.client(token) as take, there.client(token) as give:
            while (offer := take.get("/tasks/next", params={"project_id": project_id})).status_code == 200:
                response = give.post("/submissions", json=w.sign_submission(offer.json(), {"label": "cat"}))
                if response.status_code == 409 and response.json()["error"] == "conflict":
                    closed[i] += 1
                elif response.status_code == 201:
                    stored[i] += 1
                else:
                    failures.append(response.text)
                    return
                take, give = give, take  # next time the other way round
            if offer.status_code != 204:
                failures.append(offer.text)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(annotators)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    return sum(stored.values()), sum(closed.values())


def _settlement_state(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as s:
        epochs = dict(s.execute(select(Epoch.id, Epoch.status)).all())
        chunks = s.execute(select(EpochChunk.epoch_id, EpochChunk.chunk_index, EpochChunk.status)).all()
        counts = dict(s.execute(select(Submission.status, func.count()).group_by(Submission.status)).all())
        waiting = s.scalar(select(func.count()).select_from(Submission).where(
            Submission.status == "accepted", Submission.epoch_id.is_(None)))
    return {"epochs": epochs, "chunks": sorted(chunks), "submissions": counts, "accepted_waiting": waiting}


def _mid_epoch(state: dict[str, Any]) -> bool:
    """An epoch has begun settling on-chain (a chunk signed and recorded, or confirmed) and has
    chunks still to go."""
    for epoch_id, status in state["epochs"].items():
        chunks = [c for e, _, c in state["chunks"] if e == epoch_id]
        if status == "settling" and any(c != "pending" for c in chunks) and any(c != "confirmed" for c in chunks):
            return True
    return False


@pytest.fixture
def interval_mining(chain) -> Iterator[Callable[[int], None]]:
    """anvil mining a block every N seconds (the settle transactions wait in its pool meanwhile,
    as on a real network); automine again after the test."""
    yield lambda seconds: chain.provider.make_request("evm_setIntervalMining", [seconds])
    chain.provider.make_request("evm_setAutomine", [True])


@pytest.mark.settings(settlement_enabled=True, settlement_poll_seconds=0.2, settlement_max_backoff_seconds=1.0,
                      epoch_max_age_seconds=1.0, epoch_max_annotations=8, payouts_per_chunk=1)
def test_twoReplicas_leaderKilledMidSettlement_otherTakesOver_everyAnnotationSettledOnce(
        cluster, wallet, requester_account, interval_mining, settings):
    a, b = cluster.replicas
    wait_until(cluster.leader, 30, "no single replica took the settlement leadership")
    requester = _sign_in(a, requester_account)
    with a.client(requester) as on_a, b.client(requester) as on_b:
        project = create_project(on_a, tasks=8, overlap=2, upload_through=on_b)

    # Blocks every second from now on: each chunk's transaction waits in the pool for up to a
    # second, so the kill below lands with an epoch between its first and its last chunk.
    interval_mining(1)
    stored, closed = _label_concurrently(cluster, wallet, project["id"], annotators=6)
    assert stored == 16  # 8 tasks x overlap 2, every one through a replica other than the offer's

    leaders: list[tuple[bool, bool]] = []  # both replicas' view, sampled until the end
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            views = [r.status() for r in cluster.replicas]
            leaders.append(tuple(bool(v and v["settlement"]["leader"]) for v in views))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        leader = wait_until(cluster.leader, 30, "no leader")
        def mid_epoch() -> dict[str, Any] | None:
            state = _settlement_state(cluster.sessions)
            return state if _mid_epoch(state) else None

        at_kill = wait_until(mid_epoch, 60, "no epoch was ever seen between its first and its last chunk", interval=0.01)
        leader.process.send_signal(signal.SIGKILL)
        leader.process.wait(timeout=10)
        survivor = b if leader is a else a
        took_over = wait_until(lambda: (s := survivor.status()) and s["settlement"]["leader"] and s, 30,
                               "the surviving replica never took the leadership")

        def all_settled() -> bool:
            state = _settlement_state(cluster.sessions)
            return (state["submissions"].get("pending", 0) == 0 and state["accepted_waiting"] == 0
                    and state["epochs"] and all(v == "settled" for v in state["epochs"].values()))

        wait_until(all_settled, 90, f"not everything settled after the takeover: {survivor.status()}", interval=0.2)
        end = _settlement_state(cluster.sessions)
    finally:
        stop.set()
        sampler.join(timeout=10)

    assert not any(all(view) for view in leaders), "two replicas led at once"
    assert took_over["settlement"]["current_leader"] == took_over["replica"]
    # Nothing was lost, nothing minted twice: every accepted annotation in exactly one settled
    # epoch, every chunk settled once on the ledger, supply == accepted rewards, audit clean.
    outcome = assert_settled_exactly_once(cluster, Chain(settings), settings.manifests_dir)
    assert outcome["accepted"] == end["submissions"]["accepted"] == 16
    audit = subprocess.run(["labelshare", "audit", "--manifests", str(settings.manifests_dir)],
                           env={**os.environ, "LABELSHARE_RPC_URL": settings.rpc_url,
                                "LABELSHARE_DEPLOYMENT_FILE": str(settings.deployment_file),
                                "LABELSHARE_DATABASE_URL": settings.database_url},
                           capture_output=True, text=True, timeout=120)
    assert audit.returncode == 0 and "audit clean" in audit.stdout, audit.stdout + audit.stderr
    assert "gained settlement leadership" in leader.log.read_text()
    survivor_log = survivor.log.read_text()
    assert "stands by" in survivor_log and "gained settlement leadership" in survivor_log
    print(f"\n{stored} submissions stored ({closed} refused: task just filled); killed the leader with "
          f"{at_kill}; the survivor took over ({took_over['replica']}) and ended with {outcome}")
