"""The leaf's hand-packed encoding equals eth_abi's ``abi.encode`` of the same six static fields
(the ledger parity test checks ``LabelLedger.annotationLeaf`` against the same function)."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from labelshare.leaves import LEAF_TYPES, AcceptedAnnotation, annotation_leaf

uint256 = st.integers(min_value=0, max_value=2**256 - 1)
bytes32 = st.binary(min_size=32, max_size=32)
addresses = st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex())


@given(uint256, addresses, uint256, bytes32, bytes32, uint256)
def test_leaf_equalsTheGenericAbiEncoding(epoch_id, annotator, project_id, task_id, label_hash, reward):
    annotation = AcceptedAnnotation(annotator, project_id, task_id, label_hash, reward)
    expected = keccak(keccak(encode(LEAF_TYPES, (epoch_id, annotator, project_id, task_id, label_hash, reward))))
    assert annotation_leaf(epoch_id, annotation) == expected


@pytest.mark.parametrize("field", ["epoch_id", "project_id", "reward"])
def test_leaf_refusesIntegersBeyondUint256(field):
    values = {"epoch_id": 1, "project_id": 1, "reward": 1} | {field: 2**256}
    annotation = AcceptedAnnotation(Account.create().address, values["project_id"], bytes(32), bytes(32),
                                    values["reward"])
    with pytest.raises(OverflowError):
        annotation_leaf(values["epoch_id"], annotation)


def test_leaf_refusesShortHashes():
    with pytest.raises(ValueError):
        annotation_leaf(1, AcceptedAnnotation(Account.create().address, 1, bytes(31), bytes(32), 1))
