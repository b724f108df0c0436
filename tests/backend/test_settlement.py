"""Settlement under crashes: the settling process is killed (SIGKILL) after it has broadcast a
settle transaction and before it reads the receipt; a restarted settler reconciles with the
chain, never mints twice and loses no accepted annotation. Anvil's automine is switched off so
the transaction is provably in flight at the moment of the kill."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from sqlalchemy import func, select
from web3.exceptions import TransactionNotFound

from fault_support import REWARD, accept_annotations
from labelshare.db.models import Epoch, EpochChunk, Submission


def _settle_process(settings) -> subprocess.Popen[str]:
    env = {**os.environ, "LABELSHARE_RPC_URL": settings.rpc_url, "LABELSHARE_DATABASE_URL": settings.database_url,
           "LABELSHARE_DEPLOYMENT_FILE": str(settings.deployment_file),
           "LABELSHARE_MANIFESTS_DIR": str(settings.manifests_dir),
           # anvil's published development key of the test verifier account: local test chain only
           "LABELSHARE_VERIFIER_KEY": settings.verifier_key.get_secret_value()}
    return subprocess.Popen(["labelshare", "settle"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _wait_for_broadcast(api, process, w3, timeout: float = 60.0) -> str:
    """The settle transaction's hash once the settler has recorded it (it records before it
    broadcasts) and the node has it in its pool."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with api.sessions() as s:
            tx_hash = s.scalar(select(EpochChunk.tx_hash).where(EpochChunk.status == "sent"))
        if tx_hash:
            try:
                w3.eth.get_transaction(tx_hash)
                return tx_hash
            except TransactionNotFound:
                pass
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        time.sleep(0.05)
    raise AssertionError("the settler never broadcast a settle transaction")


@pytest.fixture
def automine(chain):
    """Switches anvil's automine; always back on after the test."""
    yield lambda on: chain.provider.make_request("evm_setAutomine", [on])
    chain.provider.make_request("evm_setAutomine", [True])


@pytest.mark.parametrize("mined_before_restart", [True, False], ids=["mined-while-down", "pending-at-restart"])
def test_settle_killedBetweenSendAndReceipt_reconcilesWithoutDoubleMint(
        api, wallet, make_project, settings, token, ledger, chain, automine, mined_before_restart):
    accepted = accept_annotations(api, wallet, make_project)
    supply_before = token.totalSupply()
    automine(False)
    process = _settle_process(settings)
    tx_hash = _wait_for_broadcast(api, process, chain.provider.web3)
    # The transaction is in the node's pool, not mined: the settler is waiting for its receipt.
    assert chain.provider.web3.eth.get_transaction(tx_hash)["blockNumber"] is None
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    if mined_before_restart:
        chain.mine()
    automine(True)

    api.settler.run_once()  # the restarted settler: resume first

    with api.sessions() as s:
        epoch = s.scalars(select(Epoch)).one()
        assert epoch.status == "settled"
        assert s.scalar(select(func.count()).select_from(Submission).where(Submission.epoch_id == epoch.id)) == accepted
        assert s.scalar(select(EpochChunk.tx_hash).where(EpochChunk.epoch_id == epoch.id)) == tx_hash  # no new tx
    assert ledger.isEpochSettled(epoch.id)
    assert token.totalSupply() - supply_before == accepted * REWARD
    api.settler.run_once(force=True)  # nothing left: closes no epoch, mints nothing
    assert token.totalSupply() - supply_before == accepted * REWARD


def test_settle_retriedAfterChainAlreadySettled_confirmsWithoutSending(api, wallet, make_project, token, ledger):
    """A chunk the chain already settled (the receipt was lost with the process) is confirmed by
    asking the ledger, never by sending again; the ledger would refuse a second send anyway."""
    accepted = accept_annotations(api, wallet, make_project)
    epoch_id = api.settler.close_epoch()
    api.settler.settle(epoch_id)
    with api.sessions.begin() as s:  # forget the confirmation, as a crash before commit would
        chunk = s.get(EpochChunk, (epoch_id, 0))
        chunk.status = "sent"
        s.get(Epoch, epoch_id).status = "settling"
    supply = token.totalSupply()
    api.settler.run_once()
    with api.sessions() as s:
        assert s.get(Epoch, epoch_id).status == "settled"
    assert token.totalSupply() == supply == accepted * REWARD
    assert ledger.isEpochSettled(epoch_id)
