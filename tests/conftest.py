"""Shared fixtures: role-named accounts from anvil's published development keys (local only)
and the protocol deployed once per session through the same code path as `ape run deploy`."""

from __future__ import annotations

import pytest

from labelshare.admin.deploy import DeployParameters, RoleHolders, deploy_protocol

# `make test` runs the suite with pytest-xdist (`-n <2 per core> --dist loadgroup
# --no-loadscope-reorder`): each worker is its own process with its own anvil and databases, and
# takes the next test in collection order whenever it runs low. So the longest modules go first
# (longest-processing-time first: the other worker fills in behind them with short tests), in the
# order of a full run's `--durations`. A scheduling hint only: the order of tests inside a module,
# and what each test checks, does not change.
LONGEST_FIRST = (
    "tests/toolchain/test_slither.py",
    "tests/backend/test_soak.py",
    "tests/backend/test_simulation.py",
    "tests/scripts/test_make_stack.py",
    "tests/scripts/test_deploy_script.py",
    "tests/quality/test_evaluation.py",
    "tests/backend/test_auth_memory.py",
    "tests/contracts/test_properties.py",
    "tests/contracts/test_invariants.py",
    "tests/contracts/test_staking.py",
    "tests/backend/test_replicas.py",
    "tests/backend/test_faults.py",
    "tests/backend/test_settlement.py",
    "tests/backend/test_chain_config.py",
    "tests/backend/test_cli_endpoints.py",
    "tests/backend/test_e2e.py",
    "tests/backend/test_schemathesis.py",
    "tests/backend/test_cli.py",
    "tests/backend/test_web_licences.py",
    "tests/backend/test_web_page.py",
)
# Modules whose module-scoped fixtures are expensive stay on one worker (computed once).
ONE_WORKER = ("tests/toolchain/test_slither.py", "tests/quality/test_evaluation.py",
              "tests/quality/test_aggregation.py", "tests/scripts/test_make_stack.py")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the xdist_group markers
def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        module = item.nodeid.split("::", 1)[0]
        return LONGEST_FIRST.index(module) if module in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a module stays
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        if module in ONE_WORKER:
            item.add_marker(pytest.mark.xdist_group(module))


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
