"""Real-network chain settings, on anvil: the expected chain id (a mismatch refuses to start),
EIP-1559 fees with a ceiling (settlement holds, with a clear status, rather than pay above it,
and goes on once it may), and confirmations waited before a chunk counts as settled."""

from __future__ import annotations

import os
import subprocess
from decimal import Decimal

import pytest
from sqlalchemy import select

from fault_support import REWARD, accept_annotations, free_port, wait_until
from labelshare.chain import GWEI, Chain
from labelshare.config import Settings
from labelshare.db.models import Epoch, EpochChunk
from labelshare.errors import ChainError

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the database plays no part


def _chunks(api) -> list[tuple[str, str | None]]:
    with api.sessions() as s:
        return list(s.execute(select(EpochChunk.status, EpochChunk.tx_hash).order_by(EpochChunk.chunk_index)).all())


# ------------------------------------------------------------------------------- chain id


@SQLITE
def test_chainId_mismatch_refusesToStart(settings, tmp_path):
    with pytest.raises(ChainError, match="LABELSHARE_CHAIN_ID is 84532 but the RPC node at http://127.0.0.1:"):
        Chain(settings.model_copy(update={"chain_id": 84532}))
    assert Chain(settings.model_copy(update={"chain_id": 31337})).chain_id == 31337

    # The service itself: `labelshare serve` exits at start-up, saying why, and never listens.
    env = {**os.environ, "LABELSHARE_RPC_URL": settings.rpc_url, "LABELSHARE_CHAIN_ID": "84532",
           "LABELSHARE_DATABASE_URL": settings.database_url, "LABELSHARE_DEPLOYMENT_FILE": str(settings.deployment_file),
           "LABELSHARE_MANIFESTS_DIR": str(tmp_path / "manifests")}
    served = subprocess.run(["labelshare", "serve", "--port", str(free_port())], env=env, capture_output=True,
                            text=True, timeout=120)
    assert served.returncode != 0
    assert "refusing to start: LABELSHARE_CHAIN_ID is 84532 but the RPC node" in served.stdout + served.stderr


def test_feeSettings_invalid_clearErrors():
    with pytest.raises(ValueError, match="priority_fee_gwei .* is above max_fee_gwei"):
        Settings(priority_fee_gwei=Decimal(3), max_fee_gwei=Decimal(2))
    with pytest.raises(ValueError, match="whole wei"):
        Settings(max_fee_gwei=Decimal("0.0000000001"))
    with pytest.raises(ValueError, match="confirmations cannot be negative"):
        Settings(confirmations=-1)


# ----------------------------------------------------------------------- the fee ceiling


@pytest.fixture
def base_fee(chain):
    """Sets the base fee of the next block (the test chain runs at zero) and mines it; zero again after."""
    def set_base_fee(wei: int) -> None:
        chain.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(wei)])
        chain.mine(1)

    yield set_base_fee
    set_base_fee(0)


@SQLITE
@pytest.mark.settings(settlement_enabled=True)
def test_feeCeilingBelowBaseFee_settlementHolds_clearStatus_thenResumesWhenRaised(
        api, wallet, make_project, requester_client, token, base_fee):
    settings = api.app.state.settings  # the running service's own (the Chain reads it on every send)
    supply = token.totalSupply()
    base_fee(10 * GWEI)
    ceiling = Decimal(1)  # gwei: a tenth of the base fee, so nothing may be signed
    settings.max_fee_gwei, settings.priority_fee_gwei = ceiling, Decimal(0)
    # Projects are registered on-chain: with the ceiling in force that is refused too, clearly.
    refused = requester_client.post("/projects", json={
        "name": "x", "instructions": "", "domain": "general", "reward_per_label": str(REWARD), "overlap": 1,
        "label_schema": {"type": "classification", "labels": ["cat", "dog"]}})
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"] == "fee_above_ceiling" and "LABELSHARE_MAX_FEE_GWEI" in refused.json()["detail"]

    settings.max_fee_gwei = None  # lift it to register the project, then put it back for settlement
    project = make_project(tasks=2, overlap=2, reward=REWARD)
    settings.max_fee_gwei = ceiling
    for _ in range(2):
        w = wallet()
        client = w.sign_in(api)
        while (offer := client.get("/tasks/next", params={"project_id": project["id"]})).status_code == 200:
            assert client.post("/submissions", json=w.sign_submission(offer.json(), {"label": "cat"})).status_code == 201

    with api.client() as c:
        held = wait_until(lambda: (s := c.get("/status").json())["settlement"]["state"] == "held" and s, 60,
                          "settlement never reported held")
    assert "above LABELSHARE_MAX_FEE_GWEI" in held["settlement"]["held_reason"]
    assert held["settlement"]["leader"] and held["settlement"]["max_fee_gwei"] == str(settings.max_fee_gwei)
    # The epoch is closed and planned, nothing was signed, nothing minted.
    assert _chunks(api) == [("pending", None)]
    assert token.totalSupply() == supply

    settings.max_fee_gwei = Decimal(1000)  # raised (an operator's restart with a higher ceiling)
    with api.client() as c:
        wait_until(lambda: c.get("/status").json()["settlement"]["state"] == "settling" and _chunks(api)[0][0]
                   == "confirmed", 60, "settlement did not resume")
    assert token.totalSupply() - supply == 4 * REWARD
    with api.sessions() as s:
        assert s.scalar(select(Epoch.status)) == "settled"


# --------------------------------------------------------------- fees and confirmations


@SQLITE
@pytest.mark.settings(priority_fee_gwei=Decimal("1.5"), max_fee_gwei=Decimal(50))
def test_confirmations_chunkSettledOnlyOnceDeepEnough_eip1559FeesWithinCeiling(
        api, wallet, make_project, chain, token):
    accepted = accept_annotations(api, wallet, make_project, tasks=2)
    # From here on (the project's registration would wait for blocks anvil never mines by itself).
    api.app.state.settings.confirmations = 2
    supply = token.totalSupply()
    w3 = api.app.state.chain.w3
    verifier = api.app.state.chain.account("verifier").address

    api.settler.run_once(force=True)  # signs, sends; anvil mines it at once: 0 confirmations
    [(status, tx_hash)] = _chunks(api)
    assert status == "sent" and w3.eth.get_transaction_receipt(tx_hash)["status"] == 1
    assert token.totalSupply() - supply == accepted * REWARD  # minted, not yet counted as settled
    tx = w3.eth.get_transaction(tx_hash)
    assert tx["type"] == 2 and tx["maxPriorityFeePerGas"] == 15 * GWEI // 10 and tx["maxFeePerGas"] <= 50 * GWEI
    sent = w3.eth.get_transaction_count(verifier)

    chain.mine(1)
    api.settler.run_once()  # one block on top: still "sent", and nothing sent again
    assert _chunks(api) == [("sent", tx_hash)]
    with api.sessions() as s:
        assert s.scalar(select(Epoch.status)) == "settling"

    chain.mine(1)
    api.settler.run_once()  # two: settled
    assert _chunks(api) == [("confirmed", tx_hash)]
    with api.sessions() as s:
        assert s.scalar(select(Epoch.status)) == "settled"
    assert w3.eth.get_transaction_count(verifier) == sent  # one transaction in all
    assert token.totalSupply() - supply == accepted * REWARD
