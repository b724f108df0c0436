"""LabelShare: an open, token-incentivised data-annotation protocol.

This package holds everything off-chain: the Merkle tree and leaf encoding the ledger verifies,
the deployment manifest, and the admin tooling that deploys the contracts with Ape.
"""

import os

# keccak256 through safe-pysha3 (C) rather than eth-hash's default pycryptodome backend: about 5x
# faster per hash, which is most of the cost of planning a large epoch (two hashes per leaf, one
# per tree node) and a share of every submission's. Set before anything hashes; an explicit
# ETH_HASH_BACKEND wins.
os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")

__all__: list[str] = []
