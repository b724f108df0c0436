"""The leaf an accepted annotation contributes to its epoch's Merkle root.

Mirrors ``LabelLedger.annotationLeaf``: OpenZeppelin's standard double-hashed leaf over
``abi.encode(epochId, annotator, projectId, taskId, labelHash, reward)``. A contract test checks
that both sides agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode
from eth_utils import keccak, to_canonical_address

__all__ = ["AcceptedAnnotation", "annotation_leaf"]

_LEAF_TYPES = ("uint256", "address", "uint256", "bytes32", "bytes32", "uint256")


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
    encoded = encode(
        _LEAF_TYPES,
        (
            epoch_id,
            to_canonical_address(annotation.annotator),
            annotation.project_id,
            annotation.task_id,
            annotation.label_hash,
            annotation.reward,
        ),
    )
    return keccak(keccak(encoded))
