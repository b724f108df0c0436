from __future__ import annotations

from fastapi import APIRouter

from labelshare.api.deps import ChainDep, SettingsDep
from labelshare.api.schemas import ChainOut, ContractAbis
from labelshare.config import LOCAL_CHAIN_IDS
from labelshare.signatures import SUBMISSION_TYPES

router = APIRouter(tags=["chain"])


@router.get("/chain", response_model=ChainOut)
def chain_info(chain: ChainDep, settings: SettingsDep) -> ChainOut:
    """Where the protocol lives, and the EIP-712 domain and types submissions are signed under."""
    rpc_url = settings.public_rpc_url or (settings.rpc_url if chain.chain_id in LOCAL_CHAIN_IDS else None)
    return ChainOut(chain_id=chain.chain_id, ledger=chain.ledger.address, token=chain.token.address,
                    eip712_domain=chain.domain.as_dict(), eip712_types=SUBMISSION_TYPES,
                    siwe_domain=settings.siwe_domain, rpc_url=rpc_url,
                    deployment_block=chain.deployment.block_number,
                    licences=chain.licences.address if chain.licences is not None else None,
                    stablecoin=chain.deployment.contracts["stablecoin"].address
                    if "stablecoin" in chain.deployment.contracts else None)


@router.get("/chain/abi", response_model=ContractAbis)
def contract_abis(chain: ChainDep) -> ContractAbis:
    """The ledger's, the token's and the licences' ABIs, from the Ape build the deployment names:
    clients read the chain with these rather than with copies of their own."""
    return ContractAbis(ledger=chain.ledger.abi, token=chain.token.abi,
                        licences=chain.licences.abi if chain.licences is not None else None)


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
