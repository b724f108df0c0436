"""DatasetLicences: selling licences to settled dataset versions in ETH and an ERC-20, the
split between protocol, requester and contributors, pro-rata claims (before and after later
payments and later epochs), reentrancy by a hostile token and a hostile receiver, fee-on-transfer
tokens, rounding dust, and every access rule.

Shares are computed as the backend computes them (``labelshare.licences``), from the
annotations each epoch settled. Expected reverts go through the ``reverts`` fixture.
"""

from __future__ import annotations

import random

import pytest
from conftest import REWARD, ZERO_BYTES32
from eth_utils import keccak, to_checksum_address

from labelshare.leaves import AcceptedAnnotation
from labelshare.licences import ETH, SCALE, VersionShares, share_leaf

BPS = 10_000
FEE_BPS = 500  # DeployParameters.licence_fee_bps
PRICE = 3 * 10**18 + 7  # odd on purpose: every split rounds
USD = 10**6  # one tUSD


# ------------------------------------------------------------------ helpers


@pytest.fixture
def project_owner(accounts):
    return accounts[9]


@pytest.fixture
def buyer(stranger):
    return stranger


@pytest.fixture
def stablecoin(stablecoin, buyer):
    """The session's tUSD with a million of it minted to the buyer."""
    stablecoin.mint(buyer.address, 1_000_000 * USD, sender=buyer)
    return stablecoin


def work(project_id: int, counts: dict, tag: str = "", reward: int = REWARD) -> list[AcceptedAnnotation]:
    """Accepted annotations: ``counts[annotator]`` of them each on ``project_id``."""
    return [AcceptedAnnotation(to_checksum_address(getattr(a, "address", a)), project_id,
                               keccak(text=f"{tag}{project_id}-{getattr(a, 'address', a)}-{t}"), keccak(text=f"l{t}"),
                               reward)
            for a, n in counts.items() for t in range(n)]


def shares_of(project_id: int, epochs: list[tuple[int, list[AcceptedAnnotation]]]) -> VersionShares:
    shares: dict[str, int] = {}
    for _, annotations in epochs:
        for a in annotations:
            if a.project_id == project_id:
                shares[a.annotator] = shares.get(a.annotator, 0) + a.reward
    return VersionShares(project_id, epochs[0][0], epochs[-1][0], dict(sorted(shares.items())))


@pytest.fixture
def publish_project(create_project, settle_epoch, licences, verifier):
    """Creates a project owned by ``owner``, settles one epoch of ``counts[annotator]`` annotations
    each and publishes it as the next version; returns (project id, shares, epochs)."""

    def publish(owner, counts: dict, tag: str = "", reward: int = REWARD):
        project_id = create_project(owner=owner)
        annotations = work(project_id, counts, tag, reward)
        plan = settle_epoch(annotations)
        epochs = [(plan.epoch_id, annotations)]
        shares = shares_of(project_id, epochs)
        licences.publishVersion(project_id, plan.epoch_id, plan.epoch_id, shares.tree.root, shares.total,
                                sender=verifier)
        return project_id, shares, epochs

    return publish


@pytest.fixture
def settled_project(publish_project, project_owner, annotators):
    """A project owned by ``project_owner`` whose first epoch paid annotators 1, 2 and 5
    annotations (unequal contributions), published as version 1."""
    return publish_project(project_owner, dict(zip(annotators, (1, 2, 5), strict=True)))


@pytest.fixture
def for_sale(settled_project, licences, project_owner):
    """The settled project priced at PRICE wei, with a 20% requester share."""
    project_id, shares, epochs = settled_project
    licences.setPrice(project_id, ETH, PRICE, sender=project_owner)
    licences.setRequesterShare(project_id, 2_000, sender=project_owner)
    return project_id, shares, epochs


def split(price: int, requester_bps: int = 2_000, fee_bps: int = FEE_BPS) -> tuple[int, int, int]:
    fee, requester = price * fee_bps // BPS, price * requester_bps // BPS
    return fee, requester, price - fee - requester


def claim(licences, version_id, currency, shares: VersionShares, annotator, sender=None):
    address = to_checksum_address(getattr(annotator, "address", annotator))
    proof = [bytes.fromhex(p[2:]) for p in shares.proof(address)]
    return licences.claim(version_id, currency, address, shares.shares[address], proof, sender=sender or annotator)


def entitled(shares: VersionShares, annotator, per_share: int) -> int:
    return shares.shares[to_checksum_address(getattr(annotator, "address", annotator))] * per_share // SCALE


# ------------------------------------------------------------ construction


def test_deployment_wiresLedgerRolesTreasuryAndFee(licences, ledger, timelock, guardian, verifier, deployer):
    assert licences.ledger() == ledger.address
    assert licences.treasury() == timelock.address
    assert licences.feeBps() == FEE_BPS
    assert licences.hasRole(ZERO_BYTES32, timelock.address) and not licences.hasRole(ZERO_BYTES32, deployer.address)
    assert licences.hasRole(licences.PAUSER_ROLE(), guardian.address)
    assert licences.hasRole(licences.PUBLISHER_ROLE(), verifier.address)
    assert licences.MAX_FEE_BPS() == 1_000 and licences.MAX_REQUESTER_SHARE_BPS() == 5_000


def test_constructor_revertsOnFeeAboveCap(project, deployer, ledger, deploy_reverting, reverts):
    with reverts(project.DatasetLicences.LicencesFeeTooHigh, feeBps=1_001, maxBps=1_000):
        deploy_reverting(project.DatasetLicences, ledger.address, deployer.address, deployer.address,
                         deployer.address, deployer.address, 1_001, sender=deployer)


def test_shareLeaf_matchesBackend(licences, annotators):
    assert licences.shareLeaf(annotators[0].address, 12345) == share_leaf(annotators[0].address, 12345)


# ---------------------------------------------------------------- versions


def test_publishVersion_recordsRangeRootAndShares(settled_project, licences):
    project_id, shares, epochs = settled_project
    v = licences.version(1)
    assert (v.projectId, v.fromEpoch, v.toEpoch) == (project_id, epochs[0][0], epochs[0][0])
    assert (v.sharesRoot, v.totalShares) == (shares.tree.root, 8 * REWARD)
    assert licences.latestVersion(project_id) == 1 and licences.versionCount() == 1


def test_publishVersion_revertsUnlessPublisher(create_project, settle_epoch, annotators, licences, stranger, reverts):
    project_id = create_project()
    plan = settle_epoch(work(project_id, {annotators[0]: 1}))
    with reverts(licences.AccessControlUnauthorizedAccount, account=stranger.address):
        licences.publishVersion(project_id, plan.epoch_id, plan.epoch_id, keccak(text="r"), 1, sender=stranger)


def test_publishVersion_revertsOnUnsettledOrEmptyRange(create_project, settle_epoch, annotators, licences, verifier,
                                                       ledger, reverts):
    project_id = create_project()
    plan = settle_epoch(work(project_id, {annotators[0]: 1}))
    unsettled = ledger.nextEpochId()
    for first, last in ((0, plan.epoch_id), (plan.epoch_id, unsettled), (plan.epoch_id + 1, plan.epoch_id)):
        with reverts(licences.LicencesInvalidEpochRange, fromEpoch=first, toEpoch=last):
            licences.publishVersion(project_id, first, last, keccak(text="r"), 1, sender=verifier)
    for root, total in ((ZERO_BYTES32, 1), (keccak(text="r"), 0), (keccak(text="r"), 10**36 + 1)):
        with reverts(licences.LicencesInvalidShares, sharesRoot=root, totalShares=total):
            licences.publishVersion(project_id, plan.epoch_id, plan.epoch_id, root, total, sender=verifier)
    with reverts(licences.LicencesUnknownProject, projectId=999):
        licences.publishVersion(999, plan.epoch_id, plan.epoch_id, keccak(text="r"), 1, sender=verifier)


# ------------------------------------------------------------------- terms


def test_terms_onlyProjectOwnerAndCapped(settled_project, licences, project_owner, stranger, reverts):
    project_id = settled_project[0]
    with reverts(licences.LicencesNotProjectOwner, projectId=project_id, caller=stranger.address):
        licences.setPrice(project_id, ETH, 1, sender=stranger)
    with reverts(licences.LicencesNotProjectOwner, projectId=project_id, caller=stranger.address):
        licences.setRequesterShare(project_id, 1, sender=stranger)
    with reverts(licences.LicencesRequesterShareTooHigh, shareBps=5_001, maxBps=5_000):
        licences.setRequesterShare(project_id, 5_001, sender=project_owner)
    receipt = licences.setPrice(project_id, ETH, 5, sender=project_owner)
    assert receipt.decode_logs(licences.PriceSet)[0].price == 5 and licences.price(project_id, ETH) == 5


def test_setFeeBps_onlyTimelockAndCapped(licences, govern, propose, wait_until_ready, timelock, admin, reverts):
    with reverts(licences.AccessControlUnauthorizedAccount, account=admin.address):
        licences.setFeeBps(100, sender=admin)
    govern(licences, "setFeeBps", 1_000)
    assert licences.feeBps() == 1_000
    operation = propose(licences, "setFeeBps", 1_001)
    wait_until_ready(operation)
    with reverts(licences.LicencesFeeTooHigh, feeBps=1_001, maxBps=1_000):
        timelock.execute(*operation, sender=admin)
    assert licences.feeBps() == 1_000


# ------------------------------------------------------------------- sales


def test_buyLicence_inEth_splitsPaymentAndRecordsLicence(for_sale, licences, buyer, project_owner, timelock):
    project_id, shares, _ = for_sale
    before = buyer.balance
    receipt = licences.buyLicence(1, ETH, PRICE, value=PRICE, sender=buyer)
    fee, requester, contributors = split(PRICE)
    log = receipt.decode_logs(licences.LicencePurchased)[0]
    assert (log.licenceId, log.versionId, log.projectId, log.buyer, log.currency) == (1, 1, project_id, buyer.address, ETH)
    assert (log.price, log.fee, log.requesterAmount, log.contributorsAmount) == (PRICE, fee, requester, contributors)
    assert before - buyer.balance == PRICE + receipt.total_fees_paid
    assert licences.balance == PRICE
    record = licences.licence(1)
    assert (record.buyer, record.versionId, record.currency, record.price) == (buyer.address, 1, ETH, PRICE)
    assert record.purchasedAt == receipt.timestamp
    assert licences.licenceOf(buyer.address, 1) == 1 and licences.licenceOf(project_owner.address, 1) == 0
    assert licences.owed(timelock.address, ETH) == fee and licences.owed(project_owner.address, ETH) == requester
    pool = licences.pool(1, ETH)
    assert pool.contributed == contributors and pool.revenuePerShare == contributors * SCALE // shares.total


def test_buyLicence_inErc20_pullsExactPrice(for_sale, licences, stablecoin, buyer, project_owner, annotators):
    project_id, shares, _ = for_sale
    price = 250 * USD + 1
    licences.setPrice(project_id, stablecoin.address, price, sender=project_owner)
    stablecoin.approve(licences.address, price, sender=buyer)
    licences.buyLicence(1, stablecoin.address, price, sender=buyer)
    assert stablecoin.balanceOf(licences.address) == price
    fee, requester, contributors = split(price)
    claim(licences, 1, stablecoin.address, shares, annotators[2])
    assert stablecoin.balanceOf(annotators[2].address) == 5 * REWARD * (contributors * SCALE // shares.total) // SCALE
    licences.withdraw(stablecoin.address, sender=project_owner)
    assert stablecoin.balanceOf(project_owner.address) == requester


@pytest.mark.parametrize("case", ["not_for_sale", "price_changed", "wrong_value", "unknown"])
def test_buyLicence_revertsOnBadPayment(for_sale, licences, stablecoin, buyer, reverts, case):
    project_id = for_sale[0]
    if case == "not_for_sale":
        with reverts(licences.LicencesNotForSale, projectId=project_id, currency=stablecoin.address):
            licences.buyLicence(1, stablecoin.address, PRICE, sender=buyer)
    elif case == "price_changed":
        with reverts(licences.LicencesPriceChanged, expected=PRICE - 1, current=PRICE):
            licences.buyLicence(1, ETH, PRICE - 1, value=PRICE - 1, sender=buyer)
    elif case == "wrong_value":
        with reverts(licences.LicencesWrongValue, sent=PRICE - 1, expected=PRICE):
            licences.buyLicence(1, ETH, PRICE, value=PRICE - 1, sender=buyer)
    else:
        with reverts(licences.LicencesUnknownVersion, versionId=7):
            licences.buyLicence(7, ETH, PRICE, value=PRICE, sender=buyer)
    assert licences.licenceCount() == 0 and licences.balance == 0


def test_buyLicence_refusesEthWithErc20Payment(for_sale, licences, stablecoin, buyer, project_owner, reverts):
    licences.setPrice(for_sale[0], stablecoin.address, 5, sender=project_owner)
    stablecoin.approve(licences.address, 5, sender=buyer)
    with reverts(licences.LicencesWrongValue, sent=1, expected=0):
        licences.buyLicence(1, stablecoin.address, 5, value=1, sender=buyer)


def test_pause_stopsSalesNotClaims(for_sale, licences, guardian, buyer, annotators, reverts):
    _, shares, _ = for_sale
    licences.buyLicence(1, ETH, PRICE, value=PRICE, sender=buyer)
    licences.pause(sender=guardian)
    with reverts(licences.EnforcedPause):
        licences.buyLicence(1, ETH, PRICE, value=PRICE, sender=buyer)
    claim(licences, 1, ETH, shares, annotators[0])  # claims stay open
    licences.unpause(sender=guardian)
    licences.buyLicence(1, ETH, PRICE, value=PRICE, sender=buyer)


# ------------------------------------------------------------------ claims


def test_claims_areProRataToSettledRewards(for_sale, licences, buyer, annotators):
    _, shares, _ = for_sale
    licences.buyLicence(1, ETH, PRICE, value=PRICE, sender=buyer)
    per_share = licences.pool(1, ETH).revenuePerShare
    paid = []
    for a in annotators:
        before = a.balance
        receipt = claim(licences, 1, ETH, shares, a)
        paid.append(a.balance - before + receipt.total_fees_paid)
        assert receipt.decode_logs(licences.RevenueClaimed)[0].amount == paid[-1]
    _, _, contributors = split(PRICE)
    # Contributions 1:2:5, each paid its floor of the exact pro-rata share.
    assert paid == [entitled(shares, a, per_share) for a in annotators]
    assert all(abs(p * 8 - contributors * n) <= 8 for p, n in zip(paid, (1, 2, 5), strict=True))
    assert 0 <= contributors - sum(paid) <= 1 + len(annotators)  # the documented dust bound


def test_claim_beforeAndAfterLaterPayments(for_sale, licences, buyer, admin, annotators, reverts):
    _, shares, _ = for_sale
    early, late = annotators[0], annotators[1]
    licences.buyLicence(1, ETH, PRICE, value=PRICE, sender=buyer)
    first = claim(licences, 1, ETH, shares, early).decode_logs(licences.RevenueClaimed)[0].amount
    with reverts(licences.LicencesNothingToClaim, account=early.address, currency=ETH):
        claim(licences, 1, ETH, shares, early)
    licences.buyLicence(1, ETH, PRICE, value=PRICE, sender=admin)  # a second buyer, later
    second = claim(licences, 1, ETH, shares, early).decode_logs(licences.RevenueClaimed)[0].amount
    per_share = licences.pool(1, ETH).revenuePerShare
    assert first + second == entitled(shares, early, per_share)
    both = claim(licences, 1, ETH, shares, late).decode_logs(licences.RevenueClaimed)[0].amount
    assert both == entitled(shares, late, per_share) and both >= 2 * first * 2 - 2


def test_claim_anyoneMayTriggerButAnnotatorIsPaid(for_sale, licences, buyer, stranger, annotators):
    _, shares, _ = for_sale
    licences.buyLicence(1, ETH, PRICE, value=PRICE, sender=buyer)
    before = annotators[1].balance
    claim(licences, 1, ETH, shares, annotators[1], sender=stranger)
    assert annotators[1].balance - before == entitled(shares, annotators[1], licences.pool(1, ETH).revenuePerShare)


def test_claim_revertsOnWrongSharesOrProof(for_sale, licences, buyer, annotators, stranger, reverts):
    _, shares, _ = for_sale
    licences.buyLicence(1, ETH, PRICE, value=PRICE, sender=buyer)
    a = annotators[0].address
    proof = [bytes.fromhex(p[2:]) for p in shares.proof(a)]
    with reverts(licences.LicencesInvalidShareProof, versionId=1, annotator=a, shares=shares.shares[a] * 2):
        licences.claim(1, ETH, a, shares.shares[a] * 2, proof, sender=annotators[0])
    with reverts(licences.LicencesInvalidShareProof, versionId=1, annotator=stranger.address, shares=shares.shares[a]):
        licences.claim(1, ETH, stranger.address, shares.shares[a], proof, sender=stranger)
    assert licences.pool(1, ETH).claimed == 0


def test_laterEpochs_newVersionSharesNewContributorsOldPoolUntouched(
    for_sale, licences, settle_epoch, buyer, admin, annotators, stranger, verifier,
):
    project_id, v1_shares, epochs = for_sale
    licences.buyLicence(1, ETH, PRICE, value=PRICE, sender=buyer)
    v1_pool = licences.pool(1, ETH)
    # Epoch 2: a newcomer (the stranger) and annotator 0 again; published as version 2 (epochs 1-2).
    more = work(project_id, {stranger: 4, annotators[0]: 1}, tag="e2")
    plan = settle_epoch(more)
    epochs = [*epochs, (plan.epoch_id, more)]
    v2_shares = shares_of(project_id, epochs)
    licences.publishVersion(project_id, epochs[0][0], plan.epoch_id, v2_shares.tree.root, v2_shares.total,
                            sender=verifier)
    assert licences.latestVersion(project_id) == 2
    licences.buyLicence(2, ETH, PRICE, value=PRICE, sender=admin)
    assert licences.pool(1, ETH) == v1_pool  # version 1's revenue is untouched by version 2's sale
    newcomer = claim(licences, 2, ETH, v2_shares, stranger).decode_logs(licences.RevenueClaimed)[0].amount
    assert newcomer == entitled(v2_shares, stranger, licences.pool(2, ETH).revenuePerShare) > 0
    assert stranger.address not in v1_shares.shares
    old = claim(licences, 1, ETH, v1_shares, annotators[0]).decode_logs(licences.RevenueClaimed)[0].amount
    new = claim(licences, 2, ETH, v2_shares, annotators[0]).decode_logs(licences.RevenueClaimed)[0].amount
    assert old == entitled(v1_shares, annotators[0], v1_pool.revenuePerShare)
    assert new == entitled(v2_shares, annotators[0], licences.pool(2, ETH).revenuePerShare)
    assert v2_shares.shares[annotators[0].address] == 2 * REWARD


def test_withdraw_paysTreasuryThroughTimelockAndRequester(for_sale, licences, buyer, project_owner, timelock, govern,
                                                          reverts):
    licences.buyLicence(1, ETH, PRICE, value=PRICE, sender=buyer)
    fee, requester, _ = split(PRICE)
    before = project_owner.balance
    receipt = licences.withdraw(ETH, sender=project_owner)
    assert project_owner.balance - before + receipt.total_fees_paid == requester
    with reverts(licences.LicencesNothingToClaim, account=project_owner.address, currency=ETH):
        licences.withdraw(ETH, sender=project_owner)
    govern(licences, "withdraw", ETH)
    assert timelock.balance == fee and licences.owed(timelock.address, ETH) == 0


# -------------------------------------------------------------- hostility


def test_reentrantToken_cannotClaimTwice(project, deployer, publish_project, licences, project_owner, buyer,
                                         annotators):
    hostile = deployer.deploy(project.HostileToken)
    project_id, shares, _ = publish_project(project_owner, {annotators[0]: 1, annotators[1]: 3})
    licences.setPrice(project_id, hostile.address, 1_000_000, sender=project_owner)
    hostile.mint(buyer.address, 10_000_000, sender=buyer)
    hostile.approve(licences.address, 10_000_000, sender=buyer)
    # The sale's transferFrom tries to buy again from inside; the guard refuses it.
    rebuy = licences.buyLicence.encode_input(1, hostile.address, 1_000_000)
    hostile.arm(1, licences.address, rebuy, sender=buyer)
    licences.buyLicence(1, hostile.address, 1_000_000, sender=buyer)
    assert (hostile.attempts(), hostile.successes()) == (1, 0)
    assert hostile.lastError()[:4] == keccak(text="ReentrancyGuardReentrantCall()")[:4]
    assert licences.licenceCount() == 1
    # The claim's transfer tries to claim the same revenue again.
    a = annotators[1].address
    proof = [bytes.fromhex(p[2:]) for p in shares.proof(a)]
    hostile.arm(1, licences.address, licences.claim.encode_input(1, hostile.address, a, shares.shares[a], proof),
                sender=buyer)
    licences.claim(1, hostile.address, a, shares.shares[a], proof, sender=annotators[1])
    assert (hostile.attempts(), hostile.successes()) == (2, 0)
    assert hostile.balanceOf(a) == entitled(shares, a, licences.pool(1, hostile.address).revenuePerShare)
    assert licences.pool(1, hostile.address).claimed == hostile.balanceOf(a)


def test_reentrantReceiver_cannotClaimOrWithdrawTwice(project, deployer, publish_project, licences, buyer,
                                                      annotators):
    receiver = deployer.deploy(project.HostileReceiver)
    # The receiver contract is both an annotator (paid in ETH) and a project owner.
    project_id, shares, _ = publish_project(receiver, {receiver.address: 2, annotators[0]: 2})
    receiver.execute(licences.address, licences.setPrice.encode_input(project_id, ETH, PRICE), sender=deployer)
    receiver.execute(licences.address, licences.setRequesterShare.encode_input(project_id, 5_000), sender=deployer)
    licences.buyLicence(1, ETH, PRICE, value=PRICE, sender=buyer)
    proof = [bytes.fromhex(p[2:]) for p in shares.proof(receiver.address)]
    again = licences.claim.encode_input(1, ETH, receiver.address, shares.shares[receiver.address], proof)
    receiver.arm(licences.address, again, False, sender=deployer)
    licences.claim(1, ETH, receiver.address, shares.shares[receiver.address], proof, sender=deployer)
    owed_share = entitled(shares, receiver.address, licences.pool(1, ETH).revenuePerShare)
    assert (receiver.attempts(), receiver.successes()) == (1, 0) and receiver.balance == owed_share
    receiver.arm(licences.address, licences.withdraw.encode_input(ETH), False, sender=deployer)
    receiver.execute(licences.address, licences.withdraw.encode_input(ETH), sender=deployer)
    _, requester, _ = split(PRICE, 5_000)
    assert (receiver.attempts(), receiver.successes()) == (2, 0) and receiver.balance == owed_share + requester


def test_refusingReceiver_blocksOnlyItsOwnPayout(project, deployer, publish_project, licences, buyer, annotators,
                                                 project_owner):
    receiver = deployer.deploy(project.HostileReceiver)
    project_id, shares, _ = publish_project(project_owner, {receiver.address: 1, annotators[0]: 1})
    licences.setPrice(project_id, ETH, PRICE, sender=project_owner)
    licences.buyLicence(1, ETH, PRICE, value=PRICE, sender=buyer)
    receiver.arm(licences.address, b"", True, sender=deployer)
    with pytest.raises(Exception, match="refused"):
        claim(licences, 1, ETH, shares, receiver.address, sender=deployer)
    claim(licences, 1, ETH, shares, annotators[0])  # everyone else is paid
    receiver.arm(licences.address, b"", False, sender=deployer)
    claim(licences, 1, ETH, shares, receiver.address, sender=deployer)  # and the receiver once it accepts
    assert receiver.balance == entitled(shares, receiver.address, licences.pool(1, ETH).revenuePerShare)


def test_feeOnTransferToken_isRefused(project, deployer, for_sale, licences, project_owner, buyer, reverts):
    skimming = deployer.deploy(project.HostileToken)
    skimming.mint(buyer.address, 10**9, sender=buyer)
    skimming.approve(licences.address, 10**9, sender=buyer)
    skimming.arm(2, licences.address, b"", sender=buyer)
    licences.setPrice(for_sale[0], skimming.address, 10**6, sender=project_owner)
    with reverts(licences.LicencesTransferShortfall, received=10**6 - 10**4, expected=10**6):
        licences.buyLicence(1, skimming.address, 10**6, sender=buyer)
    assert licences.licenceCount() == 0


# ------------------------------------------------------------------- dust


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_roundingDust_staysWithinBound(seed, create_project, settle_epoch, licences, verifier, accounts, project_owner,
                                       buyer, admin):
    """Awkward contributions and prices: after every payment and every claim, what can never be
    claimed is at most one wei per payment plus one wei per contributor."""
    rng = random.Random(seed)
    project_id = create_project(owner=project_owner)
    contributors = [accounts[i] for i in (1, 2, 3, 5, 6, 7)]
    annotations = [a for c in contributors
                   for a in work(project_id, {c: rng.randint(1, 4)}, tag=f"s{seed}", reward=rng.randint(1, REWARD))]
    plan = settle_epoch(annotations)
    shares = shares_of(project_id, [(plan.epoch_id, annotations)])
    licences.publishVersion(project_id, plan.epoch_id, plan.epoch_id, shares.tree.root, shares.total, sender=verifier)
    licences.setRequesterShare(project_id, rng.randint(0, 5_000), sender=project_owner)
    payments = rng.randint(2, 5)
    paid = 0
    for i in range(payments):
        price = rng.randint(1, 10**19)
        licences.setPrice(project_id, ETH, price, sender=project_owner)
        licences.buyLicence(1, ETH, price, value=price, sender=buyer if i % 2 else admin)
        if i == 0:  # some claim early, the rest at the end
            for c in contributors[:2]:
                paid += claim(licences, 1, ETH, shares, c).decode_logs(licences.RevenueClaimed)[0].amount
    for c in contributors:
        try:
            paid += claim(licences, 1, ETH, shares, c).decode_logs(licences.RevenueClaimed)[0].amount
        except Exception:  # noqa: BLE001 - LicencesNothingToClaim: a tiny share can round to 0
            pass
    pool = licences.pool(1, ETH)
    assert pool.claimed == paid
    dust = pool.contributed - pool.claimed
    assert 0 <= dust <= payments + len(contributors), f"dust {dust}"


# --------------------------------------------------------------------- gas


def test_buyLicence_gasIsTheSameFor3Or1000Contributors(settled_project, licences, settle_epoch, verifier, buyer,
                                                        admin, project_owner, accounts):
    """A sale's gas does not depend on how many contributors share it (O(1)); a claim's grows
    only with its proof's length (log2 of the contributors)."""
    project_id, small, epochs = settled_project
    many = VersionShares(project_id, small.from_epoch, small.to_epoch,
                         {to_checksum_address(keccak(text=f"c{i}")[:20]): 10**18 + i for i in range(1_000)})
    licences.publishVersion(project_id, small.from_epoch, small.to_epoch, many.tree.root, many.total, sender=verifier)
    licences.setPrice(project_id, ETH, PRICE, sender=project_owner)
    # Warm the same slots first (fee and requester balances, the licence counter), then compare.
    licences.buyLicence(1, ETH, PRICE, value=PRICE, sender=admin)
    licences.buyLicence(2, ETH, PRICE, value=PRICE, sender=admin)
    gas = [licences.buyLicence(v, ETH, PRICE, value=PRICE, sender=buyer).gas_used for v in (1, 2)]
    assert gas[0] == gas[1], gas
    contributor = next(iter(many.shares))
    proof = [bytes.fromhex(p[2:]) for p in many.proof(contributor)]
    assert len(proof) in (9, 10)  # ceil/floor of log2(1000): the only part of a claim that grows
    claimed = licences.claim(2, ETH, contributor, many.shares[contributor], proof, sender=buyer)
    assert claimed.decode_logs(licences.RevenueClaimed)[0].amount > 0
