"""LabelShare: an open, token-incentivised data-annotation protocol.

This package holds everything off-chain: the Merkle tree and leaf encoding the ledger verifies,
the deployment manifest, and the admin tooling that deploys the contracts with Ape.
"""

__all__: list[str] = []
