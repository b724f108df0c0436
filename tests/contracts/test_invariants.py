"""Stateful invariants beyond the ledger machine of test_properties.py: EIP-2612 permits, and role
changes through the timelock. Each is a Hypothesis state machine on anvil against a ghost model,
with the chain restored to its snapshot after every example.

- ``PermitMachine``: owners (keys that only sign) sign permits for random spenders, values and
  deadlines — some for a nonce ahead of theirs, some under another EIP-712 domain (chain id,
  contract, name) — and relayers submit them, replay used ones as they are or with the value or
  spender changed. The model predicts each outcome, including the custom error and its arguments.
  Invariants: nonces and allowances equal the model's; a nonce never goes down and moves by exactly
  one per accepted permit; every permit ever accepted, replayed now (an eth_call each, in one batch),
  reverts with ERC2612InvalidSigner (or ERC2612ExpiredSignature once its deadline is past).
- ``RoleMachine``: every account tries to grant, revoke and renounce roles on the ledger, the token
  and the timelock directly; the admin key (and others, who must fail) schedules grants and
  revocations of the ledger's and token's roles on the timelock, executes them before and after the
  delay, executes them twice, cancels them. Invariants: role holders (from hasRole and rebuilt from
  RoleGranted/RoleRevoked) equal the model's; every role admin is DEFAULT_ADMIN_ROLE, held by the
  timelock alone; every RoleGranted since the start was sent by the timelock, and every RoleRevoked
  by the timelock or by the account renouncing its own role.

Runs are short by default (10 examples of up to 10 steps each). Deeper:

    LABELSHARE_PROPERTY_EXAMPLES=200 LABELSHARE_PROPERTY_STEPS=30 ape test tests/contracts/test_invariants.py
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from test_properties import (
    DEFAULT_ADMIN_ROLE,
    LEDGER_ROLES,
    PAUSER_ROLE,
    TOKEN_ROLES,
    VERIFIER_ROLE,
    BatchReader,
    Expected,
    reverts,
)

EXAMPLES = int(os.environ.get("LABELSHARE_PROPERTY_EXAMPLES", "10"))
STEPS = int(os.environ.get("LABELSHARE_PROPERTY_STEPS", "10"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    database=None,  # nothing written into the tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
OUTCOMES: Counter[str] = Counter()  # printed after each run (see -s)


def _record(expected: Expected | None) -> None:
    OUTCOMES[f"reverted: {expected.error.__name__}" if expected else "succeeded"] += 1


# ------------------------------------------------------------------------------------ permits

# Owners only sign (they never send a transaction, so they need no ether); spenders are anyone.
OWNERS = tuple(Account.from_key(keccak(text=f"labelshare-permit-owner-{i}")) for i in range(3))
SPENDERS = tuple(Account.from_key(keccak(text=f"labelshare-permit-spender-{i}")).address for i in range(3))
PERMIT_TYPES = {
    "Permit": [
        {"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
        {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ],
}
PERMIT_SELECTOR = keccak(text="permit(address,address,uint256,uint256,uint8,bytes32,bytes32)")[:4]
INVALID_SIGNER = keccak(text="ERC2612InvalidSigner(address,address)")[:4]
EXPIRED = keccak(text="ERC2612ExpiredSignature(uint256)")[:4]
DOMAINS = ("token", "token", "token", "token", "other chain", "other contract", "other name")
RELAYERS = ("stranger", "verifier", "guardian", "requester")


@dataclass(frozen=True)
class Permit:
    owner: int  # index into OWNERS
    spender: str
    value: int
    nonce: int  # the nonce it was signed for
    deadline: int
    domain: str
    v: int
    r: bytes
    s: bytes

    def args(self, spender: str | None = None, value: int | None = None) -> tuple:
        return (OWNERS[self.owner].address, spender or self.spender, self.value if value is None else value,
                self.deadline, self.v, self.r, self.s)


class PermitMachine(RuleBasedStateMachine):
    def __init__(self, chain: Any, token: Any, ledger: Any, actors: dict[str, Any]) -> None:
        super().__init__()
        self.chain, self.token, self.ledger, self.actors = chain, token, ledger, actors
        self.snapshot_id = chain.snapshot()
        self.reader = BatchReader(chain, {"token": token})
        self.w3 = self.reader.w3
        self.name = token.name()
        base = self.reader.read({
            **{("nonce", o.address): ("token", "nonces", (o.address,)) for o in OWNERS},
            **{("allowance", o.address, s): ("token", "allowance", (o.address, s)) for o in OWNERS for s in SPENDERS},
        })
        self.nonces = {o.address: base[("nonce", o.address)] for o in OWNERS}
        self.allowances = {(o.address, s): base[("allowance", o.address, s)] for o in OWNERS for s in SPENDERS}
        self.seen_nonces = dict(self.nonces)
        self.held: list[Permit] = []  # signed, never accepted
        self.used: list[Permit] = []  # accepted once

    def teardown(self) -> None:
        self.chain.restore(self.snapshot_id)

    def latest_timestamp(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def predict(self, permit: Permit, spender: str, value: int) -> Expected | None:
        """What `permit` must do. Deadlines are never near the next block's time (see `sign`)."""
        owner = OWNERS[permit.owner].address
        if permit.deadline < self.latest_timestamp():
            return Expected(self.token.ERC2612ExpiredSignature, {"deadline": permit.deadline})
        if (permit.domain != "token" or permit.nonce != self.nonces[owner] or spender != permit.spender
                or value != permit.value):
            return Expected(self.token.ERC2612InvalidSigner, {"owner": owner})
        return None

    def submit(self, permit: Permit, relayer: str, spender: str | None = None, value: int | None = None):
        spender = spender or permit.spender
        value = permit.value if value is None else value
        expected = self.predict(permit, spender, value)
        _record(expected)
        args = permit.args(spender, value)
        if expected is not None:
            with reverts(expected.error, **expected.inputs):
                self.token.permit(*args, sender=self.actors[relayer])
            return expected
        receipt = self.token.permit(*args, sender=self.actors[relayer])
        owner = OWNERS[permit.owner].address
        assert [log.event_arguments for log in receipt.decode_logs(self.token.Approval)] == [
            {"owner": owner, "spender": spender, "value": value}]
        self.nonces[owner] += 1
        self.allowances[(owner, spender)] = value
        return None

    # ---------------------------------------------------------------------------- rules

    @rule(owner=st.integers(0, len(OWNERS) - 1), spender=st.sampled_from(SPENDERS),
          value=st.one_of(st.integers(0, 10**6), st.integers(0, 2**256 - 1)),
          expired=st.sampled_from((False, False, False, True)),
          nonce_ahead=st.sampled_from((0, 0, 0, 1, 2)), domain=st.sampled_from(DOMAINS),
          offset=st.integers(1, 10**6))
    def sign(self, owner, spender, value, expired, nonce_ahead, domain, offset):
        """An owner signs a permit (not yet sent): usually for its next nonce under the token's domain."""
        now = self.latest_timestamp()
        # Far from the next block's time either way: expired before the latest block, or valid for 10+ minutes.
        deadline = max(0, now - offset) if expired else now + 600 + offset
        nonce = self.nonces[OWNERS[owner].address] + nonce_ahead
        eip712 = {"name": self.name, "version": "1", "chainId": self.chain.chain_id,
                  "verifyingContract": self.token.address}
        if domain == "other chain":
            eip712["chainId"] += 1
        elif domain == "other contract":
            eip712["verifyingContract"] = self.ledger.address
        elif domain == "other name":
            eip712["name"] = "LabelShare"
        message = {"owner": OWNERS[owner].address, "spender": spender, "value": value, "nonce": nonce,
                   "deadline": deadline}
        signed = Account.sign_message(
            encode_typed_data(domain_data=eip712, message_types=PERMIT_TYPES, message_data=message), OWNERS[owner].key)
        self.held.append(Permit(owner, spender, value, nonce, deadline, domain, signed.v,
                                signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")))

    @rule(owner=st.integers(0, len(OWNERS) - 1), spender=st.sampled_from(SPENDERS), value=st.integers(0, 10**24),
          relayer=st.sampled_from(RELAYERS))
    def permit_now(self, owner, spender, value, relayer):
        """The common case: an owner signs a permit for its current nonce and a relayer sends it at once."""
        self.sign(owner, spender, value, expired=False, nonce_ahead=0, domain="token", offset=3600)
        self.submit_signed(len(self.held) - 1, relayer)

    @precondition(lambda self: self.held)
    @rule(pick=st.integers(0, 2**16), relayer=st.sampled_from(RELAYERS))
    def submit_signed(self, pick, relayer):
        """A relayer sends a signed permit: accepted only for the owner's current nonce, in time, in the
        token's domain."""
        permit = self.held[pick % len(self.held)]
        if self.submit(permit, relayer) is None:
            self.held.remove(permit)
            self.used.append(permit)

    @precondition(lambda self: self.used)
    @rule(pick=st.integers(0, 2**16), relayer=st.sampled_from(RELAYERS),
          tamper=st.sampled_from(("none", "none", "value", "spender")))
    def replay_used(self, pick, relayer, tamper):
        """An accepted permit sent again — as it is, or with its value or spender changed — always reverts."""
        permit = self.used[pick % len(self.used)]
        spender = SPENDERS[(SPENDERS.index(permit.spender) + 1) % len(SPENDERS)] if tamper == "spender" else None
        value = (permit.value + 1) % 2**256 if tamper == "value" else None
        assert self.submit(permit, relayer, spender, value) is not None

    # ----------------------------------------------------------------------- invariants

    @invariant()
    def nonces_and_allowances_match_ghost(self):
        """Nonces and allowances are the model's; nonces never decrease (they move only by accepted permits)."""
        view = self.reader.read({
            **{("nonce", o.address): ("token", "nonces", (o.address,)) for o in OWNERS},
            **{("allowance", o.address, s): ("token", "allowance", (o.address, s)) for o in OWNERS for s in SPENDERS},
        })
        for o in OWNERS:
            nonce = view[("nonce", o.address)]
            assert nonce == self.nonces[o.address], o.address
            assert nonce >= self.seen_nonces[o.address], o.address
            self.seen_nonces[o.address] = nonce
        for key, value in self.allowances.items():
            assert view[("allowance", *key)] == value, key

    @invariant()
    def accepted_permits_cannot_be_replayed(self):
        """Every permit ever accepted reverts if sent again now (simulated with eth_call, in one batch)."""
        if not self.used:
            return
        relayer = self.actors["stranger"].address
        calls = [("eth_call", [{"from": relayer, "to": self.token.address,
                                "data": "0x" + (PERMIT_SELECTOR + abi_encode(
                                    ["address", "address", "uint256", "uint256", "uint8", "bytes32", "bytes32"],
                                    p.args())).hex()}, "latest"]) for p in self.used]
        responses = self.w3.provider.make_batch_request(calls)
        latest = self.latest_timestamp()  # eth_call on "latest" runs at that block's time
        for permit, response in zip(self.used, responses, strict=True):
            assert "error" in response, f"replaying {permit} would succeed: {response}"
            data = response["error"].get("data")
            assert isinstance(data, str) and data.startswith("0x"), response
            assert bytes.fromhex(data[2:])[:4] == (EXPIRED if permit.deadline < latest else INVALID_SIGNER), response


@pytest.fixture
def permit_machine(chain, token, ledger, stranger, verifier, guardian, requester):
    actors = {"stranger": stranger, "verifier": verifier, "guardian": guardian, "requester": requester}
    return lambda: PermitMachine(chain, token, ledger, actors)


def test_permits_are_single_use(permit_machine):
    OUTCOMES.clear()
    run_state_machine_as_test(permit_machine, settings=SETTINGS)
    print("permit machine outcomes:", dict(sorted(OUTCOMES.items())))
    assert OUTCOMES["succeeded"] > 0, "no permit was ever accepted: the machine tested nothing"


# -------------------------------------------------------------------------------------- roles

PROPOSER_ROLE = keccak(text="PROPOSER_ROLE")
EXECUTOR_ROLE = keccak(text="EXECUTOR_ROLE")
CANCELLER_ROLE = keccak(text="CANCELLER_ROLE")
TIMELOCK_ROLES = (DEFAULT_ADMIN_ROLE, PROPOSER_ROLE, EXECUTOR_ROLE, CANCELLER_ROLE)
ROLES = {"ledger": LEDGER_ROLES, "token": TOKEN_ROLES, "timelock": TIMELOCK_ROLES}
# What governance may hand out in this machine: the ledger's and token's operational roles.
GOVERNED = tuple((c, r) for c, roles in (("ledger", LEDGER_ROLES), ("token", TOKEN_ROLES))
                 for r in roles if r != DEFAULT_ADMIN_ROLE)
EOAS = ("admin", "guardian", "verifier", "qualifier", "requester", "stranger")
ZERO32 = bytes(32)
# TimelockController.OperationState.Ready as the bitmap of expected states its errors carry.
READY_STATE = (1 << 2).to_bytes(32, "big")


@dataclass
class Operation:
    contract: str
    role: bytes
    account: str
    grant: bool
    args: tuple  # (target, value, data, predecessor, salt)
    op_id: bytes
    ready_at: int


class RoleMachine(RuleBasedStateMachine):
    def __init__(self, chain: Any, contracts: dict[str, Any], actors: dict[str, Any], delay: int) -> None:
        super().__init__()
        self.chain, self.contracts, self.actors, self.delay = chain, contracts, actors, delay
        self.snapshot_id = chain.snapshot()
        self.reader = BatchReader(chain, contracts)
        self.w3 = self.reader.w3
        self.timelock = contracts["timelock"]
        self.accounts = (*(a.address for a in actors.values()), self.timelock.address)
        events = self.role_events()
        self.base_events = len(events)
        self.holders = self.holders_from(events)  # the model: (contract, role) -> accounts
        assert self.holders[("ledger", DEFAULT_ADMIN_ROLE)] == {self.timelock.address}
        self.pending: list[Operation] = []
        self.done: list[Operation] = []
        self.salt = 0

    def teardown(self) -> None:
        self.chain.restore(self.snapshot_id)

    def role_events(self) -> list[tuple[str, str, Any]]:
        return self.reader.events({name: ("RoleGranted", "RoleRevoked") for name in self.contracts})

    @staticmethod
    def holders_from(events) -> dict[tuple[str, bytes], set[str]]:
        holders: dict[tuple[str, bytes], set[str]] = defaultdict(set)
        for contract, event, args in events:
            (holders[(contract, bytes(args["role"]))].add if event == "RoleGranted"
             else holders[(contract, bytes(args["role"]))].discard)(args["account"])
        return holders

    def holds(self, contract: str, role: bytes, account: str) -> bool:
        return account in self.holders[(contract, role)]

    def latest_timestamp(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def attempt(self, expected: Expected | None, call, *args, sender) -> bool:
        _record(expected)
        if expected is not None:
            with reverts(expected.error, **expected.inputs):
                call(*args, sender=sender)
            return False
        call(*args, sender=sender)
        return True

    def unauthorized(self, contract: str, account: str, role: bytes) -> Expected:
        return Expected(self.contracts[contract].AccessControlUnauthorizedAccount,
                        {"account": account, "neededRole": role})

    # ---------------------------------------------------------------------------- rules

    @rule(contract=st.sampled_from(tuple(ROLES)), pick=st.integers(0, 2**16), sender=st.sampled_from(EOAS),
          account=st.sampled_from((*EOAS, "timelock")), revoke=st.booleans())
    def grant_or_revoke_directly(self, contract, pick, sender, account, revoke):
        """An account calls grantRole/revokeRole itself: only a holder of the role's admin role may."""
        role = ROLES[contract][pick % len(ROLES[contract])]
        actor = self.actors[sender]
        target = self.timelock.address if account == "timelock" else self.actors[account].address
        allowed = self.holds(contract, DEFAULT_ADMIN_ROLE, actor.address)
        expected = None if allowed else self.unauthorized(contract, actor.address, DEFAULT_ADMIN_ROLE)
        c = self.contracts[contract]
        if self.attempt(expected, c.revokeRole if revoke else c.grantRole, role, target, sender=actor):
            (self.holders[(contract, role)].discard if revoke else self.holders[(contract, role)].add)(target)

    @rule(contract=st.sampled_from(tuple(ROLES)), pick=st.integers(0, 2**16), sender=st.sampled_from(EOAS),
          confirm_self=st.sampled_from((True, True, True, False)))
    def renounce(self, contract, pick, sender, confirm_self):
        """An account renounces a role (held or not) for itself; renouncing for another reverts."""
        role = ROLES[contract][pick % len(ROLES[contract])]
        actor = self.actors[sender]
        confirmation = actor.address if confirm_self else self.actors["stranger" if sender != "stranger"
                                                                      else "verifier"].address
        c = self.contracts[contract]
        expected = None if confirm_self else Expected(c.AccessControlBadConfirmation)
        if self.attempt(expected, c.renounceRole, role, confirmation, sender=actor):
            self.holders[(contract, role)].discard(actor.address)

    @rule(which=st.integers(0, len(GOVERNED) - 1), account=st.sampled_from(EOAS), revoke=st.booleans(),
          proposer=st.sampled_from(("admin", "admin", "admin", "stranger", "guardian")))
    def schedule_role_change(self, which, account, revoke, proposer):
        """A proposer schedules a grant or revocation of a ledger or token role on the timelock."""
        contract, role = GOVERNED[which]
        target = self.actors[account].address
        self.salt += 1
        data = getattr(self.contracts[contract], "revokeRole" if revoke else "grantRole").encode_input(role, target)
        args = (self.contracts[contract].address, 0, data, ZERO32, self.salt.to_bytes(32, "big"))
        actor = self.actors[proposer]
        allowed = self.holds("timelock", PROPOSER_ROLE, actor.address)
        expected = None if allowed else self.unauthorized("timelock", actor.address, PROPOSER_ROLE)
        if self.attempt(expected, self.timelock.schedule, *args, self.delay, sender=actor):
            op_id = keccak(abi_encode(["address", "uint256", "bytes", "bytes32", "bytes32"], list(args)))
            ready_at = self.timelock.getTimestamp(op_id)
            assert ready_at >= self.latest_timestamp() + self.delay - 1
            self.pending.append(Operation(contract, role, target, not revoke, args, op_id, ready_at))

    @precondition(lambda self: self.pending)
    @rule(pick=st.integers(0, 2**16), wait=st.booleans(),
          executor=st.sampled_from(("admin", "admin", "admin", "stranger", "verifier")))
    def execute(self, pick, wait, executor):
        """An executor runs a scheduled change: refused before the delay is over, applied after it."""
        op = self.pending[pick % len(self.pending)]
        actor = self.actors[executor]
        latest = self.latest_timestamp()
        if wait or latest < op.ready_at <= latest + 600:  # avoid guessing the next block's time near the edge
            if latest < op.ready_at:
                self.chain.pending_timestamp = op.ready_at
            ready = True
        else:
            ready = op.ready_at <= latest
        if not self.holds("timelock", EXECUTOR_ROLE, actor.address):
            expected = self.unauthorized("timelock", actor.address, EXECUTOR_ROLE)
        elif not ready:
            expected = Expected(self.timelock.TimelockUnexpectedOperationState,
                                {"operationId": op.op_id, "expectedStates": READY_STATE})
        else:
            expected = None
        if self.attempt(expected, self.timelock.execute, *op.args, sender=actor):
            self.pending.remove(op)
            self.done.append(op)
            (self.holders[(op.contract, op.role)].add if op.grant
             else self.holders[(op.contract, op.role)].discard)(op.account)

    @precondition(lambda self: self.done)
    @rule(pick=st.integers(0, 2**16))
    def execute_again(self, pick):
        """An executed change cannot run a second time."""
        op = self.done[pick % len(self.done)]
        actor = self.actors["admin"]
        if self.holds("timelock", EXECUTOR_ROLE, actor.address):
            expected = Expected(self.timelock.TimelockUnexpectedOperationState,
                                {"operationId": op.op_id, "expectedStates": READY_STATE})
        else:
            expected = self.unauthorized("timelock", actor.address, EXECUTOR_ROLE)
        self.attempt(expected, self.timelock.execute, *op.args, sender=actor)

    @precondition(lambda self: self.pending)
    @rule(pick=st.integers(0, 2**16), canceller=st.sampled_from(("admin", "stranger")))
    def cancel(self, pick, canceller):
        """A canceller drops a scheduled change, which then can never execute."""
        op = self.pending[pick % len(self.pending)]
        actor = self.actors[canceller]
        allowed = self.holds("timelock", CANCELLER_ROLE, actor.address)
        expected = None if allowed else self.unauthorized("timelock", actor.address, CANCELLER_ROLE)
        if self.attempt(expected, self.timelock.cancel, op.op_id, sender=actor):
            self.pending.remove(op)
            if self.holds("timelock", EXECUTOR_ROLE, self.actors["admin"].address):
                self.attempt(Expected(self.timelock.TimelockUnexpectedOperationState,
                                      {"operationId": op.op_id, "expectedStates": READY_STATE}),
                             self.timelock.execute, *op.args, sender=self.actors["admin"])

    # ----------------------------------------------------------------------- invariants

    @invariant()
    def holders_match_ghost(self):
        """hasRole, and the holders rebuilt from RoleGranted/RoleRevoked, are the model's."""
        calls = {(name, role, account): (name, "hasRole", (role, account))
                 for name, roles in ROLES.items() for role in roles for account in self.accounts}
        calls.update({("admin of", name, role): (name, "getRoleAdmin", (role,))
                      for name, roles in ROLES.items() for role in roles})
        view = self.reader.read(calls)
        for name, roles in ROLES.items():
            for role in roles:
                assert bytes(view[("admin of", name, role)]) == DEFAULT_ADMIN_ROLE, (name, role)
                for account in self.accounts:
                    assert view[(name, role, account)] is self.holds(name, role, account), (name, role.hex(), account)
        rebuilt = {k: v for k, v in self.holders_from(self.role_events()).items() if v}
        assert rebuilt == {k: v for k, v in self.holders.items() if v}

    @invariant()
    def roles_change_only_through_the_timelock(self):
        """The timelock alone holds DEFAULT_ADMIN_ROLE everywhere; since the start, every grant was sent by
        the timelock, and every revocation by the timelock or by the account renouncing its own role."""
        for name in ROLES:
            assert self.holders[(name, DEFAULT_ADMIN_ROLE)] == {self.timelock.address}, name
        for contract, event, args in self.role_events()[self.base_events:]:
            sender = to_checksum_address(args["sender"])
            if event == "RoleGranted":
                assert sender == self.timelock.address, (contract, event, dict(args))
            else:
                assert sender in (self.timelock.address, to_checksum_address(args["account"])), (contract, dict(args))


@pytest.fixture
def role_machine(chain, ledger, token, timelock, admin, guardian, verifier, qualifier, requester, stranger,
                 deploy_params):
    actors = {"admin": admin, "guardian": guardian, "verifier": verifier, "qualifier": qualifier,
              "requester": requester, "stranger": stranger}
    contracts = {"ledger": ledger, "token": token, "timelock": timelock}
    return lambda: RoleMachine(chain, contracts, actors, deploy_params.timelock_delay)


def test_roles_change_only_through_the_timelock(role_machine):
    OUTCOMES.clear()
    run_state_machine_as_test(role_machine, settings=SETTINGS)
    print("role machine outcomes:", dict(sorted(OUTCOMES.items())))
    assert OUTCOMES["reverted: AccessControlUnauthorizedAccount"] > 0


# Replays: fixed programs for the machines (as Hypothesis prints a shrunk failure), every invariant
# checked after each step, so the paths the random runs may miss are always taken.


def _check(state: RuleBasedStateMachine) -> None:
    for name in dir(type(state)):
        member = getattr(type(state), name)
        if callable(member) and getattr(member, "hypothesis_stateful_invariant", None) is not None:
            getattr(state, name)()


def test_permit_replay_program(permit_machine):
    state = permit_machine()
    try:
        _check(state)
        state.sign(owner=0, spender=SPENDERS[1], value=5, expired=False, nonce_ahead=1, domain="token", offset=10)
        state.sign(owner=0, spender=SPENDERS[0], value=7, expired=False, nonce_ahead=0, domain="token", offset=10)
        state.sign(owner=0, spender=SPENDERS[2], value=9, expired=False, nonce_ahead=0, domain="other chain", offset=1)
        ahead, current, foreign = state.held
        state.submit_signed(pick=0, relayer="stranger")  # signed for the next nonce: refused for now
        state.submit_signed(pick=2, relayer="stranger")  # another chain's domain: refused
        state.submit_signed(pick=1, relayer="verifier")  # accepted: nonce 0 -> 1
        _check(state)
        assert state.used == [current] and state.nonces[OWNERS[0].address] == 1
        state.submit_signed(pick=0, relayer="guardian")  # its nonce has come: accepted, 1 -> 2
        _check(state)
        for pick, tamper in ((0, "none"), (1, "none"), (0, "value"), (1, "spender")):
            state.replay_used(pick=pick, relayer="requester", tamper=tamper)
        _check(state)
        assert state.used == [current, ahead] and state.held == [foreign]
        assert state.allowances[(OWNERS[0].address, SPENDERS[0])] == 7
        assert state.allowances[(OWNERS[0].address, SPENDERS[1])] == 5
    finally:
        state.teardown()


def test_role_change_program(role_machine):
    state = role_machine()
    try:
        verifier_role = GOVERNED.index(("ledger", VERIFIER_ROLE))
        state.schedule_role_change(which=verifier_role, account="stranger", revoke=False, proposer="stranger")
        state.schedule_role_change(which=verifier_role, account="stranger", revoke=False, proposer="admin")
        state.grant_or_revoke_directly(contract="ledger", pick=1, sender="admin", account="stranger", revoke=False)
        _check(state)
        state.execute(pick=0, wait=False, executor="admin")  # before the delay: refused
        state.execute(pick=0, wait=True, executor="stranger")  # not an executor: refused
        state.execute(pick=0, wait=True, executor="admin")  # after the delay: the stranger verifies
        _check(state)
        assert state.holds("ledger", VERIFIER_ROLE, state.actors["stranger"].address)
        state.execute_again(pick=0)
        state.renounce(contract="ledger", pick=1, sender="stranger", confirm_self=False)
        state.renounce(contract="ledger", pick=1, sender="stranger", confirm_self=True)
        _check(state)
        assert not state.holds("ledger", VERIFIER_ROLE, state.actors["stranger"].address)
        state.schedule_role_change(which=GOVERNED.index(("token", PAUSER_ROLE)), account="qualifier", revoke=False,
                                   proposer="admin")
        state.cancel(pick=0, canceller="stranger")
        state.cancel(pick=0, canceller="admin")
        _check(state)
        assert not state.pending and not state.holds("token", PAUSER_ROLE, state.actors["qualifier"].address)
    finally:
        state.teardown()
