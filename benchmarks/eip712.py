"""EIP-712 ``Submission`` verification speed: eth-account's generic typed-data path against the
backend's fast path (``SubmissionDomain.digest`` with the type hash and domain separator
precomputed, then ``signatures.recover_signer``: eth-keys over coincurve/libsecp256k1).

Both paths recover the same addresses from the same real signatures (eth-account's
``sign_typed_data``, as wallets produce them); the run checks that before timing anything.

    python -m benchmarks.eip712            # prints the JSON
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys.backends import get_backend

from labelshare.signatures import Submission, SubmissionDomain, generic_digest, recover_signer

__all__ = ["run"]

# Any ledger address will do: the digest binds it, nothing is sent.
_LEDGER = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"


def _samples(count: int, chain_id: int) -> tuple[SubmissionDomain, list[tuple[Submission, bytes, str]]]:
    domain = SubmissionDomain(chain_id, _LEDGER)
    accounts = [Account.from_key(secrets.token_bytes(32)) for _ in range(8)]
    deadline = int(time.time()) + 3600
    samples = []
    for i in range(count):
        account = accounts[i % len(accounts)]
        submission = Submission(account.address, 1 + i % 5, secrets.token_bytes(32), secrets.token_bytes(32),
                                secrets.randbits(64), deadline)
        signature = bytes(account.sign_typed_data(full_message=domain.typed_data(submission)).signature)
        samples.append((submission, signature, account.address))
    return domain, samples


def _rate(op: Callable[[Submission, bytes], str], samples: list[tuple[Submission, bytes, str]],
          seconds: float) -> dict[str, float]:
    """Calls ``op`` over the samples (cycled) for about ``seconds``; ops/s and µs/op."""
    for submission, signature, _ in samples[:50]:  # warm caches (e.g. the separator) outside the clock
        op(submission, signature)
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for submission, signature, _ in samples:
            op(submission, signature)
        done += len(samples)
        if time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - start
    return {"ops": done, "seconds": round(elapsed, 3), "ops_per_s": round(done / elapsed, 1),
            "us_per_op": round(elapsed / done * 1e6, 2)}


def run(seconds: float = 2.0, samples: int = 200, chain_id: int = 31337) -> dict[str, Any]:
    """Digest + recovery per second on each path, and the fast path's speed-up."""
    domain, items = _samples(samples, chain_id)

    def generic(submission: Submission, signature: bytes) -> str:
        # eth-account end to end: typed-data encoding, EIP-191 hashing and recovery.
        message = encode_typed_data(full_message=domain.typed_data(submission))
        return Account.recover_message(message, signature=signature)

    def generic_digest_fast_recovery(submission: Submission, signature: bytes) -> str:
        return recover_signer(generic_digest(domain, submission), signature)

    def fast(submission: Submission, signature: bytes) -> str:
        return recover_signer(domain.digest(submission), signature)

    def fast_digest_only(submission: Submission, _signature: bytes) -> bytes:
        return domain.digest(submission)  # type: ignore[return-value]

    def generic_digest_only(submission: Submission, _signature: bytes) -> bytes:
        return generic_digest(domain, submission)  # type: ignore[return-value]

    for submission, signature, address in items:  # same answers on both paths, before any timing
        if not (generic(submission, signature) == fast(submission, signature) == address):
            raise AssertionError("the generic and fast EIP-712 paths disagree")
        if generic_digest(domain, submission) != domain.digest(submission):
            raise AssertionError("the generic and fast EIP-712 digests disagree")

    paths = {
        "generic": _rate(generic, items, seconds),
        "fast": _rate(fast, items, seconds),
        "generic_digest_fast_recovery": _rate(generic_digest_fast_recovery, items, seconds / 2),
        "digest_only_generic": _rate(generic_digest_only, items, seconds / 2),
        "digest_only_fast": _rate(fast_digest_only, items, seconds / 2),
    }
    return {
        **{name: paths[name] for name in ("generic", "fast")},
        "speedup": round(paths["fast"]["ops_per_s"] / paths["generic"]["ops_per_s"], 2),
        "breakdown": {name: paths[name] for name in paths if name not in ("generic", "fast")},
        "samples": samples,
        "signatures": "eth-account sign_typed_data (eth_signTypedData_v4), 8 random keys",
        "generic_path": "eth_account.messages.encode_typed_data + Account.recover_message",
        "fast_path": "SubmissionDomain.digest (type hash, domain separator precomputed) + signatures.recover_signer",
        "ecc_backend": type(get_backend()).__name__,
        "note": "single thread of the benchmark process; both paths checked to recover the same addresses first",
    }


if __name__ == "__main__":
    json.dump(run(), sys.stdout, indent=2)
    print()
