"""Shared fixtures: role-named accounts from anvil's published development keys (local only)
and the protocol deployed once per session through the same code path as `ape run deploy`."""

from __future__ import annotations

import pytest

from labelshare.admin.deploy import DeployParameters, RoleHolders, deploy_protocol


@pytest.fixture(scope="session")
def deployer(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def admin(accounts):
    """Proposer and executor of the timelock."""
    return accounts[0]


@pytest.fixture(scope="session")
def guardian(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def verifier(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def qualifier(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def requester(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def annotators(accounts):
    return [accounts[5], accounts[6], accounts[7]]


@pytest.fixture(scope="session")
def stranger(accounts):
    return accounts[8]


@pytest.fixture(scope="session")
def deploy_params():
    return DeployParameters(timelock_delay=3600, epoch_mint_cap=1_000 * 10**18, min_epoch_interval=0)


@pytest.fixture(scope="session")
def protocol(project, deployer, admin, guardian, verifier, qualifier, requester, deploy_params):
    roles = RoleHolders(
        admin=admin.address, guardian=guardian.address, verifier=verifier.address,
        qualifier=qualifier.address, requester=requester.address,
    )
    return deploy_protocol(project, deployer, roles, deploy_params)


@pytest.fixture(scope="session")
def ledger(protocol):
    return protocol["ledger"]


@pytest.fixture(scope="session")
def token(protocol):
    return protocol["token"]


@pytest.fixture(scope="session")
def timelock(protocol):
    return protocol["timelock"]


@pytest.fixture(scope="session")
def licences(protocol):
    return protocol["licences"]


@pytest.fixture(scope="session")
def stablecoin(project, deployer):
    """The test stablecoin (tUSD, anyone can mint), as ``ape run deploy`` adds on local chains."""
    return deployer.deploy(project.TestStablecoin)
