"""Property tests: a Hypothesis state machine driving the ledger and token on anvil, checked after
every step against a ghost model kept in Python; and a chain-free property test of ``plan_epoch``.

The machine creates general and specialist projects, grants and revokes qualifications, settles
random epochs (all at once, or some chunks now and the rest later, in any order), pauses and
unpauses the ledger and the token (and, while either is paused, keeps trying to settle), and tries
things that must fail: settling a settled epoch or a settled chunk, settling as a non-verifier,
paying above the rate or an unqualified annotator, a wrong header, an out-of-order epoch, minting on
the token directly, granting or revoking roles without the admin role. The model predicts the
outcome of every attempt — including the exact custom error and its arguments — so a failed attempt
must revert with that error, and every invariant then checks that it changed nothing. Invariants:
total supply equals the sum of settled rewards; balances and AnnotatorRewarded events agree; no
epoch or chunk settles twice; only the ledger mints; role holders never change; while the ledger or
the token is paused, supply does not move. (test_invariants.py adds permits, and role changes
through the timelock.)

Runs are kept short for a 2-core machine (15 examples of up to 12 steps). For a deeper run:

    LABELSHARE_PROPERTY_EXAMPLES=300 LABELSHARE_PROPERTY_STEPS=30 ape test tests/contracts/test_properties.py

(``LABELSHARE_PROPERTY_EXAMPLES`` also scales the chain-free ``plan_epoch`` test, 10 examples per unit.)
With ``-s`` the run prints how many attempts ended in each outcome. Hypothesis keeps no example
database (nothing is written into the tree): a shrunk failure is kept as a replay test, a fixed
program for the machine like the three below it. Invariant reads go to anvil as one batched
JSON-RPC request per step, because one Ape call per read would make each step cost seconds.

``test_is_chunk_settled_false_for_epochs_never_opened`` is the regression test of a bug these tests
found: the chunk bitmap key ``(epochId << 16) | chunkIndex`` wrapped for epoch ids 2**240 apart.
"""

from __future__ import annotations

import math
import os
import random
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import ape
import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from labelshare.domains import GENERAL, domain_id
from labelshare.epochs import Payout, plan_epoch
from labelshare.leaves import AcceptedAnnotation, annotation_leaf
from labelshare.merkle import verify_proof

EXAMPLES = int(os.environ.get("LABELSHARE_PROPERTY_EXAMPLES", "15"))
STEPS = int(os.environ.get("LABELSHARE_PROPERTY_STEPS", "12"))

# Role ids as the contracts document them (keccak of the name; the admin role is zero).
DEFAULT_ADMIN_ROLE = bytes(32)
VERIFIER_ROLE = keccak(text="VERIFIER_ROLE")
QUALIFIER_ROLE = keccak(text="QUALIFIER_ROLE")
REQUESTER_ROLE = keccak(text="REQUESTER_ROLE")
PAUSER_ROLE = keccak(text="PAUSER_ROLE")
LEDGER_ROLES = (DEFAULT_ADMIN_ROLE, VERIFIER_ROLE, QUALIFIER_ROLE, REQUESTER_ROLE, PAUSER_ROLE)
TOKEN_ROLES = (DEFAULT_ADMIN_ROLE, PAUSER_ROLE)
BPS = 10_000

GENERAL_ID = domain_id(GENERAL)
SPECIALISTS = (domain_id("medicine"), domain_id("law"))
DOMAINS = (GENERAL_ID, *SPECIALISTS)
# Payees: fresh addresses nobody holds a role for (deterministic, so printed failures replay).
POOL = tuple(Account.from_key(keccak(text=f"labelshare-property-payee-{i}")).address for i in range(4))
NON_VERIFIERS = ("stranger", "guardian", "qualifier", "requester", "deployer")
NON_ADMINS = ("stranger", "verifier", "guardian", "qualifier", "requester", "deployer")
OUTCOMES: Counter[str] = Counter()  # what the machine's attempts did; printed after the run (see -s)


@contextmanager
def reverts(error: type, **inputs: Any):
    """``ape.reverts(error, **inputs)``, made strict: ``ape.reverts`` passes any revert that Ape
    could not decode, and skips input names the error does not have; both fail here."""
    with ape.reverts(error, **inputs) as info:
        yield info
    OUTCOMES[f"reverted: {error.__name__}"] += 1
    assert isinstance(info.value, error), f"expected {error.__name__}, got {type(info.value).__name__}: {info.value}"
    missing = set(inputs) - set(info.value.inputs)
    assert not missing, f"{error.__name__} has no inputs {missing}"


@dataclass(frozen=True)
class Expected:
    """A predicted revert: the contract's error class and the arguments it must carry."""

    error: type
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class GhostEpoch:
    header: tuple[bytes, int, int, int]
    chunks: tuple[tuple[Payout, ...], ...]
    settled_chunks: set[int] = field(default_factory=set)
    minted: int = 0
    annotations: int = 0

    @property
    def settled(self) -> bool:
        return len(self.settled_chunks) == self.header[3]


@dataclass
class Protocol:
    """What the machine drives: the contracts, the role holders and the deploy parameters."""

    chain: Any
    ledger: Any
    token: Any
    timelock: Any
    actors: dict[str, Any]  # deployer, guardian, verifier, qualifier, requester, stranger
    epoch_mint_cap: int
    multiplier_bps: int


class BatchReader:
    """Reads many views in one raw JSON-RPC batch, and the contracts' logs in one eth_getLogs.

    Calls are ABI-encoded and decoded here with eth_abi: web3's per-call formatting would cost
    more than the whole round trip."""

    def __init__(self, chain: Any, contracts: dict[str, Any]) -> None:
        self.w3 = chain.provider.web3
        self.abis = {name: [item.model_dump(mode="json", by_alias=True) for item in c.contract_type.abi]
                     for name, c in contracts.items()}
        self.addresses = {name: c.address for name, c in contracts.items()}
        self.contracts = {name: self.w3.eth.contract(address=c.address, abi=self.abis[name])
                          for name, c in contracts.items()}
        self.functions: dict[tuple[str, str], tuple[bytes, list[str], list[str]]] = {}
        for name, abi in self.abis.items():
            for item in abi:
                if item["type"] == "function" and item["stateMutability"] in ("view", "pure"):
                    inputs = [_abi_type(i) for i in item["inputs"]]
                    selector = keccak(text=f"{item['name']}({','.join(inputs)})")[:4]
                    self.functions[(name, item["name"])] = (selector, inputs, [_abi_type(o) for o in item["outputs"]])

    def read(self, calls: dict[Any, tuple[str, str, tuple]]) -> dict[Any, Any]:
        requests, decoders = [], []
        for contract, function, args in calls.values():
            selector, inputs, outputs = self.functions[(contract, function)]
            data = "0x" + (selector + abi_encode(inputs, args)).hex()
            requests.append(("eth_call", [{"to": self.addresses[contract], "data": data}, "latest"]))
            decoders.append(outputs)
        responses = self.w3.provider.make_batch_request(requests)
        assert isinstance(responses, list), responses
        results = []
        for response, outputs in zip(responses, decoders, strict=True):
            assert "result" in response, response
            values = abi_decode(outputs, bytes.fromhex(response["result"][2:]))
            results.append(values[0] if len(values) == 1 else values)
        return dict(zip(calls, results, strict=True))

    def events(self, names: dict[str, tuple[str, ...]]) -> list[tuple[str, str, Any]]:
        """(contract, event name, args) of every listed event since block 0, in chain order."""
        decoders = {}
        for contract, events in names.items():
            instance = self.contracts[contract]
            for event in events:
                abi_event = instance.events[event]()
                signature = f"{event}({','.join(i['type'] for i in abi_event.abi['inputs'])})"
                decoders[(instance.address, keccak(text=signature))] = (contract, event, abi_event)
        logs = self.w3.eth.get_logs({"fromBlock": 0, "address": [c.address for c in self.contracts.values()]})
        decoded = []
        for log in logs:
            key = (log["address"], bytes(log["topics"][0]))
            if key in decoders:
                contract, event, abi_event = decoders[key]
                decoded.append((contract, event, abi_event.process_log(log)["args"]))
        return decoded


def _abi_type(param: dict) -> str:
    """The canonical ABI type of a JSON-ABI parameter (tuples spelled out)."""
    if param["type"].startswith("tuple"):
        return f"({','.join(_abi_type(c) for c in param['components'])}){param['type'][5:]}"
    return param["type"]


class LedgerMachine(RuleBasedStateMachine):
    """Random use and abuse of LabelLedger and RewardToken against a ghost model."""

    def __init__(self, protocol: Protocol) -> None:
        super().__init__()
        self.p = protocol
        self.ledger, self.token = protocol.ledger, protocol.token
        self.actors = protocol.actors
        self.snapshot_id = protocol.chain.snapshot()
        self.reader = BatchReader(protocol.chain, {"ledger": self.ledger, "token": self.token})
        self.watched = (*POOL, *(a.address for a in self.actors.values()), self.ledger.address, self.timelock_address)
        base = self.reader.read({
            "supply": ("token", "totalSupply", ()),
            "next": ("ledger", "nextEpochId", ()),
            "projects": ("ledger", "projectCount", ()),
            "paused": ("ledger", "paused", ()),
            "token_paused": ("token", "paused", ()),
            **{("balance", a): ("token", "balanceOf", (a,)) for a in self.watched},
            **{("level", a, d): ("ledger", "qualificationLevel", (a, d)) for a in POOL for d in SPECIALISTS},
        })
        assert not base["paused"] and not base["token_paused"]
        assert all(base[("level", a, d)] == 0 for a in POOL for d in SPECIALISTS)
        # Ghost model.
        self.base_supply = base["supply"]
        self.base_projects = base["projects"]
        self.base_rewarded = self.rewarded_by_events(self.reader.events({"ledger": ("AnnotatorRewarded",)}))
        self.next_epoch = base["next"]
        self.projects: dict[int, tuple[bytes, int]] = {}  # id -> (domain, reward per label)
        self.levels: dict[tuple[str, bytes], int] = {}
        self.paused = False
        self.token_paused = False
        self.frozen_supply: int | None = None  # total supply when the current pause began
        self.epochs: dict[int, GhostEpoch] = {}
        self.base_balances = {a: base[("balance", a)] for a in self.watched}
        self.balances = dict(self.base_balances)
        self.minted = 0
        self.task_counter = 0
        self._view: dict[Any, Any] | None = None
        self._view_block: Any = None

    def teardown(self) -> None:
        self.p.chain.restore(self.snapshot_id)

    @property
    def timelock_address(self) -> str:
        return self.p.timelock.address

    # ------------------------------------------------------------------ model

    def eligible(self, annotator: str, project_id: int) -> bool:
        domain = self.projects[project_id][0]
        return domain == GENERAL_ID or self.levels.get((annotator, domain), 0) > 0

    def max_amount(self, project_id: int, annotations: int) -> int:
        return annotations * self.projects[project_id][1] * self.p.multiplier_bps // BPS

    def predict_settle(self, sender: str, epoch_id: int, header, chunk_index: int, payouts) -> Expected | None:
        """What `settle` must do, from the interface's documentation: None means it succeeds."""
        L = self.ledger
        if sender != self.actors["verifier"].address:
            return Expected(L.AccessControlUnauthorizedAccount, {"account": sender, "neededRole": VERIFIER_ROLE})
        if self.paused:
            return Expected(L.EnforcedPause)
        ghost = self.epochs.get(epoch_id)
        if ghost is None:
            if epoch_id != self.next_epoch:
                return Expected(L.LedgerEpochOutOfOrder, {"epochId": epoch_id, "expected": self.next_epoch})
            if header[0] == bytes(32) or header[1] == 0 or header[3] == 0:
                return Expected(L.LedgerInvalidEpochHeader, {"epochId": epoch_id})
            if header[2] > self.p.epoch_mint_cap:
                return Expected(L.LedgerEpochMintCapExceeded,
                                {"epochId": epoch_id, "totalReward": header[2], "cap": self.p.epoch_mint_cap})
            declared, settled_annotations, minted = header, 0, 0
        else:
            if ghost.settled:
                return Expected(L.LedgerEpochAlreadySettled, {"epochId": epoch_id})
            if tuple(header) != ghost.header:
                return Expected(L.LedgerEpochHeaderMismatch, {"epochId": epoch_id})
            declared, settled_annotations, minted = ghost.header, ghost.annotations, ghost.minted
        if chunk_index >= declared[3]:
            return Expected(L.LedgerInvalidChunk,
                            {"epochId": epoch_id, "chunkIndex": chunk_index, "chunkCount": declared[3]})
        if not payouts:
            return Expected(L.LedgerEmptyChunk, {"epochId": epoch_id, "chunkIndex": chunk_index})
        if ghost is not None and chunk_index in ghost.settled_chunks:
            return Expected(L.LedgerChunkAlreadySettled, {"epochId": epoch_id, "chunkIndex": chunk_index})
        for p in payouts:
            if p.annotations == 0:
                return Expected(L.LedgerEmptyPayout, {"annotator": p.annotator, "projectId": p.project_id})
            if p.project_id not in self.projects:
                return Expected(L.LedgerUnknownProject, {"projectId": p.project_id})
            if not self.eligible(p.annotator, p.project_id):
                return Expected(L.LedgerAnnotatorNotQualified, {
                    "annotator": p.annotator, "projectId": p.project_id, "domain": self.projects[p.project_id][0]})
            bound = self.max_amount(p.project_id, p.annotations)
            if p.amount > bound:
                return Expected(L.LedgerPayoutAboveRate, {
                    "annotator": p.annotator, "projectId": p.project_id, "amount": p.amount, "maxAmount": bound})
            if p.amount and self.token_paused:  # the token refuses the mint; its error bubbles up
                return Expected(L.EnforcedPause)
        annotations = settled_annotations + sum(p.annotations for p in payouts)
        if annotations > declared[1]:
            return Expected(L.LedgerEpochAnnotationsExceeded,
                            {"epochId": epoch_id, "declared": declared[1], "attempted": annotations})
        total = minted + sum(p.amount for p in payouts)
        if total > declared[2]:
            return Expected(L.LedgerEpochRewardExceeded,
                            {"epochId": epoch_id, "declared": declared[2], "attempted": total})
        return None

    def attempt_settle(self, sender_name: str, epoch_id: int, header, chunk_index: int, payouts,
                       chunks=None) -> Expected | None:
        """Sends `settle`; checks the predicted revert, or applies a success to the ghost.
        `chunks` is the epoch's full chunk list, remembered when this call opens the epoch."""
        sender = self.actors[sender_name]
        expected = self.predict_settle(sender.address, epoch_id, header, chunk_index, payouts)
        args = (epoch_id, tuple(header), chunk_index, [p.as_tuple() for p in payouts])
        if expected is not None:
            with reverts(expected.error, **expected.inputs):
                self.ledger.settle(*args, sender=sender)
            if self.paused or self.token_paused:
                OUTCOMES["settle refused while paused"] += 1
            return expected
        receipt = self.ledger.settle(*args, sender=sender)
        OUTCOMES["settled a chunk"] += 1
        assert not self.paused, "a settle went through while the ledger was paused"
        assert not (self.token_paused and any(p.amount for p in payouts)), "minted while the token was paused"
        ghost = self.epochs.get(epoch_id)
        if ghost is None:
            assert chunks is not None and len(chunks) == header[3]
            ghost = self.epochs[epoch_id] = GhostEpoch(tuple(header), tuple(chunks))
            self.next_epoch = epoch_id + 1
        ghost.settled_chunks.add(chunk_index)
        ghost.annotations += sum(p.annotations for p in payouts)
        chunk_minted = sum(p.amount for p in payouts)
        ghost.minted += chunk_minted
        self.minted += chunk_minted
        for p in payouts:
            self.balances[p.annotator] += p.amount  # payees are always watched addresses
        rewarded = receipt.decode_logs(self.ledger.AnnotatorRewarded)
        assert [(e.annotator, e.projectId, e.annotations, e.amount) for e in rewarded] == [
            (p.annotator, p.project_id, p.annotations, p.amount) for p in payouts]
        chunk_logs = receipt.decode_logs(self.ledger.EpochChunkSettled)
        assert [(e.epochId, e.chunkIndex, e.minted) for e in chunk_logs] == [(epoch_id, chunk_index, chunk_minted)]
        settled_logs = receipt.decode_logs(self.ledger.EpochSettled)
        assert len(settled_logs) == (1 if ghost.settled else 0)
        return None

    def build_annotations(self, entries) -> list[AcceptedAnnotation]:
        """Annotations from (payee index, project pick, reward in permille of the per-label bound),
        keeping only payees eligible for the picked project."""
        annotations = []
        for payee, pick, permille in entries:
            annotator = POOL[payee]
            allowed = sorted(pid for pid in self.projects if self.eligible(annotator, pid))
            if not allowed:
                continue
            project_id = allowed[pick % len(allowed)]
            reward = self.max_amount(project_id, 1) * permille // 1000
            annotations.append(self.annotation(annotator, project_id, reward))
        return annotations

    def annotation(self, annotator: str, project_id: int, reward: int) -> AcceptedAnnotation:
        self.task_counter += 1
        task = keccak(text=f"property-task-{self.task_counter}")
        return AcceptedAnnotation(annotator, project_id, task, keccak(task + b"label"), reward)

    def open_chunks(self) -> list[tuple[int, int]]:
        return [(e, i) for e, g in sorted(self.epochs.items()) for i in range(g.header[3]) if i not in g.settled_chunks]

    def settled_chunks(self) -> list[tuple[int, int]]:
        return [(e, i) for e, g in sorted(self.epochs.items()) for i in sorted(g.settled_chunks)]

    # ------------------------------------------------------------------ rules

    def _create_project(self, sender: str, domain: bytes, reward: int, overlap: int) -> None:
        actor = self.actors[sender]
        args = (actor.address, keccak(text=f"spec-{reward}-{overlap}"), domain, reward, overlap)
        if sender != "requester":
            with reverts(self.ledger.AccessControlUnauthorizedAccount, account=actor.address,
                         neededRole=REQUESTER_ROLE):
                self.ledger.createProject(*args, sender=actor)
            return
        if self.paused:
            with reverts(self.ledger.EnforcedPause):
                self.ledger.createProject(*args, sender=actor)
            return
        receipt = self.ledger.createProject(*args, sender=actor)
        project_id = receipt.decode_logs(self.ledger.ProjectCreated)[0].projectId
        assert project_id == self.base_projects + len(self.projects) + 1
        self.projects[project_id] = (domain, reward)

    @initialize(general_reward=st.integers(1, 10**6), specialist=st.sampled_from(SPECIALISTS),
                specialist_reward=st.integers(1, 10**6),
                payees=st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=4),
                reward_permille=st.integers(0, 1000))
    def start(self, general_reward, specialist, specialist_reward, payees, reward_permille):
        """The requester registers a general and a specialist project, and the verifier opens the
        first epoch on the general one, one payout per chunk, leaving its last chunk for later."""
        self._create_project("requester", GENERAL_ID, general_reward, 3)
        self._create_project("requester", specialist, specialist_reward, 1)
        general = min(self.projects)
        reward = self.max_amount(general, 1) * reward_permille // 1000
        plan = plan_epoch(self.next_epoch, [self.annotation(POOL[i], general, reward) for i in payees], 1)
        for index in range(max(1, len(plan.chunks) - 1)):
            assert self.attempt_settle("verifier", plan.epoch_id, plan.header, index, plan.chunks[index],
                                       plan.chunks) is None

    @rule(domain=st.sampled_from(DOMAINS), reward=st.integers(1, 10**6), overlap=st.integers(1, 5),
          sender=st.sampled_from(("requester", "requester", "stranger")))
    def create_project(self, domain, reward, overlap, sender):
        """A requester registers a general or specialist project (a stranger cannot)."""
        self._create_project(sender, domain, reward, overlap)

    @rule(payee=st.integers(0, len(POOL) - 1), domain=st.sampled_from(DOMAINS), level=st.integers(0, 3))
    def grant_qualification(self, payee, domain, level):
        """The qualifier grants (or re-grades) a qualification; general domain and level 0 are refused."""
        annotator, qualifier = POOL[payee], self.actors["qualifier"]
        if self.paused:
            expected = Expected(self.ledger.EnforcedPause)
        elif domain == GENERAL_ID:
            expected = Expected(self.ledger.LedgerInvalidDomain, {"domain": domain})
        elif level == 0:
            expected = Expected(self.ledger.LedgerInvalidLevel, {"level": level})
        else:
            expected = None
        if expected:
            with reverts(expected.error, **expected.inputs):
                self.ledger.grantQualification(annotator, domain, level, keccak(text="evidence"), sender=qualifier)
            return
        self.ledger.grantQualification(annotator, domain, level, keccak(text="evidence"), sender=qualifier)
        self.levels[(annotator, domain)] = level

    @rule(held=st.booleans(), pick=st.integers(0, 2**16))
    def revoke_qualification(self, held, pick):
        """The qualifier revokes a held qualification, even while paused; one not held is refused."""
        qualifier = self.actors["qualifier"]
        candidates = sorted(self.levels) if held and self.levels else [(a, d) for a in POOL for d in SPECIALISTS]
        annotator, domain = candidates[pick % len(candidates)]
        reason = b"reliability".ljust(32, b"\0")
        if (annotator, domain) not in self.levels:
            with reverts(self.ledger.LedgerNotQualified, annotator=annotator, domain=domain):
                self.ledger.revokeQualification(annotator, domain, reason, sender=qualifier)
            return
        self.ledger.revokeQualification(annotator, domain, reason, sender=qualifier)
        del self.levels[(annotator, domain)]

    @rule(entries=st.lists(st.tuples(st.integers(0, len(POOL) - 1), st.integers(0, 7), st.integers(0, 1000)),
                           min_size=1, max_size=6),
          per_chunk=st.integers(1, 3), order_seed=st.integers(0, 2**16), leave_open=st.integers(0, 2))
    def settle_new_epoch(self, entries, per_chunk, order_seed, leave_open):
        """The verifier opens the next epoch and settles its chunks in a random order, leaving up to
        `leave_open` of them for later steps."""
        annotations = self.build_annotations(entries)
        if not annotations:
            return
        plan = plan_epoch(self.next_epoch, annotations, per_chunk)
        order = list(range(len(plan.chunks)))
        random.Random(order_seed).shuffle(order)
        for index in order[:max(1, len(order) - leave_open)]:
            if self.attempt_settle("verifier", plan.epoch_id, plan.header, index, plan.chunks[index], plan.chunks):
                break

    @precondition(lambda self: self.open_chunks())
    @rule(pick=st.integers(0, 2**16))
    def settle_pending_chunk(self, pick):
        """The verifier settles a chunk left over from an earlier step (qualifications may have changed)."""
        epoch_id, index = self.open_chunks()[pick % len(self.open_chunks())]
        ghost = self.epochs[epoch_id]
        self.attempt_settle("verifier", epoch_id, ghost.header, index, ghost.chunks[index])

    @precondition(lambda self: self.settled_chunks())
    @rule(pick=st.integers(0, 2**16), in_open_epoch=st.booleans())
    def resettle_chunk(self, pick, in_open_epoch):
        """Settling a settled chunk again reverts: ChunkAlreadySettled, or EpochAlreadySettled once complete."""
        candidates = self.settled_chunks()
        if in_open_epoch:
            candidates = [(e, i) for e, i in candidates if not self.epochs[e].settled] or candidates
        epoch_id, index = candidates[pick % len(candidates)]
        ghost = self.epochs[epoch_id]
        expected = self.attempt_settle("verifier", epoch_id, ghost.header, index, ghost.chunks[index])
        assert expected is not None

    @rule(kind=st.sampled_from(("wrong header", "above rate", "unqualified", "out of order", "over cap")),
          payee=st.integers(0, len(POOL) - 1), pick=st.integers(0, 2**16), amount=st.integers(1, 10**6))
    def settle_forged_chunk(self, kind, payee, pick, amount):
        """The verifier sends a chunk the ledger must refuse; the model names the error, and nothing changes."""
        annotator = POOL[payee]
        allowed = sorted(pid for pid in self.projects if self.eligible(annotator, pid))
        refused = sorted(pid for pid in self.projects if not self.eligible(annotator, pid))
        L = self.ledger
        if kind == "wrong header":
            # A chunk of an open epoch, with one header field changed.
            if not self.open_chunks():
                return
            epoch_id, index = self.open_chunks()[pick % len(self.open_chunks())]
            ghost = self.epochs[epoch_id]
            header = list(ghost.header)
            changed = amount % 4
            header[changed] = keccak(header[0]) if changed == 0 else header[changed] + 1
            expected = self.attempt_settle("verifier", epoch_id, tuple(header), index, ghost.chunks[index])
            wanted = L.LedgerEpochHeaderMismatch
        elif kind == "above rate":
            # Every label at the bound and `amount` more on one: the payout is exactly `amount` too high.
            if not allowed:
                return
            project_id = allowed[pick % len(allowed)]
            labels, per_label = 1 + pick % 3, self.max_amount(project_id, 1)
            annotations = [self.annotation(annotator, project_id, per_label) for _ in range(labels)]
            annotations[-1] = replace(annotations[-1], reward=per_label + amount)
            plan = plan_epoch(self.next_epoch, annotations)
            assert plan.payouts[0].amount == self.max_amount(project_id, labels) + amount
            expected = self.attempt_settle("verifier", plan.epoch_id, plan.header, 0, plan.chunks[0], plan.chunks)
            wanted = L.LedgerPayoutAboveRate
        elif kind == "unqualified":
            # A specialist project the annotator holds no qualification for.
            if not refused:
                return
            project_id = refused[pick % len(refused)]
            plan = plan_epoch(self.next_epoch, [self.annotation(annotator, project_id, amount % 2)])
            expected = self.attempt_settle("verifier", plan.epoch_id, plan.header, 0, plan.chunks[0], plan.chunks)
            wanted = L.LedgerAnnotatorNotQualified
        else:
            if not allowed:
                return
            project_id = allowed[pick % len(allowed)]
            skip = 0 if kind == "over cap" else 1 + pick % 3
            plan = plan_epoch(self.next_epoch + skip, [self.annotation(annotator, project_id, 0)])
            header = (plan.root, 1, self.p.epoch_mint_cap + amount, 1) if kind == "over cap" else plan.header
            expected = self.attempt_settle("verifier", plan.epoch_id, header, 0, plan.chunks[0], plan.chunks)
            wanted = L.LedgerEpochMintCapExceeded if kind == "over cap" else L.LedgerEpochOutOfOrder
        # Only the pause may pre-empt the error this forgery is about.
        assert expected is not None and expected.error in (wanted, L.EnforcedPause), (kind, expected)

    @rule(sender=st.sampled_from(NON_VERIFIERS), entries=st.lists(
        st.tuples(st.integers(0, len(POOL) - 1), st.integers(0, 7), st.integers(0, 1000)), min_size=1, max_size=3))
    def settle_by_non_verifier(self, sender, entries):
        """Any account but the verifier is refused, even with a valid plan."""
        annotations = self.build_annotations(entries) or [self.annotation(POOL[0], min(self.projects), 0)]
        plan = plan_epoch(self.next_epoch, annotations)
        expected = self.attempt_settle(sender, plan.epoch_id, plan.header, 0, plan.chunks[0], plan.chunks)
        assert expected is not None and expected.error is self.ledger.AccessControlUnauthorizedAccount

    @rule(kind=st.sampled_from(("mint", "grantRole", "revokeRole")), sender=st.sampled_from(NON_ADMINS),
          on_token=st.booleans(), pick=st.integers(0, 2**16), amount=st.integers(1, 10**24))
    def call_without_authority(self, kind, sender, on_token, pick, amount):
        """Minting on the token (only the ledger may), or granting/revoking a role without DEFAULT_ADMIN_ROLE, is refused."""
        actor = self.actors[sender]
        if kind == "mint":
            with reverts(self.token.RewardTokenUnauthorizedMinter, caller=actor.address):
                self.token.mint(POOL[pick % len(POOL)], amount, sender=actor)
            return
        contract, roles = (self.token, TOKEN_ROLES) if on_token else (self.ledger, LEDGER_ROLES)
        role = roles[pick % len(roles)]
        with reverts(contract.AccessControlUnauthorizedAccount, account=actor.address, neededRole=DEFAULT_ADMIN_ROLE):
            if kind == "revokeRole":
                holder = self.actors["verifier"] if role == VERIFIER_ROLE else self.actors["guardian"]
                contract.revokeRole(role, holder.address, sender=actor)
            else:
                contract.grantRole(role, actor.address, sender=actor)

    @rule(pause=st.booleans(), by_guardian=st.booleans(), on_token=st.booleans())
    def set_paused(self, pause, by_guardian, on_token):
        """The guardian pauses or unpauses the ledger or the token; others cannot."""
        contract = self.token if on_token else self.ledger
        actor = self.actors["guardian" if by_guardian else "stranger"]
        currently = self.token_paused if on_token else self.paused
        call = contract.pause if pause else contract.unpause
        if not by_guardian:
            expected = Expected(contract.AccessControlUnauthorizedAccount,
                                {"account": actor.address, "neededRole": PAUSER_ROLE})
        elif pause and currently:
            expected = Expected(contract.EnforcedPause)
        elif not pause and not currently:
            expected = Expected(contract.ExpectedPause)
        else:
            expected = None
        if expected:
            with reverts(expected.error, **expected.inputs):
                call(sender=actor)
            return
        call(sender=actor)
        if on_token:
            self.token_paused = pause
        else:
            self.paused = pause
        if not (self.paused or self.token_paused):
            self.frozen_supply = None
        elif self.frozen_supply is None:
            self.frozen_supply = self.base_supply + self.minted

    @rule(on_token=st.booleans())
    def guardian_toggles_pause(self, on_token):
        """The guardian pauses what is running or unpauses what is paused, so pauses interleave with settles."""
        paused = self.token_paused if on_token else self.paused
        self.set_paused(pause=not paused, by_guardian=True, on_token=on_token)

    @precondition(lambda self: self.paused or self.token_paused)
    @rule(entries=st.lists(st.tuples(st.integers(0, len(POOL) - 1), st.integers(0, 7), st.integers(0, 1000)),
                           min_size=1, max_size=4), pending=st.booleans(), pick=st.integers(0, 2**16))
    def settle_while_paused(self, entries, pending, pick):
        """While the ledger is paused every settle reverts; while only the token is, every chunk that
        pays anything reverts (a chunk paying nothing may settle: it mints nothing)."""
        if pending and self.open_chunks():
            epoch_id, index = self.open_chunks()[pick % len(self.open_chunks())]
            ghost = self.epochs[epoch_id]
            attempt = (epoch_id, ghost.header, index, ghost.chunks[index])
        else:
            annotations = self.build_annotations(entries) or [self.annotation(POOL[0], min(self.projects), 0)]
            plan = plan_epoch(self.next_epoch, annotations)
            attempt = (plan.epoch_id, plan.header, 0, plan.chunks[0], plan.chunks)
        expected = self.attempt_settle("verifier", *attempt)
        if self.paused:
            assert expected is not None and expected.error is self.ledger.EnforcedPause, expected
        else:
            assert expected is not None or not any(p.amount for p in attempt[3]), expected

    # ------------------------------------------------------------- invariants

    def view(self) -> dict[Any, Any]:
        """Every on-chain value the invariants compare, read once per block."""
        # Every transaction mines a block, reverted ones included (Ape sends them with a fixed gas
        # limit on local networks), so within one example the block height names the state.
        block = self.reader.w3.provider.make_request("eth_blockNumber", [])["result"]
        if self._view is not None and self._view_block == block:
            return self._view
        calls = {
            "supply": ("token", "totalSupply", ()),
            "minter": ("token", "minter", ()),
            "token_paused": ("token", "paused", ()),
            "paused": ("ledger", "paused", ()),
            "next": ("ledger", "nextEpochId", ()),
            "projects": ("ledger", "projectCount", ()),
            **{("balance", a): ("token", "balanceOf", (a,)) for a in self.watched},
            **{("verifier?", a): ("ledger", "hasRole", (VERIFIER_ROLE, a)) for a in self.watched},
            **{("level", a, d): ("ledger", "qualificationLevel", (a, d)) for a in POOL for d in SPECIALISTS},
            **{("qualified", a, d): ("ledger", "isQualified", (a, d)) for a in POOL for d in DOMAINS},
        }
        for e, ghost in self.epochs.items():
            calls[("epoch", e)] = ("ledger", "epoch", (e,))
            calls[("settled", e)] = ("ledger", "isEpochSettled", (e,))
            if not ghost.settled:
                for i in range(ghost.header[3]):
                    calls[("chunk", e, i)] = ("ledger", "isChunkSettled", (e, i))
        calls[("settled", self.next_epoch)] = ("ledger", "isEpochSettled", (self.next_epoch,))
        self._view = self.reader.read(calls)
        self._view["events"] = self.reader.events({
            "ledger": ("RoleGranted", "RoleRevoked", "AnnotatorRewarded"), "token": ("RoleGranted", "RoleRevoked"),
        })
        self._view_block = block
        return self._view

    @invariant()
    def supply_equals_settled_rewards(self):
        """Total supply is exactly what the settled chunks paid out."""
        view = self.view()
        assert view["supply"] == self.base_supply + self.minted
        assert self.minted == sum(g.minted for g in self.epochs.values())

    @invariant()
    def balances_match_ghost(self):
        """Every watched balance is its ghost balance, and AnnotatorRewarded events account for each change."""
        view = self.view()
        rewarded = self.rewarded_by_events(view["events"])
        for address in self.watched:
            assert view[("balance", address)] == self.balances[address], address
            assert rewarded[address] - self.base_rewarded[address] == (
                self.balances[address] - self.base_balances[address]), address

    @staticmethod
    def rewarded_by_events(events) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for _, event, args in events:
            if event == "AnnotatorRewarded":
                totals[args["annotator"]] += args["amount"]
        return totals

    @invariant()
    def epochs_match_ghost(self):
        """Settled epochs report settled (so they cannot settle again); every epoch record matches the ghost."""
        view = self.view()
        assert view["next"] == self.next_epoch
        assert view[("settled", self.next_epoch)] is False
        for e, ghost in self.epochs.items():
            record = view[("epoch", e)]
            root, declared_reward, minted, declared_annotations, settled_annotations, chunks, chunks_settled, opened = record
            assert (root, declared_annotations, declared_reward, chunks) == ghost.header, e
            assert (minted, settled_annotations, chunks_settled) == (
                ghost.minted, ghost.annotations, len(ghost.settled_chunks)), e
            assert opened > 0, e
            assert view[("settled", e)] is ghost.settled, e
            if not ghost.settled:
                for i in range(ghost.header[3]):
                    assert view[("chunk", e, i)] is (i in ghost.settled_chunks), (e, i)

    @invariant()
    def paused_means_no_mint(self):
        """While the ledger or the token is paused, total supply stays what it was when the pause began."""
        if self.frozen_supply is not None:
            assert self.view()["supply"] == self.frozen_supply
            assert self.base_supply + self.minted == self.frozen_supply

    @invariant()
    def token_minter_is_ledger(self):
        """The token's only minter is the ledger."""
        assert to_checksum_address(self.view()["minter"]) == self.ledger.address

    @invariant()
    def roles_are_not_escalated(self):
        """Role holders, rebuilt from RoleGranted/RoleRevoked, are exactly the deployment's; only the verifier verifies."""
        view = self.view()
        holders: dict[tuple[str, bytes], set[str]] = defaultdict(set)
        for contract, event, args in view["events"]:
            if event == "RoleGranted":
                holders[(contract, bytes(args["role"]))].add(args["account"])
            elif event == "RoleRevoked":
                holders[(contract, bytes(args["role"]))].discard(args["account"])
        a = {name: actor.address for name, actor in self.actors.items()}
        expected = {
            ("ledger", DEFAULT_ADMIN_ROLE): {self.timelock_address},
            ("ledger", PAUSER_ROLE): {a["guardian"]},
            ("ledger", VERIFIER_ROLE): {a["verifier"]},
            ("ledger", QUALIFIER_ROLE): {a["qualifier"]},
            ("ledger", REQUESTER_ROLE): {a["requester"]},
            ("token", DEFAULT_ADMIN_ROLE): {self.timelock_address},
            ("token", PAUSER_ROLE): {a["guardian"]},
        }
        assert {k: v for k, v in holders.items() if v} == expected
        for address in self.watched:
            assert view[("verifier?", address)] is (address == a["verifier"]), address

    @invariant()
    def qualifications_and_pause_match_ghost(self):
        """Qualification levels, isQualified, the pause flags and the project count match the ghost."""
        view = self.view()
        for annotator in POOL:
            for domain in SPECIALISTS:
                assert view[("level", annotator, domain)] == self.levels.get((annotator, domain), 0)
            for domain in DOMAINS:
                expected = domain == GENERAL_ID or (annotator, domain) in self.levels
                assert view[("qualified", annotator, domain)] is expected
        assert view["paused"] is self.paused
        assert view["token_paused"] is self.token_paused
        assert view["projects"] == self.base_projects + len(self.projects)


SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    database=None,  # nothing written into the tree; keep a shrunk failure as a replay test below
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def protocol_handle(chain, ledger, token, timelock, deployer, guardian, verifier, qualifier, requester, stranger,
                    deploy_params):
    return Protocol(
        chain=chain, ledger=ledger, token=token, timelock=timelock,
        actors={"deployer": deployer, "guardian": guardian, "verifier": verifier, "qualifier": qualifier,
                "requester": requester, "stranger": stranger},
        epoch_mint_cap=deploy_params.epoch_mint_cap,
        multiplier_bps=deploy_params.max_reward_multiplier_bps,
    )


def test_ledger_rules_preserve_invariants(protocol_handle):
    OUTCOMES.clear()
    run_state_machine_as_test(lambda: LedgerMachine(protocol_handle), settings=SETTINGS)
    print("state machine outcomes:", dict(sorted(OUTCOMES.items())))
    assert OUTCOMES["settled a chunk"] > 0, "no example settled anything: the machine tested nothing"


# Replays: fixed programs for the machine, written the way Hypothesis prints a shrunk failure
# (`state = LedgerMachine(); state.rule(...); ...`), with every invariant checked after each step.

INVARIANTS = ("supply_equals_settled_rewards", "balances_match_ghost", "epochs_match_ghost", "token_minter_is_ledger",
              "roles_are_not_escalated", "qualifications_and_pause_match_ghost", "paused_means_no_mint")


@contextmanager
def replay(protocol: Protocol):
    state = LedgerMachine(protocol)
    try:
        yield state
    finally:
        state.teardown()


def check(state: LedgerMachine) -> None:
    for name in INVARIANTS:
        getattr(state, name)()


def test_settle_pending_chunk_reverts_after_qualification_revoked(protocol_handle):
    medicine = SPECIALISTS[0]
    with replay(protocol_handle) as state:
        state.start(general_reward=7, specialist=medicine, specialist_reward=11, payees=[0], reward_permille=500)
        check(state)
        state.grant_qualification(payee=1, domain=medicine, level=2)
        check(state)
        general, specialist = sorted(state.projects)
        plan = plan_epoch(state.next_epoch, [state.annotation(POOL[1], specialist, 20),
                                             state.annotation(POOL[2], general, 3)], 1)
        qualified_chunk = next(i for i, chunk in enumerate(plan.chunks) if chunk[0].annotator == POOL[1])
        other_chunk = 1 - qualified_chunk
        assert state.attempt_settle("verifier", plan.epoch_id, plan.header, other_chunk, plan.chunks[other_chunk],
                                    plan.chunks) is None
        check(state)
        state.revoke_qualification(held=True, pick=0)
        check(state)
        refused = state.attempt_settle("verifier", plan.epoch_id, plan.header, qualified_chunk,
                                       plan.chunks[qualified_chunk])
        assert refused is not None and refused.error is state.ledger.LedgerAnnotatorNotQualified
        check(state)
        state.grant_qualification(payee=1, domain=medicine, level=1)
        state.settle_pending_chunk(pick=0)
        check(state)
        assert state.epochs[plan.epoch_id].settled


def test_settle_while_token_paused_mints_nothing(protocol_handle):
    with replay(protocol_handle) as state:
        state.start(general_reward=5, specialist=SPECIALISTS[1], specialist_reward=5, payees=[0, 1],
                    reward_permille=1000)
        state.set_paused(pause=True, by_guardian=True, on_token=True)
        check(state)
        # A paying chunk fails inside the token's mint; a chunk paying zero mints nothing and settles.
        refused = state.attempt_settle("verifier", *pending_chunk(state))
        assert refused is not None and refused.error is state.ledger.EnforcedPause
        check(state)
        general = min(state.projects)
        plan = plan_epoch(state.next_epoch, [state.annotation(POOL[3], general, 0)])
        assert state.attempt_settle("verifier", plan.epoch_id, plan.header, 0, plan.chunks[0], plan.chunks) is None
        check(state)
        state.set_paused(pause=False, by_guardian=True, on_token=True)
        state.settle_pending_chunk(pick=0)
        check(state)
        assert not state.open_chunks()


def test_paused_ledger_refuses_every_settle(protocol_handle):
    with replay(protocol_handle) as state:
        state.start(general_reward=9, specialist=SPECIALISTS[0], specialist_reward=9, payees=[0, 2],
                    reward_permille=700)
        supply = state.view()["supply"]
        state.set_paused(pause=True, by_guardian=True, on_token=False)
        check(state)
        # The pending chunk of the first epoch, a new epoch paying something, a new epoch paying nothing.
        state.settle_while_paused(entries=[(1, 0, 1000)], pending=True, pick=0)
        state.settle_while_paused(entries=[(1, 0, 1000)], pending=False, pick=0)
        state.settle_while_paused(entries=[(3, 0, 0)], pending=False, pick=0)
        check(state)
        assert state.view()["supply"] == supply and state.open_chunks()
        state.set_paused(pause=False, by_guardian=True, on_token=False)
        state.settle_pending_chunk(pick=0)
        check(state)
        assert state.view()["supply"] > supply and state.frozen_supply is None


def pending_chunk(state: LedgerMachine) -> tuple:
    epoch_id, index = state.open_chunks()[0]
    ghost = state.epochs[epoch_id]
    return epoch_id, ghost.header, index, ghost.chunks[index]


def test_is_chunk_settled_false_for_epochs_never_opened(ledger, create_project, make_annotations, settle_epoch,
                                                        annotators):
    plan = settle_epoch(make_annotations(create_project(), annotators[:1], per_annotator=1))
    assert ledger.isChunkSettled(plan.epoch_id, 0) is True
    for never_opened in (plan.epoch_id + 1, plan.epoch_id + 2**240, plan.epoch_id + 2**255):
        assert ledger.isEpochSettled(never_opened) is False
        assert ledger.isChunkSettled(never_opened, 0) is False, never_opened


# ------------------------------------------------------------------ plan_epoch, no chain

PLAN_ADDRESSES = tuple(Account.from_key(keccak(text=f"plan-annotator-{i}")).address for i in range(4))


@settings(max_examples=10 * EXAMPLES, deadline=None, database=None)
@given(
    entries=st.lists(
        st.tuples(st.integers(0, len(PLAN_ADDRESSES) - 1), st.booleans(), st.integers(1, 4),
                  st.one_of(st.integers(0, 10**6), st.integers(0, 2**100))),  # epoch totals stay < 2^128
        min_size=1, max_size=40,
    ),
    per_chunk=st.integers(1, 6),
    epoch_id=st.integers(1, 2**64),
)
def test_plan_epoch_partitions_rewards_into_payouts(entries, per_chunk, epoch_id):
    # Annotators are given in checksum or lowercase form at random: the plan must group them alike.
    annotations = [
        AcceptedAnnotation(PLAN_ADDRESSES[who].lower() if lowercase else PLAN_ADDRESSES[who], project,
                           keccak(text=f"plan-task-{i}"), keccak(text=f"plan-label-{i}"), reward)
        for i, (who, lowercase, project, reward) in enumerate(entries)
    ]
    plan = plan_epoch(epoch_id, annotations, per_chunk)

    expected: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for who, _, project, reward in entries:
        expected[(PLAN_ADDRESSES[who], project)][0] += 1
        expected[(PLAN_ADDRESSES[who], project)][1] += reward
    keys = [(p.annotator, p.project_id) for p in plan.payouts]
    assert len(keys) == len(set(keys)), "one payout per (annotator, project)"
    assert {k: [p.annotations, p.amount] for k, p in zip(keys, plan.payouts)} == dict(expected)
    assert all(p.annotator == to_checksum_address(p.annotator) for p in plan.payouts)

    total = sum(reward for *_, reward in entries)
    assert sum(p.amount for p in plan.payouts) == total == plan.total_reward
    assert plan.header == (plan.root, len(annotations), total, len(plan.chunks))

    assert all(1 <= len(chunk) <= per_chunk for chunk in plan.chunks)
    assert len(plan.chunks) == math.ceil(len(plan.payouts) / per_chunk)
    assert tuple(p for chunk in plan.chunks for p in chunk) == plan.payouts

    for i, annotation in enumerate(annotations):
        assert plan.leaves[i] == annotation_leaf(epoch_id, annotation)
        assert verify_proof(plan.leaves[i], plan.proof(i), plan.root)
        if len(annotations) > 1:
            other = plan.leaves[(i + 1) % len(annotations)]
            assert not verify_proof(other, plan.proof(i), plan.root)


def test_plan_epoch_rejects_empty_epoch():
    with pytest.raises(ValueError):
        plan_epoch(1, [])


def test_plan_epoch_rejects_zero_payouts_per_chunk():
    annotation = AcceptedAnnotation(PLAN_ADDRESSES[0], 1, keccak(text="t"), keccak(text="l"), 1)
    with pytest.raises(ValueError):
        plan_epoch(1, [annotation], 0)


def test_plan_epoch_refusesEpochsTheLedgerCannotTake():
    big = [AcceptedAnnotation(PLAN_ADDRESSES[i % 2], 1, keccak(text=f"big-{i}"), bytes(32), 2**127) for i in range(2)]
    with pytest.raises(ValueError, match="too large for the ledger"):
        plan_epoch(1, big)
    assert plan_epoch(1, big[:1]).total_reward == 2**127
