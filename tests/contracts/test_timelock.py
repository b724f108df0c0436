"""Governance through LabelShareTimelock: the admin EOA proposes, waits out the delay and executes.
Caps and roles of the ledger and token change only this way; the timelock's own checks (delay,
proposer and executor roles, operation states) are covered too.

Expected reverts go through the ``reverts`` fixture (see tests/contracts/conftest.py).
"""

from __future__ import annotations

import pytest
from conftest import REWARD
from eth_utils import keccak

from labelshare.domains import GENERAL

ZERO_BYTES32 = b"\0" * 32
ADMIN_ROLE = ZERO_BYTES32  # AccessControl's DEFAULT_ADMIN_ROLE
ROOT = keccak(text="root")
# TimelockController.OperationState is (Unset, Waiting, Ready, Done); errors carry a bitmap of states.
READY_STATE = (1 << 2).to_bytes(32, "big")
WAITING_OR_READY_STATE = ((1 << 1) | (1 << 2)).to_bytes(32, "big")


@pytest.fixture
def settle_one(ledger, verifier, create_project, annotators):
    """Settles the next epoch paying ``amount`` for one annotation; ``header_reward`` overrides the
    declared total."""
    project_id = create_project(GENERAL)

    def settle(amount=REWARD, header_reward=None, sender=None):
        header = (ROOT, 1, amount if header_reward is None else header_reward, 1)
        return ledger.settle(ledger.nextEpochId(), header, 0, [(annotators[0].address, project_id, 1, amount)],
                             sender=sender or verifier)

    return settle


def event_args(receipt, event) -> list[dict]:
    return [log.event_arguments for log in receipt.decode_logs(event)]


# -------------------------------------------------------------------------- deployment


def test_timelock_holdsAdminRolesAfterDeployment(timelock, ledger, token, admin, deployer, guardian, deploy_params):
    assert timelock.getMinDelay() == deploy_params.timelock_delay
    for role in ("PROPOSER_ROLE", "EXECUTOR_ROLE", "CANCELLER_ROLE"):
        assert timelock.hasRole(getattr(timelock, role)(), admin.address)
    # The timelock administers itself, the ledger and the token; no EOA holds any admin role.
    for contract in (timelock, ledger, token):
        assert contract.hasRole(ADMIN_ROLE, timelock.address)
        for account in {deployer, admin, guardian}:
            assert not contract.hasRole(ADMIN_ROLE, account.address)


@pytest.mark.parametrize("contract_name", ["ledger", "token"])
@pytest.mark.parametrize("caller", ["admin", "guardian", "stranger"])
def test_grantRole_revertsIfNotCalledByTimelock(reverts, request, contract_name, caller):
    contract, account = request.getfixturevalue(contract_name), request.getfixturevalue(caller)
    with reverts(contract.AccessControlUnauthorizedAccount, account=account.address, neededRole=ADMIN_ROLE):
        contract.grantRole(ADMIN_ROLE, account.address, sender=account)


# ------------------------------------------------------------------- schedule, execute


def test_encodeInput_isSelectorAndAbiEncodedArguments(ledger):
    selector = keccak(text="setEpochMintCap(uint256)")[:4]
    assert ledger.setEpochMintCap.encode_input(5) == selector + (5).to_bytes(32, "big")


def test_execute_revertsUntilDelayPassed(timelock, ledger, propose, chain, admin, deploy_params, reverts):
    operation = propose(ledger, "setEpochMintCap", 5)
    operation_id = timelock.hashOperation(*operation)
    ready_at = timelock.getTimestamp(operation_id)
    assert ready_at == chain.blocks.head.timestamp + deploy_params.timelock_delay
    assert timelock.isOperationPending(operation_id) and not timelock.isOperationReady(operation_id)

    for when in (None, ready_at - 1):  # right away, and one second early
        if when:
            chain.pending_timestamp = when
        with reverts(timelock.TimelockUnexpectedOperationState, operationId=operation_id,
                     expectedStates=READY_STATE):
            timelock.execute(*operation, sender=admin)
    assert ledger.epochMintCap() == deploy_params.epoch_mint_cap

    chain.pending_timestamp = ready_at
    timelock.execute(*operation, sender=admin)
    assert ledger.epochMintCap() == 5
    assert timelock.isOperationDone(operation_id)


def test_execute_revertsIfNotScheduled(timelock, ledger, admin, reverts):
    operation = (ledger.address, 0, ledger.setEpochMintCap.encode_input(5), ZERO_BYTES32, ZERO_BYTES32)
    with reverts(timelock.TimelockUnexpectedOperationState, operationId=timelock.hashOperation(*operation),
                 expectedStates=READY_STATE):
        timelock.execute(*operation, sender=admin)


def test_execute_revertsIfAlreadyExecuted(timelock, ledger, propose, wait_until_ready, admin, reverts):
    operation = propose(ledger, "setEpochMintCap", 5)
    wait_until_ready(operation)
    timelock.execute(*operation, sender=admin)
    with reverts(timelock.TimelockUnexpectedOperationState, operationId=timelock.hashOperation(*operation)):
        timelock.execute(*operation, sender=admin)


def test_execute_revertsIfCancelled(timelock, ledger, propose, chain, admin, reverts):
    operation = propose(ledger, "setEpochMintCap", 5)
    operation_id = timelock.hashOperation(*operation)
    ready_at = timelock.getTimestamp(operation_id)
    timelock.cancel(operation_id, sender=admin)
    chain.pending_timestamp = ready_at
    with reverts(timelock.TimelockUnexpectedOperationState, operationId=operation_id, expectedStates=READY_STATE):
        timelock.execute(*operation, sender=admin)


def test_schedule_revertsIfCallerNotProposer(timelock, ledger, stranger, deploy_params, reverts):
    operation = (ledger.address, 0, ledger.setEpochMintCap.encode_input(5), ZERO_BYTES32, ZERO_BYTES32)
    with reverts(timelock.AccessControlUnauthorizedAccount, account=stranger.address,
                 neededRole=timelock.PROPOSER_ROLE()):
        timelock.schedule(*operation, deploy_params.timelock_delay, sender=stranger)


def test_schedule_revertsIfDelayBelowMinimum(timelock, ledger, admin, deploy_params, reverts):
    operation = (ledger.address, 0, ledger.setEpochMintCap.encode_input(5), ZERO_BYTES32, ZERO_BYTES32)
    delay = deploy_params.timelock_delay
    with reverts(timelock.TimelockInsufficientDelay, delay=delay - 1, minDelay=delay):
        timelock.schedule(*operation, delay - 1, sender=admin)


def test_execute_revertsIfCallerNotExecutor(timelock, ledger, propose, wait_until_ready, stranger, reverts):
    operation = propose(ledger, "setEpochMintCap", 5)
    wait_until_ready(operation)
    with reverts(timelock.AccessControlUnauthorizedAccount, account=stranger.address,
                 neededRole=timelock.EXECUTOR_ROLE()):
        timelock.execute(*operation, sender=stranger)


def test_updateDelay_revertsIfNotCalledByTimelock(timelock, admin, reverts):
    with reverts(timelock.TimelockUnauthorizedCaller, caller=admin.address):
        timelock.updateDelay(0, sender=admin)


def test_updateDelay_changesDelayThroughTimelock(timelock, govern):
    govern(timelock, "updateDelay", 60)
    assert timelock.getMinDelay() == 60


# ----------------------------------------------------------------------- ledger caps


def test_setEpochMintCap_takesEffectThroughTimelock(ledger, govern, settle_one, deploy_params, reverts):
    receipt = govern(ledger, "setEpochMintCap", 2 * REWARD)

    assert event_args(receipt, ledger.EpochMintCapChanged) == [
        {"oldCap": deploy_params.epoch_mint_cap, "newCap": 2 * REWARD}]
    assert ledger.epochMintCap() == 2 * REWARD
    settle_one(header_reward=2 * REWARD)
    with reverts(ledger.LedgerEpochMintCapExceeded, epochId=2, totalReward=2 * REWARD + 1, cap=2 * REWARD):
        settle_one(header_reward=2 * REWARD + 1)


def test_setMaxRewardMultiplier_takesEffectThroughTimelock(ledger, govern, settle_one, deploy_params, annotators,
                                                           reverts):
    receipt = govern(ledger, "setMaxRewardMultiplier", 10_000)

    assert event_args(receipt, ledger.MaxRewardMultiplierChanged) == [
        {"oldMultiplierBps": deploy_params.max_reward_multiplier_bps, "newMultiplierBps": 10_000}]
    assert ledger.maxRewardMultiplierBps() == 10_000
    settle_one(amount=REWARD)
    with reverts(ledger.LedgerPayoutAboveRate, annotator=annotators[0].address, amount=REWARD + 1, maxAmount=REWARD):
        settle_one(amount=REWARD + 1)


def test_setMaxRewardMultiplier_revertsThroughTimelockIfBelowOneX(timelock, ledger, propose, wait_until_ready, admin,
                                                                  deploy_params, reverts):
    operation = propose(ledger, "setMaxRewardMultiplier", 9_999)
    wait_until_ready(operation)
    # The timelock bubbles the ledger's revert up unchanged.
    with reverts(ledger.LedgerInvalidMultiplier, multiplierBps=9_999):
        timelock.execute(*operation, sender=admin)
    assert ledger.maxRewardMultiplierBps() == deploy_params.max_reward_multiplier_bps
    assert timelock.isOperationReady(timelock.hashOperation(*operation))


def test_setMinEpochInterval_takesEffectThroughTimelock(ledger, govern, settle_one, chain, reverts):
    receipt = govern(ledger, "setMinEpochInterval", 600)

    assert event_args(receipt, ledger.MinEpochIntervalChanged) == [{"oldInterval": 0, "newInterval": 600}]
    assert ledger.minEpochInterval() == 600
    settle_one()
    earliest = ledger.epoch(1).openedAt + 600
    with reverts(ledger.LedgerEpochTooSoon, epochId=2, earliest=earliest):
        settle_one()
    chain.pending_timestamp = earliest
    settle_one()
    assert ledger.isEpochSettled(2)


# ----------------------------------------------------------------------------- roles


def test_grantRole_grantsAndRevokesVerifierThroughTimelock(ledger, timelock, govern, settle_one, stranger, reverts):
    verifier_role = ledger.VERIFIER_ROLE()
    with reverts(ledger.AccessControlUnauthorizedAccount, account=stranger.address, neededRole=verifier_role):
        settle_one(sender=stranger)

    receipt = govern(ledger, "grantRole", verifier_role, stranger.address)
    assert event_args(receipt, ledger.RoleGranted) == [
        {"role": verifier_role, "account": stranger.address, "sender": timelock.address}]
    assert ledger.hasRole(verifier_role, stranger.address)
    settle_one(sender=stranger)

    govern(ledger, "revokeRole", verifier_role, stranger.address, salt=keccak(text="revoke"))
    assert not ledger.hasRole(verifier_role, stranger.address)
    with reverts(ledger.AccessControlUnauthorizedAccount, account=stranger.address, neededRole=verifier_role):
        settle_one(sender=stranger)


@pytest.mark.parametrize("contract_name", ["ledger", "token"])
def test_grantRole_grantsAdminRoleOnlyThroughTimelock(govern, request, stranger, contract_name):
    contract = request.getfixturevalue(contract_name)
    govern(contract, "grantRole", ADMIN_ROLE, stranger.address)
    assert contract.hasRole(ADMIN_ROLE, stranger.address)


def test_grantRole_grantsTokenPauserThroughTimelock(token, govern, stranger):
    govern(token, "grantRole", token.PAUSER_ROLE(), stranger.address)
    token.pause(sender=stranger)
    assert token.paused()
