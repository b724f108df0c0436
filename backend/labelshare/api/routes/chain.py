from __future__ import annotations

from fastapi import APIRouter, Request

from labelshare.api.deps import ChainDep, SessionDep, SettingsDep
from labelshare.api.schemas import ChainOut, ContractAbis, SettlementStatusOut, StatusOut
from labelshare.config import LOCAL_CHAIN_IDS
from labelshare.leader import replica_identity
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


@router.get("/status", response_model=StatusOut)
def status(request: Request, chain: ChainDep, settings: SettingsDep, session: SessionDep) -> StatusOut:
    """This replica and its settlement worker: whether it leads settlement (one replica does at a
    time), who does, and whether settlement is going, held or failing."""
    worker = request.app.state.worker
    leadership = worker.leadership
    return StatusOut(replica=replica_identity(), chain_id=chain.chain_id, settlement=SettlementStatusOut(
        enabled=settings.settlement_enabled, leader=settings.settlement_enabled and worker.leading,
        leader_since=leadership.since if leadership else None,
        current_leader=leadership.leader(session) if leadership else None,
        election=leadership.kind if leadership else "none",
        state=worker.state() if settings.settlement_enabled else "disabled", held_reason=worker.held,
        last_error=worker.last_error, failures=worker.failures, passes=worker.passes,
        confirmations=settings.confirmations,
        max_fee_gwei=None if settings.max_fee_gwei is None else str(settings.max_fee_gwei),
        priority_fee_gwei=None if settings.priority_fee_gwei is None else str(settings.priority_fee_gwei)))
