"""Real faults for the fault tests (tests/backend/test_faults.py): an HTTP proxy in front of an
RPC node that can refuse, reset, hang, answer HTTP 500 or garbage, or lose the node's answer; an
anvil whose process the test owns, persisting its state to a file so it can be SIGKILLed and
restarted from it; the API served in a thread; a tiny filesystem that fills up."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from sqlalchemy import select

from labelshare.admin.anvil_probe import is_anvil
from labelshare.api.app import create_app
from labelshare.audit import run_audit
from labelshare.chain import Chain
from labelshare.config import Settings
from labelshare.db.models import Epoch, Submission
from labelshare.errors import NotFound
from labelshare.manifests import ManifestStore

ROOT = Path(__file__).resolve().parents[2]


# Ports for the servers tests start, handed out per xdist worker from its own block below the
# kernel's ephemeral range (32768+ on Linux). A port the kernel picks with bind(0) is also one it
# may give any outgoing connection, or another worker's bind(0), before the server binds it: under
# `make test`'s parallel workers that race once cost a run ("address already in use").
_PORT_BLOCK = 300
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_BASE = 20000 + _PORT_BLOCK * _WORKER
_next_port = itertools.cycle(range(_BASE, _BASE + _PORT_BLOCK))


def free_port() -> int:
    """A port free on 127.0.0.1 now, from this worker's block (bind(0) past 40 workers)."""
    if _BASE + _PORT_BLOCK > 32768:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    for _ in range(_PORT_BLOCK):
        port = next(_next_port)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use, or still in TIME_WAIT from an earlier test
            return port
    raise RuntimeError(f"no free port in {_BASE}-{_BASE + _PORT_BLOCK - 1}")


def wait_until(predicate: Callable[[], Any], timeout: float, message: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)
    return value


# ----------------------------------------------------------------------------- the RPC proxy


class FaultProxy:
    """An HTTP proxy (threads and sockets) in front of the JSON-RPC node at ``upstream``.

    ``fail(mode, methods)`` makes requests for ``methods`` (JSON-RPC method names; all when
    None) fail in one of these ways until ``heal()``:

    - ``refuse``: the proxy stops listening and drops its open connections, so connecting is
      refused (ECONNREFUSED); it applies to every method.
    - ``reset``: the request is read and the connection reset (RST), no answer.
    - ``hang``: the request is read and never answered; the client times out.
    - ``http500``: HTTP 500 with a text body.  ``garbage``: HTTP 200 whose body is not JSON-RPC.
    - ``lose``: the request reaches the node, and the node's answer is thrown away (reset):
      the client cannot tell whether it was done.

    ``times`` fails only that many requests, then passes again. ``failed`` and ``passed``
    count requests by method.
    """

    MODES = ("refuse", "reset", "hang", "http500", "garbage", "lose")

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mode: str | None = None
        self.methods: frozenset[str] | None = None
        self.times: int | None = None
        self.failed: Counter[str] = Counter()
        self.passed: Counter[str] = Counter()
        self._healed = threading.Event()
        self._healed.set()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------- control

    def start(self) -> FaultProxy:
        self._listen()
        return self

    def stop(self) -> None:
        self.heal()
        self._close()

    def fail(self, mode: str, methods: set[str] | None = None, times: int | None = None) -> None:
        assert mode in self.MODES, mode
        assert mode != "refuse" or (methods is None and times is None), "refuse applies to every request"
        with self._lock:
            self.mode, self.methods, self.times = mode, frozenset(methods) if methods else None, times
            self._healed.clear()
        if mode == "refuse":
            self._close()

    def heal(self) -> None:
        with self._lock:
            refused, self.mode, self.methods = self.mode == "refuse", None, None
            self._healed.set()
        if refused:
            self._listen()

    def _fault_for(self, methods: list[str]) -> str | None:
        with self._lock:
            if self.mode is None or (self.methods is not None and not self.methods.intersection(methods)):
                self.passed.update(methods)
                return None
            self.failed.update(methods)
            mode = self.mode
            if self.times is not None:
                self.times -= 1
                if self.times <= 0:
                    self.mode = self.methods = self.times = None
                    self._healed.set()
            return mode

    # ----------------------------------------------------------- server

    def _listen(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as web3's requests session uses it
            upstream: HTTPConnection | None = None

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._connections.add(self.connection)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._connections.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()
                if self.upstream is not None:
                    self.upstream.close()

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    request = json.loads(body)
                    methods = [r["method"] for r in request] if isinstance(request, list) else [request["method"]]
                except (ValueError, KeyError, TypeError):
                    methods = ["?"]
                fault = proxy._fault_for(methods)
                if fault is None:
                    status, content = self._forward(body)
                    self._answer(status, content, "application/json")
                elif fault == "lose":
                    self._forward(body)
                    self._reset()
                elif fault == "reset":
                    self._reset()
                elif fault == "hang":
                    proxy._healed.wait(timeout=120)
                    self.close_connection = True
                elif fault == "http500":
                    self._answer(500, b"upstream node error", "text/plain")
                elif fault == "garbage":
                    self._answer(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")

            def _forward(self, body: bytes) -> tuple[int, bytes]:
                for _ in range(2):  # a kept connection the node has closed: once more, on a new one
                    if self.upstream is None:
                        self.upstream = HTTPConnection(*proxy.upstream, timeout=60)
                    try:
                        self.upstream.request("POST", "/", body, {"Content-Type": "application/json"})
                        response = self.upstream.getresponse()
                        return response.status, response.read()
                    except (OSError, ConnectionError):
                        self.upstream.close()
                        self.upstream = None
                return 502, b"node unreachable"

            def _answer(self, status: int, content: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def _reset(self) -> None:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # kept-alive connections: dropped too
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------- anvil with a state file


class StatefulAnvil:
    """An anvil this test owns, dumping its state to ``state`` every second (``--state``,
    ``--state-interval 1``) and restartable from it on the same port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.state = folder / "anvil-state.json"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, state_from: Path | None = None) -> None:
        if state_from is not None:
            shutil.copyfile(state_from, self.state)
        self.starts += 1
        log = open(self.folder / f"anvil-{self.starts}.log", "wb")  # noqa: SIM115 - the child holds it
        self.process = subprocess.Popen(
            ["anvil", "--host", "127.0.0.1", "--port", str(self.port), "--state", str(self.state),
             "--state-interval", "1"], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_until(lambda: is_anvil(self.url), 30, "anvil did not start")

    def kill(self) -> None:
        """SIGKILL: no chance to dump its state on the way out."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def snapshot(self, to: Path) -> Path:
        """A copy of the state file as anvil last wrote it, once it is a whole JSON document
        written after this call began (anvil rewrites it every second)."""
        since = time.time()

        def copied() -> bool:
            if self.state.stat().st_mtime <= since:
                return False
            shutil.copyfile(self.state, to)
            try:
                json.loads(to.read_bytes())
            except ValueError:
                return False
            return True

        wait_until(copied, 10, "anvil did not write its state", interval=0.1)
        return to

    def deploy(self) -> Path:
        """The protocol deployed with ``ape run deploy`` (as ``make run`` does); its manifest."""
        env = {**os.environ, "APE_FOUNDRY_HOST": self.url, "LABELSHARE_DEPLOYMENTS_DIR": str(self.folder)}
        result = subprocess.run(["ape", "run", "deploy", "--network", "ethereum:local:foundry"], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return self.folder / "ethereum-local.json"


# ------------------------------------------------------------------------------------ the API


@dataclass
class ServedApi:
    url: str
    app: Any
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def sessions(self) -> Any:
        return self.app.state.sessions

    @property
    def settler(self) -> Any:
        return self.app.state.settler

    @property
    def chain(self) -> Any:
        return self.app.state.chain

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def serve(settings: Settings) -> ServedApi:
    """The API (create_app, uvicorn) in a thread on a free port, as conftest's start_api."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), 30, "API server did not start")
    assert thread.is_alive(), "API server did not start"
    return ServedApi(f"http://127.0.0.1:{port}", app, server, thread)


# ------------------------------------------------------------------------------- API helpers

REWARD = 10**18
SCHEMA = {"type": "classification", "labels": ["cat", "dog", "bird"]}


def create_project(requester: Any, tasks: int, overlap: int, upload_through: Any = None) -> dict[str, Any]:
    """A classification project created through ``requester`` (an httpx client signed in as the
    requester), its ``tasks`` tasks uploaded as JSONL through ``upload_through`` (another
    replica's client, say) or the same client."""
    response = requester.post("/projects", json={
        "name": "Pets", "instructions": "What animal is it?", "domain": "general", "label_schema": SCHEMA,
        "reward_per_label": str(REWARD), "overlap": overlap, "gold_rate": 0.0})
    assert response.status_code == 201, response.text
    project = response.json()
    body = "".join(f'{{"id": "t{i}", "data": {{"text": "item {i}"}}}}\n' for i in range(tasks))
    upload = (upload_through or requester).post(f"/projects/{project['id']}/tasks?format=jsonl", content=body)
    assert upload.status_code == 201, upload.text
    return project


def accept_annotations(api: Any, wallet: Any, make_project: Any, tasks: int = 3, annotators: int = 2) -> int:
    """``annotators`` wallets (conftest's ``wallet``) label every task of a new project
    (conftest's ``make_project``) alike, then one review pass: the number accepted."""
    project = make_project(tasks=tasks, overlap=annotators, reward=REWARD)
    for _ in range(annotators):
        w = wallet()
        client = w.sign_in(api)
        while (offer := client.get("/tasks/next", params={"project_id": project["id"]})).status_code == 200:
            assert client.post("/submissions", json=w.sign_submission(offer.json(), {"label": "cat"})).status_code == 201
    api.review()
    return tasks * annotators


# ------------------------------------------------------------------------------- the outcome


def audit(chain: Chain, manifests_dir: Path) -> Any:
    store = ManifestStore(manifests_dir)

    def manifest(epoch_id: int) -> dict[str, Any] | None:
        try:
            return store.read(epoch_id)
        except NotFound:
            return None

    return run_audit(chain.w3, chain.ledger, chain.token, chain.deployment.block_number, manifest, sample=5)


def assert_settled_exactly_once(api: Any, chain: Chain, manifests_dir: Path) -> dict[str, Any]:
    """Every accepted annotation is in a settled epoch, the ledger holds every epoch settled,
    each chunk settled once, supply == accepted rewards, and the audit is clean. ``api`` is
    anything with ``sessions`` (a session factory on the backend's database)."""
    with api.sessions() as s:
        rows = s.execute(select(Submission.reward, Submission.epoch_id).where(Submission.status == "accepted")).all()
        accepted, rewards = len(rows), sum(int(r) for r, _ in rows)
        unassigned = sum(e is None for _, e in rows)
        epochs = s.execute(select(Epoch.id, Epoch.status, Epoch.total_reward, Epoch.chunk_count)).all()
    assert unassigned == 0, f"{unassigned} accepted annotations are in no epoch"
    assert all(status == "settled" for _, status, _, _ in epochs), epochs
    assert sum(int(total) for _, _, total, _ in epochs) == int(rewards)
    for epoch_id, _, _, chunk_count in epochs:
        assert chain.ledger.functions.isEpochSettled(epoch_id).call()
    head = chain.w3.eth.block_number
    chunks = [(e["args"]["epochId"], e["args"]["chunkIndex"])
              for e in chain.ledger.events.EpochChunkSettled.get_logs(from_block=chain.deployment.block_number,
                                                                      to_block=head)]
    assert len(chunks) == len(set(chunks)) == sum(c for *_, c in epochs), chunks
    supply = chain.token.functions.totalSupply().call()
    assert supply == int(rewards), f"supply {supply}, accepted rewards {rewards}"
    report = audit(chain, manifests_dir)
    assert report.ok, [c for c in report.checks if not c.ok]
    assert report.annotations == accepted
    return {"accepted": accepted, "epochs": len(epochs), "chunks": len(chunks), "supply": supply}


# ------------------------------------------------------------------------------- log capture


class Records(logging.Handler):
    """Log records of the named loggers (the suite runs with ``-p no:logging``: no caplog)."""

    def __init__(self, *names: str) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.loggers = [logging.getLogger(n) for n in names]

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int = logging.DEBUG) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= level]

    def __enter__(self) -> Records:
        for logger in self.loggers:
            logger.addHandler(self)
            self._levels = getattr(self, "_levels", []) + [logger.level]
            logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        for logger, level in zip(self.loggers, self._levels, strict=True):
            logger.removeHandler(self)
            logger.setLevel(level)


# --------------------------------------------------------------------------------- disk full


@contextlib.contextmanager
def tiny_filesystem(mountpoint: Path, size_kb: int = 256) -> Iterator[str]:
    """A real tmpfs of ``size_kb`` at ``mountpoint`` (needs the right to mount: root in this
    sandbox); yields "tmpfs". Where it cannot be mounted, yields "devfull": the caller then
    points the file at /dev/full, whose writes fail with ENOSPC from the kernel."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mountpoint)],
                             capture_output=True).returncode == 0
    try:
        yield "tmpfs" if mounted else "devfull"
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


def fill(folder: Path) -> Path:
    """Fills the filesystem of ``folder`` to the last byte; returns the filler (delete it to free)."""
    filler = folder / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        size = 65536
        while size:
            try:
                os.write(fd, b"\0" * size)
            except OSError:
                size //= 2
    finally:
        os.close(fd)
    return filler
