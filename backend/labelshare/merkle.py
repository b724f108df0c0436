"""Merkle trees that OpenZeppelin's ``MerkleProof`` verifies.

Same construction as OpenZeppelin's ``StandardMerkleTree`` (``@openzeppelin/merkle-tree``):
leaves are sorted, laid out as a complete binary tree in one array, and each parent is the
keccak256 of its two children in sorted order (so proofs need no left/right flags). A test builds
the same tree with the JavaScript library and compares roots and proofs. Leaves are expected to be
already hashed (see ``labelshare.leaves``), and must be unique.
"""

from __future__ import annotations

from collections.abc import Sequence

# eth-hash's keccak takes bytes only: none of eth_utils' conversions on the hot path.
from eth_hash.auto import keccak

__all__ = ["MerkleTree", "hash_pair", "verify_proof"]


def hash_pair(a: bytes, b: bytes) -> bytes:
    """The commutative pair hash of OpenZeppelin's ``MerkleProof``."""
    return keccak(a + b) if a <= b else keccak(b + a)


def verify_proof(leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """Off-chain twin of ``MerkleProof.verify``."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root


class MerkleTree:
    """A complete binary Merkle tree over 32-byte leaves."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        if any(len(leaf) != 32 for leaf in leaves):
            raise ValueError("every leaf must be 32 bytes")
        ordered = sorted(leaves)
        count = len(ordered)
        size = 2 * count - 1
        nodes: list[bytes] = [b""] * size
        positions: dict[bytes, int] = {}
        for i, leaf in enumerate(ordered):
            positions[leaf] = size - 1 - i
            nodes[size - 1 - i] = leaf
        if len(positions) != count:
            raise ValueError("leaves must be unique")
        for i in range(size - 1 - count, -1, -1):
            nodes[i] = hash_pair(nodes[2 * i + 1], nodes[2 * i + 2])
        self._nodes = nodes
        self._positions = positions

    @property
    def root(self) -> bytes:
        return self._nodes[0]

    def __len__(self) -> int:
        return len(self._positions)

    def __contains__(self, leaf: object) -> bool:
        return leaf in self._positions

    def proof(self, leaf: bytes) -> list[bytes]:
        """Sibling hashes from ``leaf`` up to the root; ``KeyError`` if absent."""
        index = self._positions[leaf]
        proof = []
        while index > 0:
            sibling = index + 1 if index % 2 else index - 1
            proof.append(self._nodes[sibling])
            index = (index - 1) // 2
        return proof
