"""Deploys the protocol with Ape: timelock, reward token, ledger, dataset licences and fee staking, with
roles granted.

Used by ``scripts/deploy.py`` (``ape run deploy``) and by the contract tests, so both exercise
the same path. The token's minter is immutable, so the ledger's address is predicted from the
deployer's nonce before the token is deployed; the ledger refuses to deploy if it is wrong.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labelshare.deployment import ContractRecord, Deployment

__all__ = ["DeployParameters", "RoleHolders", "deploy_protocol", "find_live_deployment"]

TOKEN_UNIT = 10**18


@dataclass(frozen=True)
class RoleHolders:
    """Who holds each role. ``admin`` proposes and executes timelock operations."""

    admin: str
    guardian: str  # pauses token and ledger in an emergency
    verifier: str  # settles epochs (the backend)
    qualifier: str  # grants and revokes qualifications (the backend)
    requester: str  # registers projects (the backend's registrar)


@dataclass(frozen=True)
class DeployParameters:
    token_name: str = "LabelShare Reward"
    token_symbol: str = "LSR"
    supply_cap: int = 1_000_000_000 * TOKEN_UNIT
    epoch_mint_cap: int = 1_000_000 * TOKEN_UNIT
    max_reward_multiplier_bps: int = 50_000  # a payout may be at most 5x the base reward
    min_epoch_interval: int = 0  # seconds between epoch openings
    timelock_delay: int = 2 * 24 * 3600
    licence_fee_bps: int = 500  # protocol fee on dataset licence sales (5%), credited to the timelock
    unbonding_delay: int = 7 * 24 * 3600  # LSR unstaked from fee staking is withdrawable after this


def deploy_protocol(
    project: Any, deployer: Any, roles: RoleHolders, params: DeployParameters, *, stablecoin: bool = False,
) -> dict[str, Any]:
    """Deploys the contracts from ``deployer``; returns Ape contract instances by role name.

    Licence fees accrue to the timelock (the protocol's treasury until governance names another).
    With ``stablecoin`` (local chains only) it also deploys ``TestStablecoin`` (tUSD, mintable by
    anyone) and allows it as a fee currency of staking from the start.
    """
    timelock = deployer.deploy(project.LabelShareTimelock, params.timelock_delay, [roles.admin], [roles.admin])
    # Token next, then ledger: the ledger lands at the deployer's nonce after the token's.
    ledger_address = deployer.get_deployment_address(deployer.nonce + 1)
    token = deployer.deploy(
        project.RewardToken,
        params.token_name,
        params.token_symbol,
        params.supply_cap,
        ledger_address,
        timelock.address,
        roles.guardian,
    )
    ledger = deployer.deploy(
        project.LabelLedger,
        token.address,
        timelock.address,
        roles.guardian,
        roles.verifier,
        roles.qualifier,
        roles.requester,
        params.epoch_mint_cap,
        params.max_reward_multiplier_bps,
        params.min_epoch_interval,
    )
    if ledger.address != ledger_address:  # the ledger's constructor would have reverted already
        raise RuntimeError(f"ledger deployed at {ledger.address}, expected {ledger_address}")
    licences = deployer.deploy(
        project.DatasetLicences,
        ledger.address,
        timelock.address,
        roles.guardian,
        roles.verifier,  # publishes dataset versions: the backend that settles knows the shares
        timelock.address,
        params.licence_fee_bps,
    )
    contracts = {"timelock": timelock, "token": token, "ledger": ledger, "licences": licences}
    if stablecoin:
        contracts["stablecoin"] = deployer.deploy(project.TestStablecoin)
    fee_tokens = [contracts["stablecoin"].address] if stablecoin else []
    contracts["staking"] = deployer.deploy(
        project.FeeStaking, token.address, timelock.address, roles.guardian, params.unbonding_delay, fee_tokens,
    )
    return contracts


def record_deployment(
    chain: Any, network_choice: str, deployer: Any, contracts: dict[str, Any], roles: RoleHolders,
    params: DeployParameters, path: Path,
) -> Deployment:
    """Writes the deployment manifest for contracts just deployed."""
    block = chain.blocks.head
    deployment = Deployment(
        network=network_choice,
        chain_id=chain.chain_id,
        block_number=block.number,
        block_hash=block.hash.hex() if isinstance(block.hash, bytes) else str(block.hash),
        deployer=deployer.address,
        contracts={name: ContractRecord(c.address, c.contract_type.name) for name, c in contracts.items()},
        roles=asdict(roles),
        parameters=asdict(params),
    )
    deployment.save(path)
    return deployment


def find_live_deployment(w3: Any, path: Path) -> Deployment | None:
    """The manifest at ``path`` if it describes contracts live on the chain ``w3`` reads (with
    Ape: ``chain.provider.web3``), else None.

    A chain restarted from scratch can reuse the chain id (anvil's 31337) and, deployed to by the
    same account, the same addresses, so the recorded block hash and the code at every address
    are checked too.
    """
    if not path.is_file():
        return None
    deployment = Deployment.load(path)
    if deployment.chain_id != w3.eth.chain_id or w3.eth.block_number < deployment.block_number:
        return None
    block_hash = w3.eth.get_block(deployment.block_number)["hash"].hex()
    if block_hash.removeprefix("0x") != deployment.block_hash.removeprefix("0x"):
        return None
    if any(not w3.eth.get_code(c.address) for c in deployment.contracts.values()):
        return None
    return deployment
