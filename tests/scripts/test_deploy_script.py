"""`ape run deploy` and `ape run settle_example` against a separate anvil, as the run command
uses them: deploy, re-run safely, settle, and redeploy after the chain is reset."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labelshare.admin.anvil_probe import is_anvil

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Anvil:
    """A standalone anvil process on a free port."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["anvil", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not is_anvil(self.url):
            if time.monotonic() > deadline:
                raise RuntimeError("anvil did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    node = Anvil()
    node.start()
    yield node
    node.stop()


@pytest.fixture
def ape_run(anvil, tmp_path):
    env = {**os.environ, "APE_FOUNDRY_HOST": anvil.url, "LABELSHARE_DEPLOYMENTS_DIR": str(tmp_path)}

    def run(script: str) -> str:
        result = subprocess.run(
            ["ape", "run", script, "--network", "ethereum:local:foundry"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    return run


def test_deploy_writesManifestAndIsSafeToRerun(ape_run, tmp_path):
    first = ape_run("deploy")
    manifest = json.loads((tmp_path / "ethereum-local.json").read_text())
    assert manifest["chain_id"] == 31337
    assert set(manifest["contracts"]) == {  # tUSD: local only
        "timelock", "token", "ledger", "licences", "staking", "stablecoin"}
    assert manifest["abi_source"] == ".build/__local__.json"
    assert manifest["contracts"]["ledger"]["address"] in first

    again = ape_run("deploy")
    assert "already deployed" in again
    assert json.loads((tmp_path / "ethereum-local.json").read_text()) == manifest


def test_settleExample_settlesAndProvesInclusion(ape_run):
    ape_run("deploy")
    output = ape_run("settle_example")
    assert "Epoch 1 chunk 1/1 settled" in output
    assert "settled on-chain: True" in output
    assert "verified on-chain: True" in output
    second = ape_run("settle_example")  # a second run settles the next epoch
    assert "Epoch 2 chunk 1/1 settled" in second


def test_deploy_redeploysAfterChainReset(ape_run, anvil):
    ape_run("deploy")
    anvil.stop()
    anvil.start()  # same chain id, empty state: the manifest no longer describes live contracts
    output = ape_run("deploy")
    assert "Deployed LabelShare" in output
    assert "already deployed" not in output
    assert "verified on-chain: True" in ape_run("settle_example")


def test_settleExample_refusesWithoutDeployment(anvil, tmp_path):
    env = {**os.environ, "APE_FOUNDRY_HOST": anvil.url, "LABELSHARE_DEPLOYMENTS_DIR": str(tmp_path)}
    result = subprocess.run(["ape", "run", "settle_example", "--network", "ethereum:local:foundry"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "no live deployment" in result.stdout + result.stderr
