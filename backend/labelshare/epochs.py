"""Turns an epoch's accepted annotations into what ``LabelLedger.settle`` takes.

One payout per (annotator, project) — the unit the ledger bounds by the project's rate and checks
qualifications on — split into chunks small enough for one transaction each, plus the Merkle tree
over every annotation's leaf.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils import to_checksum_address

from labelshare.leaves import AcceptedAnnotation, annotation_leaf
from labelshare.merkle import MerkleTree

__all__ = ["DEFAULT_PAYOUTS_PER_CHUNK", "EpochPlan", "Payout", "plan_epoch"]

# A payout to a first-time holder costs about 32k gas (mostly the balance's SSTORE; `make bench`
# measures it), so 400 per chunk (~13M gas) stays below Ethereum's 2^24 per-transaction gas cap;
# 523 is the most that fits.
DEFAULT_PAYOUTS_PER_CHUNK = 400


@dataclass(frozen=True)
class Payout:
    annotator: str
    project_id: int
    annotations: int
    amount: int

    def as_tuple(self) -> tuple[str, int, int, int]:
        """The ``ILabelLedger.Payout`` struct, in field order."""
        return (self.annotator, self.project_id, self.annotations, self.amount)


@dataclass(frozen=True)
class EpochPlan:
    epoch_id: int
    annotations: tuple[AcceptedAnnotation, ...]
    leaves: tuple[bytes, ...]  # leaves[i] belongs to annotations[i]
    tree: MerkleTree
    payouts: tuple[Payout, ...]
    chunks: tuple[tuple[Payout, ...], ...]

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def total_reward(self) -> int:
        return sum(p.amount for p in self.payouts)

    @property
    def header(self) -> tuple[bytes, int, int, int]:
        """The ``ILabelLedger.EpochHeader`` struct, in field order."""
        return (self.root, len(self.annotations), self.total_reward, len(self.chunks))

    def proof(self, index: int) -> list[bytes]:
        """Inclusion proof of ``annotations[index]``."""
        return self.tree.proof(self.leaves[index])


def plan_epoch(
    epoch_id: int,
    annotations: Sequence[AcceptedAnnotation],
    payouts_per_chunk: int = DEFAULT_PAYOUTS_PER_CHUNK,
) -> EpochPlan:
    """Plans the settlement of ``annotations`` as epoch ``epoch_id``."""
    if not annotations:
        raise ValueError("an epoch needs at least one accepted annotation")
    if payouts_per_chunk < 1:
        raise ValueError("payouts_per_chunk must be at least 1")
    totals: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for a in annotations:
        entry = totals[(to_checksum_address(a.annotator), a.project_id)]
        entry[0] += 1
        entry[1] += a.reward
    payouts = tuple(Payout(addr, pid, n, amount) for (addr, pid), (n, amount) in sorted(totals.items()))
    chunks = tuple(payouts[i : i + payouts_per_chunk] for i in range(0, len(payouts), payouts_per_chunk))
    # The ledger's integer widths (ILabelLedger.EpochHeader and Payout): fail here, not at encoding.
    total = sum(p.amount for p in payouts)
    if len(annotations) >= 2**32 or len(chunks) >= 2**16 or total >= 2**128:
        raise ValueError("epoch too large for the ledger: at most 2^32-1 annotations, 2^16-1 chunks, "
                         "2^128-1 reward")
    if any(a.reward < 0 for a in annotations):
        raise ValueError("rewards cannot be negative")
    leaves = tuple(annotation_leaf(epoch_id, a) for a in annotations)
    return EpochPlan(epoch_id, tuple(annotations), leaves, MerkleTree(leaves), payouts, chunks)
