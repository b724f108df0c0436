"""Faults, each produced for real where it can be, each ending with every accepted annotation
settled exactly once (token supply equals the accepted rewards, no epoch or chunk settled twice)
and a clean audit (``labelshare.audit.run_audit``):

1. anvil SIGKILLed in the middle of a settlement and restarted from its state file, and anvil
   restored from a state saved before an epoch that the backend had already confirmed;
2. the backend killed between sending a settle transaction and reading its receipt: covered with
   a real process kill in test_settlement.py (``labelshare settle`` SIGKILLed with the
   transaction in flight, then a fresh settler), not repeated here;
3. RPC failures through a real proxy (refused, reset, hanging, HTTP 500, garbage, the node's
   answer lost) on every web3 path (project registration, qualification grants, the ledger reads
   of closing an epoch, gas estimates, broadcasts, receipts, start-up), the settlement worker's
   backoff, SQLite locked by another connection's real exclusive lock, and a full disk (a real
   256 KB tmpfs) under the manifest write and under the database's commit.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fault_support import (
    REWARD, SCHEMA, FaultProxy, Records, ServedApi, StatefulAnvil, assert_settled_exactly_once, create_project, fill,
    serve, tiny_filesystem, wait_until,
)
from labelshare.chain import Chain
from labelshare.config import DEV_KEYS, Settings
from labelshare.db.models import Epoch, EpochChunk, Project, Submission
from labelshare.errors import ChainError, Unavailable
from labelshare.settlement import SettlementWorker

SECRET_PATH = "/v3/s3cr3t-api-key"  # where hosted RPC URLs carry their key: never in an error
# On SQLite only where the database plays no part (the RPC transport is the subject); the
# settlement paths and the full disk run on PostgreSQL too when it is reachable.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# -------------------------------------------------------------------------------- helpers


def _client(api: Any, token: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=60)


def _sign_in(api: Any, wallet: Any) -> httpx.Client:
    with _client(api) as c:
        nonce = c.get("/auth/nonce").json()["nonce"]
        chain_id = c.get("/chain").json()["chain_id"]
    message = wallet.siwe_message(nonce, chain_id, domain=api.app.state.settings.siwe_domain)
    with _client(api) as c:
        response = c.post("/auth/verify", json={"message": message, "signature": wallet.sign_text(message)})
    assert response.status_code == 200, response.text
    wallet.token = response.json()["token"]
    return _client(api, wallet.token)


def _label(api: Any, wallets: list[Any], project_id: int) -> None:
    for w in wallets:
        client = _sign_in(api, w)
        while (offer := client.get("/tasks/next", params={"project_id": project_id})).status_code == 200:
            response = client.post("/submissions", json=w.sign_submission(offer.json(), {"label": "cat"}))
            assert response.status_code == 201, response.text
        assert offer.status_code == 204, offer.text
        client.close()


def _accepted_work(api: Any, wallet_cls: Any, requester: httpx.Client, tasks: int = 2, annotators: int = 2) -> int:
    """A project whose ``tasks`` tasks ``annotators`` wallets all label alike, reviewed: the
    number of accepted annotations (one payout per annotator)."""
    project = create_project(requester, tasks, annotators)
    _label(api, [wallet_cls() for _ in range(annotators)], project["id"])
    api.app.state.reviewer.run_once()
    with api.sessions() as s:
        return s.scalar(select(func.count()).select_from(Submission).where(
            Submission.project_id == project["id"], Submission.status == "accepted"))


def _epoch_status(api: Any, epoch_id: int) -> str | None:
    with api.sessions() as s:
        return s.scalar(select(Epoch.status).where(Epoch.id == epoch_id))


def _no_secrets(text: str, settings: Settings) -> None:
    for secret in ["s3cr3t-api-key", *(k[2:] for k in DEV_KEYS.values())]:
        assert secret not in text, "a secret leaked into an error"
    for key in (settings.verifier_key, settings.qualifier_key, settings.registrar_key):
        if key is not None:
            assert key.get_secret_value().removeprefix("0x") not in text


# ============================================================ 1. anvil killed and restarted


def _stateful_settings(tmp_path: Path, node: StatefulAnvil, deployment: Path, requester: str) -> Settings:
    # The deployment is `ape run deploy`'s: its roles are anvil's published development accounts,
    # whose keys the backend uses on a local chain (allow_dev_keys).
    return Settings(
        rpc_url=node.url, database_url=f"sqlite:///{tmp_path / 'labelshare.db'}", deployment_file=deployment,
        manifests_dir=tmp_path / "manifests", requesters=requester, epoch_max_age_seconds=0.2,
        settlement_poll_seconds=0.1, settlement_enabled=False, payouts_per_chunk=1,
        rpc_timeout_seconds=2.0, rpc_attempts=3, rpc_backoff_seconds=0.05, settlement_max_backoff_seconds=0.5)


@pytest.fixture
def stateful_stack(tmp_path, wallet, requester_account):
    """A standalone anvil persisting its state every second, the protocol deployed on it with
    ``ape run deploy``, the API on it, and five annotators' accepted work in five payouts (one
    chunk each: payouts_per_chunk=1) waiting to be settled; the on-chain part (the project) is
    in the state file."""
    node = StatefulAnvil(tmp_path)
    node.start()
    api: ServedApi | None = None
    try:
        settings = _stateful_settings(tmp_path, node, node.deploy(), requester_account.address)
        api = serve(settings)
        requester = _sign_in(api, wallet(requester_account))
        accepted = _accepted_work(api, wallet, requester, tasks=2, annotators=5)
        assert accepted == 10
        node.snapshot(tmp_path / "before-settlement.json")  # the project's registration is saved
        yield node, api, settings
    finally:
        if api is not None:
            api.stop()
        node.stop()


def test_anvilKilledMidSettlement_restartedFromItsStateFile_settlesEverythingOnce(stateful_stack):
    node, api, settings = stateful_stack
    worker = SettlementWorker(api.settler, settings.settlement_poll_seconds, api.app.state.reviewer)
    with Records("labelshare.settlement") as log:
        worker.start()
        try:
            # A real condition inside the settlement: chunk 0 is confirmed in the database (the
            # worker goes straight on to chunk 1). SIGKILL: anvil's state file is at most a
            # second old, so it may or may not hold chunk 0's block.
            def chunk0_confirmed() -> bool:
                with api.sessions() as s:
                    return s.scalar(select(EpochChunk.status).where(EpochChunk.epoch_id == 1,
                                                                    EpochChunk.chunk_index == 0)) == "confirmed"

            wait_until(chunk0_confirmed, 60, "chunk 0 was never confirmed", interval=0.002)
            node.kill()
            with api.sessions() as s:
                at_kill = dict(s.execute(select(EpochChunk.chunk_index, EpochChunk.status)
                                         .where(EpochChunk.epoch_id == 1)).all())
            wait_until(lambda: worker.failures >= 1, 30, "the worker did not notice the chain was gone")
            node.start()  # same port, from the state file it last wrote
            chain = Chain(settings)
            kept = [chain.ledger.functions.isChunkSettled(1, i).call() for i in range(5)]

            def settled() -> bool:  # on the chain, in the database, and the worker has seen it so
                return chain.ledger.functions.isEpochSettled(1).call() and _epoch_status(api, 1) == "settled" \
                    and worker.failures == 0

            wait_until(settled, 90, "epoch 1 did not settle after the restart", interval=0.1)
        finally:
            worker.stop()
    result = assert_settled_exactly_once(api, chain, settings.manifests_dir)
    assert (result["accepted"], result["epochs"], result["chunks"]) == (10, 1, 5)
    print(f"\nat the kill the database had {at_kill}; after the restart the chain held chunks {kept}; "
          f"the worker failed passes meanwhile; warnings: {log.messages(logging.WARNING)[:6]}")


def test_anvilRestoredFromOlderState_epochConfirmedInDatabase_isSettledAgainOnce(stateful_stack, tmp_path):
    """The database has epoch 1 settled, every chunk confirmed; the chain comes back from a state
    saved before any of it: the backend notices on its next pass and sends the same five signed
    transactions again (same hashes, same nonces), so nothing is lost and nothing is doubled."""
    node, api, settings = stateful_stack
    api.settler.run_once(force=True)
    with api.sessions() as s:
        assert s.get(Epoch, 1).status == "settled"
        sent = dict(s.execute(select(EpochChunk.chunk_index, EpochChunk.tx_hash).where(EpochChunk.epoch_id == 1)).all())
    node.kill()
    node.start(state_from=tmp_path / "before-settlement.json")
    chain = Chain(settings)
    assert chain.ledger.functions.nextEpochId().call() == 1  # the chain has forgotten epoch 1
    assert chain.token.functions.totalSupply().call() == 0

    worker = SettlementWorker(api.settler, settings.settlement_poll_seconds, api.app.state.reviewer)
    with Records("labelshare.settlement") as log:
        worker.start()
        try:
            wait_until(lambda: chain.ledger.functions.isEpochSettled(1).call(), 60,
                       f"epoch 1 was not settled again: {worker.last_error}", interval=0.1)
            wait_until(lambda: _epoch_status(api, 1) == "settled", 30, "epoch 1 not marked settled")
        finally:
            worker.stop()
    assert any("does not hold epoch(s) [1] as settled" in m for m in log.messages(logging.WARNING))
    with api.sessions() as s:
        again = dict(s.execute(select(EpochChunk.chunk_index, EpochChunk.tx_hash)
                               .where(EpochChunk.epoch_id == 1)).all())
    assert again == sent  # the same signed transactions, not new ones
    result = assert_settled_exactly_once(api, chain, settings.manifests_dir)
    assert (result["accepted"], result["epochs"], result["chunks"]) == (10, 1, 5)


# ====================================================================== 3. RPC failures


@pytest.fixture
def proxied(settings, proxy) -> Any:
    """The API on ape's anvil through the fault proxy, with short RPC timeouts."""
    settings = settings.model_copy(update={
        "rpc_url": proxy.url + SECRET_PATH, "rpc_timeout_seconds": 0.5, "rpc_attempts": 3,
        "rpc_backoff_seconds": 0.05, "settlement_max_backoff_seconds": 0.8})
    api = serve(settings)
    yield api, settings
    api.stop()


@pytest.fixture
def direct(settings) -> Chain:
    """A chain client straight to the node, bypassing the proxy: the test's own view."""
    return Chain(settings)


def _chain_error(response: httpx.Response, settings: Settings, failure: str | None = None) -> str:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["error"] == "chain_error", body
    assert "the chain is unavailable" in body["detail"] and "after 3 attempt(s)" in body["detail"], body
    if failure:
        assert failure in body["detail"], body
    _no_secrets(response.text, settings)
    return body["detail"]


FAILURE_WORDS = {"refuse": "connection refused", "reset": "connection reset", "hang": "timed out",
                 "http500": "HTTP 500", "garbage": "malformed response", "lose": "connection reset"}


@SQLITE_ONLY
@pytest.mark.parametrize("mode", FaultProxy.MODES)
def test_rpcFault_projectRegistration_503ThenNothingStoredOrRegistered(proxied, proxy, direct, wallet,
                                                                     requester_account, mode):
    api, settings = proxied
    requester = _sign_in(api, wallet(requester_account))
    projects_before = direct.ledger.functions.projectCount().call()
    proxy.fail(mode)
    started = time.monotonic()
    response = requester.post("/projects", json={
        "name": "Pets", "instructions": "x", "domain": "general", "label_schema": SCHEMA,
        "reward_per_label": str(REWARD), "overlap": 1, "gold_rate": 0.0})
    elapsed = time.monotonic() - started
    _chain_error(response, settings, FAILURE_WORDS[mode])
    if mode != "refuse":
        assert sum(proxy.failed.values()) == 3  # bounded: three attempts of the first call, then 503
    assert elapsed < 10, elapsed
    proxy.heal()
    with api.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Project)) == 0
    assert direct.ledger.functions.projectCount().call() == projects_before  # nothing was sent
    created = requester.post("/projects", json={
        "name": "Pets", "instructions": "x", "domain": "general", "label_schema": SCHEMA,
        "reward_per_label": str(REWARD), "overlap": 1, "gold_rate": 0.0})
    assert created.status_code == 201, created.text
    assert created.json()["id"] == projects_before + 1


@SQLITE_ONLY
def test_rpcAnswerLost_rawTransaction_retriedSafely_projectRegisteredOnce(proxied, proxy, direct, wallet,
                                                                         requester_account):
    """The node takes the registration and mines it, its answer is lost; the retry of the same
    signed bytes is "already known" / "nonce too low", which is success: one project, 201."""
    api, _ = proxied
    requester = _sign_in(api, wallet(requester_account))
    projects_before = direct.ledger.functions.projectCount().call()
    proxy.fail("lose", {"eth_sendRawTransaction"}, times=1)
    response = requester.post("/projects", json={
        "name": "Pets", "instructions": "x", "domain": "general", "label_schema": SCHEMA,
        "reward_per_label": str(REWARD), "overlap": 1, "gold_rate": 0.0})
    assert response.status_code == 201, response.text
    assert proxy.failed["eth_sendRawTransaction"] == 1 and proxy.passed["eth_sendRawTransaction"] == 1
    assert direct.ledger.functions.projectCount().call() == projects_before + 1 == response.json()["id"]


ADMIN_KEY = "0x" + "ab" * 32  # a throwaway admin for the qualification test


@SQLITE_ONLY
def test_rpcFault_qualificationGrant_503_attemptStaysOpen_thenGranted(settings, proxy, direct, wallet):
    from eth_account import Account

    from labelshare.domains import domain_id

    admin = wallet(Account.from_key(ADMIN_KEY))
    settings = settings.model_copy(update={
        "rpc_url": proxy.url + SECRET_PATH, "rpc_timeout_seconds": 0.5, "rpc_backoff_seconds": 0.05,
        "admins": admin.address})
    api = serve(settings)
    try:
        labels = ["benign", "malignant", "unclear"]
        items = [{"id": f"m{i}", "data": {"text": f"case {i}"}, "answer": {"label": labels[i % 3]}} for i in range(4)]
        put = _sign_in(api, admin).put("/qualifications/medicine", json={
            "label_schema": {"type": "classification", "labels": labels}, "questions": 4, "pass_accuracy": 0.75,
            "cooldown_seconds": 3600, "items": items})
        assert put.status_code == 200, put.text
        key = {i["data"]["text"]: i["answer"] for i in items}
        w = wallet()
        client = _sign_in(api, w)
        attempt = client.post("/qualifications/medicine/attempts").json()
        answers = {q["item_id"]: key[q["data"]["text"]] for q in attempt["questions"]}

        proxy.fail("http500", {"eth_sendRawTransaction"})
        graded = client.post(f"/qualifications/attempts/{attempt['attempt_id']}", json={"answers": answers})
        _chain_error(graded, settings, "HTTP 500")
        assert direct.ledger.functions.isQualified(w.address, domain_id("medicine")).call() is False
        proxy.heal()
        graded = client.post(f"/qualifications/attempts/{attempt['attempt_id']}", json={"answers": answers})
        assert graded.status_code == 200 and graded.json()["passed"] is True, graded.text
        assert direct.ledger.functions.isQualified(w.address, domain_id("medicine")).call() is True
    finally:
        api.stop()


@SQLITE_ONLY
def test_rpcUnreachable_atStartup_clearChainError_noSecret(settings, proxy):
    proxy.fail("refuse")
    with pytest.raises(ChainError) as raised:
        Chain(settings.model_copy(update={"rpc_url": proxy.url + SECRET_PATH, "rpc_backoff_seconds": 0.01}))
    assert "cannot reach the chain" in raised.value.detail and "connection refused" in raised.value.detail
    assert f"127.0.0.1:{proxy.port}" in raised.value.detail
    _no_secrets(raised.value.detail, settings)


# The settlement paths: (methods that fail, how, whether the first pass fails).
SETTLEMENT_FAULTS = {
    "close-epoch-ledger-reads": ({"eth_call"}, "http500", True),
    "gas-estimate": ({"eth_estimateGas"}, "reset", True),
    "broadcast": ({"eth_sendRawTransaction"}, "garbage", True),
    "broadcast-answer-lost": ({"eth_sendRawTransaction"}, "lose", False),  # the first answer only
    "receipt": ({"eth_getTransactionReceipt"}, "hang", True),
    "nonce": ({"eth_getTransactionCount"}, "hang", True),
    "node-down": (None, "refuse", True),
}


@pytest.mark.parametrize("path", list(SETTLEMENT_FAULTS))
def test_rpcFault_settlementPath_noPartialState_recoversOnce(proxied, proxy, direct, wallet, requester_account, path):
    api, settings = proxied
    methods, mode, fails = SETTLEMENT_FAULTS[path]
    requester = _sign_in(api, wallet(requester_account))
    accepted = _accepted_work(api, wallet, requester)
    proxy.fail(mode, methods, times=1 if mode == "lose" else None)
    if fails:
        with pytest.raises(ChainError) as raised:
            api.settler.run_once(force=True)
        _no_secrets(raised.value.detail, settings)
        assert FAILURE_WORDS[mode] in raised.value.detail, raised.value.detail
        if methods:
            assert proxy.failed.keys() <= methods and max(proxy.failed.values()) == 3, proxy.failed
    else:
        assert api.settler.run_once(force=True) == 1
    with api.sessions() as s:
        epoch = s.get(Epoch, 1)
        chunk = s.get(EpochChunk, (1, 0))
        state = (epoch.status if epoch else None, chunk.status if chunk else None, chunk.tx_hash if chunk else None)
    if path in ("close-epoch-ledger-reads", "node-down"):
        # Closing failed before its transaction: no epoch, no manifest, nothing assigned.
        assert state == (None, None, None)
        assert not settings.manifests_dir.exists() or not list(settings.manifests_dir.iterdir())
        with api.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Submission).where(Submission.epoch_id.is_not(None))) == 0
    elif path in ("gas-estimate", "nonce"):
        assert state == ("settling", "pending", None)  # planned and persisted, nothing signed or sent
        assert (settings.manifests_dir / "epoch-1.json").exists()
    elif path in ("broadcast", "receipt"):
        assert state[:2] == ("settling", "sent") and state[2]  # signed and stored before sending
    else:
        assert state[:2] == ("settled", "confirmed")
    if path == "receipt":
        assert direct.ledger.functions.isChunkSettled(1, 0).call()  # mined; only the answer was missing
    proxy.heal()
    api.settler.run_once(force=True)
    with api.sessions() as s:
        tx_after = s.get(EpochChunk, (1, 0)).tx_hash
    if state[2]:
        assert tx_after == state[2]  # the stored transaction, not a second one
    result = assert_settled_exactly_once(api, direct, settings.manifests_dir)
    assert result["accepted"] == accepted


@SQLITE_ONLY
def test_settlementWorker_backsOffExponentially_whileChainRefused_thenSettles(proxied, proxy, direct, wallet,
                                                                             requester_account):
    api, settings = proxied
    requester = _sign_in(api, wallet(requester_account))
    _accepted_work(api, wallet, requester)
    proxy.fail("refuse")
    worker = SettlementWorker(api.settler, 0.1, api.app.state.reviewer)
    with Records("labelshare.settlement") as log:
        worker.start()
        try:
            wait_until(lambda: worker.failures >= 4, 30, "the worker did not keep failing")
            proxy.heal()
            wait_until(lambda: worker.failures == 0 and worker.passes >= 1, 30, "the worker did not recover")
            wait_until(lambda: direct.ledger.functions.isEpochSettled(1).call(), 30, "nothing settled")
            wait_until(lambda: _epoch_status(api, 1) == "settled", 30, "epoch not marked settled")
        finally:
            worker.stop()
    failed = [r for r in log.records if r.getMessage().startswith("settlement pass failed")]
    delays = [r.args[-1] for r in failed]
    assert delays[:4] == [0.2, 0.4, 0.8, 0.8], delays  # poll 0.1 doubled per failure, capped at 0.8
    assert all("connection refused" in r.getMessage() and "after 3 attempt(s)" in r.getMessage() for r in failed)
    assert any("succeeded after" in m for m in log.messages(logging.INFO))
    assert_settled_exactly_once(api, direct, settings.manifests_dir)


# ================================================================== database locked


@SQLITE_ONLY  # SQLite's own lock; PostgreSQL locks rows, and its faults are a different test
def test_databaseLocked_api503NothingStored_workerRetries(settings, direct, wallet, requester_account, monkeypatch):
    """Another connection holds SQLite's real exclusive lock (BEGIN EXCLUSIVE) longer than the
    busy timeout (shortened to 1 s for the test): the API answers 503 database_unavailable and
    stores nothing (the same signed submission is taken afterwards), and the settlement worker
    fails its passes, backs off and settles once the lock is gone."""
    monkeypatch.setattr("labelshare.db.engine.SQLITE_BUSY_TIMEOUT_SECONDS", 1)
    api = serve(settings)
    try:
        requester = _sign_in(api, wallet(requester_account))
        project = create_project(requester, tasks=2, overlap=2)
        annotators = [wallet() for _ in range(2)]
        _label(api, annotators[:1], project["id"])
        client = _sign_in(api, annotators[1])
        offers = [client.get("/tasks/next", params={"project_id": project["id"]}).json()]
        body = annotators[1].sign_submission(offers[0], {"label": "cat"})
        with api.sessions() as s:
            stored_before = s.scalar(select(func.count()).select_from(Submission))

        locker = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            response = client.post("/submissions", json=body)
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "database_unavailable"
            assert "busy" in response.json()["detail"]
        finally:
            locker.execute("COMMIT")
        with api.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Submission)) == stored_before
        assert client.post("/submissions", json=body).status_code == 201  # its nonce was never used
        _label(api, annotators[1:], project["id"])
        api.app.state.reviewer.run_once()

        worker = SettlementWorker(api.settler, 0.1, api.app.state.reviewer)
        with Records("labelshare.settlement") as log:
            locker.execute("BEGIN EXCLUSIVE")
            worker.start()
            try:
                wait_until(lambda: worker.failures >= 2, 30, "the worker did not meet the lock")
            finally:
                locker.execute("COMMIT")
            try:
                wait_until(lambda: direct.ledger.functions.isEpochSettled(1).call(), 30, "nothing settled")
                wait_until(lambda: worker.failures == 0, 30, "the worker did not recover")
            finally:
                worker.stop()
        assert any("database is locked" in m for m in log.messages(logging.WARNING))
        assert_settled_exactly_once(api, direct, settings.manifests_dir)
    finally:
        api.stop()


# ======================================================================== disk full


def test_diskFull_manifestWrite_noEpochNoManifest_thenSettlesOnce(settings, direct, wallet, requester_account,
                                                                 tmp_path):
    """The manifests folder on a real 256 KB tmpfs, filled to the last byte: closing the epoch
    fails with a clear 503-class error, and leaves no epoch, no assignment, no manifest file (nor
    a temporary one) and nothing on chain; freed, the next pass settles everything once."""
    with tiny_filesystem(tmp_path / "tiny") as kind:
        settings = settings.model_copy(update={"manifests_dir": tmp_path / "tiny" / "manifests"})
        api = serve(settings)
        try:
            requester = _sign_in(api, wallet(requester_account))
            accepted = _accepted_work(api, wallet, requester, tasks=3, annotators=2)
            settings.manifests_dir.mkdir(parents=True, exist_ok=True)
            if kind == "tmpfs":
                filler = fill(tmp_path / "tiny")
            else:  # no mount allowed: /dev/full under the temporary file's name (ENOSPC from the kernel)
                os.symlink("/dev/full", settings.manifests_dir / "epoch-1.tmp")
            with pytest.raises(Unavailable) as raised:
                api.settler.run_once(force=True)
            assert "No space left on device" in raised.value.detail and "epoch 1" in raised.value.detail
            with api.sessions() as s:
                assert s.scalar(select(func.count()).select_from(Epoch)) == 0
                assert s.scalar(select(func.count()).select_from(EpochChunk)) == 0
                assert s.scalar(select(func.count()).select_from(Submission).where(
                    Submission.epoch_id.is_not(None))) == 0
            assert sorted(p.name for p in settings.manifests_dir.iterdir()) == []
            assert direct.ledger.functions.nextEpochId().call() == 1
            if kind == "tmpfs":
                filler.unlink()
            assert api.settler.run_once(force=True) == 1
            assert assert_settled_exactly_once(api, direct, settings.manifests_dir)["accepted"] == accepted
        finally:
            api.stop()


@SQLITE_ONLY  # the database file itself on the full disk
def test_diskFull_databaseCommit_afterManifestWritten_manifestRemoved(settings, direct, wallet, requester_account,
                                                                     tmp_path, monkeypatch):
    """The database on a real tmpfs, full when the epoch's transaction commits (its WAL cannot
    grow), after the manifest was written to another disk: the epoch does not exist, so its
    manifest is removed and nothing is served for it; freed, the next pass settles once."""
    with tiny_filesystem(tmp_path / "db", size_kb=2048) as kind:
        if kind != "tmpfs":
            pytest.skip("cannot mount a tmpfs here: a full database disk needs a real small filesystem")
        settings = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'db' / 'labelshare.db'}"})
        api = serve(settings)
        try:
            requester = _sign_in(api, wallet(requester_account))
            accepted = _accepted_work(api, wallet, requester, tasks=3, annotators=2)
            with sqlite3.connect(tmp_path / "db" / "labelshare.db") as c:  # empty the WAL: the commit must grow it
                c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            filler = fill(tmp_path / "db")
            with pytest.raises(Exception) as raised:
                api.settler.run_once(force=True)
            assert "full" in str(raised.value).lower(), raised.value
            assert not (settings.manifests_dir / "epoch-1.json").exists()
            filler.unlink()
            with api.sessions() as s:
                assert s.scalar(select(func.count()).select_from(Epoch)) == 0
            with _client(api) as c:
                assert c.get("/epochs/1/manifest").status_code == 404
            assert api.settler.run_once(force=True) == 1
            assert assert_settled_exactly_once(api, direct, settings.manifests_dir)["accepted"] == accepted
        finally:
            api.stop()
