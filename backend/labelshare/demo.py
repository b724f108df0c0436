"""``python -m labelshare.demo``: the run command's demo, through the live API as real clients.

A requester signs in and creates a project registered on-chain; three annotators sign in with
their wallets, take tasks, sign and submit labels (one of them disagrees once and is outvoted);
the settlement worker settles the epoch on-chain; the demo prints each annotator's accepted work,
rewards and on-chain balance. Then the dataset earns: the requester publishes the settled version
and prices it in ETH and in the test stablecoin, two buyers each buy a licence, one exports the
licensed labels, the annotators claim their pro-rata share and the requester withdraws theirs.
Last, the audit rebuilds every reward and every licence payment's split from chain data.

Wallets are anvil's published development accounts #4 (requester), #5-#7 (annotators) and #8-#9
(buyers), derived from anvil's public mnemonic: for a local chain only.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import httpx
import typer
from eth_account import Account
from rich.console import Console
from rich.table import Table
from web3 import HTTPProvider, Web3

from labelshare.audit import run_audit
from labelshare.client import LabelShareClient
from labelshare.config import get_settings
from labelshare.deployment import Deployment

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"  # public, local only
REVIEWS = [
    ("r1", "Absolutely loved it, would buy again.", "positive"),
    ("r2", "Broke after two days. Waste of money.", "negative"),
    ("r3", "Exceeded my expectations in every way.", "positive"),
    ("r4", "The worst customer service I have had.", "negative"),
    ("r5", "Works exactly as described, great value.", "positive"),
]
console = Console()


def dev_account(index: int) -> Any:
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def wait_for_api(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the API at {url} did not come up; see .run/api.log")


def main(api: str = "http://127.0.0.1:8000", timeout: float = 120.0) -> None:
    wait_for_api(api)
    requester = LabelShareClient(api, dev_account(4), siwe_domain=get_settings().siwe_domain)
    requester.sign_in()
    project = requester.create_project(
        name="Demo: is the review positive?", instructions="Read the review; is its sentiment positive or negative?",
        label_schema={"type": "classification", "labels": ["positive", "negative"]},
        reward_per_label=10**18, overlap=3)
    requester.upload_tasks(project["id"], "".join(json.dumps({"id": i, "data": {"text": t}}) + "\n"
                                                  for i, t, _ in REVIEWS))
    console.print(f"Project {project['id']} registered on-chain in tx {project['registered_tx']}")
    truth = {t: label for _, t, label in REVIEWS}

    annotators = [LabelShareClient(api, dev_account(i), siwe_domain=get_settings().siwe_domain) for i in (5, 6, 7)]
    for n, client in enumerate(annotators):
        client.sign_in()
        while (offer := client.next_task(project["id"])) is not None:
            label = truth[offer["data"]["text"]]
            if n == 2 and offer["data"]["text"] == REVIEWS[1][1]:
                label = "positive"  # the third annotator gets one wrong and is outvoted
            client.submit(offer, {"label": label})
        console.print(f"{client.account.address} submitted {len(client.submissions())} signed labels")

    console.print("Waiting for the review pass (Dawid–Skene) and the settlement on-chain...")
    deadline = time.monotonic() + timeout
    # Done when every label is decided (the review pass) and every accepted one settled.
    while any(c.rewards()["pending_annotations"] or any(s["status"] == "pending" for s in c.submissions())
              for c in annotators):
        if time.monotonic() > deadline:
            raise SystemExit("settlement did not finish in time; see .run/api.log")
        time.sleep(0.5)

    settings = get_settings()
    deployment = Deployment.load(settings.deployment_file)
    w3 = Web3(HTTPProvider(settings.rpc_url))
    token = w3.eth.contract(address=deployment.address("token"), abi=deployment.abi("token"))
    ledger = w3.eth.contract(address=deployment.address("ledger"), abi=deployment.abi("ledger"))
    table = Table(title=f"Project {project['id']}: rewards")
    for column in ("annotator", "accepted", "rejected", "settled (LSR)", "on-chain balance (LSR)", "settle tx"):
        table.add_column(column)
    for client in annotators:
        subs = [s for s in client.submissions() if s["project_id"] == project["id"]]
        rewards = client.rewards()
        txs = sorted({tx for e in rewards["epochs"] for tx in e["tx_hashes"]})
        table.add_row(client.account.address, str(sum(s["status"] == "accepted" for s in subs)),
                      str(sum(s["status"] == "rejected" for s in subs)), f"{int(rewards['settled']) / 1e18:g}",
                      f"{token.functions.balanceOf(client.account.address).call() / 1e18:g}",
                      txs[-1][:18] + "..." if txs else "-")
    console.print(table)

    def from_api(epoch_id: int) -> dict[str, Any] | None:
        response = httpx.get(f"{api}/epochs/{epoch_id}/manifest", timeout=60)
        return response.json() if response.status_code == 200 else None

    licence_demo(api, requester, annotators, project["id"], w3, deployment)

    licences = w3.eth.contract(address=deployment.address("licences"), abi=deployment.abi("licences"))
    report = run_audit(w3, ledger, token, deployment.block_number, from_api, sample=5, licences=licences)
    console.print(f"Audit of {report.epochs} epoch(s), {report.annotations} annotations, {report.revenue_versions} "
                  f"dataset version(s) and {report.licences_sold} licence(s): total supply "
                  f"{report.total_supply / 1e18:g} LSR = minted rewards {report.minted / 1e18:g} LSR; every licence "
                  "payment = fee + requester share + claimed + claimable (within the dust bound); "
                  + ("[bold green]clean[/]" if report.ok else "[bold red]FAILED[/]"))
    for check in report.checks:
        if not check.ok:
            console.print(f"  [red]{check.name}[/]: {check.detail}")
    sys.exit(0 if report.ok else 1)




def licence_demo(api: str, requester: LabelShareClient, annotators: list[LabelShareClient], project_id: int,
                 w3: Web3, deployment: Deployment) -> None:
    """Publish the settled dataset, sell two licences (ETH and tUSD), export, claim, withdraw."""
    version = requester.publish_version(project_id)
    console.print(f"Dataset version {version['version_id']} published: epochs {version['from_epoch']}-"
                  f"{version['to_epoch']}, contributors' shares root {version['shares_root'][:18]}...")
    tusd = deployment.address("stablecoin")
    requester.set_licence_terms(project_id, price=3 * 10**17, requester_share_bps=2_000)  # 0.3 ETH, 20% to me
    requester.set_licence_terms(project_id, price=150 * 10**6, currency=tusd)  # 150 tUSD
    buyers = [LabelShareClient(api, dev_account(i), siwe_domain=get_settings().siwe_domain) for i in (8, 9)]
    for b in buyers:
        b.sign_in()
    stablecoin = w3.eth.contract(address=tusd, abi=deployment.abi("stablecoin"))
    minter = buyers[1]
    tx = stablecoin.functions.mint(minter.address, 150 * 10**6).build_transaction(
        {"from": minter.address, "nonce": w3.eth.get_transaction_count(minter.address, "pending")})
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(minter.account.sign_transaction(tx).raw_transaction))
    sold = [buyers[0].buy_licence(version["version_id"]), buyers[1].buy_licence(version["version_id"], tusd)]
    for b, s in zip(buyers, sold, strict=True):
        console.print(f"{b.address} bought licence {s['licence_id']} (tx {s['tx_hash'][:18]}...)")
    labels = buyers[0].export(project_id, version=version["version_id"]).splitlines()
    console.print(f"The ETH buyer exported the licensed version: {len(labels)} verified labels, each with its "
                  "on-chain annotations")

    table = Table(title=f"Project {project_id}: licence revenue claimed by its contributors")
    for column in ("annotator", "shares", "claimed", "claim tx"):
        table.add_column(column)
    for client in annotators:
        rows = client.my_revenue()
        share = f"{int(rows[0]['shares']) * 100 / int(rows[0]['total_shares']):.1f}%" if rows else "0%"
        paid = client.claim_revenue()
        table.add_row(client.address, share, ", ".join(
            f"{int(p['amount']) / 10 ** p['decimals']:.6g} {p['symbol']}" for p in paid) or "-",
            paid[-1]["tx_hash"][:18] + "..." if paid else "-")
    console.print(table)
    eth, usd = requester.withdraw_revenue(), requester.withdraw_revenue(tusd)
    console.print(f"The requester withdrew its 20%: {eth / 1e18:g} ETH and {usd / 1e6:g} tUSD; the protocol's 5% fee "
                  "waits for the timelock.")
    for b in buyers:
        b.close()


if __name__ == "__main__":
    typer.run(main)
