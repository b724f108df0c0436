"""Contract-test helpers: factory fixtures named as verbs."""

from __future__ import annotations

import dataclasses
import re
from contextlib import contextmanager

import ape
import pytest
from ape.exceptions import CustomError
from eth_utils import keccak

from labelshare.admin.deploy import RoleHolders, deploy_protocol
from labelshare.domains import GENERAL, domain_id
from labelshare.epochs import plan_epoch
from labelshare.leaves import AcceptedAnnotation

REWARD = 10**18  # base reward per accepted label in the tests' projects
ZERO_BYTES32 = b"\0" * 32


@pytest.fixture
def create_project(ledger, requester):
    """Registers a project and returns its id."""

    def create(domain: str = GENERAL, reward: int = REWARD, overlap: int = 3, owner=None) -> int:
        owner = owner or requester
        receipt = ledger.createProject(
            owner.address, keccak(text=f"spec-{domain}-{reward}"), domain_id(domain), reward, overlap,
            sender=requester,
        )
        return receipt.decode_logs(ledger.ProjectCreated)[0].projectId

    return create


@pytest.fixture
def make_annotations():
    """Accepted annotations: `per_annotator` tasks for each annotator on one project."""

    def make(project_id: int, annotators, per_annotator: int = 2, reward: int = REWARD):
        return [
            AcceptedAnnotation(a.address, project_id, keccak(text=f"{project_id}-{a.address}-{t}"),
                               keccak(text=f"label-{t}"), reward)
            for a in annotators
            for t in range(per_annotator)
        ]

    return make


@pytest.fixture
def settle_epoch(ledger, verifier):
    """Plans and settles every chunk of the next epoch; returns the plan."""

    def settle(annotations, payouts_per_chunk: int = 400):
        plan = plan_epoch(ledger.nextEpochId(), annotations, payouts_per_chunk)
        for index, chunk in enumerate(plan.chunks):
            ledger.settle(plan.epoch_id, plan.header, index, [p.as_tuple() for p in chunk], sender=verifier)
        return plan

    return settle


@pytest.fixture
def deploy_stack(project, deployer, admin, guardian, verifier, qualifier, requester, deploy_params):
    """Deploys a second, independent protocol with the session's role holders and the session's
    parameters changed by keyword (e.g. ``deploy_stack(supply_cap=5)``); returns it by role name."""

    def deploy(**overrides):
        roles = RoleHolders(
            admin=admin.address, guardian=guardian.address, verifier=verifier.address,
            qualifier=qualifier.address, requester=requester.address,
        )
        return deploy_protocol(project, deployer, roles, dataclasses.replace(deploy_params, **overrides))

    return deploy


@pytest.fixture
def deploy_reverting(chain):
    """Attempts a deployment that should revert (use it inside ``reverts``), as a call at the
    deployer's next nonce, after telling Ape which contract type that address is being created as.

    A failed deployment transaction trips over two Ape quirks: it finds the revert reason by
    replaying the transaction as a call after it was mined, when the deployer's nonce (and so the
    new contract's address, which the constructor may check) has moved on; and it decodes the
    failed call's trace with the contract type it last saw at that address, which after a snapshot
    revert can be another contract (the decode then crashes with eth_abi's InvalidPointer)."""

    def deploy(container, *args, sender):
        address = sender.get_deployment_address(sender.nonce)
        chain.contracts.cache_contract_type(address, container.contract_type)
        return chain.provider.send_call(container.constructor.serialize_transaction(*args, sender=sender))

    return deploy


# How anvil words a call's revert data that is not a standard Error/Panic: all of it as text when it
# is valid UTF-8, else "custom error 0x<selector>: <args>" with the args as text when they are valid
# UTF-8 and as bare hex otherwise (no ": <args>" when there are none). Ape strips the message, so
# data ending in whitespace bytes (e.g. a uint of 10) comes back truncated.
_ANVIL_CUSTOM_ERROR = re.compile(r"custom error 0x(?P<selector>[0-9a-f]{8})(?:: (?P<args>.*))?", re.DOTALL)
_HEX_WORDS = re.compile(r"(?:[0-9a-f]{64})*")


def _revert_data(message: str | None) -> bytes:
    """The raw revert data behind a revert Ape could not decode (a call's or a deployment's)."""
    if not message:
        return b""
    if message.startswith("0x"):  # failed deployment transactions report it as hex
        return bytes.fromhex(message[2:])
    if match := _ANVIL_CUSTOM_ERROR.fullmatch(message):
        args = match["args"] or ""
        return bytes.fromhex(match["selector"]) + (bytes.fromhex(args) if _HEX_WORDS.fullmatch(args) else args.encode())
    return message.encode()


@contextmanager
def _strict_reverts(error, **inputs):
    expected = keccak(text=error.abi.selector)[:4]
    with ape.reverts(error, **inputs) as info:
        yield info
    raised = info.value
    if isinstance(raised, CustomError):
        selector, actual = keccak(text=raised.abi.selector)[:4], raised.inputs
    else:
        data = _revert_data(raised.revert_message)
        selector, args = data[:4], data[4:]
        assert len(args) % 32 == 0, f"revert data of {raised.revert_message!r} was truncated; choose other inputs"
        actual = ape.chain.provider.network.ecosystem.decode_calldata(error.abi, args) if selector == expected else {}
    assert selector == expected, f"expected {error.abi.selector}, got revert {raised.revert_message!r}"
    wrong = {name: actual.get(name) for name, value in inputs.items() if actual.get(name) != value}
    assert not wrong, f"{error.abi.selector} reverted with {actual}, expected {inputs}"


@pytest.fixture
def reverts():
    """``ape.reverts(error, **inputs)`` made strict: the revert must be ``error`` with those inputs.

    Ape checks the error only for reverts it decoded itself; reverts of calls and deployments come
    back undecoded from ape-foundry, and ``ape.reverts(SomeError)`` then accepts any revert at all
    (and an input name it does not know is ignored). This decodes the revert data in those cases
    and checks every named input."""
    return _strict_reverts


# ------------------------------------------------------------- governance


@pytest.fixture
def propose(timelock, admin, deploy_params):
    """Schedules ``contract.method(*args)`` with the minimum delay; returns the operation as
    (target, value, data, predecessor, salt), the arguments ``execute`` and ``hashOperation`` take."""

    def propose_(contract, method, *args, salt=ZERO_BYTES32):
        operation = (contract.address, 0, getattr(contract, method).encode_input(*args), ZERO_BYTES32, salt)
        timelock.schedule(*operation, deploy_params.timelock_delay, sender=admin)
        return operation

    return propose_


@pytest.fixture
def wait_until_ready(timelock, chain):
    """Lets the next block be the first at which ``operation`` may execute."""

    def wait(operation):
        chain.pending_timestamp = timelock.getTimestamp(timelock.hashOperation(*operation))

    return wait


@pytest.fixture
def govern(propose, wait_until_ready, timelock, admin):
    """Proposes ``contract.method(*args)``, waits out the delay and executes it; returns the receipt."""

    def govern_(contract, method, *args, salt=ZERO_BYTES32):
        operation = propose(contract, method, *args, salt=salt)
        wait_until_ready(operation)
        return timelock.execute(*operation, sender=admin)

    return govern_
