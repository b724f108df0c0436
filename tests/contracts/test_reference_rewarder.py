"""Unit tests of PerAnnotationRewarder, the one-transaction-per-annotation reference path the gas
benchmark (benchmarks/gas.py) compares epochs with: it records an annotation once, mints its
reward through its own RewardToken, and refuses duplicates and callers without the verifier role.

Expected reverts go through the ``reverts`` fixture (see tests/contracts/conftest.py).
"""

from __future__ import annotations

import pytest
from conftest import REWARD
from eth_utils import keccak

ZERO_ADDRESS = "0x" + "00" * 20
LEAF = keccak(text="annotation-1")


@pytest.fixture
def reference(project, deployer, admin, guardian, verifier):
    """A RewardToken whose minter is a PerAnnotationRewarder deployed right after it."""
    rewarder_address = deployer.get_deployment_address(deployer.nonce + 1)
    token = project.RewardToken.deploy("Reference", "REF", 10**30, rewarder_address, admin.address,
                                       guardian.address, sender=deployer)
    rewarder = project.PerAnnotationRewarder.deploy(token.address, admin.address, verifier.address, sender=deployer)
    assert rewarder.address == rewarder_address
    return rewarder, token


@pytest.fixture
def rewarder(reference):
    return reference[0]


@pytest.fixture
def reference_token(reference):
    return reference[1]


def test_constructor_revertsIfTokenMinterIsNotTheRewarder(project, deployer, admin, guardian, verifier, stranger,
                                                          deploy_reverting, reverts):
    token = project.RewardToken.deploy("T", "T", 10**30, stranger.address, admin.address, guardian.address,
                                       sender=deployer)
    with reverts(project.PerAnnotationRewarder.RewarderNotTokenMinter, minter=stranger.address):
        deploy_reverting(project.PerAnnotationRewarder, token.address, admin.address, verifier.address,
                         sender=deployer)


def test_constructor_setsTokenAndRoles(rewarder, reference_token, admin, verifier):
    assert rewarder.token() == reference_token.address
    assert reference_token.minter() == rewarder.address
    assert rewarder.hasRole(b"\0" * 32, admin)
    assert rewarder.hasRole(rewarder.VERIFIER_ROLE(), verifier)


def test_recordAnnotation_recordsTheLeafAndMintsTheReward(rewarder, reference_token, verifier, annotators):
    annotator = annotators[0]
    supply = reference_token.totalSupply()

    receipt = rewarder.recordAnnotation(LEAF, annotator.address, REWARD, sender=verifier)

    assert rewarder.isRecorded(LEAF)
    assert reference_token.balanceOf(annotator) == REWARD
    assert reference_token.totalSupply() == supply + REWARD
    [event] = [log.event_arguments for log in receipt.decode_logs(rewarder.AnnotationRewarded)]
    assert event == {"leaf": LEAF, "annotator": annotator.address, "amount": REWARD}
    [transfer] = [log.event_arguments for log in receipt.decode_logs(reference_token.Transfer)]
    assert transfer == {"from": ZERO_ADDRESS, "to": annotator.address, "value": REWARD}


def test_recordAnnotation_withZeroAmountRecordsWithoutMinting(rewarder, reference_token, verifier, annotators):
    receipt = rewarder.recordAnnotation(LEAF, annotators[1].address, 0, sender=verifier)

    assert rewarder.isRecorded(LEAF)
    assert reference_token.balanceOf(annotators[1]) == 0
    assert receipt.decode_logs(reference_token.Transfer) == []


def test_recordAnnotation_refusesADuplicate(rewarder, reference_token, verifier, annotators, reverts):
    rewarder.recordAnnotation(LEAF, annotators[0].address, REWARD, sender=verifier)

    with reverts(rewarder.RewarderAlreadyRecorded, leaf=LEAF):
        rewarder.recordAnnotation(LEAF, annotators[1].address, REWARD, sender=verifier)
    assert reference_token.balanceOf(annotators[1]) == 0


def test_recordAnnotation_refusesANonVerifier(rewarder, reference_token, stranger, reverts):
    with reverts(rewarder.AccessControlUnauthorizedAccount, account=stranger.address,
                 neededRole=rewarder.VERIFIER_ROLE()):
        rewarder.recordAnnotation(LEAF, stranger.address, REWARD, sender=stranger)
    assert not rewarder.isRecorded(LEAF)
    assert reference_token.balanceOf(stranger) == 0


@pytest.mark.parametrize("leaf, annotator, error", [
    (b"\0" * 32, "0x" + "11" * 20, "RewarderZeroLeaf"),
    (LEAF, ZERO_ADDRESS, "RewarderZeroAddress"),
])
def test_recordAnnotation_refusesZeroLeafOrAnnotator(rewarder, verifier, reverts, leaf, annotator, error):
    with reverts(getattr(rewarder, error)):
        rewarder.recordAnnotation(leaf, annotator, REWARD, sender=verifier)
