"""Dataset licences on the web page, in a real browser (Debian's chromium, driven by Playwright):
a project with work settled on-chain by the page's wallet (anvil development account #9) and by
another annotator, a published dataset version and prices in ETH and tUSD (all set up through the
SDK); then on the page: the project's revenue as the API states it; a purchase refused by the
paused contract, named by its custom error, and one refused on another chain; a licence bought in
ETH through the wallet, held on-chain, and its labels downloaded; after a second buyer pays in
tUSD (SDK), "My revenue" shows what the contract says is claimable, and claiming it through the
wallet pays exactly that amount in each currency."""

from __future__ import annotations

import json

from eth_account import Account
from playwright.sync_api import Page, expect
from web_support.page import (  # noqa: F401 - browser, database_url and settings are fixtures
    ANNOTATOR, Screenshots, browser, connect_and_sign_in, database_url, open_page, settings, wallet_context,
)

from labelshare.client import ETH, LabelShareClient

USD = 10**6
# Odd prices: each sale leaves rounding dust, and the page must show amounts to the last unit.
ETH_PRICE = 3 * 10**17 + 7
TUSD_PRICE = 250 * USD + 3
REQUESTER_SHARE_BPS = 1_500


def format_units(value: int, decimals: int) -> str:
    """viem's formatUnits: the decimal value without trailing zeros."""
    digits = str(value).rjust(decimals + 1, "0")
    whole, fraction = digits[: len(digits) - decimals] or "0", digits[len(digits) - decimals:].rstrip("0")
    return whole + (f".{fraction}" if fraction else "")


def _revenue_on_page(page: Page) -> dict:
    """The page's revenue view, as data: terms, prices, pools and sales."""
    return page.evaluate("""() => {
        const data = (selector) => [...document.querySelectorAll(selector)].map((node) => ({ ...node.dataset }));
        const terms = document.querySelector('[data-testid=licence-terms]').dataset;
        return {
            project: document.querySelector('[data-testid=licence-project]').dataset.projectId,
            fee_bps: terms.feeBps, requester_share_bps: terms.requesterShareBps,
            prices: data('[data-testid=licence-price]'),
            pools: data('[data-testid=revenue-pool]'),
            unsold: data('[data-testid=revenue-version]'),
            sales: data('[data-testid=licence-sale]'),
        };
    }""")


def _assert_page_shows(page: Page, revenue: dict) -> None:
    shown = _revenue_on_page(page)
    assert shown["project"] == str(revenue["project_id"])
    assert (shown["fee_bps"], shown["requester_share_bps"]) == (str(revenue["fee_bps"]), str(revenue["requester_share_bps"]))
    assert [(p["currency"], p["price"]) for p in shown["prices"]] == [(p["currency"], p["price"]) for p in revenue["prices"]]
    assert [(p["versionId"], p["currency"], p["contributed"], p["claimed"], p["claimable"], p["dust"]) for p in shown["pools"]] == \
        [(str(v["version_id"]), p["currency"], p["contributed"], p["claimed"], p["claimable"], p["dust"])
         for v in revenue["versions"] for p in v["pools"]]
    assert [u["versionId"] for u in shown["unsold"]] == [str(v["version_id"]) for v in revenue["versions"] if not v["pools"]]
    assert [(s["licenceId"], s["buyer"], s["currency"], s["price"], s["txHash"]) for s in shown["sales"]] == \
        [(str(s["licence_id"]), s["buyer"], s["currency"], s["price"], s["tx_hash"]) for s in revenue["sales"]]
    for pool in (p for v in revenue["versions"] for p in v["pools"]):  # amounts are shown to the last unit
        row = page.locator(f"[data-testid=revenue-pool][data-currency='{pool['currency']}']")
        expect(row.locator("[data-field=claimable]")).to_have_text(
            f"{format_units(int(pool['claimable']), pool['decimals'])} {pool['symbol']}")


def _show_project(page: Page, public, project_id: int) -> dict:
    """Shows the project's revenue on the page and checks it against the API's; returns the API's."""
    shown = page.get_by_test_id("licence-project")
    renders = shown.get_attribute("data-renders")
    page.get_by_test_id("licence-project-id").fill(str(project_id))
    page.get_by_test_id("show-licence-project").click()
    if renders is not None:
        expect(shown).not_to_have_attribute("data-renders", renders)  # the answer to this click is shown
    expect(shown).to_have_attribute("data-project-id", str(project_id))
    revenue = public.get(f"/projects/{project_id}/revenue").json()
    _assert_page_shows(page, revenue)
    return revenue


def _buy(page: Page, version_id: int, currency: str) -> None:
    page.get_by_test_id("buy-version").select_option(str(version_id))
    page.get_by_test_id("buy-currency").select_option(currency)
    page.get_by_test_id("buy-licence").click()


def _refresh_my_revenue(page: Page) -> None:
    with page.expect_response(lambda r: r.url.endswith("/me/revenue")):
        page.get_by_test_id("refresh-my-revenue").click()


def test_webLicences_revenueShown_boughtInEthThroughWallet_downloaded_claimedExactly(
        api, browser, chain, accounts, licences, stablecoin, guardian, make_project, requester_account, tmp_path):
    rpc_url = chain.provider.uri
    w3 = chain.provider.web3
    shot = Screenshots(tmp_path)
    assert accounts[9].address == ANNOTATOR
    tusd = stablecoin.address

    # Set-up through the SDK: three tasks, two labelled by the page's wallet and one by another
    # annotator, settled on-chain; a version of them; prices in ETH and tUSD.
    requester = LabelShareClient(api.url, requester_account)
    requester.sign_in()
    accounts[0].transfer(requester_account.address, 10**18)  # gas for setting the prices
    pid = make_project(tasks=3, overlap=1)["id"]
    me = LabelShareClient(api.url, Account.from_key(accounts[9].private_key))
    other = LabelShareClient(api.url, Account.create())
    for annotator, count in ((me, 2), (other, 1)):
        annotator.sign_in()
        for _ in range(count):
            annotator.submit(annotator.next_task(pid), {"label": "dog"})
    api.review()
    assert api.settler.run_once(force=True) is not None
    version_id = requester.publish_version(pid)["version_id"]
    requester.set_licence_terms(pid, price=ETH_PRICE, requester_share_bps=REQUESTER_SHARE_BPS)
    requester.set_licence_terms(pid, price=TUSD_PRICE, currency=tusd)
    assert requester.chain_info()["stablecoin"] == tusd

    context = wallet_context(browser, rpc_url, ANNOTATOR, "Test wallet (anvil #9)", "anvil")
    page = context.new_page()
    watch = open_page(page, api.url)
    connect_and_sign_in(page, ANNOTATOR)
    public = api.client()

    # The revenue view: the project is listed; its terms, prices and unsold version as the API says.
    page.get_by_test_id("tab-licences").click()
    page.get_by_test_id("licence-project-select").select_option(str(pid))
    expect(page.get_by_test_id("licence-project")).to_have_attribute("data-project-id", str(pid))
    revenue = _show_project(page, public, pid)
    assert revenue["requester_share_bps"] == REQUESTER_SHARE_BPS and len(revenue["prices"]) == 2
    assert [v["version_id"] for v in revenue["versions"]] == [version_id] and revenue["sales"] == []

    # A revert is named by the contract's custom error: sales are paused.
    licences.pause(sender=guardian)
    _buy(page, version_id, ETH)
    expect(page.get_by_test_id("buy-error")).to_contain_text("The contract refused: EnforcedPause()")
    licences.unpause(sender=guardian)
    # A wallet on another chain sends nothing; the page says to switch, and switching back works.
    page.evaluate("window.labelshareTestWallet.moveToChain(1)")
    expect(page.get_by_test_id("chain-warning")).to_be_visible()
    _buy(page, version_id, ETH)
    expect(page.get_by_test_id("buy-error")).to_contain_text("Your wallet is on chain 1")
    page.get_by_test_id("switch-chain").click()
    expect(page.get_by_test_id("chain-warning")).to_be_hidden()
    assert licences.licenceOf(ANNOTATOR, version_id) == 0

    # Buy in ETH through the wallet: the page reads the price, the wallet sends buyLicence.
    eth_before = w3.eth.get_balance(ANNOTATOR)
    _buy(page, version_id, ETH)
    result = page.get_by_test_id("buy-result")
    expect(result).to_be_visible()
    expect(page.get_by_test_id("buy-error")).to_be_hidden()
    licence_id = int(result.get_attribute("data-licence-id"))
    assert licence_id != 0 and licences.licenceOf(ANNOTATOR, version_id) == licence_id
    expect(page.get_by_test_id("bought-licence-id")).to_have_text(f"Licence #{licence_id}")
    tx_hash = result.get_attribute("data-tx-hash")
    expect(page.get_by_test_id("bought-tx-hash")).to_have_text(tx_hash)
    receipt = w3.eth.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    assert eth_before - w3.eth.get_balance(ANNOTATOR) == ETH_PRICE + receipt["gasUsed"] * receipt["effectiveGasPrice"]
    (sale,) = public.get(f"/projects/{pid}/revenue").json()["sales"]
    assert (sale["licence_id"], sale["tx_hash"], sale["price"]) == (licence_id, tx_hash, str(ETH_PRICE))

    # Download the licensed labels with the session's token: the version's records.
    with page.expect_download() as download:
        page.get_by_test_id("download-licensed").click()
    exported = download.value.path().read_text()
    assert download.value.suggested_filename == f"labelshare-project-{pid}-version-{version_id}.jsonl"
    assert exported == requester.export(pid, version=version_id)
    records = [json.loads(line) for line in exported.splitlines()]
    assert sorted(r["task_id"] for r in records) == ["t0", "t1", "t2"]
    assert {a["annotator"] for r in records for a in r["annotations"]} == {ANNOTATOR, other.address}
    expect(page.get_by_test_id("my-licence")).to_have_count(1)
    assert page.get_by_test_id("my-licence").get_attribute("data-licence-id") == str(licence_id)

    # Another buyer pays in tUSD through the SDK.
    buyer = LabelShareClient(api.url, Account.from_key(accounts[8].private_key))
    buyer.sign_in()
    stablecoin.mint(buyer.address, 1_000 * USD, sender=accounts[8])
    assert buyer.buy_licence(version_id, currency=tusd)["price"] == TUSD_PRICE
    revenue = _show_project(page, public, pid)
    assert {p["symbol"] for v in revenue["versions"] for p in v["pools"]} == {"ETH", "tUSD"}

    # My revenue: per currency, what the contract says the wallet can claim.
    _refresh_my_revenue(page)
    rows = page.get_by_test_id("my-revenue-row")
    expect(rows).to_have_count(2)
    mine = {r["currency"]: r for r in me.my_revenue()}
    claimable = {}
    for currency, symbol, decimals in ((ETH, "ETH", 18), (tusd, "tUSD", 6)):
        row = page.locator(f"[data-testid=my-revenue-row][data-currency='{currency}']")
        shares = int(mine[currency]["shares"])
        claimable[currency] = licences.claimable(version_id, currency, ANNOTATOR, shares)
        assert claimable[currency] > 0
        assert row.get_attribute("data-claimable") == str(claimable[currency]) == mine[currency]["claimable"]
        assert (row.get_attribute("data-shares"), row.get_attribute("data-claimed")) == (str(shares), "0")
        expect(row.locator("[data-field=claimable]")).to_have_text(f"{format_units(claimable[currency], decimals)} {symbol}")
    shot(page, "08-licences")

    # Claim each: the wallet's balance rises by exactly the claimable amount (for ETH, net of the
    # claim's gas), and the page then shows it claimed and nothing left.
    for currency in (tusd, ETH):
        balance = (lambda c=currency: stablecoin.balanceOf(ANNOTATOR) if c == tusd else w3.eth.get_balance(ANNOTATOR))
        before = balance()
        row = page.locator(f"[data-testid=my-revenue-row][data-currency='{currency}']")
        row.get_by_test_id("claim-revenue").click()
        claim = page.get_by_test_id("claim-result")
        expect(claim).to_have_attribute("data-currency", currency)
        expect(page.get_by_test_id("my-revenue-error")).to_be_hidden()
        receipt = w3.eth.get_transaction_receipt(claim.get_attribute("data-tx-hash"))
        assert receipt["status"] == 1 and receipt["from"] == ANNOTATOR
        gas = receipt["gasUsed"] * receipt["effectiveGasPrice"] if currency == ETH else 0
        assert balance() - before + gas == claimable[currency] == int(claim.get_attribute("data-amount"))
        expect(row).to_have_attribute("data-claimable", "0")
        assert row.get_attribute("data-claimed") == str(claimable[currency])
        expect(row.get_by_test_id("claim-revenue")).to_be_disabled()
        assert licences.claimable(version_id, currency, ANNOTATOR, int(mine[currency]["shares"])) == 0
    _show_project(page, public, pid)  # the pools' claimed and claimable moved as the page shows

    watch.check(api.url, rpc_url, f"blob:{api.url}")
    context.close()
    for client in (requester, me, other, buyer):
        client.close()
    public.close()
