"""The EIP-712 Submission is defined once in Solidity and once in Python: both hash identically,
through the fast path and eth-account's generic encoder, and recovery refuses malformed input."""

from __future__ import annotations

import os

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from labelshare.errors import InvalidSignature
from labelshare.signatures import Submission, SubmissionDomain, generic_digest, recover_signer

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

submissions = st.builds(
    Submission,
    annotator=st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    project_id=st.integers(0, 2**256 - 1), task_id=st.binary(min_size=32, max_size=32),
    label_hash=st.binary(min_size=32, max_size=32), nonce=st.integers(0, 2**256 - 1),
    deadline=st.integers(0, 2**256 - 1),
)


def test_digest_matchesLedgerAndGenericEncoder(ledger, chain):
    domain = SubmissionDomain(chain.chain_id, ledger.address)
    for _ in range(5):
        s = Submission(Account.create().address, int.from_bytes(os.urandom(8), "big"), os.urandom(32),
                       os.urandom(32), int.from_bytes(os.urandom(32), "big"), 2**40)
        on_chain = ledger.submissionDigest((s.annotator, s.project_id, s.task_id, s.label_hash, s.nonce, s.deadline))
        assert domain.digest(s) == generic_digest(domain, s) == bytes(on_chain)


@settings(max_examples=200, deadline=None)
@given(submission=submissions, chain_id=st.integers(1, 2**64), contract=st.binary(min_size=20, max_size=20))
def test_digest_fastPathEqualsGenericEncoder(submission, chain_id, contract):
    domain = SubmissionDomain(chain_id, "0x" + contract.hex())
    assert domain.digest(submission) == generic_digest(domain, submission)


def test_recoverSigner_returnsSignerAndMatchesLedger(ledger, chain):
    account = Account.create()
    domain = SubmissionDomain(chain.chain_id, ledger.address)
    s = Submission(account.address, 7, os.urandom(32), os.urandom(32), 1, 2**40)
    signature = bytes(account.sign_typed_data(full_message=domain.typed_data(s)).signature)
    assert recover_signer(domain.digest(s), signature) == account.address
    assert ledger.recoverSubmitter((s.annotator, 7, s.task_id, s.label_hash, 1, 2**40), signature) == account.address


@pytest.mark.parametrize("mutate, message", [
    (lambda sig: sig[:64], "65 bytes"),
    (lambda sig: sig + b"\0", "65 bytes"),
    (lambda sig: sig[:64] + bytes([29]), "27 or 28"),
    (lambda sig: sig[:32] + (SECP256K1_N - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big")
     + bytes([55 - sig[64]]), "lower half"),
    (lambda sig: bytes(32) + sig[32:], "canonical"),
])
def test_recoverSigner_refusesMalformed(mutate, message):
    account = Account.create()
    domain = SubmissionDomain(1, "0x" + "11" * 20)
    s = Submission(account.address, 1, bytes(32), bytes(32), 0, 1)
    signature = bytes(account.sign_typed_data(full_message=domain.typed_data(s)).signature)
    with pytest.raises(InvalidSignature, match=message):
        recover_signer(domain.digest(s), mutate(signature))
