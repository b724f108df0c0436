"""``ape run deploy``: deploy LabelShare's contracts and write the deployment manifest.

On a local network it also deploys ``TestStablecoin`` (tUSD, mintable by anyone) as the ERC-20
that licences can be paid in, allowed as a fee currency of staking.

On a local network the roles go to anvil's published development accounts (local use only):
#0 deployer/admin/guardian, #1 verifier, #2 qualifier, #3 registrar (holds the ledger's REQUESTER_ROLE: the
backend registers projects with it; the API's requester wallet is #4, LABELSHARE_REQUESTERS).
Elsewhere, pass ``--account`` (an Ape account alias) and set the role addresses in
LABELSHARE_ADMIN, LABELSHARE_GUARDIAN, LABELSHARE_VERIFIER, LABELSHARE_QUALIFIER and
LABELSHARE_REQUESTER. Re-running is safe: a manifest whose contracts are live on the connected
chain is kept, unless ``--force``.
"""

from __future__ import annotations

import os

import click
from ape import accounts, chain, project
from ape.cli import ConnectedProviderCommand

from labelshare.admin.deploy import (
    DeployParameters,
    RoleHolders,
    deploy_protocol,
    find_live_deployment,
    record_deployment,
)
from labelshare.deployment import manifest_path

ROLE_VARIABLES = {role: f"LABELSHARE_{role.upper()}" for role in RoleHolders.__dataclass_fields__}
LOCAL_TIMELOCK_DELAY = 60  # seconds; a real network uses DeployParameters' two days


def _local_roles() -> tuple[object, RoleHolders]:
    dev = accounts.test_accounts  # anvil's published development keys: local chains only
    return dev[0], RoleHolders(
        admin=dev[0].address, guardian=dev[0].address, verifier=dev[1].address,
        qualifier=dev[2].address, requester=dev[3].address,
    )


def _configured_roles(account_alias: str | None) -> tuple[object, RoleHolders]:
    if not account_alias:
        raise click.UsageError("--account is required off local networks")
    missing = [var for var in ROLE_VARIABLES.values() if not os.environ.get(var)]
    if missing:
        raise click.UsageError(f"set the role addresses: {', '.join(missing)}")
    roles = RoleHolders(**{role: os.environ[var] for role, var in ROLE_VARIABLES.items()})
    return accounts.load(account_alias), roles


@click.command(cls=ConnectedProviderCommand)
@click.option("--account", "account_alias", default=None, help="Ape account alias of the deployer.")
@click.option("--timelock-delay", type=int, default=None, help="Timelock delay in seconds.")
@click.option("--epoch-mint-cap", type=int, default=None, help="Per-epoch mint cap, smallest unit.")
@click.option("--min-epoch-interval", type=int, default=None, help="Seconds between epoch openings.")
@click.option("--force", is_flag=True, help="Deploy again even if a live deployment exists.")
@click.option("--yes", is_flag=True, help="Do not ask before deploying to a live network.")
def cli(ecosystem, network, account_alias, timelock_delay, epoch_mint_cap, min_epoch_interval, force, yes):
    """Deploy the timelock, reward token, ledger, licences and staking, and record them in deployments/."""
    path = manifest_path(ecosystem.name, network.name)
    if not force and (existing := find_live_deployment(chain.provider.web3, path)):
        click.echo(f"LabelShare is already deployed on chain {existing.chain_id}; manifest {path}")
        for name, record in existing.contracts.items():
            click.echo(f"  {name:9} {record.address}")
        return

    local = network.is_local
    deployer, roles = _local_roles() if local else _configured_roles(account_alias)
    defaults = DeployParameters()
    params = DeployParameters(
        timelock_delay=timelock_delay if timelock_delay is not None else (
            LOCAL_TIMELOCK_DELAY if local else defaults.timelock_delay),
        epoch_mint_cap=epoch_mint_cap if epoch_mint_cap is not None else defaults.epoch_mint_cap,
        min_epoch_interval=min_epoch_interval if min_epoch_interval is not None else defaults.min_epoch_interval,
    )
    if not local and not yes:
        click.confirm(f"Deploy LabelShare to {ecosystem.name}:{network.name} from {deployer.address}?", abort=True)

    # On a local chain, a stand-in stablecoin for paying licences and fees in an ERC-20; never elsewhere.
    contracts = deploy_protocol(project, deployer, roles, params, stablecoin=local)
    deployment = record_deployment(
        chain, f"{ecosystem.name}:{network.name}:{chain.provider.name}", deployer, contracts, roles, params, path,
    )
    click.echo(f"Deployed LabelShare on chain {deployment.chain_id} at block {deployment.block_number}")
    for name, record in deployment.contracts.items():
        click.echo(f"  {name:9} {record.address}")
    click.echo(f"Manifest: {path}")
