"""The leaf an accepted annotation contributes to its epoch's Merkle root.

Mirrors ``LabelLedger.annotationLeaf``: OpenZeppelin's standard double-hashed leaf over
``abi.encode(epochId, annotator, projectId, taskId, labelHash, reward)``. A contract test checks
that both sides agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_hash.auto import keccak  # bytes in, bytes out: no eth_utils conversions on the hot path
from eth_utils import to_canonical_address

__all__ = ["LEAF_TYPES", "AcceptedAnnotation", "annotation_leaf"]

LEAF_TYPES = ("uint256", "address", "uint256", "bytes32", "bytes32", "uint256")


@dataclass(frozen=True)
class AcceptedAnnotation:
    """One accepted annotation, as committed to on-chain."""

    annotator: str
    project_id: int
    task_id: bytes
    label_hash: bytes
    reward: int

    def as_tuple(self) -> tuple[str, int, bytes, bytes, int]:
        """The ``ILabelLedger.Annotation`` struct, in field order."""
        return (self.annotator, self.project_id, self.task_id, self.label_hash, self.reward)


def annotation_leaf(epoch_id: int, annotation: AcceptedAnnotation) -> bytes:
    """The 32-byte Merkle leaf of ``annotation`` settled in ``epoch_id``."""
    # Every field is a static ABI type, so abi.encode is six 32-byte words; packing them here is
    # ~20x faster than eth_abi's generic encoder on 100,000-leaf epochs (a test checks both agree).
    if len(annotation.task_id) != 32 or len(annotation.label_hash) != 32:
        raise ValueError("task_id and label_hash must be 32 bytes")
    encoded = b"".join((
        epoch_id.to_bytes(32, "big"),
        to_canonical_address(annotation.annotator).rjust(32, b"\0"),
        annotation.project_id.to_bytes(32, "big"),
        annotation.task_id,
        annotation.label_hash,
        annotation.reward.to_bytes(32, "big"),
    ))
    return keccak(keccak(encoded))
