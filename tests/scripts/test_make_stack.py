"""The real make targets (`make run`, `make up`, `make api`, `make stop`) on free random ports: the API
works on the chain the same invocation started, two stacks from this checkout share nothing, the
banner names this stack and its audit commands work as printed, and `make api` fails, with the
reason, when the API cannot reach its chain or the deployment it expects."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from web3 import HTTPProvider, Web3

from labelshare.admin.anvil_probe import is_anvil
from labelshare.deployment import DEFAULT_RUN_DIR
from test_deploy_script import Anvil, _free_port

ROOT = Path(__file__).resolve().parents[2]
# A stack's commands get their chain and folders from make alone, not from this test's environment.
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if not k.startswith(("LABELSHARE_", "APE_FOUNDRY_", "MAKE")) and k != "MFLAGS"}


def make(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, env=CLEAN_ENV, capture_output=True,
                          text=True, timeout=timeout)


@dataclass
class Stack:
    anvil_port: int
    api_port: int
    output: str = ""

    @property
    def ports(self) -> list[str]:
        return [f"ANVIL_PORT={self.anvil_port}", f"API_PORT={self.api_port}"]

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.anvil_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def folder(self) -> Path:
        return ROOT / ".run" / f"{self.anvil_port}-{self.api_port}"

    def start(self, target: str) -> None:
        result = make(target, *self.ports)
        self.output = result.stdout + result.stderr
        assert result.returncode == 0, self.output

    def stop(self) -> None:
        make("stop", *self.ports, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def stack_a() -> Iterator[Stack]:
    """`make run` (stack, demo, banner) on free ports."""
    stack = Stack(_free_port(), _free_port())
    try:
        stack.start("run")
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def stack_b(stack_a) -> Iterator[Stack]:
    """`make up` on other free ports while stack A runs."""
    stack = Stack(_free_port(), _free_port())
    try:
        stack.start("up")
        yield stack
    finally:
        stack.stop()


def _chain(stack: Stack) -> dict:
    response = httpx.get(f"{stack.api}/chain", timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_run_apiWorksOnTheChainOfItsPorts(stack_a):
    served = _chain(stack_a)
    assert served["rpc_url"] == stack_a.rpc_url
    record = json.loads((stack_a.folder / "ethereum-local.json").read_text())
    assert served["ledger"] == record["contracts"]["ledger"]["address"]
    # The demo's project was registered through this API: its transaction is on this stack's anvil.
    project = httpx.get(f"{stack_a.api}/projects/1", timeout=10).json()
    receipt = Web3(HTTPProvider(stack_a.rpc_url)).eth.get_transaction_receipt(project["registered_tx"])
    assert receipt["status"] == 1 and receipt["to"] == served["ledger"]


def test_twoStacks_shareNoStateNorProcesses(stack_a, stack_b):
    a_status = httpx.get(f"{stack_a.api}/status", timeout=10).json()
    record_a = (stack_a.folder / "ethereum-local.json").read_text()
    assert _chain(stack_b)["rpc_url"] == stack_b.rpc_url
    for stack in (stack_a, stack_b):
        for name in ("anvil-state.json", "anvil.pid", "anvil.log", "api.pid", "api.log", "labelshare.db",
                     "ethereum-local.json"):
            assert (stack.folder / name).is_file(), f"{stack.folder / name} is missing"
    assert (stack_a.folder / "api.pid").read_text() != (stack_b.folder / "api.pid").read_text()
    assert (stack_a.folder / "anvil.pid").read_text() != (stack_b.folder / "anvil.pid").read_text()
    # B's start stopped nothing of A's and rewrote none of its files; no record outside the stacks' folders.
    assert httpx.get(f"{stack_a.api}/status", timeout=10).json()["replica"] == a_status["replica"]
    assert (stack_a.folder / "ethereum-local.json").read_text() == record_a
    assert not (ROOT / "deployments" / "ethereum-local.json").exists()
    # Each record describes its own chain: B's deployment is not on A's anvil beyond what A deployed.
    record_b = json.loads((stack_b.folder / "ethereum-local.json").read_text())
    assert record_b["block_hash"] != json.loads(record_a)["block_hash"]


def test_run_bannerNamesThisStack_andItsAuditCommandsWork(stack_a):
    banner = stack_a.output[stack_a.output.index("LabelShare is running"):]
    assert f"http://localhost:{stack_a.api_port}/docs" in banner
    assert stack_a.rpc_url in banner
    assert f".run/{stack_a.anvil_port}-{stack_a.api_port}/manifests/" in banner
    assert f"make stop ANVIL_PORT={stack_a.anvil_port} API_PORT={stack_a.api_port}" in banner
    commands = [line.strip() for line in banner.splitlines() if line.strip().endswith(
        ("labelshare audit", "ape run audit --network ethereum:local:foundry"))]
    assert len(commands) == 2, banner
    for command in commands:  # as the banner says: after eval "$(make -s env)"
        result = subprocess.run(["bash", "-c", f'eval "$(make -s env)" && {command}'], cwd=ROOT, env=CLEAN_ENV,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, command + "\n" + result.stdout + result.stderr
        assert "audit clean" in result.stdout, result.stdout


def _failed_api(stack: Stack) -> str:
    """`make api` for ``stack``: asserts it fails and leaves no API running; returns what it printed."""
    try:
        result = make("api", *stack.ports, timeout=300)
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert not (stack.folder / "api.pid").exists(), output
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{stack.api}/health", timeout=2)
        return output
    finally:
        stack.stop()


def test_api_failsWithTheReason_whenItsChainIsUnreachable(stack_a):
    stack = Stack(_free_port(), _free_port())
    assert not is_anvil(stack.rpc_url)
    stack.folder.mkdir(parents=True)
    shutil.copy(stack_a.folder / "ethereum-local.json", stack.folder / "ethereum-local.json")
    output = _failed_api(stack)
    assert "cannot reach the chain" in output


def test_api_failsWithTheReason_whenItsAnvilHasNotTheRecordedDeployment(stack_a):
    """A fresh anvil answers with the same chain id as stack A's: an API given A's record would
    join it unless the record is checked against the chain (block hash, code)."""
    anvil = Anvil()
    anvil.start()
    try:
        stack = Stack(anvil.port, _free_port())
        stack.folder.mkdir(parents=True)
        shutil.copy(stack_a.folder / "ethereum-local.json", stack.folder / "ethereum-local.json")
        output = _failed_api(stack)
        assert "does not describe contracts live on the chain at " + stack.rpc_url in output
    finally:
        anvil.stop()


def test_defaultStack_isTheFolderPythonDefaultsTo():
    """`make run` with no ports and the service, the CLI and ape's scripts without LABELSHARE_RUN_DIR
    mean the same stack."""
    result = make("-n", "run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"LABELSHARE_RUN_DIR={DEFAULT_RUN_DIR} " in result.stdout
    assert "LABELSHARE_RPC_URL=http://127.0.0.1:8545 " in result.stdout
