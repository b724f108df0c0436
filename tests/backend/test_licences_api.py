"""Dataset licences end to end through the live API, the SDK and anvil: annotate with unequal
contributions, settle, publish a version, sell two licences (ETH and the test stablecoin), export
the licensed version only to its holder, claim pro rata, sell again after a later epoch, and
finish with the audit (revenue included) clean. Then a version published around the backend with
a wrong shares root is caught by the API and by the audit.

Every wallet is a real key: annotators and the requester are fresh keys funded with ETH from an
anvil development account, the buyers are anvil development accounts (local chain only).
"""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from eth_utils import keccak

from labelshare.audit import run_audit
from labelshare.chain import Chain
from labelshare.client import ETH, ApiError, ChainTxError, LabelShareClient
from labelshare.errors import NotFound
from labelshare.licences import SCALE
from labelshare.manifests import ManifestStore

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # chain logic; SQLite suffices
USD = 10**6


@pytest.fixture
def fund(accounts):
    def fund_(*addresses: str) -> None:
        for address in addresses:
            accounts[0].transfer(address, 10**18)

    return fund_


def annotate(api, project_id: int, clients: list[LabelShareClient], counts: list[int]) -> None:
    for client, count in zip(clients, counts, strict=True):
        for _ in range(count):
            client.submit(client.next_task(project_id), {"label": "cat"})
    api.review()
    assert api.settler.run_once(force=True) is not None


def audit(settings) -> object:
    chain = Chain(settings)
    store = ManifestStore(settings.manifests_dir)

    def manifest(epoch_id: int):
        try:
            return store.read(epoch_id)
        except NotFound:
            return None

    return run_audit(chain.w3, chain.ledger, chain.token, chain.deployment.block_number, manifest, sample=3,
                     licences=chain.licences)


def test_licences_soldInEthAndErc20_exportedToHolders_claimedProRata_auditClean(
    api, settings, make_project, requester_account, accounts, fund, project,
):
    requester = LabelShareClient(api.url, requester_account)
    requester.sign_in()
    # Six tasks with overlap 1, labelled 1, 2 and 3 times by three annotators: unequal contributions.
    proj = make_project(tasks=6, overlap=1)
    pid = proj["id"]
    with pytest.raises(ApiError) as nothing:
        requester.publish_version(pid)
    assert nothing.value.status == 409 and nothing.value.field == "project_id"

    annotators = [LabelShareClient(api.url, Account.create()) for _ in range(3)]
    for a in annotators:
        a.sign_in()
    fund(requester_account.address, *(a.address for a in annotators))
    annotate(api, pid, annotators, [1, 2, 3])

    with pytest.raises(ApiError) as not_owner:
        annotators[0].publish_version(pid)
    assert not_owner.value.status == 403
    version = requester.publish_version(pid)
    assert version["version_id"] == 1 and version["total_shares"] == str(6 * 10**18) and version["tx_hash"]
    assert [v["version_id"] for v in requester.versions(pid)] == [1]
    with pytest.raises(ApiError) as again:
        requester.publish_version(pid)
    assert again.value.status == 409  # nothing new has settled

    chain_info = requester.chain_info()
    tusd = chain_info["stablecoin"]
    requester.set_licence_terms(pid, price=2 * 10**18 + 3, requester_share_bps=2_000)
    requester.set_licence_terms(pid, price=500 * USD + 1, currency=tusd)

    eth_buyer = LabelShareClient(api.url, Account.from_key(accounts[8].private_key))
    usd_buyer = LabelShareClient(api.url, Account.from_key(accounts[7].private_key))
    stranger = LabelShareClient(api.url, Account.create())
    for client in (eth_buyer, usd_buyer, stranger):
        client.sign_in()
    project.TestStablecoin.at(tusd).mint(usd_buyer.address, 1_000 * USD, sender=accounts[7])
    with pytest.raises(ChainTxError) as too_dear:
        eth_buyer.buy_licence(1, max_price=10**18)
    assert too_dear.value.name == "LicencesPriceChanged"
    first = eth_buyer.buy_licence(1)
    second = usd_buyer.buy_licence(1, currency=tusd)
    assert (first["licence_id"], second["licence_id"]) == (1, 2)
    assert [lic["licence_id"] for lic in eth_buyer.my_licences()] == [1]

    # The licensed version's labels, only to its holders and the owner.
    exported = [json.loads(line) for line in eth_buyer.export(pid, version=1).splitlines()]
    assert len(exported) == 6 and all(len(r["annotations"]) == 1 for r in exported)
    assert {r["annotations"][0]["annotator"] for r in exported} == {a.address for a in annotators}
    assert len(requester.export(pid, version=1).splitlines()) == 6
    for client, params in ((stranger, 1), (eth_buyer, None)):
        with pytest.raises(ApiError) as refused:
            client.export(pid, version=params)
        assert refused.value.status == 403 and refused.value.field == "version"

    revenue = requester.project_revenue(pid)
    assert {p["symbol"] for p in revenue["prices"]} == {"ETH", "tUSD"}
    assert len(revenue["sales"]) == 2 and revenue["requester_share_bps"] == 2_000
    pools = {p["symbol"]: p for p in revenue["versions"][0]["pools"]}
    for symbol, sale in (("ETH", first), ("tUSD", second)):
        price = sale["price"]
        contributors = price - price * 500 // 10_000 - price * 2_000 // 10_000
        assert int(pools[symbol]["contributed"]) == contributors
        assert int(pools[symbol]["claimable"]) + int(pools[symbol]["dust"]) == contributors
        assert 0 <= int(pools[symbol]["dust"]) <= 1 + 3

    # Each annotator claims both currencies: pro rata 1:2:3 of the contributors' part.
    usd = project.TestStablecoin.at(tusd)
    for a, n in zip(annotators, (1, 2, 3), strict=True):
        rows = {r["symbol"]: r for r in a.my_revenue()}
        assert int(rows["ETH"]["shares"]) == n * 10**18
        usd_before = usd.balanceOf(a.address)
        paid = {p["symbol"]: p["amount"] for p in a.claim_revenue()}
        assert paid["ETH"] == n * 10**18 * int(pools["ETH"]["revenue_per_share"]) // SCALE
        assert usd.balanceOf(a.address) - usd_before == paid["tUSD"] > 0
        assert a.claim_revenue() == []  # nothing left

    # A later epoch with a newcomer; version 2 covers both epochs; a sale of it pays the newcomer.
    requester.upload_tasks(pid, '{"id": "late1", "data": {"text": "x"}}\n{"id": "late2", "data": {"text": "y"}}\n')
    newcomer = LabelShareClient(api.url, Account.create())
    newcomer.sign_in()
    fund(newcomer.address)
    annotate(api, pid, [newcomer, annotators[0]], [1, 1])
    v2 = requester.publish_version(pid)
    assert v2["version_id"] == 2 and v2["to_epoch"] > version["to_epoch"] and v2["total_shares"] == str(8 * 10**18)
    eth_buyer.buy_licence(2)
    assert [r["version_id"] for r in newcomer.my_revenue()] == [2]
    assert newcomer.claim_revenue()[0]["amount"] > 0
    paid = annotators[0].claim_revenue()
    assert [p["version_id"] for p in paid] == [2]  # version 1's revenue was already claimed

    assert requester.withdraw_revenue() == first["price"] * 2_000 // 10_000 + (2 * 10**18 + 3) * 2_000 // 10_000
    assert requester.withdraw_revenue(tusd) == second["price"] * 2_000 // 10_000
    report = audit(settings)
    assert report.ok, [c for c in report.checks if not c.ok]
    assert report.revenue_versions == 2 and report.licences_sold == 3
    assert any(c.name.startswith("ETH: payments in") for c in report.checks)
    for client in (requester, eth_buyer, usd_buyer, stranger, newcomer, *annotators):
        client.close()


def test_versionWithWrongSharesRoot_isRefusedByApiAndFlaggedByAudit(api, settings, make_project, wallet, verifier):
    """The publisher key could post a root the ledger's records do not support: the API will not
    serve proofs for it and the audit names it."""
    pid = make_project(tasks=2, overlap=1)["id"]
    annotator = LabelShareClient(api.url, Account.create())
    annotator.sign_in()
    annotate(api, pid, [annotator], [2])
    chain = Chain(settings)
    epoch = chain.ledger.functions.nextEpochId().call() - 1
    chain.transact("verifier", chain.licences.functions.publishVersion(pid, epoch, epoch, keccak(text="forged"),
                                                                       2 * 10**18))
    with api.client() as anyone:
        response = anyone.get(f"/versions/1/shares/{annotator.address}")
        assert response.status_code == 503 and "does not match" in response.json()["detail"]
    report = audit(settings)
    assert not report.ok
    assert [c.name for c in report.checks if not c.ok] == [
        f"version 1: shares rebuild from settled rewards of project {pid}, epochs {epoch}-{epoch}"]
    annotator.close()
