"""Unit tests of LabelLedger: construction, projects, qualifications, settlement, Merkle
verification, EIP-712 submissions, pausing and the admin-only setters (their timelock path is in
test_timelock.py).

Expected reverts go through the ``reverts`` fixture (tests/contracts/conftest.py): it is
``ape.reverts(error, **inputs)`` but also fails for reverts Ape cannot decode itself (calls and
deployments), where ``ape.reverts`` would accept any revert.
"""

from __future__ import annotations

import dataclasses

import pytest
from conftest import REWARD
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from labelshare.domains import GENERAL, domain_id
from labelshare.epochs import plan_epoch
from labelshare.leaves import AcceptedAnnotation, annotation_leaf

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_BYTES32 = b"\0" * 32
ADMIN_ROLE = ZERO_BYTES32  # AccessControl's DEFAULT_ADMIN_ROLE
ROOT = keccak(text="root")  # a stand-in Merkle root where a test only needs a valid header
GENERAL_ID = domain_id(GENERAL)
MEDICINE_ID = domain_id("medicine")
SPEC = keccak(text="spec")
BPS = 10_000
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def payout(annotator, project_id: int, annotations: int = 1, amount: int = REWARD) -> tuple:
    """An ``ILabelLedger.Payout`` tuple."""
    return (getattr(annotator, "address", annotator), project_id, annotations, amount)


def declare(payouts, *, root=ROOT, annotations=None, reward=None, chunks=1) -> tuple:
    """An ``ILabelLedger.EpochHeader`` declaring exactly what ``payouts`` pay, unless overridden."""
    annotations = sum(p[2] for p in payouts) if annotations is None else annotations
    reward = sum(p[3] for p in payouts) if reward is None else reward
    return (root, annotations, reward, chunks)


def event_args(receipt, event) -> list[dict]:
    return [log.event_arguments for log in receipt.decode_logs(event)]


@pytest.fixture
def project_owner(accounts):
    """A requester's wallet that owns a project the backend (``requester``) registered."""
    return accounts[9]


@pytest.fixture
def general_project(create_project):
    return create_project()


@pytest.fixture
def medicine_project(create_project):
    return create_project("medicine")


@pytest.fixture
def settle_chunk(ledger, verifier):
    """Settles one chunk of payout tuples, by default as a one-chunk epoch declaring exactly them."""

    def settle(payouts, header=None, *, epoch_id=None, chunk=0, sender=None):
        epoch_id = ledger.nextEpochId() if epoch_id is None else epoch_id
        header = declare(payouts) if header is None else header
        return ledger.settle(epoch_id, header, chunk, payouts, sender=sender or verifier)

    return settle


@pytest.fixture
def open_two_chunk_epoch(ledger, settle_chunk, general_project, annotators):
    """Settles chunk 0 of a two-chunk epoch 1; returns (header, chunk-1 payouts)."""
    chunks = [[payout(annotators[0], general_project)], [payout(annotators[1], general_project)]]
    header = declare(chunks[0] + chunks[1], chunks=2)
    settle_chunk(chunks[0], header, chunk=0)
    return header, chunks[1]


# ----------------------------------------------------------------------------- constructor


@pytest.fixture
def ledger_args(token, timelock, guardian, verifier, qualifier, requester, deploy_params):
    """The session ledger's constructor arguments."""
    return [
        token.address, timelock.address, guardian.address, verifier.address, qualifier.address,
        requester.address, deploy_params.epoch_mint_cap, deploy_params.max_reward_multiplier_bps,
        deploy_params.min_epoch_interval,
    ]


@pytest.fixture
def token_minted_by(project, deployer, timelock, guardian):
    """Deploys a fresh RewardToken whose minter is the given address."""

    def deploy(minter: str):
        return project.RewardToken.deploy("T", "T", 10**30, minter, timelock.address, guardian.address, sender=deployer)

    return deploy


def test_constructor_setsParametersAndRoles(ledger, token, timelock, deploy_params, deployer, guardian, verifier,
                                            qualifier, requester):
    assert ledger.token() == token.address
    assert ledger.epochMintCap() == deploy_params.epoch_mint_cap
    assert ledger.maxRewardMultiplierBps() == deploy_params.max_reward_multiplier_bps
    assert ledger.minEpochInterval() == deploy_params.min_epoch_interval
    assert ledger.nextEpochId() == 1
    assert ledger.projectCount() == 0
    assert not ledger.paused()
    holders = {
        ADMIN_ROLE: timelock, ledger.PAUSER_ROLE(): guardian, ledger.VERIFIER_ROLE(): verifier,
        ledger.QUALIFIER_ROLE(): qualifier, ledger.REQUESTER_ROLE(): requester,
    }
    for role, holder in holders.items():
        assert ledger.hasRole(role, holder.address)
        assert not ledger.hasRole(role, deployer.address)


def test_constructor_emitsInitialParameters(ledger, deploy_params, chain):
    receipt = chain.provider.get_receipt(chain.contracts.get_creation_metadata(ledger.address).txn_hash)
    assert event_args(receipt, ledger.EpochMintCapChanged) == [{"oldCap": 0, "newCap": deploy_params.epoch_mint_cap}]
    assert event_args(receipt, ledger.MaxRewardMultiplierChanged) == [
        {"oldMultiplierBps": 0, "newMultiplierBps": deploy_params.max_reward_multiplier_bps}]
    assert event_args(receipt, ledger.MinEpochIntervalChanged) == [
        {"oldInterval": 0, "newInterval": deploy_params.min_epoch_interval}]


@pytest.mark.parametrize("position", range(6), ids=["token", "admin", "pauser", "verifier", "qualifier", "requester"])
def test_constructor_revertsIfAddressIsZero(project, deployer, ledger_args, deploy_reverting, reverts, position):
    ledger_args[position] = ZERO_ADDRESS
    with reverts(project.LabelLedger.LedgerZeroAddress):
        deploy_reverting(project.LabelLedger, *ledger_args, sender=deployer)


def test_constructor_revertsIfTokenMinterIsNotLedger(project, deployer, ledger_args, token_minted_by, stranger,
                                                      deploy_reverting, reverts):
    ledger_args[0] = token_minted_by(stranger.address).address
    with reverts(project.LabelLedger.LedgerNotTokenMinter, minter=stranger.address):
        deploy_reverting(project.LabelLedger, *ledger_args, sender=deployer)


@pytest.mark.parametrize("multiplier_bps, succeeds", [(BPS - 1, False), (BPS, True)])
def test_constructor_requiresMultiplierOfAtLeastOneX(project, deployer, ledger_args, token_minted_by,
                                                     deploy_reverting, reverts, multiplier_bps, succeeds):
    # The token is deployed at the deployer's next nonce; its minter is the ledger at the one after.
    ledger_args[0] = token_minted_by(deployer.get_deployment_address(deployer.nonce + 1)).address
    ledger_args[7] = multiplier_bps
    if succeeds:
        assert project.LabelLedger.deploy(*ledger_args, sender=deployer).maxRewardMultiplierBps() == multiplier_bps
    else:
        with reverts(project.LabelLedger.LedgerInvalidMultiplier, multiplierBps=multiplier_bps):
            deploy_reverting(project.LabelLedger, *ledger_args, sender=deployer)


# ---------------------------------------------------------------------------- createProject


def test_createProject_registersProjectIfRequester(ledger, requester, project_owner):
    receipt = ledger.createProject(project_owner.address, SPEC, MEDICINE_ID, 7 * REWARD, 5, sender=requester)

    assert event_args(receipt, ledger.ProjectCreated) == [{
        "projectId": 1, "owner": project_owner.address, "domain": MEDICINE_ID, "specHash": SPEC,
        "rewardPerLabel": 7 * REWARD, "overlap": 5, "registrar": requester.address,
    }]
    assert ledger.project(1) == (project_owner.address, 5, True, requester.address, MEDICINE_ID, SPEC, 7 * REWARD)
    assert ledger.projectCount() == 1


def test_createProject_numbersProjectsFromOne(ledger, create_project):
    assert [create_project(), create_project("medicine"), create_project()] == [1, 2, 3]
    assert ledger.projectCount() == 3


def test_createProject_revertsIfCallerLacksRequesterRole(ledger, stranger, reverts):
    with reverts(ledger.AccessControlUnauthorizedAccount, account=stranger.address,
                 neededRole=ledger.REQUESTER_ROLE()):
        ledger.createProject(stranger.address, SPEC, GENERAL_ID, REWARD, 3, sender=stranger)


@pytest.mark.parametrize("argument, value, error, inputs", [
    ("owner", ZERO_ADDRESS, "LedgerZeroAddress", {}),
    ("specHash", ZERO_BYTES32, "LedgerZeroSpecHash", {}),
    ("domain", ZERO_BYTES32, "LedgerInvalidDomain", {"domain": ZERO_BYTES32}),
    ("rewardPerLabel", 0, "LedgerZeroReward", {}),
    ("overlap", 0, "LedgerInvalidOverlap", {"overlap": 0}),
])
def test_createProject_revertsIfArgumentInvalid(ledger, requester, reverts, argument, value, error, inputs):
    arguments = {"owner": requester.address, "specHash": SPEC, "domain": GENERAL_ID, "rewardPerLabel": REWARD,
                 "overlap": 3}
    arguments[argument] = value
    with reverts(getattr(ledger, error), **inputs):
        ledger.createProject(*arguments.values(), sender=requester)


def test_createProject_revertsIfPaused(ledger, requester, guardian, reverts):
    ledger.pause(sender=guardian)
    with reverts(ledger.EnforcedPause):
        ledger.createProject(requester.address, SPEC, GENERAL_ID, REWARD, 3, sender=requester)


# ------------------------------------------------------------------- setProjectOpen, project


@pytest.mark.parametrize("manager", ["owner", "registrar"])
def test_setProjectOpen_closesAndReopensIfManager(ledger, create_project, project_owner, requester, manager):
    project_id = create_project(owner=project_owner)
    sender = project_owner if manager == "owner" else requester

    for is_open in (False, True):
        receipt = ledger.setProjectOpen(project_id, is_open, sender=sender)
        assert event_args(receipt, ledger.ProjectStatusChanged) == [{"projectId": project_id, "open": is_open}]
        assert ledger.project(project_id).open == is_open


def test_setProjectOpen_revertsIfNotManager(ledger, create_project, project_owner, stranger, reverts):
    project_id = create_project(owner=project_owner)
    with reverts(ledger.LedgerNotProjectManager, projectId=project_id, caller=stranger.address):
        ledger.setProjectOpen(project_id, False, sender=stranger)


def test_setProjectOpen_revertsIfProjectUnknown(ledger, general_project, requester, reverts):
    with reverts(ledger.LedgerUnknownProject, projectId=general_project + 1):
        ledger.setProjectOpen(general_project + 1, False, sender=requester)


@pytest.mark.parametrize("offset", [-1, 1], ids=["zero", "next"])
def test_project_revertsIfUnknown(ledger, general_project, reverts, offset):
    unknown = general_project + offset  # id 0, or one past the last
    with reverts(ledger.LedgerUnknownProject, projectId=unknown):
        ledger.project(unknown)


# -------------------------------------------------------------------------- qualifications


def test_grantQualification_setsLevelAndEmitsEvent(ledger, qualifier, annotators):
    annotator, evidence = annotators[0].address, keccak(text="evidence")
    receipt = ledger.grantQualification(annotator, MEDICINE_ID, 2, evidence, sender=qualifier)

    assert event_args(receipt, ledger.QualificationGranted) == [
        {"annotator": annotator, "domain": MEDICINE_ID, "level": 2, "evidence": evidence}]
    assert ledger.qualificationLevel(annotator, MEDICINE_ID) == 2
    assert ledger.isQualified(annotator, MEDICINE_ID)
    assert not ledger.isQualified(annotators[1].address, MEDICINE_ID)
    assert not ledger.isQualified(annotator, domain_id("law"))


def test_grantQualification_regradesIfGrantedAgain(ledger, qualifier, annotators):
    annotator = annotators[0].address
    ledger.grantQualification(annotator, MEDICINE_ID, 2, ZERO_BYTES32, sender=qualifier)
    ledger.grantQualification(annotator, MEDICINE_ID, 1, ZERO_BYTES32, sender=qualifier)
    assert ledger.qualificationLevel(annotator, MEDICINE_ID) == 1


def test_isQualified_trueForGeneralDomainWithoutQualification(ledger, stranger):
    assert ledger.qualificationLevel(stranger.address, GENERAL_ID) == 0
    assert ledger.isQualified(stranger.address, GENERAL_ID)
    assert not ledger.isQualified(stranger.address, MEDICINE_ID)


@pytest.mark.parametrize("annotator, domain, level, error, inputs", [
    (ZERO_ADDRESS, MEDICINE_ID, 1, "LedgerZeroAddress", {}),
    (None, GENERAL_ID, 1, "LedgerInvalidDomain", {"domain": GENERAL_ID}),
    (None, ZERO_BYTES32, 1, "LedgerInvalidDomain", {"domain": ZERO_BYTES32}),
    (None, MEDICINE_ID, 0, "LedgerInvalidLevel", {"level": 0}),
], ids=["zeroAnnotator", "generalDomain", "zeroDomain", "zeroLevel"])
def test_grantQualification_revertsIfArgumentInvalid(ledger, qualifier, annotators, reverts, annotator, domain,
                                                     level, error, inputs):
    with reverts(getattr(ledger, error), **inputs):
        ledger.grantQualification(annotator or annotators[0].address, domain, level, ZERO_BYTES32, sender=qualifier)


@pytest.mark.parametrize("function, trailing_arguments", [
    ("grantQualification", (1, ZERO_BYTES32)),  # level, evidence
    ("revokeQualification", (ZERO_BYTES32,)),  # reason
], ids=["grant", "revoke"])
def test_qualification_revertsIfCallerLacksQualifierRole(ledger, qualifier, annotators, stranger, reverts, function,
                                                         trailing_arguments):
    ledger.grantQualification(annotators[0].address, MEDICINE_ID, 1, ZERO_BYTES32, sender=qualifier)
    with reverts(ledger.AccessControlUnauthorizedAccount, account=stranger.address,
                 neededRole=ledger.QUALIFIER_ROLE()):
        getattr(ledger, function)(annotators[0].address, MEDICINE_ID, *trailing_arguments, sender=stranger)


def test_grantQualification_revertsIfPaused(ledger, qualifier, guardian, annotators, reverts):
    ledger.pause(sender=guardian)
    with reverts(ledger.EnforcedPause):
        ledger.grantQualification(annotators[0].address, MEDICINE_ID, 1, ZERO_BYTES32, sender=qualifier)


@pytest.mark.parametrize("paused", [False, True], ids=["unpaused", "paused"])
def test_revokeQualification_clearsLevelAndEmitsEvent(ledger, qualifier, guardian, annotators, paused):
    annotator, reason = annotators[0].address, b"reliability".ljust(32, b"\0")
    ledger.grantQualification(annotator, MEDICINE_ID, 3, ZERO_BYTES32, sender=qualifier)
    if paused:
        ledger.pause(sender=guardian)

    receipt = ledger.revokeQualification(annotator, MEDICINE_ID, reason, sender=qualifier)

    assert event_args(receipt, ledger.QualificationRevoked) == [
        {"annotator": annotator, "domain": MEDICINE_ID, "reason": reason}]
    assert ledger.qualificationLevel(annotator, MEDICINE_ID) == 0
    assert not ledger.isQualified(annotator, MEDICINE_ID)


def test_revokeQualification_revertsIfNotHeld(ledger, qualifier, annotators, reverts):
    ledger.grantQualification(annotators[0].address, MEDICINE_ID, 1, ZERO_BYTES32, sender=qualifier)
    with reverts(ledger.LedgerNotQualified, annotator=annotators[1].address, domain=MEDICINE_ID):
        ledger.revokeQualification(annotators[1].address, MEDICINE_ID, ZERO_BYTES32, sender=qualifier)


# ---------------------------------------------------------------------- settle: happy paths


def test_settle_mintsPlannedRewardsAndRecordsEpoch(ledger, token, verifier, general_project, annotators,
                                                   make_annotations, chain):
    plan = plan_epoch(1, make_annotations(general_project, annotators, per_annotator=2))
    payouts = [p.as_tuple() for p in plan.payouts]

    receipt = ledger.settle(1, plan.header, 0, payouts, sender=verifier)

    total, count = plan.total_reward, len(plan.annotations)
    assert [e.event_name for e in receipt.events] == (
        ["EpochOpened"] + ["AnnotatorRewarded"] * len(payouts) + ["Transfer"] * len(payouts)  # one mintBatch
        + ["EpochChunkSettled", "EpochSettled"])
    assert event_args(receipt, ledger.EpochOpened) == [
        {"epochId": 1, "root": plan.root, "annotations": count, "totalReward": total, "chunkCount": 1}]
    assert event_args(receipt, ledger.AnnotatorRewarded) == [
        {"epochId": 1, "projectId": p.project_id, "annotator": p.annotator, "annotations": p.annotations,
         "amount": p.amount} for p in plan.payouts]
    assert event_args(receipt, ledger.EpochChunkSettled) == [
        {"epochId": 1, "chunkIndex": 0, "annotations": count, "minted": total}]
    assert event_args(receipt, ledger.EpochSettled) == [
        {"epochId": 1, "root": plan.root, "annotations": count, "minted": total}]
    assert [token.balanceOf(a.address) for a in annotators] == [2 * REWARD] * 3
    assert token.totalSupply() == total == 6 * REWARD
    opened_at = chain.blocks[receipt.block_number].timestamp
    assert ledger.epoch(1) == (plan.root, total, total, count, count, 1, 1, opened_at)
    assert ledger.isEpochSettled(1)
    assert ledger.isChunkSettled(1, 0)
    assert not ledger.isChunkSettled(1, 1)
    assert ledger.nextEpochId() == 2


def test_settle_settlesEpochOnlyAfterLastChunkInAnyOrder(ledger, token, verifier, general_project, annotators,
                                                        make_annotations):
    plan = plan_epoch(1, make_annotations(general_project, annotators), payouts_per_chunk=1)
    assert len(plan.chunks) == 3

    for step, index in enumerate([2, 0, 1]):
        receipt = ledger.settle(1, plan.header, index, [p.as_tuple() for p in plan.chunks[index]], sender=verifier)
        last = step == 2
        assert len(receipt.decode_logs(ledger.EpochOpened)) == (step == 0)
        assert event_args(receipt, ledger.EpochChunkSettled) == [
            {"epochId": 1, "chunkIndex": index, "annotations": 2, "minted": 2 * REWARD}]
        assert len(receipt.decode_logs(ledger.EpochSettled)) == last
        assert ledger.isChunkSettled(1, index)
        assert ledger.isEpochSettled(1) == last
        assert ledger.epoch(1).chunksSettled == step + 1
        assert ledger.epoch(1).minted == token.totalSupply() == 2 * REWARD * (step + 1)
        assert ledger.nextEpochId() == 2


def test_settle_opensNextEpochIfPreviousUnfinished(ledger, open_two_chunk_epoch, settle_chunk, general_project,
                                                   annotators):
    settle_chunk([payout(annotators[2], general_project)], epoch_id=2)
    assert ledger.isEpochSettled(2)
    assert not ledger.isEpochSettled(1)
    assert ledger.nextEpochId() == 3


def test_settle_recordsZeroAmountPayoutWithoutMinting(ledger, token, settle_chunk, general_project, annotators):
    receipt = settle_chunk([payout(annotators[0], general_project, annotations=2, amount=0)])

    assert event_args(receipt, ledger.AnnotatorRewarded) == [{
        "epochId": 1, "projectId": general_project, "annotator": annotators[0].address, "annotations": 2,
        "amount": 0}]
    assert receipt.decode_logs(token.Transfer) == []
    assert token.balanceOf(annotators[0].address) == token.totalSupply() == 0
    assert (ledger.epoch(1).settledAnnotations, ledger.epoch(1).minted) == (2, 0)
    assert ledger.isEpochSettled(1)


def test_settle_paysExactlyAtRateBound(ledger, token, settle_chunk, general_project, annotators):
    bound = 3 * REWARD * ledger.maxRewardMultiplierBps() // BPS
    settle_chunk([payout(annotators[0], general_project, annotations=3, amount=bound)])
    assert token.balanceOf(annotators[0].address) == bound


def test_settle_acceptsDeclaredRewardEqualToMintCap(ledger, settle_chunk, general_project, annotators):
    payouts = [payout(annotators[0], general_project)]
    receipt = settle_chunk(payouts, declare(payouts, reward=ledger.epochMintCap()))
    # The declared total is only a bound: the epoch records and reports what it actually minted.
    assert (ledger.epoch(1).declaredReward, ledger.epoch(1).minted) == (ledger.epochMintCap(), REWARD)
    assert event_args(receipt, ledger.EpochSettled) == [
        {"epochId": 1, "root": ROOT, "annotations": 1, "minted": REWARD}]


def test_settle_paysSpecialistOnlyIfQualified(ledger, token, settle_chunk, medicine_project, annotators, qualifier,
                                             reverts):
    payouts = [payout(annotators[0], medicine_project)]
    with reverts(ledger.LedgerAnnotatorNotQualified, annotator=annotators[0].address, projectId=medicine_project,
                 domain=MEDICINE_ID):
        settle_chunk(payouts)

    ledger.grantQualification(annotators[0].address, MEDICINE_ID, 1, ZERO_BYTES32, sender=qualifier)
    settle_chunk(payouts)
    assert token.balanceOf(annotators[0].address) == REWARD

    ledger.revokeQualification(annotators[0].address, MEDICINE_ID, ZERO_BYTES32, sender=qualifier)
    with reverts(ledger.LedgerAnnotatorNotQualified, annotator=annotators[0].address):
        settle_chunk(payouts)


# ---------------------------------------------------------- settle: epoch and chunk checks


def test_settle_revertsIfEpochAlreadySettled(ledger, settle_epoch, verifier, general_project, annotators,
                                            make_annotations, reverts):
    plan = settle_epoch(make_annotations(general_project, annotators))
    with reverts(ledger.LedgerEpochAlreadySettled, epochId=1):
        ledger.settle(1, plan.header, 0, [p.as_tuple() for p in plan.chunks[0]], sender=verifier)


def test_settle_revertsIfChunkAlreadySettled(ledger, open_two_chunk_epoch, settle_chunk, general_project,
                                            annotators, reverts):
    header, _ = open_two_chunk_epoch
    with reverts(ledger.LedgerChunkAlreadySettled, epochId=1, chunkIndex=0):
        settle_chunk([payout(annotators[2], general_project)], header, epoch_id=1, chunk=0)
    assert not ledger.isEpochSettled(1)


def test_settle_revertsIfChunkIndexOutOfRangeOnOpening(ledger, settle_chunk, general_project, annotators, reverts):
    with reverts(ledger.LedgerInvalidChunk, epochId=1, chunkIndex=1, chunkCount=1):
        settle_chunk([payout(annotators[0], general_project)], chunk=1)
    assert ledger.nextEpochId() == 1  # the opening was rolled back too


def test_settle_revertsIfChunkIndexOutOfRangeOnLaterChunk(ledger, open_two_chunk_epoch, settle_chunk, reverts):
    header, payouts = open_two_chunk_epoch
    with reverts(ledger.LedgerInvalidChunk, epochId=1, chunkIndex=2, chunkCount=2):
        settle_chunk(payouts, header, epoch_id=1, chunk=2)


def test_settle_revertsIfChunkEmpty(ledger, settle_chunk, reverts):
    with reverts(ledger.LedgerEmptyChunk, epochId=1, chunkIndex=0):
        settle_chunk([], (ROOT, 1, REWARD, 1))


@pytest.mark.parametrize("field", range(4), ids=["root", "annotations", "totalReward", "chunkCount"])
def test_settle_revertsIfLaterChunkChangesHeader(ledger, open_two_chunk_epoch, settle_chunk, reverts, field):
    header, payouts = open_two_chunk_epoch
    changed = list(header)
    changed[field] = keccak(text="other root") if field == 0 else header[field] + 1
    with reverts(ledger.LedgerEpochHeaderMismatch, epochId=1):
        settle_chunk(payouts, tuple(changed), epoch_id=1, chunk=1)


@pytest.mark.parametrize("epoch_id", [0, 2, 3])
def test_settle_revertsIfEpochNotNext(ledger, settle_chunk, general_project, annotators, reverts, epoch_id):
    payouts = [payout(annotators[0], general_project)]
    with reverts(ledger.LedgerEpochOutOfOrder, epochId=epoch_id, expected=1):
        settle_chunk(payouts, epoch_id=epoch_id)


def test_settle_revertsIfEpochSkipsAfterSettled(ledger, settle_chunk, general_project, annotators, reverts):
    payouts = [payout(annotators[0], general_project)]
    settle_chunk(payouts, epoch_id=1)
    with reverts(ledger.LedgerEpochOutOfOrder, epochId=3, expected=2):
        settle_chunk(payouts, epoch_id=3)


@pytest.mark.parametrize("field", [0, 1, 3], ids=["root", "annotations", "chunkCount"])
def test_settle_revertsIfHeaderFieldZero(ledger, settle_chunk, general_project, annotators, reverts, field):
    payouts = [payout(annotators[0], general_project)]
    header = list(declare(payouts))
    header[field] = ZERO_BYTES32 if field == 0 else 0
    with reverts(ledger.LedgerInvalidEpochHeader, epochId=1):
        settle_chunk(payouts, tuple(header))


def test_settle_revertsIfDeclaredRewardAboveMintCap(ledger, settle_chunk, general_project, annotators, reverts):
    cap = ledger.epochMintCap()
    payouts = [payout(annotators[0], general_project)]
    with reverts(ledger.LedgerEpochMintCapExceeded, epochId=1, totalReward=cap + 1, cap=cap):
        settle_chunk(payouts, declare(payouts, reward=cap + 1))


# ------------------------------------------------------------------------ settle: payouts


def test_settle_revertsIfPayoutAnnotatorZero(ledger, settle_chunk, general_project, reverts):
    with reverts(ledger.LedgerZeroAddress):
        settle_chunk([payout(ZERO_ADDRESS, general_project)])


def test_settle_revertsIfPayoutHasNoAnnotations(ledger, settle_chunk, general_project, annotators, reverts):
    payouts = [payout(annotators[0], general_project, annotations=0, amount=0)]
    with reverts(ledger.LedgerEmptyPayout, annotator=annotators[0].address, projectId=general_project):
        settle_chunk(payouts, declare(payouts, annotations=1))


def test_settle_revertsIfPayoutProjectUnknown(ledger, settle_chunk, general_project, annotators, reverts):
    with reverts(ledger.LedgerUnknownProject, projectId=general_project + 1):
        settle_chunk([payout(annotators[0], general_project + 1)])


def test_settle_revertsIfPayoutAboveRate(ledger, token, settle_chunk, general_project, annotators, reverts):
    bound = 3 * REWARD * ledger.maxRewardMultiplierBps() // BPS
    payouts = [payout(annotators[0], general_project), payout(annotators[1], general_project, 3, bound + 1)]
    with reverts(ledger.LedgerPayoutAboveRate, annotator=annotators[1].address, projectId=general_project,
                 amount=bound + 1, maxAmount=bound):
        settle_chunk(payouts)
    # The valid payout before it was rolled back with the rest of the chunk.
    assert token.balanceOf(annotators[0].address) == 0
    assert ledger.nextEpochId() == 1


def test_settle_revertsIfChunkPaysMoreThanDeclaredReward(ledger, settle_chunk, general_project, annotators,
                                                        reverts):
    payouts = [payout(annotators[0], general_project), payout(annotators[1], general_project)]
    with reverts(ledger.LedgerEpochRewardExceeded, epochId=1, declared=REWARD, attempted=2 * REWARD):
        settle_chunk(payouts, declare(payouts, reward=REWARD))


def test_settle_revertsIfLaterChunkPaysMoreThanDeclaredReward(ledger, open_two_chunk_epoch, settle_chunk,
                                                             general_project, annotators, reverts):
    header, _ = open_two_chunk_epoch  # declares 2 * REWARD, chunk 0 paid REWARD
    with reverts(ledger.LedgerEpochRewardExceeded, epochId=1, declared=2 * REWARD, attempted=2 * REWARD + 1):
        settle_chunk([payout(annotators[1], general_project, amount=REWARD + 1)], header, epoch_id=1, chunk=1)


def test_settle_revertsIfChunkPaysMoreThanDeclaredAnnotations(ledger, settle_chunk, general_project, annotators,
                                                             reverts):
    payouts = [payout(annotators[0], general_project, annotations=3)]
    with reverts(ledger.LedgerEpochAnnotationsExceeded, epochId=1, declared=2, attempted=3):
        settle_chunk(payouts, declare(payouts, annotations=2))


def test_settle_rejectsMalformedPayoutBeforeSending(ledger, verifier, general_project, annotators):
    # The ledger takes one array of Payout structs, so there are no parallel arrays whose lengths
    # could disagree; the closest mistake, a payout tuple of the wrong arity, is refused by Ape's ABI
    # encoder before any transaction exists. (Only a short tuple: Ape 0.8.51 silently drops extra
    # trailing fields of a tuple and sends the rest.)
    payouts = [payout(annotators[0], general_project)]
    nonce = verifier.nonce
    with pytest.raises(Exception):  # noqa: B017 -- Ape's encoding error types vary; none is a revert
        ledger.settle(1, declare(payouts), 0, [payouts[0][:3]], sender=verifier)
    assert verifier.nonce == nonce
    assert ledger.nextEpochId() == 1


# ------------------------------------------------------------------- settle: access, pause


def test_settle_revertsIfCallerLacksVerifierRole(ledger, settle_chunk, general_project, annotators, stranger,
                                                reverts):
    with reverts(ledger.AccessControlUnauthorizedAccount, account=stranger.address,
                 neededRole=ledger.VERIFIER_ROLE()):
        settle_chunk([payout(annotators[0], general_project)], sender=stranger)


def test_settle_revertsIfPaused(ledger, settle_chunk, general_project, annotators, guardian, reverts):
    ledger.pause(sender=guardian)
    with reverts(ledger.EnforcedPause):
        settle_chunk([payout(annotators[0], general_project)])


# ------------------------------------------------------------------ settle: epoch interval


@pytest.fixture
def paced(deploy_stack, requester):
    """A separate protocol whose epochs open at least an hour apart; returns (ledger, project id)."""
    ledger = deploy_stack(min_epoch_interval=3600)["ledger"]
    receipt = ledger.createProject(requester.address, SPEC, GENERAL_ID, REWARD, 3, sender=requester)
    return ledger, receipt.decode_logs(ledger.ProjectCreated)[0].projectId


def test_settle_revertsIfEpochOpensBeforeMinInterval(paced, verifier, annotators, chain, reverts):
    ledger, project_id = paced
    payouts = [payout(annotators[0], project_id)]
    ledger.settle(1, declare(payouts), 0, payouts, sender=verifier)
    earliest = ledger.epoch(1).openedAt + 3600

    with reverts(ledger.LedgerEpochTooSoon, epochId=2, earliest=earliest):
        ledger.settle(2, declare(payouts), 0, payouts, sender=verifier)
    chain.pending_timestamp = earliest - 1
    with reverts(ledger.LedgerEpochTooSoon, epochId=2, earliest=earliest):
        ledger.settle(2, declare(payouts), 0, payouts, sender=verifier)

    chain.pending_timestamp = earliest
    ledger.settle(2, declare(payouts), 0, payouts, sender=verifier)
    assert ledger.epoch(2).openedAt == earliest


def test_settle_ignoresMinIntervalForLaterChunks(paced, verifier, annotators):
    ledger, project_id = paced
    chunks = [[payout(annotators[0], project_id)], [payout(annotators[1], project_id)]]
    header = declare(chunks[0] + chunks[1], chunks=2)
    for index, chunk in enumerate(chunks):
        ledger.settle(1, header, index, chunk, sender=verifier)
    assert ledger.isEpochSettled(1)


# ------------------------------------------------------------- isChunkSettled, isEpochSettled


def test_isChunkSettled_falseForChunkIndexBeyondUint16(ledger, settle_chunk, general_project, annotators):
    settle_chunk([payout(annotators[0], general_project)])
    # (1 << 16) | 0 would alias chunk 0 of epoch 1 in the bitmap key if the index were not bounded.
    assert ledger.isChunkSettled(1, 0)
    assert not ledger.isChunkSettled(0, 1 << 16)
    assert not ledger.isChunkSettled(1, 2**256 - 1)


def test_isEpochSettled_falseForEpochNeverOpened(ledger):
    assert not ledger.isEpochSettled(1)
    assert ledger.epoch(1) == (ZERO_BYTES32, 0, 0, 0, 0, 0, 0, 0)


# -------------------------------------------------------------- annotationLeaf, verifyAnnotation


@pytest.mark.parametrize("epoch_id, annotation", [
    (1, AcceptedAnnotation("0x" + "11" * 20, 1, keccak(text="task"), keccak(text="label"), REWARD)),
    (7, AcceptedAnnotation("0x" + "ab" * 20, 42, b"\0" * 32, b"\xff" * 32, 0)),
    (2**256 - 1, AcceptedAnnotation("0x" + "ff" * 20, 2**256 - 1, b"\x01" * 32, b"\x02" * 32, 2**256 - 1)),
], ids=["typical", "zeroReward", "maxima"])
def test_annotationLeaf_matchesBackend(ledger, epoch_id, annotation):
    assert ledger.annotationLeaf(epoch_id, annotation.as_tuple()) == annotation_leaf(epoch_id, annotation)


@pytest.fixture
def settled_plan(settle_epoch, general_project, annotators, make_annotations):
    """Epoch 1, settled: three annotations by each annotator (nine leaves, an unbalanced tree)."""
    return settle_epoch(make_annotations(general_project, annotators, per_annotator=3))


def test_verifyAnnotation_trueForEveryAnnotationOfSettledEpoch(ledger, settled_plan):
    assert len(settled_plan.annotations) == 9
    for i, annotation in enumerate(settled_plan.annotations):
        assert ledger.verifyAnnotation(1, annotation.as_tuple(), settled_plan.proof(i))


@pytest.mark.parametrize("case", ["wrongProof", "emptyProof", "reward", "labelHash", "annotator", "wrongEpoch",
                                  "epochNeverOpened"])
def test_verifyAnnotation_falseIfAnythingDiffers(ledger, settled_plan, settle_epoch, general_project, annotators,
                                                 make_annotations, case):
    annotation, proof, epoch_id = settled_plan.annotations[0], settled_plan.proof(0), 1
    if case == "wrongProof":
        proof = settled_plan.proof(1)
    elif case == "emptyProof":
        proof = []
    elif case == "reward":
        annotation = dataclasses.replace(annotation, reward=annotation.reward + 1)
    elif case == "labelHash":
        annotation = dataclasses.replace(annotation, label_hash=keccak(text="another label"))
    elif case == "annotator":
        annotation = dataclasses.replace(annotation, annotator=annotators[1].address)
    elif case == "wrongEpoch":  # epoch 2 is settled with the same annotations, but its leaves commit to epoch 2
        settle_epoch(make_annotations(general_project, annotators, per_annotator=3))
        epoch_id = 2
    elif case == "epochNeverOpened":
        epoch_id = 2
    assert ledger.verifyAnnotation(1, settled_plan.annotations[0].as_tuple(), settled_plan.proof(0))
    assert not ledger.verifyAnnotation(epoch_id, annotation.as_tuple(), proof)


# --------------------------------------------------------- submissionDigest, recoverSubmitter

SUBMISSION_TYPES = {
    "Submission": [
        {"name": "annotator", "type": "address"}, {"name": "projectId", "type": "uint256"},
        {"name": "taskId", "type": "bytes32"}, {"name": "labelHash", "type": "bytes32"},
        {"name": "nonce", "type": "uint256"}, {"name": "deadline", "type": "uint256"},
    ],
}


@pytest.fixture
def signer():
    """A fresh key: the annotator signing, who never needs to send a transaction."""
    return Account.create()


@pytest.fixture
def submission(signer):
    return {"annotator": signer.address, "projectId": 3, "taskId": keccak(text="task-9"),
            "labelHash": keccak(text="label"), "nonce": 4, "deadline": 2_000_000_000}


def sign_submission(signer, submission: dict, chain_id: int, verifying_contract: str):
    """``signer``'s EIP-712 signature of ``submission`` under the given LabelShare domain."""
    domain = {"name": "LabelShare", "version": "1", "chainId": chain_id, "verifyingContract": verifying_contract}
    message = encode_typed_data(domain_data=domain, message_types=SUBMISSION_TYPES, message_data=submission)
    return Account.sign_message(message, signer.key)


def test_submissionDigest_matchesEip712Hash(ledger, chain, signer, submission):
    signed = sign_submission(signer, submission, chain.chain_id, ledger.address)
    assert ledger.submissionDigest(tuple(submission.values())) == signed.message_hash


def test_recoverSubmitter_returnsSigner(ledger, chain, signer, submission):
    signed = sign_submission(signer, submission, chain.chain_id, ledger.address)
    assert ledger.recoverSubmitter(tuple(submission.values()), signed.signature) == signer.address


@pytest.mark.parametrize("change", ["chainId", "verifyingContract", "nonce"])
def test_recoverSubmitter_returnsOtherAddressIfSignedForSomethingElse(ledger, token, chain, signer, submission,
                                                                      change):
    chain_id, contract, signed_submission = chain.chain_id, ledger.address, dict(submission)
    if change == "chainId":
        chain_id += 1
    elif change == "verifyingContract":
        contract = token.address
    else:
        signed_submission["nonce"] += 1
    signed = sign_submission(signer, signed_submission, chain_id, contract)
    assert ledger.recoverSubmitter(tuple(submission.values()), signed.signature) not in (signer.address, ZERO_ADDRESS)


@pytest.mark.parametrize("length", [0, 1, 66])
def test_recoverSubmitter_revertsIfSignatureLengthWrong(ledger, chain, signer, submission, reverts, length):
    signature = bytes(sign_submission(signer, submission, chain.chain_id, ledger.address).signature)
    malformed = (signature * 2)[:length]
    with reverts(ledger.ECDSAInvalidSignatureLength, length=length):
        ledger.recoverSubmitter(tuple(submission.values()), malformed)


def test_recoverSubmitter_revertsIfSignatureMalleable(ledger, chain, signer, submission, reverts):
    signed = sign_submission(signer, submission, chain.chain_id, ledger.address)
    high_s = SECP256K1_N - signed.s  # the same signature's twin with s in the upper half
    twin = signed.r.to_bytes(32, "big") + high_s.to_bytes(32, "big") + bytes([55 - signed.v])
    with reverts(ledger.ECDSAInvalidSignatureS, s=high_s.to_bytes(32, "big")):
        ledger.recoverSubmitter(tuple(submission.values()), twin)


def test_recoverSubmitter_revertsIfSignatureIsEip2098Compact(ledger, chain, signer, submission, reverts):
    signed = sign_submission(signer, submission, chain.chain_id, ledger.address)
    compact = signed.r.to_bytes(32, "big") + (signed.s | ((signed.v - 27) << 255)).to_bytes(32, "big")
    with reverts(ledger.ECDSAInvalidSignatureLength, length=64):
        ledger.recoverSubmitter(tuple(submission.values()), compact)


# ----------------------------------------------------------------------------- pause, unpause


def test_pause_pausesAndUnpausesIfGuardian(ledger, guardian):
    receipt = ledger.pause(sender=guardian)
    assert event_args(receipt, ledger.Paused) == [{"account": guardian.address}]
    assert ledger.paused()

    receipt = ledger.unpause(sender=guardian)
    assert event_args(receipt, ledger.Unpaused) == [{"account": guardian.address}]
    assert not ledger.paused()


@pytest.mark.parametrize("function", ["pause", "unpause"])
@pytest.mark.parametrize("caller", ["stranger", "admin", "verifier"])
def test_pause_revertsIfCallerLacksPauserRole(ledger, guardian, reverts, request, function, caller):
    if function == "unpause":
        ledger.pause(sender=guardian)
    account = request.getfixturevalue(caller)
    with reverts(ledger.AccessControlUnauthorizedAccount, account=account.address, neededRole=ledger.PAUSER_ROLE()):
        getattr(ledger, function)(sender=account)


def test_pause_revertsIfAlreadyPaused(ledger, guardian, reverts):
    ledger.pause(sender=guardian)
    with reverts(ledger.EnforcedPause):
        ledger.pause(sender=guardian)


def test_unpause_revertsIfNotPaused(ledger, guardian, reverts):
    with reverts(ledger.ExpectedPause):
        ledger.unpause(sender=guardian)


# ------------------------------------------------------------------- admin-only setters


@pytest.mark.parametrize("setter, value", [
    ("setEpochMintCap", 1), ("setMaxRewardMultiplier", 20_000), ("setMinEpochInterval", 60)])
@pytest.mark.parametrize("caller", ["admin", "guardian", "stranger"])
def test_adminSetters_revertIfCalledDirectly(ledger, reverts, request, setter, value, caller):
    # Only the timelock holds DEFAULT_ADMIN_ROLE: not even the EOA that proposes to it.
    account = request.getfixturevalue(caller)
    with reverts(ledger.AccessControlUnauthorizedAccount, account=account.address, neededRole=ADMIN_ROLE):
        getattr(ledger, setter)(value, sender=account)
