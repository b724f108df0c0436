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
from typing import Annotated, Any

import httpx
import typer
from eth_account import Account
from rich.table import Table

from labelshare.audit import run_audit
from labelshare.cli.common import console
from labelshare.client import LabelShareClient, human_amount
from labelshare.deployment import DEFAULT_ABI_SOURCE, PROJECT_ROOT, load_abi, run_dir

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"  # public, local only
REVIEWS = [
    ("r1", "Absolutely loved it, would buy again.", "positive"),
    ("r2", "Broke after two days. Waste of money.", "negative"),
    ("r3", "Exceeded my expectations in every way.", "positive"),
    ("r4", "The worst customer service I have had.", "negative"),
    ("r5", "Works exactly as described, great value.", "positive"),
]


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
    raise SystemExit(f"the API at {url} did not come up; see {run_dir() / 'api.log'}")


def connect(api: str, index: int, rpc_url: str | None) -> LabelShareClient:
    """Anvil's development account ``index``, signed in to the API, reading the chain at ``rpc_url``
    (default: the one the API names)."""
    client = LabelShareClient(api, dev_account(index))
    client.sign_in()
    client.chain_reader(rpc_url)
    return client


def main(api: str = "http://127.0.0.1:8000", rpc_url: Annotated[str | None, typer.Option(
        help="the chain's RPC URL [default: the one the API names]")] = None, timeout: float = 120.0) -> None:
    api = api.rstrip("/")
    wait_for_api(api)
    requester = connect(api, 4, rpc_url)
    project = requester.create_project(
        name="Demo: is the review positive?", instructions="Read the review; is its sentiment positive or negative?",
        label_schema={"type": "classification", "labels": ["positive", "negative"]},
        reward_per_label=10**18, overlap=3)
    requester.upload_tasks(project["id"], "".join(json.dumps({"id": i, "data": {"text": t}}) + "\n"
                                                  for i, t, _ in REVIEWS))
    console.print(f"Project {project['id']} registered on-chain in tx {project['registered_tx']}")
    truth = {t: label for _, t, label in REVIEWS}

    annotators = [connect(api, i, rpc_url) for i in (5, 6, 7)]
    for n, client in enumerate(annotators):
        while (offer := client.next_task(project["id"])) is not None:
            label = truth[offer["data"]["text"]]
            if n == 2 and offer["data"]["text"] == REVIEWS[1][1]:
                label = "positive"  # the third annotator gets one wrong and is outvoted
            client.submit(offer, {"label": label})
        console.print(f"{client.address} submitted {len(this_run(client, project['id']))} signed labels")

    console.print("Waiting for the review pass (Dawid–Skene) and the settlement on-chain...")
    deadline = time.monotonic() + timeout
    # Done when every label of this run is decided (the review pass) and every accepted one settled.
    while any(unfinished(client, project["id"]) for client in annotators):
        if time.monotonic() > deadline:
            raise SystemExit(f"settlement did not finish in time; see {run_dir() / 'api.log'}")
        time.sleep(0.5)

    reader = requester.chain_reader()
    console.print(rewards_table(project["id"], annotators, reader.token))

    def from_api(epoch_id: int) -> dict[str, Any] | None:
        response = httpx.get(f"{api}/epochs/{epoch_id}/manifest", timeout=60)
        return response.json() if response.status_code == 200 else None

    licence_demo(api, rpc_url, requester, annotators, project["id"])

    report = run_audit(reader.w3, reader.ledger, reader.token, reader.deployment_block, from_api, sample=5,
                       licences=reader.licences)
    console.print(f"Audit of {report.epochs} epoch(s), {report.annotations} annotations, {report.revenue_versions} "
                  f"dataset version(s) and {report.licences_sold} licence(s): total supply "
                  f"{human_amount(report.total_supply)} LSR = minted rewards {human_amount(report.minted)} LSR; every "
                  "licence payment = fee + requester share + claimed + claimable (within the dust bound); "
                  + ("[bold green]clean[/]" if report.ok else "[bold red]FAILED[/]"))
    for check in report.checks:
        if not check.ok:
            console.print(f"  [red]{check.name}[/]: {check.detail}")
    sys.exit(0 if report.ok else 1)


def this_run(client: LabelShareClient, project_id: int) -> list[dict[str, Any]]:
    """The client's submissions to this run's project (its wallet may hold earlier runs' too)."""
    return [s for s in client.submissions(limit=1000) if s["project_id"] == project_id]


def settled_epochs(client: LabelShareClient) -> dict[int, list[str]]:
    """The client's settled epochs (the most recent) and the transactions that paid it in each."""
    return {e["epoch_id"]: e["tx_hashes"] for e in client.rewards()["epochs"] if e["status"] == "settled"}


def unfinished(client: LabelShareClient, project_id: int) -> bool:
    """Whether a label of this run is undecided (the review pass) or accepted and not settled yet."""
    settled = settled_epochs(client)
    return any(s["status"] == "pending" or (s["status"] == "accepted" and s["epoch_id"] not in settled)
               for s in this_run(client, project_id))


def rewards_table(project_id: int, annotators: list[LabelShareClient], token: Any) -> Table:
    """Each annotator's work in this run's project, what it earned and the transactions of the
    epochs that settled it; the balance is the wallet's, over every run."""
    table = Table(title=f"Project {project_id}: rewards")
    for column in ("annotator", "accepted", "rejected", "earned (LSR)", "wallet balance, all runs (LSR)",
                   "settled in"):
        table.add_column(column)
    for client in annotators:
        subs = this_run(client, project_id)
        accepted = [s for s in subs if s["status"] == "accepted"]
        paid_in = settled_epochs(client)
        table.add_row(client.address, str(len(accepted)), str(sum(s["status"] == "rejected" for s in subs)),
                      human_amount(sum(int(s["reward"]) for s in accepted)),
                      human_amount(token.functions.balanceOf(client.address).call()),
                      "\n".join(f"epoch {e}: {tx}" for e in sorted({s["epoch_id"] for s in accepted})
                                for tx in paid_in[e]) or "-")
    return table


def licence_demo(api: str, rpc_url: str | None, requester: LabelShareClient, annotators: list[LabelShareClient],
                 project_id: int) -> None:
    """Publish the settled dataset, sell two licences (ETH and tUSD), export, claim, withdraw."""
    version = requester.publish_version(project_id)
    console.print(f"Dataset version {version['version_id']} published: epochs {version['from_epoch']}-"
                  f"{version['to_epoch']}, contributors' shares root {version['shares_root']}")
    tusd = requester.chain_info()["stablecoin"]
    requester.set_licence_terms(project_id, price=3 * 10**17, requester_share_bps=2_000)  # 0.3 ETH, 20% to me
    requester.set_licence_terms(project_id, price=150 * 10**6, currency=tusd)  # 150 tUSD
    buyers = [connect(api, i, rpc_url) for i in (8, 9)]
    w3 = requester.chain_reader().w3
    stablecoin = w3.eth.contract(address=tusd, abi=load_abi(PROJECT_ROOT / DEFAULT_ABI_SOURCE, "TestStablecoin"))
    minter = buyers[1]
    tx = stablecoin.functions.mint(minter.address, 150 * 10**6).build_transaction(
        {"from": minter.address, "nonce": w3.eth.get_transaction_count(minter.address, "pending")})
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(minter.account.sign_transaction(tx).raw_transaction))
    sold = [buyers[0].buy_licence(version["version_id"]), buyers[1].buy_licence(version["version_id"], tusd)]
    for b, s in zip(buyers, sold, strict=True):
        console.print(f"{b.address} bought licence {s['licence_id']} (tx {s['tx_hash']})")
    labels = buyers[0].export(project_id, version=version["version_id"]).splitlines()
    console.print(f"The ETH buyer exported the licensed version: {len(labels)} verified labels, each with its "
                  "on-chain annotations")

    table = Table(title=f"Project {project_id}: licence revenue claimed by its contributors")
    for column in ("annotator", "shares", "claimed", "claim tx"):
        table.add_column(column)
    for client in annotators:
        rows = [r for r in client.my_revenue() if r["version_id"] == version["version_id"]]
        share = f"{int(rows[0]['shares']) * 100 / int(rows[0]['total_shares']):.1f}%" if rows else "0%"
        paid = client.claim_revenue(version["version_id"])
        table.add_row(client.address, share, ", ".join(
            f"{human_amount(p['amount'], p['decimals'])} {p['symbol']}" for p in paid) or "-",
            "\n".join(p["tx_hash"] for p in paid) or "-")
    console.print(table)
    eth, usd = requester.withdraw_revenue(), requester.withdraw_revenue(tusd)
    console.print(f"The requester withdrew its 20%: {human_amount(eth)} ETH and {human_amount(usd, 6)} tUSD; the "
                  "protocol's 5% fee waits for the timelock.")
    for b in buyers:
        b.close()


if __name__ == "__main__":
    typer.run(main)
