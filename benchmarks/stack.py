"""A throwaway local stack for a benchmark: its own anvil on a free port, the protocol deployed
with ``ape run deploy`` (the same path as ``make up``), and API servers started as in production
(``labelshare serve`` under uvicorn workers). Everything lives in one temporary folder."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from labelshare.admin.anvil_probe import is_anvil

ROOT = Path(__file__).resolve().parents[1]
# anvil's published development key #4: the local requester (local chains only).
DEV_REQUESTER_KEY = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"

__all__ = ["DEV_REQUESTER_KEY", "Stack", "free_port", "local_stack"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    folder: Path
    rpc_url: str
    deployment_file: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self, database_url: str, **extra: str) -> dict[str, str]:
        """The environment a backend process on this stack runs with."""
        return {**os.environ, "LABELSHARE_RPC_URL": self.rpc_url, "LABELSHARE_DATABASE_URL": database_url,
                "LABELSHARE_DEPLOYMENT_FILE": str(self.deployment_file),
                "LABELSHARE_MANIFESTS_DIR": str(self.folder / "manifests"), **extra}

    @contextmanager
    def api(self, database_url: str, workers: int = 1, **extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
        """``labelshare serve --workers N`` on a free port; yields its URL and process. Its log
        is ``api-<port>.log`` in the stack's folder; ``extra`` environment variables win (replicas
        behind one name share ``LABELSHARE_SIWE_DOMAIN``)."""
        port = free_port()
        env = self.env(database_url, **{"LABELSHARE_SIWE_DOMAIN": f"127.0.0.1:{port}", **extra})
        log = open(self.folder / f"api-{port}.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen(["labelshare", "serve", "--port", str(port), "--workers", str(workers)],
                                   env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for(lambda: _healthy(url), 60, f"the API did not start: see {log.name}")
            yield url, process
        finally:
            with contextlib.suppress(ProcessLookupError):  # a test may have killed it already
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
            log.close()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(predicate, timeout: float, message: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(message)
        time.sleep(0.1)


@contextmanager
def local_stack(folder: Path, block_gas_limit: int | None = None) -> Iterator[Stack]:
    """anvil + the deployed protocol in ``folder``; stopped on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    rpc_url = f"http://127.0.0.1:{port}"
    command = ["anvil", "--host", "127.0.0.1", "--port", str(port), "--silent"]
    if block_gas_limit:
        command += ["--gas-limit", str(block_gas_limit)]
    anvil = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: is_anvil(rpc_url), 30, "anvil did not start")
        env = {**os.environ, "APE_FOUNDRY_HOST": rpc_url, "LABELSHARE_DEPLOYMENTS_DIR": str(folder)}
        subprocess.run(["ape", "run", "deploy", "--network", "ethereum:local:foundry"], cwd=ROOT, env=env,
                       check=True, capture_output=True, timeout=600)
        yield Stack(folder, rpc_url, folder / "ethereum-local.json")
    finally:
        anvil.terminate()
        anvil.wait(timeout=10)
