from __future__ import annotations

from fastapi import APIRouter

from labelshare.api.deps import ChainDep
from labelshare.api.schemas import ChainOut
from labelshare.signatures import SUBMISSION_TYPES

router = APIRouter(tags=["chain"])


@router.get("/chain", response_model=ChainOut)
def chain_info(chain: ChainDep) -> ChainOut:
    """Where the protocol lives, and the EIP-712 domain and types submissions are signed under."""
    return ChainOut(chain_id=chain.chain_id, ledger=chain.ledger.address, token=chain.token.address,
                    eip712_domain=chain.domain.as_dict(), eip712_types=SUBMISSION_TYPES)


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
