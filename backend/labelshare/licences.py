"""Dataset licences and revenue sharing, read from the chain (``DatasetLicences``).

A dataset version of a project is a range of settled ledger epochs. Its contributors' shares are
their settled rewards in that project over the range, summed from the ledger's
``AnnotatorRewarded`` events (the chain is the source of truth, not the database), and committed
on-chain as a Merkle root over ``(annotator, shares)`` leaves (OpenZeppelin's standard leaf, the
same tree as the epochs'). Everything here is recomputed from events, so the API, the CLI and the
audit agree with anyone who reads the chain. Versions never change once published, so their
shares are cached per process.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from eth_hash.auto import keccak
from eth_utils import to_canonical_address, to_checksum_address

from labelshare.chain import Chain, event_logs
from labelshare.errors import ChainError, Conflict, NotFound
from labelshare.merkle import MerkleTree

__all__ = [
    "ETH", "SCALE", "LicenceBook", "VersionShares", "contributor_shares", "licensable_range", "share_leaf",
]

ETH = "0x0000000000000000000000000000000000000000"  # DatasetLicences' currency id for ether
SCALE = 10**36  # DatasetLicences' revenue-per-share scale
_CACHED_VERSIONS = 256


def share_leaf(annotator: str, shares: int) -> bytes:
    """``DatasetLicences.shareLeaf``: keccak256(keccak256(abi.encode(annotator, shares)))."""
    return keccak(keccak(to_canonical_address(annotator).rjust(32, b"\0") + shares.to_bytes(32, "big")))


@dataclass(frozen=True)
class VersionShares:
    """The contributors of a dataset version and their shares."""

    project_id: int
    from_epoch: int
    to_epoch: int
    shares: dict[str, int]  # checksummed annotator -> settled rewards in the range

    @cached_property
    def tree(self) -> MerkleTree:
        return MerkleTree([share_leaf(a, s) for a, s in self.shares.items()])

    @property
    def root(self) -> str:
        return "0x" + self.tree.root.hex()

    @property
    def total(self) -> int:
        return sum(self.shares.values())

    def proof(self, annotator: str) -> list[str] | None:
        """The proof of ``annotator``'s leaf, or None if they are not a contributor."""
        annotator = to_checksum_address(annotator)
        if annotator not in self.shares:
            return None
        return ["0x" + p.hex() for p in self.tree.proof(share_leaf(annotator, self.shares[annotator]))]


def contributor_shares(rewarded: list[Any], project_id: int, from_epoch: int, to_epoch: int) -> dict[str, int]:
    """Each annotator's rewards in ``project_id`` over epochs ``from_epoch``..``to_epoch``, from
    ``AnnotatorRewarded`` logs (zero rewards give no share)."""
    shares: Counter[str] = Counter()
    for e in rewarded:
        args = e["args"]
        if args["projectId"] == project_id and from_epoch <= args["epochId"] <= to_epoch:
            shares[to_checksum_address(args["annotator"])] += args["amount"]
    return {a: s for a, s in sorted(shares.items()) if s}


def licensable_range(rewarded: list[Any], settled_epochs: set[int], project_id: int) -> tuple[int, int]:
    """The epoch range of the project's next version: from its first rewarded epoch to its last
    rewarded epoch before the first epoch that is not fully settled (so no share is missing)."""
    epochs = sorted({e["args"]["epochId"] for e in rewarded
                     if e["args"]["projectId"] == project_id and e["args"]["amount"]})
    settled_prefix = 0
    while settled_prefix + 1 in settled_epochs:
        settled_prefix += 1
    covered = [e for e in epochs if e <= settled_prefix]
    if not covered:
        raise Conflict(f"project {project_id} has no settled rewards yet: nothing to license", field="project_id")
    return covered[0], covered[-1]


@dataclass
class LicenceBook:
    """Reads versions, licences and revenue of one deployment, caching versions' shares."""

    chain: Chain
    _shares: dict[int, VersionShares] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def contract(self) -> Any:
        if self.chain.licences is None:
            raise ChainError("this deployment has no DatasetLicences contract: redeploy (`make up`)")
        return self.chain.licences

    def _logs(self, event: Any, **filters: Any) -> list[Any]:
        return event_logs(event, self.chain.deployment.block_number, self.chain.w3.eth.block_number, **filters)

    # ---------------------------------------------------------------- versions

    def plan_version(self, project_id: int) -> VersionShares:
        """The shares the project's next version would commit to."""
        rewarded = self._logs(self.chain.ledger.events.AnnotatorRewarded, projectId=project_id)
        settled = {e["args"]["epochId"] for e in self._logs(self.chain.ledger.events.EpochSettled)}
        first, last = licensable_range(rewarded, settled, project_id)
        return VersionShares(project_id, first, last, contributor_shares(rewarded, project_id, first, last))

    def publish_version(self, project_id: int) -> dict[str, Any]:
        """Publishes the project's next version with the verifier key; returns it."""
        planned = self.plan_version(project_id)
        latest = self.contract.functions.latestVersion(project_id).call()
        if latest:
            current = self.version(latest)
            if (current["from_epoch"], current["to_epoch"]) == (planned.from_epoch, planned.to_epoch):
                raise Conflict(f"version {latest} already covers epochs {planned.from_epoch}-{planned.to_epoch}: "
                               "nothing new has settled since", field="project_id")
        receipt = self.chain.transact("verifier", self.contract.functions.publishVersion(
            project_id, planned.from_epoch, planned.to_epoch, planned.tree.root, planned.total))
        event = self.contract.events.VersionPublished().process_receipt(receipt)[0]
        version_id = event["args"]["versionId"]
        with self._lock:
            self._shares[version_id] = planned
        return self.version(version_id) | {"tx_hash": "0x" + bytes(receipt["transactionHash"]).hex()}

    def version(self, version_id: int) -> dict[str, Any]:
        """A published version as stored on-chain; NotFound for an unknown id."""
        if not 1 <= version_id <= self.contract.functions.versionCount().call():
            raise NotFound(f"dataset version {version_id} does not exist", field="version_id")
        project_id, first, last, published_at, root, total = self.contract.functions.version(version_id).call()
        return {"version_id": version_id, "project_id": project_id, "from_epoch": first, "to_epoch": last,
                "published_at": published_at, "shares_root": "0x" + bytes(root).hex(), "total_shares": total}

    def versions(self, project_id: int) -> list[dict[str, Any]]:
        ids = [e["args"]["versionId"] for e in self._logs(self.contract.events.VersionPublished, projectId=project_id)]
        return [self.version(v) for v in sorted(ids)]

    def shares(self, version_id: int) -> VersionShares:
        """A version's shares, rebuilt from the ledger's events and checked against its root."""
        with self._lock:
            cached = self._shares.get(version_id)
        if cached is not None:
            return cached
        v = self.version(version_id)
        rewarded = self._logs(self.chain.ledger.events.AnnotatorRewarded, projectId=v["project_id"])
        rebuilt = VersionShares(v["project_id"], v["from_epoch"], v["to_epoch"],
                                contributor_shares(rewarded, v["project_id"], v["from_epoch"], v["to_epoch"]))
        if not rebuilt.shares or rebuilt.root != v["shares_root"] or rebuilt.total != v["total_shares"]:
            raise ChainError(f"dataset version {version_id}'s shares root does not match the ledger's settlement "
                             "records: do not rely on it (run `labelshare audit`)")
        with self._lock:
            if len(self._shares) >= _CACHED_VERSIONS:
                self._shares.pop(next(iter(self._shares)))
            self._shares[version_id] = rebuilt
        return rebuilt

    # ------------------------------------------------------------ licences

    def sales(self, project_id: int | None = None) -> list[dict[str, Any]]:
        """Every licence sold (of one project), oldest first."""
        filters = {"projectId": project_id} if project_id is not None else {}
        return [{"licence_id": a["licenceId"], "version_id": a["versionId"], "project_id": a["projectId"],
                 "buyer": a["buyer"], "currency": a["currency"], "price": a["price"], "fee": a["fee"],
                 "requester_amount": a["requesterAmount"], "contributors_amount": a["contributorsAmount"],
                 "tx_hash": "0x" + bytes(e["transactionHash"]).hex(), "block": e["blockNumber"]}
                for e in self._logs(self.contract.events.LicencePurchased, **filters) if (a := e["args"])]

    def holds_licence(self, buyer: str, version_id: int) -> bool:
        return self.contract.functions.licenceOf(to_checksum_address(buyer), version_id).call() != 0

    def licences_of(self, buyer: str) -> list[dict[str, Any]]:
        buyer = to_checksum_address(buyer)
        return [s for s in self.sales() if to_checksum_address(s["buyer"]) == buyer]

    # ------------------------------------------------------------- revenue

    def currency(self, currency: str) -> dict[str, Any]:
        """Symbol and decimals of a payment currency (ether or an ERC-20)."""
        if int(currency, 16) == 0:
            return {"currency": ETH, "symbol": "ETH", "decimals": 18}
        erc20 = self.chain.w3.eth.contract(address=to_checksum_address(currency), abi=self.chain.token.abi)
        return {"currency": erc20.address, "symbol": erc20.functions.symbol().call(),
                "decimals": erc20.functions.decimals().call()}

    def pool(self, version_id: int, currency: str) -> dict[str, int]:
        per_share, contributed, claimed = self.contract.functions.pool(version_id, to_checksum_address(currency)).call()
        return {"revenue_per_share": per_share, "contributed": contributed, "claimed": claimed}

    def project_revenue(self, project_id: int) -> dict[str, Any]:
        """Terms, versions, sales and, per version and currency, what contributors were paid in,
        claimed and can still claim."""
        sales = self.sales(project_id)
        currencies = sorted({s["currency"] for s in sales}
                            | {e["args"]["currency"] for e in self._logs(self.contract.events.PriceSet,
                                                                           projectId=project_id)})
        versions = []
        for v in self.versions(project_id):
            shares = self.shares(v["version_id"])
            claimed = self._claimed_by(v["version_id"])  # one log query, not one call per contributor
            pools = []
            for cur in sorted({s["currency"] for s in sales if s["version_id"] == v["version_id"]}):
                pool = self.pool(v["version_id"], cur)
                claimable = sum(n * pool["revenue_per_share"] // SCALE - claimed.get((a, cur), 0)
                                for a, n in shares.shares.items())
                pools.append({**self.currency(cur), **pool, "claimable": claimable,
                              "dust": pool["contributed"] - pool["claimed"] - claimable})
            versions.append(v | {"contributors": len(shares.shares), "pools": pools})
        fn = self.contract.functions
        return {
            "project_id": project_id,
            "fee_bps": fn.feeBps().call(),
            "requester_share_bps": fn.requesterShareBps(project_id).call(),
            "prices": [{**self.currency(c), "price": p} for c in currencies if (p := fn.price(project_id, c).call())],
            "versions": versions,
            "sales": sales,
        }

    def _claimed_by(self, version_id: int) -> Counter[tuple[str, str]]:
        """What each contributor claimed of a version, per currency, from ``RevenueClaimed`` logs."""
        claimed: Counter[tuple[str, str]] = Counter()
        for e in self._logs(self.contract.events.RevenueClaimed, versionId=version_id):
            claimed[(to_checksum_address(e["args"]["annotator"]), e["args"]["currency"])] += e["args"]["amount"]
        return claimed

    def annotator_revenue(self, annotator: str) -> list[dict[str, Any]]:
        """What ``annotator`` holds shares in, per version and currency sold, with claim proofs."""
        annotator = to_checksum_address(annotator)
        sold: dict[int, set[str]] = {}
        for s in self.sales():
            sold.setdefault(s["version_id"], set()).add(s["currency"])
        rows = []
        for version_id in range(1, self.contract.functions.versionCount().call() + 1):
            shares = self.shares(version_id)
            if annotator not in shares.shares:
                continue
            held = shares.shares[annotator]
            for cur in sorted(sold.get(version_id, set())):
                pool = self.pool(version_id, cur)
                claimed = self.contract.functions.claimed(version_id, cur, annotator).call()
                rows.append({"version_id": version_id, "project_id": shares.project_id, **self.currency(cur),
                             "shares": held, "total_shares": shares.total, "claimed": claimed,
                             "claimable": held * pool["revenue_per_share"] // SCALE - claimed,
                             "proof": shares.proof(annotator)})
        return rows
