"""Every CLI flag that names a chain or an API is honoured in every mode of every command, and
what the CLI and the demo print reads true through a pipe.

The real ``labelshare`` runs as a subprocess (its output is a pipe, not a terminal) against this
test's API and ape's anvil, which listens on a random port, never 8545: a command that fell back
to the default chain would not find this test's epochs, and one pointed at a closed port must
say so, naming it. The environment never names the chain (no LABELSHARE_RPC_URL), so only the
flags can lead a command to it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from labelshare.cli import app
from labelshare.config import DEV_REQUESTER
from labelshare.db.models import EpochChunk, Submission

from fault_support import free_port

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PASSWORD = "correct horse battery staple"
HASH = re.compile(r"0x[0-9a-f]{64}")
WEI_PRECISION = re.compile(r"\d\.\d{7,}")  # an amount printed with more than 6 decimals


def labelshare(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``labelshare args`` in a subprocess, its output captured through pipes."""
    return subprocess.run([sys.executable, "-m", "labelshare.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def cli_env(settings, verifier, tmp_path) -> dict[str, str]:
    """The environment of a user of this test's deployment: its deployment file, manifests,
    database and (anvil's published dev) verifier key, but no RPC URL and no API."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELSHARE_")}
    return env | {"LABELSHARE_HOME": str(tmp_path / "home"), "LABELSHARE_DEPLOYMENT_FILE": str(settings.deployment_file),
                  "LABELSHARE_MANIFESTS_DIR": str(settings.manifests_dir), "LABELSHARE_DATABASE_URL": settings.database_url,
                  "LABELSHARE_VERIFIER_KEY": verifier.private_key, "COLUMNS": "80"}


def cannot_reach(url: str, output: str) -> bool:
    """Whether ``output`` reports the chain at ``url`` unreachable (and no traceback)."""
    return "cannot reach the chain" in output and url in output and "Traceback" not in output


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # bound then released: nothing listens there


@pytest.fixture
def labelled(api, make_project, wallet):
    """``labelled(tasks, reward)``: a project whose tasks one annotator (returned) labelled,
    reviewed, not settled."""

    def make(tasks: int = 2, reward: int = 10**18) -> tuple[dict, Any]:
        project = make_project(tasks=tasks, overlap=1, reward=reward)
        w = wallet()
        with w.sign_in(api) as client:
            while (offer := client.get("/tasks/next", params={"project_id": project["id"]})).status_code == 200:
                response = client.post("/submissions", json=w.sign_submission(offer.json(), {"label": "cat"}))
                assert response.status_code == 201, response.text
        api.review()
        return project, w.account

    return make


# ------------------------------------------------------------------- audit, local mode


def test_auditLocal_auditsTheChainRpcUrlNames(api, chain, labelled, cli_env):
    labelled()
    epoch_id = api.settler.run_once(force=True)
    assert epoch_id is not None
    audit = labelshare("--rpc-url", chain.provider.uri, "audit", env=cli_env)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert f"epoch {epoch_id}: manifest published" in audit.stdout and "audit clean" in audit.stdout


def test_auditLocal_atAClosedPort_saysItCannotReachThatChain(cli_env):
    url = closed_url()
    audit = labelshare("--rpc-url", url, "audit", env=cli_env)
    assert audit.returncode == 1 and "Traceback" not in audit.stderr
    assert cannot_reach(url, audit.stderr), audit.stderr


# ------------------------------------------------------------------ audit, remote mode


def test_auditRemote_atAClosedRpcUrl_saysItCannotReachThatChain(api, cli_env):
    url = closed_url()
    audit = labelshare("--api", api.url, "--rpc-url", url, "audit", "--remote", env=cli_env)
    assert audit.returncode == 1 and "Traceback" not in audit.stderr
    assert cannot_reach(url, audit.stderr), audit.stderr


def test_auditRemote_atAClosedApi_saysItCannotReachThatApi(chain, cli_env):
    url = closed_url()
    audit = labelshare("--api", url, "--rpc-url", chain.provider.uri, "audit", "--remote", env=cli_env)
    assert audit.returncode == 1 and f"cannot reach {url}" in audit.stderr, audit.stderr


# ----------------------------------------------------------------------------- settle


def test_settle_settlesOnTheChainRpcUrlNames(api, chain, ledger, labelled, cli_env):
    labelled()
    settled = labelshare("--rpc-url", chain.provider.uri, "settle", env=cli_env)
    assert settled.returncode == 0, settled.stdout + settled.stderr
    epoch_id = int(re.search(r"settled epoch (\d+)", settled.stdout).group(1))
    assert ledger.epoch(epoch_id)[0] != b"\0" * 32  # this chain holds the epoch's root

    closed = labelshare("--rpc-url", (url := closed_url()), "settle", env=cli_env)
    assert closed.returncode == 1 and cannot_reach(url, closed.stderr), closed.stderr


# ------------------------------------------------------------------------------ serve


def test_serve_servesTheChainRpcUrlNames(chain, cli_env, tmp_path):
    port = free_port()
    env = cli_env | {"LABELSHARE_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
                     "LABELSHARE_SETTLEMENT_ENABLED": "false"}
    server = subprocess.Popen([sys.executable, "-m", "labelshare.cli", "--rpc-url", chain.provider.uri, "serve",
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and server.poll() is None:
            try:
                served = httpx.get(f"http://127.0.0.1:{port}/chain", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            pytest.fail(f"the API did not start: {server.stderr.read() if server.poll() is not None else 'timeout'}")
        assert served.status_code == 200 and served.json()["rpc_url"] == chain.provider.uri
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serve_atAClosedPort_refusesToStart_namingIt(cli_env, tmp_path):
    url = closed_url()
    env = cli_env | {"LABELSHARE_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
                     "LABELSHARE_SETTLEMENT_ENABLED": "false"}
    served = labelshare("--rpc-url", url, "serve", "--port", str(free_port()), env=env, timeout=120)
    # uvicorn logs the lifespan's exception with its traceback; the service's own line says why
    assert served.returncode != 0 and f"refusing to start: cannot reach the chain" in served.stderr, served.stderr
    assert url in served.stderr


# ---------------------------------------------------------------------------- simulate


def test_simulate_usesTheRootApiAndRpcUrl(api, cli_env, tmp_path):
    url = closed_url()
    simulated = labelshare("--api", api.url, "--rpc-url", url, "simulate", "--out", str(tmp_path), env=cli_env)
    assert simulated.returncode == 1 and cannot_reach(url, simulated.stderr), simulated.stderr


# --------------------------------------------- commands that read or send on the chain


@pytest.mark.parametrize("command", [["balance", DEV_REQUESTER], ["rewards"], ["claim"], ["licence", "withdraw"],
                                     ["licence", "buy", "1"], ["licence", "terms", "1", "--price", "1"]])
def test_chainCommands_atAClosedRpcUrl_sayTheyCannotReachThatChain(api, command, tmp_path, monkeypatch):
    monkeypatch.setenv("LABELSHARE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LABELSHARE_WALLET_PASSWORD", PASSWORD)
    runner = CliRunner()
    assert runner.invoke(app, ["wallet", "create"]).exit_code == 0
    url = closed_url()
    result = runner.invoke(app, ["--api", api.url, "--rpc-url", url, *command])
    assert result.exit_code == 1 and cannot_reach(url, result.output), result.output


# ------------------------------------------------------------------- what the CLI prints


def test_cliOutput_throughAPipe_amountsRoundedAndHashesWhole(api, chain, labelled, cli_env):
    _, annotator = labelled(tasks=3, reward=74_999_999_999_999_999)  # 3 x 0.074999999999999999 LSR
    epoch_id = api.settler.run_once(force=True)
    with api.app.state.sessions() as session:
        tx = session.scalars(select(EpochChunk.tx_hash).where(EpochChunk.epoch_id == epoch_id)).one()
    env = cli_env | {"LABELSHARE_WALLET_PASSWORD": PASSWORD, "LABELSHARE_IMPORT_KEY": annotator.key.hex()}
    assert labelshare("wallet", "import", env=env).returncode == 0
    rewards = labelshare("--api", api.url, "--rpc-url", chain.provider.uri, "rewards", env=env)
    assert rewards.returncode == 0, rewards.stdout + rewards.stderr
    assert "settled  0.225 LSR" in rewards.stdout and "balance  0.225 LSR on-chain" in rewards.stdout, rewards.stdout
    assert not WEI_PRECISION.search(rewards.stdout), rewards.stdout
    assert any(tx in line for line in rewards.stdout.splitlines()), rewards.stdout  # whole, on one line

    audit = labelshare("--api", api.url, "audit", "--remote", env=cli_env)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    summary = next(line for line in audit.stdout.splitlines() if line.startswith("epochs "))
    assert "minted 0.225, total supply 0.225" in summary, summary
    _assert_true_to_status(audit.stdout)


@pytest.mark.settings(requesters=DEV_REQUESTER, settlement_enabled=True)
def test_demo_twice_secondTableShowsTheSecondRun_andTheAuditReadsTrue(api, chain, requester, cli_env):
    assert requester.address == DEV_REQUESTER  # the demo signs as anvil #4, the deployment's requester
    env = cli_env | {"LABELSHARE_DEPLOYMENT_FILE": "/nonexistent"}  # the demo reads the API's deployment
    runs = []
    for _ in range(2):
        demo = subprocess.run([sys.executable, "-m", "labelshare.demo", "--api", api.url, "--rpc-url",
                               chain.provider.uri], env=env, capture_output=True, text=True, timeout=300)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        runs.append(demo.stdout)
    second = runs[1]
    project_id = int(re.search(r"Project (\d+) registered", second).group(1))
    assert not WEI_PRECISION.search(second), second
    with api.app.state.sessions() as session:
        accepted = session.scalars(select(Submission).where(Submission.project_id == project_id,
                                                            Submission.status == "accepted")).all()
        for address in {s.annotator for s in accepted}:
            mine = [s for s in accepted if s.annotator == address]
            epochs = {s.epoch_id for s in mine}
            txs = session.scalars(select(EpochChunk.tx_hash).where(EpochChunk.epoch_id.in_(epochs))).all()
            row = next(line for line in second.splitlines() if "│" in line and address.lower() in line.lower())
            cells = [c.strip() for c in row.split("│")[1:-1]]
            # accepted and earned are this run's, not the wallet's totals over both runs
            earned = Decimal(sum(s.reward for s in mine)).scaleb(-18).quantize(Decimal("0.000001"))
            assert cells[1] == str(len(mine)) and Decimal(cells[3]) == earned, row
            assert any(tx in row for tx in txs), (row, txs)  # the transaction that settled this run's work, whole
    assert re.search(r"submitted 5 signed labels", second)

    audit = labelshare("--api", api.url, "--rpc-url", chain.provider.uri, "audit", "--remote", env=cli_env)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    _assert_true_to_status(audit.stdout)
    assert "4 sale(s) split exactly" in audit.stdout  # two licences sold per run


FAILURE_WORDS = re.compile(r"no manifest|\[\]|differ|fail|over-claimed|unsettled|orphan|never opened|do not",
                           re.IGNORECASE)


def _assert_true_to_status(output: str) -> None:
    """Every ``ok`` row of the audit table says what it found, in words that are not a failure's."""
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in output.splitlines() if line.count("│") == 4]
    ok_rows = [r for r in rows if r[1] == "ok"]
    assert ok_rows, output
    for name, _, found in ok_rows:
        assert found and not FAILURE_WORDS.search(found), f"{name} | ok | {found}"
