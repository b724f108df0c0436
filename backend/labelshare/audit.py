"""The audit: rebuilds every reward from chain data and the published manifests.

From the ledger's and the token's events alone (no database) it checks, for every epoch:
the manifest's root, chain and ledger match the chain; every leaf recomputes from its fields;
the tree rebuilds to the on-chain root with the on-chain leaf count; every proof verifies
off-chain and a random sample verifies on-chain (``verifyAnnotation``); per (annotator, project)
the manifest's sums equal the ``AnnotatorRewarded`` events; the epoch's minted total equals its
payouts. Then, globally: no payout outside an opened epoch, no epoch settled twice, and the
token's total supply equals the sum of all minted rewards and of all mint transfers.

With the ``DatasetLicences`` contract it audits revenue too (``_audit_revenue``): every dataset
version's shares root rebuilds from the ledger's ``AnnotatorRewarded`` events over settled epochs;
every sale splits exactly and within the caps; per version and currency the revenue-per-share
accumulator recomputes from the sales, claims add up, and payments in = fees + requester shares +
claimed + claimable + dust with the dust within its bound (one unit per sale plus one per
contributor); credited balances minus withdrawals equal what is owed; and the contract holds at
least everything it owes.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from labelshare.chain import event_logs as _logs
from labelshare.leaves import AcceptedAnnotation, annotation_leaf
from labelshare.licences import SCALE, VersionShares, contributor_shares
from labelshare.merkle import MerkleTree, verify_proof

__all__ = ["AuditReport", "Check", "run_audit"]

ZERO = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class AuditReport:
    checks: list[Check] = field(default_factory=list)
    epochs: int = 0
    annotations: int = 0
    minted: int = 0
    total_supply: int = 0
    proofs_checked_on_chain: int = 0
    revenue_versions: int = 0  # dataset versions audited
    licences_sold: int = 0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, bool(ok), detail))
        return bool(ok)


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def run_audit(w3: Any, ledger: Any, token: Any, from_block: int,
              manifests: Callable[[int], dict[str, Any] | None], sample: int = 20,
              rng: random.Random | None = None, licences: Any | None = None) -> AuditReport:
    """Audits the deployment whose contracts are ``ledger``/``token`` (and ``licences``, if
    given), web3 contract objects."""
    rng = rng or random.Random()
    report = AuditReport()
    head = w3.eth.block_number
    opened = {e["args"]["epochId"]: e["args"] for e in _logs(ledger.events.EpochOpened, from_block, head)}
    settled_events = _logs(ledger.events.EpochSettled, from_block, head)
    rewarded = _logs(ledger.events.AnnotatorRewarded, from_block, head)
    mints = _logs(token.events.Transfer, from_block, head, **{"from": ZERO})

    settled = Counter(e["args"]["epochId"] for e in settled_events)
    twice = [f"epoch {k} settled {n} times" for k, n in sorted(settled.items()) if n != 1]
    report.check("no epoch settled twice", not twice, ", ".join(twice) or f"{len(settled)} epoch(s), each settled once")
    minted_by_epoch = {e["args"]["epochId"]: e["args"]["minted"] for e in settled_events}
    payouts_by_epoch: dict[int, Counter[tuple[str, int]]] = defaultdict(Counter)
    counts_by_epoch: dict[int, Counter[tuple[str, int]]] = defaultdict(Counter)
    for e in rewarded:
        key = (to_checksum_address(e["args"]["annotator"]), e["args"]["projectId"])
        payouts_by_epoch[e["args"]["epochId"]][key] += e["args"]["amount"]
        counts_by_epoch[e["args"]["epochId"]][key] += e["args"]["annotations"]
    orphans = sorted(set(payouts_by_epoch) - set(opened))
    report.check("every payout belongs to an opened epoch", not orphans,
                 f"payouts in epochs never opened: {orphans}" if orphans
                 else f"{len(rewarded)} payout(s), all in opened epochs")

    for epoch_id in sorted(opened):
        _audit_epoch(report, ledger, epoch_id, opened[epoch_id], epoch_id in settled, minted_by_epoch.get(epoch_id),
                     payouts_by_epoch[epoch_id], counts_by_epoch[epoch_id], manifests, sample, rng, w3)

    report.total_supply = token.functions.totalSupply().call()
    report.minted = sum(e["args"]["amount"] for e in rewarded)
    minted_transfers = sum(e["args"]["value"] for e in mints)
    report.check("total supply equals the sum of rewards minted by the ledger",
                 report.total_supply == report.minted == minted_transfers,
                 f"supply {report.total_supply}, rewards {report.minted}, mint transfers {minted_transfers}")
    if licences is not None:
        _audit_revenue(report, w3, ledger, licences, token, from_block, head, rewarded, set(settled))
    return report


def _audit_epoch(report: AuditReport, ledger: Any, epoch_id: int, header: Any, is_settled: bool,
                 minted: int | None, payouts: Counter[tuple[str, int]], counts: Counter[tuple[str, int]],
                 manifests: Callable[[int], dict[str, Any] | None], sample: int, rng: random.Random, w3: Any) -> None:
    name = f"epoch {epoch_id}"
    report.epochs += 1
    if not is_settled:
        report.check(f"{name}: settlement in progress", True, "not all chunks are settled yet; skipped")
        return
    manifest = manifests(epoch_id)
    if manifest is None:
        report.check(f"{name}: manifest published", False, "no manifest found")
        return
    report.check(f"{name}: manifest published", True, f"{len(manifest['leaves'])} leaves")
    root = _hex(header["root"])
    named = (manifest["chain_id"], manifest["ledger"].lower(), manifest["root"])
    actual = (w3.eth.chain_id, ledger.address.lower(), root)
    report.check(f"{name}: manifest names this chain, ledger and root", named == actual,
                 f"chain {actual[0]}, ledger {ledger.address}, root {root}" if named == actual
                 else f"manifest: chain {named[0]}, ledger {named[1]}, root {named[2]}; "
                      f"on-chain: chain {actual[0]}, ledger {actual[1]}, root {root}")
    annotations, leaves, bad_leaves = [], [], 0
    for entry in manifest["leaves"]:
        a = AcceptedAnnotation(entry["annotator"], int(entry["project_id"]), bytes.fromhex(entry["task_id"][2:]),
                               bytes.fromhex(entry["label_hash"][2:]), int(entry["reward"]))
        leaf = annotation_leaf(epoch_id, a)
        bad_leaves += _hex(leaf) != entry["leaf"]
        annotations.append(a)
        leaves.append(leaf)
    report.annotations += len(leaves)
    report.check(f"{name}: every leaf recomputes from its fields", bad_leaves == 0,
                 f"{len(leaves) - bad_leaves} of {len(leaves)} leaves recompute")
    tree = MerkleTree(leaves) if leaves and len(set(leaves)) == len(leaves) else None
    report.check(f"{name}: tree rebuilds to the on-chain root with {header['annotations']} leaves",
                 tree is not None and _hex(tree.root) == root and len(leaves) == header["annotations"],
                 f"rebuilt {_hex(tree.root) if tree else 'nothing'} from {len(leaves)} leaves")
    bad_proofs = sum(not verify_proof(leaf, [bytes.fromhex(p[2:]) for p in entry["proof"]], bytes.fromhex(root[2:]))
                     for leaf, entry in zip(leaves, manifest["leaves"], strict=True))
    report.check(f"{name}: every published proof verifies", bad_proofs == 0,
                 f"{len(leaves) - bad_proofs} of {len(leaves)} proofs verify")
    picks = rng.sample(range(len(leaves)), min(sample, len(leaves)))
    on_chain = sum(bool(ledger.functions.verifyAnnotation(
        epoch_id, annotations[i].as_tuple(), [bytes.fromhex(p[2:]) for p in manifest["leaves"][i]["proof"]]).call())
        for i in picks)
    report.proofs_checked_on_chain += len(picks)
    report.check(f"{name}: {len(picks)} sampled proofs verify on-chain", on_chain == len(picks),
                 f"the ledger verifies {on_chain} of {len(picks)}")
    expected_amounts: Counter[tuple[str, int]] = Counter()
    expected_counts: Counter[tuple[str, int]] = Counter()
    for a in annotations:
        key = (to_checksum_address(a.annotator), a.project_id)
        expected_amounts[key] += a.reward
        expected_counts[key] += 1
    same = _same(expected_amounts, payouts) and _same(expected_counts, counts)
    report.check(f"{name}: payouts on-chain equal the manifest's per annotator and project", same,
                 f"{len(expected_amounts)} (annotator, project) payout(s) match" if same
                 else _diff(expected_amounts, payouts) or _diff(expected_counts, counts))
    report.check(f"{name}: minted equals the manifest's total",
                 minted == sum(expected_amounts.values()) == int(manifest["total_reward"]),
                 f"minted {minted}, manifest {manifest['total_reward']}")


def _audit_revenue(report: AuditReport, w3: Any, ledger: Any, licences: Any, token: Any, from_block: int, head: int,
                   rewarded: list[Any], settled: set[int]) -> None:
    fn = licences.functions
    versions = {e["args"]["versionId"]: e["args"] for e in _logs(licences.events.VersionPublished, from_block, head)}
    sales = [e["args"] for e in _logs(licences.events.LicencePurchased, from_block, head)]
    claims = [e["args"] for e in _logs(licences.events.RevenueClaimed, from_block, head)]
    withdrawals = [e["args"] for e in _logs(licences.events.Withdrawn, from_block, head)]
    treasuries = {e["args"]["newTreasury"] for e in _logs(licences.events.TreasuryChanged, from_block, head)}
    report.revenue_versions, report.licences_sold = len(versions), len(sales)

    shares: dict[int, VersionShares] = {}
    for vid, v in sorted(versions.items()):
        first, last = v["fromEpoch"], v["toEpoch"]
        unsettled = sorted({e["args"]["epochId"] for e in rewarded if e["args"]["projectId"] == v["projectId"]
                            and first <= e["args"]["epochId"] <= last} - settled)
        rebuilt = VersionShares(v["projectId"], first, last, contributor_shares(rewarded, v["projectId"], first, last))
        shares[vid] = rebuilt
        report.check(f"version {vid}: shares rebuild from settled rewards of project {v['projectId']}, "
                     f"epochs {first}-{last}",
                     not unsettled and bool(rebuilt.shares) and rebuilt.tree.root == bytes(v["sharesRoot"])
                     and rebuilt.total == v["totalShares"],
                     (f"unsettled epochs {unsettled}; " if unsettled else "")
                     + f"{len(rebuilt.shares)} contributor(s), rebuilt total {rebuilt.total}, published "
                     f"{v['totalShares']}; rebuilt root {rebuilt.root if rebuilt.shares else 'none'}, "
                     f"published {_hex(v['sharesRoot'])}")

    max_fee, max_requester = fn.MAX_FEE_BPS().call(), fn.MAX_REQUESTER_SHARE_BPS().call()
    bad_splits = [s["licenceId"] for s in sales
                  if s["fee"] + s["requesterAmount"] + s["contributorsAmount"] != s["price"]
                  or s["fee"] * 10_000 > s["price"] * max_fee or s["requesterAmount"] * 10_000 > s["price"] * max_requester]
    report.check("every sale splits into fee + requester + contributors, within the caps", not bad_splits,
                 f"licences {bad_splits} do not" if bad_splits else f"{len(sales)} sale(s) split exactly")

    paid_in: Counter[str] = Counter()
    accounted: Counter[str] = Counter()  # fees + requester shares + claimed + claimable
    dust_total: Counter[str] = Counter()
    for vid, cur in sorted({(s["versionId"], s["currency"]) for s in sales}):
        name = f"version {vid} in {_currency_name(cur)}"
        pool_sales = [s for s in sales if s["versionId"] == vid and s["currency"] == cur]
        per_share = sum(s["contributorsAmount"] * SCALE // versions[vid]["totalShares"] for s in pool_sales)
        contributed = sum(s["contributorsAmount"] for s in pool_sales)
        claimed_by: Counter[str] = Counter()
        for c in claims:
            if c["versionId"] == vid and c["currency"] == cur:
                claimed_by[to_checksum_address(c["annotator"])] += c["amount"]
        revenue_per_share, pool_contributed, pool_claimed = fn.pool(vid, cur).call()
        report.check(f"{name}: the pool recomputes from its {len(pool_sales)} sales and the claims",
                     (revenue_per_share, pool_contributed, pool_claimed) == (per_share, contributed,
                                                                             sum(claimed_by.values())),
                     f"pool ({revenue_per_share}, {pool_contributed}, {pool_claimed}), "
                     f"events ({per_share}, {contributed}, {sum(claimed_by.values())})")
        book = shares.get(vid)
        entitled = {a: n * per_share // SCALE for a, n in (book.shares.items() if book else ())}
        over = [a for a, amount in claimed_by.items() if amount > entitled.get(a, 0)]
        report.check(f"{name}: nobody claimed more than their shares earned", not over,
                     f"over-claimed: {over}" if over else f"{len(claimed_by)} claimant(s) within their shares")
        claimable = sum(max(entitled[a] - claimed_by[a], 0) for a in entitled)
        dust = contributed - sum(claimed_by.values()) - claimable
        bound = len(pool_sales) + len(entitled)
        report.check(f"{name}: contributors' revenue = claimed + claimable + dust, dust {dust} <= {bound}",
                     0 <= dust <= bound, f"contributed {contributed}, claimed {sum(claimed_by.values())}, "
                     f"claimable {claimable}")
        paid_in[cur] += sum(s["price"] for s in pool_sales)
        accounted[cur] += sum(s["fee"] + s["requesterAmount"] for s in pool_sales) + sum(claimed_by.values()) + claimable
        dust_total[cur] += dust
    for cur in sorted(paid_in):
        report.check(f"{_currency_name(cur)}: payments in {paid_in[cur]} = fees + requester shares + claimed + "
                     f"claimable, within dust {dust_total[cur]}", paid_in[cur] - accounted[cur] == dust_total[cur],
                     f"paid in {paid_in[cur]}, accounted for {accounted[cur]}, dust {dust_total[cur]}")

    credited: Counter[str] = Counter()
    for s in sales:
        credited[s["currency"]] += s["fee"] + s["requesterAmount"]
    drawn: Counter[str] = Counter()
    for w in withdrawals:
        drawn[w["currency"]] += w["amount"]
    owners = {to_checksum_address(ledger.functions.project(pid).call()[0]) for pid in {s["projectId"] for s in sales}}
    for cur in sorted(set(credited) | set(drawn)):
        owed = sum(fn.owed(a, cur).call() for a in treasuries | owners | {fn.treasury().call()})
        report.check(f"{_currency_name(cur)}: fees and requester shares credited - withdrawn = owed",
                     credited[cur] - drawn[cur] == owed,
                     f"credited {credited[cur]}, withdrawn {drawn[cur]}, owed {owed}")
        outstanding = owed + sum(s["contributorsAmount"] for s in sales if s["currency"] == cur) - sum(
            c["amount"] for c in claims if c["currency"] == cur)
        held = w3.eth.get_balance(licences.address) if int(cur, 16) == 0 else w3.eth.contract(
            address=cur, abi=token.abi).functions.balanceOf(licences.address).call()
        report.check(f"{_currency_name(cur)}: the contract holds what it owes", held >= outstanding,
                     f"holds {held}, owes {outstanding}")


def _currency_name(currency: str) -> str:
    return "ETH" if int(currency, 16) == 0 else currency


def _same(a: Counter[Any], b: Counter[Any]) -> bool:
    return {k: v for k, v in a.items() if v} == {k: v for k, v in b.items() if v}


def _diff(expected: Counter[Any], actual: Counter[Any]) -> str:
    keys: Iterable[Any] = sorted(set(expected) | set(actual))
    return "; ".join(f"{k}: manifest {expected.get(k, 0)}, chain {actual.get(k, 0)}"
                     for k in keys if expected.get(k, 0) != actual.get(k, 0))[:500]
