"""The EIP-712 ``Submission`` an annotator signs, the same type ``LabelLedger.submissionDigest``
hashes (a contract test checks the two agree).

Two ways to get the digest: ``SubmissionDomain.digest`` (type hash and domain separator
precomputed, the struct's seven static words packed directly; the hot path) and
``generic_digest`` (eth-account's generic typed-data encoder, kept as the reference and for
benchmarks; a property test checks the two agree). Recovery calls coincurve (libsecp256k1), as
eth-keys does when coincurve is installed, without eth-keys' object layers; it falls back to
eth-keys if coincurve is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from eth_abi import encode
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_keys import keys
from eth_keys.exceptions import BadSignature
from eth_utils import keccak, to_canonical_address, to_checksum_address

from labelshare.errors import InvalidSignature

try:
    from coincurve import PublicKey as _Secp256k1PublicKey
except ImportError:  # pragma: no cover - coincurve is a dependency; eth-keys has a pure-Python backend
    _Secp256k1PublicKey = None

__all__ = ["DOMAIN_NAME", "DOMAIN_VERSION", "Submission", "SubmissionDomain", "generic_digest", "recover_signer"]

DOMAIN_NAME = "LabelShare"
DOMAIN_VERSION = "1"
_DOMAIN_TYPEHASH = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
_SUBMISSION_TYPE = "Submission(address annotator,uint256 projectId,bytes32 taskId,bytes32 labelHash,uint256 nonce,uint256 deadline)"
_SUBMISSION_TYPEHASH = keccak(_SUBMISSION_TYPE.encode())
_STRUCT_TYPES = ("bytes32", "address", "uint256", "bytes32", "bytes32", "uint256", "uint256")
# secp256k1 order / 2: signatures with a larger s are the malleable twin (EIP-2) and refused.
_HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0

SUBMISSION_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Submission": [
        {"name": "annotator", "type": "address"},
        {"name": "projectId", "type": "uint256"},
        {"name": "taskId", "type": "bytes32"},
        {"name": "labelHash", "type": "bytes32"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ],
}


@dataclass(frozen=True)
class Submission:
    annotator: str
    project_id: int
    task_id: bytes
    label_hash: bytes
    nonce: int
    deadline: int

    def message(self) -> dict[str, Any]:
        """The typed-data ``message`` object, as a wallet's ``eth_signTypedData_v4`` takes it."""
        return {
            "annotator": to_checksum_address(self.annotator),
            "projectId": self.project_id,
            "taskId": "0x" + self.task_id.hex(),
            "labelHash": "0x" + self.label_hash.hex(),
            "nonce": self.nonce,
            "deadline": self.deadline,
        }

    def struct_hash(self) -> bytes:
        # abi.encode of seven static words, as eth_abi.encode(_STRUCT_TYPES, ...) writes them.
        return keccak(b"".join((
            _SUBMISSION_TYPEHASH, b"\0" * 12 + _canonical_address(self.annotator), _uint256(self.project_id),
            _bytes32(self.task_id), _bytes32(self.label_hash), _uint256(self.nonce), _uint256(self.deadline),
        )))


@dataclass(frozen=True)
class SubmissionDomain:
    """The EIP-712 domain: LabelShare v1 on one chain, verified by one ledger."""

    chain_id: int
    verifying_contract: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }

    @cached_property
    def separator(self) -> bytes:
        return keccak(encode(("bytes32", "bytes32", "bytes32", "uint256", "address"), (
            _DOMAIN_TYPEHASH, keccak(DOMAIN_NAME.encode()), keccak(DOMAIN_VERSION.encode()), self.chain_id,
            to_canonical_address(self.verifying_contract),
        )))

    def digest(self, submission: Submission) -> bytes:
        return keccak(b"\x19\x01" + self.separator + submission.struct_hash())

    def typed_data(self, submission: Submission) -> dict[str, Any]:
        """The full ``eth_signTypedData_v4`` document."""
        return {"types": SUBMISSION_TYPES, "primaryType": "Submission", "domain": self.as_dict(),
                "message": submission.message()}


@lru_cache(maxsize=65536)
def _canonical_address(address: str) -> bytes:
    return to_canonical_address(address)


@lru_cache(maxsize=65536)
def _checksum(address: bytes) -> str:
    return to_checksum_address(address)


def _uint256(value: int) -> bytes:
    if not 0 <= value < 2**256:
        raise ValueError(f"{value} is not a uint256")
    return value.to_bytes(32, "big")


def _bytes32(value: bytes) -> bytes:
    if len(value) > 32:
        raise ValueError("a bytes32 value has at most 32 bytes")
    return value.ljust(32, b"\0")  # as abi.encode pads a shorter bytesN


def generic_digest(domain: SubmissionDomain, submission: Submission) -> bytes:
    """The digest through eth-account's generic EIP-712 encoder (reference path)."""
    return _hash_eip191_message(encode_typed_data(full_message=domain.typed_data(submission)))


def recover_signer(digest: bytes, signature: bytes) -> str:
    """The checksummed address that signed ``digest``; InvalidSignature if malformed."""
    if len(signature) != 65:
        raise InvalidSignature(f"a signature is 65 bytes, got {len(signature)}", field="signature")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if v in (27, 28):  # wallets produce 27/28; 0/1 (raw recovery ids) are accepted too
        v -= 27
    if v not in (0, 1):
        raise InvalidSignature(f"signature recovery id must be 27 or 28, got {signature[64]}", field="signature")
    if r == 0 or s == 0:
        raise InvalidSignature("signature is not canonical: r and s must be non-zero", field="signature")
    if s > _HALF_ORDER:
        raise InvalidSignature("signature is not canonical (EIP-2: s must be in the lower half)", field="signature")
    try:
        if _Secp256k1PublicKey is not None:
            public_key = _Secp256k1PublicKey.from_signature_and_message(signature[:64] + bytes([v]), digest, hasher=None)
            address = keccak(public_key.format(compressed=False)[1:])[-20:]
        else:  # pragma: no cover
            address = keys.Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(digest).to_canonical_address()
    except (BadSignature, ValueError) as err:
        raise InvalidSignature("signature does not recover to any address", field="signature") from err
    return _checksum(address)
