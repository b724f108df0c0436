"""Unit tests of RewardToken: metadata, the ledger as sole minter, the supply cap, pausing,
ERC-20 transfers and EIP-2612 permits, and who holds which role.

Expected reverts go through the ``reverts`` fixture (see tests/contracts/conftest.py).
"""

from __future__ import annotations

import pytest
from conftest import REWARD
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from labelshare.domains import GENERAL, domain_id

ZERO_ADDRESS = "0x" + "00" * 20
ADMIN_ROLE = b"\0" * 32  # AccessControl's DEFAULT_ADMIN_ROLE
PERMIT_TYPES = {
    "Permit": [
        {"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
        {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ],
}


def settle_payouts(ledger, verifier, payouts) -> None:
    """Settles the next epoch as one chunk paying ``payouts`` of (address, project id, amount)."""
    tuples = [(address, project_id, 1, amount) for address, project_id, amount in payouts]
    header = (keccak(text="root"), len(tuples), sum(p[3] for p in tuples), 1)
    ledger.settle(ledger.nextEpochId(), header, 0, tuples, sender=verifier)


@pytest.fixture
def pay(ledger, verifier, create_project):
    """Mints rewards to the given addresses the only way there is: a settled epoch."""
    project_id = create_project()

    def pay_(*recipients, amount=REWARD):
        settle_payouts(ledger, verifier, [(getattr(r, "address", r), project_id, amount) for r in recipients])

    return pay_


@pytest.fixture
def funded(pay, annotators):
    """Two annotators holding REWARD each; returns them."""
    pay(annotators[0], annotators[1])
    return annotators[0], annotators[1]


# ----------------------------------------------------------------------- metadata, roles


def test_metadata_matchesDeployParameters(token, ledger, deploy_params):
    assert token.name() == deploy_params.token_name
    assert token.symbol() == deploy_params.token_symbol
    assert token.decimals() == 18
    assert token.cap() == deploy_params.supply_cap
    assert token.minter() == ledger.address
    assert token.totalSupply() == 0


def test_roles_heldOnlyByTimelockAndGuardian(token, timelock, guardian, deployer, admin, verifier, stranger):
    pauser = token.PAUSER_ROLE()
    assert token.hasRole(ADMIN_ROLE, timelock.address)
    assert token.hasRole(pauser, guardian.address)
    assert token.getRoleAdmin(pauser) == ADMIN_ROLE
    for account in {deployer, admin, verifier, stranger}:
        assert not token.hasRole(ADMIN_ROLE, account.address)
        assert not token.hasRole(pauser, account.address)
    assert not token.hasRole(ADMIN_ROLE, guardian.address)


@pytest.mark.parametrize("position", [3, 4, 5], ids=["minter", "admin", "pauser"])
def test_constructor_revertsIfAddressIsZero(project, deployer, stranger, deploy_reverting, reverts, position):
    arguments = ["T", "T", 10**30, stranger.address, stranger.address, stranger.address]
    arguments[position] = ZERO_ADDRESS
    with reverts(project.RewardToken.RewardTokenZeroAddress):
        deploy_reverting(project.RewardToken, *arguments, sender=deployer)


# --------------------------------------------------------------------------------- mint


@pytest.mark.parametrize("caller", ["stranger", "admin", "verifier", "guardian"])
def test_mint_revertsIfCallerNotLedger(token, reverts, request, caller):
    account = request.getfixturevalue(caller)
    with reverts(token.RewardTokenUnauthorizedMinter, caller=account.address):
        token.mint(account.address, 1, sender=account)


def test_mint_happensOnlyThroughSettlement(token, ledger, pay, annotators):
    pay(annotators[0], amount=3 * REWARD)
    assert token.balanceOf(annotators[0].address) == token.totalSupply() == 3 * REWARD


@pytest.mark.parametrize("caller", ["stranger", "admin", "verifier", "guardian"])
def test_mintBatch_revertsIfCallerNotLedger(token, reverts, request, caller):
    account = request.getfixturevalue(caller)
    with reverts(token.RewardTokenUnauthorizedMinter, caller=account.address):
        token.mintBatch([account.address], [1], sender=account)


@pytest.fixture
def eoa_minted(project, deployer, stranger, guardian):
    """A token whose minter is a plain account (``stranger``), to reach mintBatch's own checks."""
    return deployer.deploy(project.RewardToken, "T", "T", 10 * REWARD, stranger.address, deployer.address,
                           guardian.address)


def test_mintBatch_mintsEachAmount(eoa_minted, stranger, annotators):
    receipt = eoa_minted.mintBatch([annotators[0].address, annotators[1].address], [REWARD, 2 * REWARD],
                                   sender=stranger)
    assert [eoa_minted.balanceOf(a.address) for a in annotators[:2]] == [REWARD, 2 * REWARD]
    assert eoa_minted.totalSupply() == 3 * REWARD
    assert [(e.to, e.value) for e in receipt.decode_logs(eoa_minted.Transfer)] == [
        (annotators[0].address, REWARD), (annotators[1].address, 2 * REWARD)]


def test_mintBatch_revertsIfLengthsDiffer(eoa_minted, stranger, annotators, reverts):
    with reverts(eoa_minted.RewardTokenLengthMismatch, recipients=2, amounts=1):
        eoa_minted.mintBatch([annotators[0].address, annotators[1].address], [REWARD], sender=stranger)
    assert eoa_minted.totalSupply() == 0


def test_settle_mintsOnlyNonZeroPayouts_inOneBatch(token, ledger, verifier, create_project, annotators):
    project_id = create_project()
    supply = token.totalSupply()
    before = [token.balanceOf(a.address) for a in annotators]
    payouts = [(annotators[0].address, project_id, REWARD), (annotators[1].address, project_id, 0),
               (annotators[2].address, project_id, 2 * REWARD)]
    tuples = [(address, pid, 1, amount) for address, pid, amount in payouts]
    header = (keccak(text="zero"), 3, 3 * REWARD, 1)
    receipt = ledger.settle(ledger.nextEpochId(), header, 0, tuples, sender=verifier)
    assert [e.value for e in receipt.decode_logs(token.Transfer)] == [REWARD, 2 * REWARD]
    assert [token.balanceOf(a.address) - b for a, b in zip(annotators, before, strict=True)] == [REWARD, 0, 2 * REWARD]
    assert token.totalSupply() == supply + 3 * REWARD


# ---------------------------------------------------------------------------------- cap


@pytest.fixture
def capped(deploy_stack, requester):
    """A separate protocol whose token caps supply at 5 REWARD; returns (ledger, token, project id)."""
    stack = deploy_stack(supply_cap=5 * REWARD, epoch_mint_cap=10 * REWARD)
    ledger = stack["ledger"]
    receipt = ledger.createProject(requester.address, keccak(text="spec"), domain_id(GENERAL), REWARD, 3,
                                   sender=requester)
    return ledger, stack["token"], receipt.decode_logs(ledger.ProjectCreated)[0].projectId


def test_settle_mintsUpToCapExactly(capped, verifier, annotators):
    ledger, token, project_id = capped
    settle_payouts(ledger, verifier, [(annotators[0].address, project_id, 3 * REWARD),
                                      (annotators[1].address, project_id, 2 * REWARD)])
    assert token.totalSupply() == token.cap() == 5 * REWARD


def test_settle_revertsIfMintWouldExceedCap(capped, verifier, annotators, reverts):
    ledger, token, project_id = capped
    settle_payouts(ledger, verifier, [(annotators[0].address, project_id, 4 * REWARD)])
    with reverts(token.ERC20ExceededCap, increasedSupply=6 * REWARD, cap=5 * REWARD):
        settle_payouts(ledger, verifier, [(annotators[1].address, project_id, 2 * REWARD)])
    assert token.totalSupply() == 4 * REWARD
    assert ledger.nextEpochId() == 2


# ------------------------------------------------------------------------ pause, unpause


def test_pause_pausesAndUnpausesIfGuardian(token, guardian):
    receipt = token.pause(sender=guardian)
    assert [log.event_arguments for log in receipt.decode_logs(token.Paused)] == [{"account": guardian.address}]
    assert token.paused()

    receipt = token.unpause(sender=guardian)
    assert [log.event_arguments for log in receipt.decode_logs(token.Unpaused)] == [{"account": guardian.address}]
    assert not token.paused()


@pytest.mark.parametrize("function", ["pause", "unpause"])
@pytest.mark.parametrize("caller", ["stranger", "admin"])
def test_pause_revertsIfCallerLacksPauserRole(token, guardian, reverts, request, function, caller):
    if function == "unpause":
        token.pause(sender=guardian)
    account = request.getfixturevalue(caller)
    with reverts(token.AccessControlUnauthorizedAccount, account=account.address, neededRole=token.PAUSER_ROLE()):
        getattr(token, function)(sender=account)


@pytest.mark.parametrize("move", ["transfer", "transferFrom"])
def test_transfer_revertsIfPaused(token, guardian, funded, stranger, reverts, move):
    holder, other = funded
    token.approve(stranger.address, REWARD, sender=holder)
    token.pause(sender=guardian)
    with reverts(token.EnforcedPause):
        if move == "transfer":
            token.transfer(other.address, 1, sender=holder)
        else:
            token.transferFrom(holder.address, other.address, 1, sender=stranger)
    token.unpause(sender=guardian)
    token.transfer(other.address, 1, sender=holder)
    assert token.balanceOf(other.address) == REWARD + 1


def test_settle_revertsIfTokenPaused(token, ledger, guardian, pay, annotators, reverts):
    token.pause(sender=guardian)
    # The token's EnforcedPause bubbles up through the ledger, whose ABI has the same error; the
    # ledger itself is not paused.
    with reverts(ledger.EnforcedPause):
        pay(annotators[0])
    assert not ledger.paused()
    assert token.totalSupply() == 0


# ------------------------------------------------------------- transfer, approve, transferFrom


def test_transfer_movesBalanceAndEmitsEvent(token, funded):
    holder, other = funded
    receipt = token.transfer(other.address, REWARD // 4, sender=holder)
    assert [log.event_arguments for log in receipt.decode_logs(token.Transfer)] == [
        {"from": holder.address, "to": other.address, "value": REWARD // 4}]
    assert token.balanceOf(holder.address) == REWARD * 3 // 4
    assert token.balanceOf(other.address) == REWARD * 5 // 4
    assert token.totalSupply() == 2 * REWARD


def test_transfer_revertsIfBalanceInsufficient(token, funded, reverts):
    holder, other = funded
    with reverts(token.ERC20InsufficientBalance, sender=holder.address, balance=REWARD, needed=REWARD + 1):
        token.transfer(other.address, REWARD + 1, sender=holder)


def test_approve_setsAllowanceAndEmitsEvent(token, funded, stranger):
    holder, _ = funded
    receipt = token.approve(stranger.address, 7, sender=holder)
    assert [log.event_arguments for log in receipt.decode_logs(token.Approval)] == [
        {"owner": holder.address, "spender": stranger.address, "value": 7}]
    assert token.allowance(holder.address, stranger.address) == 7


def test_transferFrom_spendsAllowance(token, funded, stranger):
    holder, other = funded
    token.approve(stranger.address, REWARD, sender=holder)
    token.transferFrom(holder.address, other.address, REWARD // 2, sender=stranger)
    assert token.allowance(holder.address, stranger.address) == REWARD // 2
    assert token.balanceOf(other.address) == REWARD * 3 // 2


def test_transferFrom_revertsIfAllowanceInsufficient(token, funded, stranger, reverts):
    holder, other = funded
    token.approve(stranger.address, 5, sender=holder)
    with reverts(token.ERC20InsufficientAllowance, spender=stranger.address, allowance=5, needed=6):
        token.transferFrom(holder.address, other.address, 6, sender=stranger)


# --------------------------------------------------------------------------- EIP-2612 permit


@pytest.fixture
def owner_key(pay):
    """A fresh key holding REWARD; it never sends a transaction, only signs."""
    owner = Account.create()
    pay(owner.address)
    return owner


def permit_domain(token, chain) -> dict:
    return {"name": token.name(), "version": "1", "chainId": chain.chain_id, "verifyingContract": token.address}


def sign_permit(token, chain, owner, spender: str, value: int, deadline: int, nonce: int | None = None):
    """``owner``'s EIP-2612 permit, as (v, r, s)."""
    message = {"owner": owner.address, "spender": spender, "value": value,
               "nonce": token.nonces(owner.address) if nonce is None else nonce, "deadline": deadline}
    signable = encode_typed_data(domain_data=permit_domain(token, chain), message_types=PERMIT_TYPES,
                                 message_data=message)
    signed = Account.sign_message(signable, owner.key)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


@pytest.fixture
def deadline(chain):
    return chain.pending_timestamp + 3600


def test_DOMAIN_SEPARATOR_matchesEip712Domain(token, chain):
    signable = encode_typed_data(domain_data=permit_domain(token, chain), message_types=PERMIT_TYPES,
                                 message_data={"owner": ZERO_ADDRESS, "spender": ZERO_ADDRESS, "value": 0,
                                               "nonce": 0, "deadline": 0})
    assert token.DOMAIN_SEPARATOR() == signable.header


def test_permit_setsAllowanceAndIncrementsNonce(token, chain, owner_key, stranger, annotators, deadline):
    v, r, s = sign_permit(token, chain, owner_key, stranger.address, REWARD // 2, deadline)

    receipt = token.permit(owner_key.address, stranger.address, REWARD // 2, deadline, v, r, s, sender=stranger)

    assert [log.event_arguments for log in receipt.decode_logs(token.Approval)] == [
        {"owner": owner_key.address, "spender": stranger.address, "value": REWARD // 2}]
    assert token.allowance(owner_key.address, stranger.address) == REWARD // 2
    assert token.nonces(owner_key.address) == 1
    token.transferFrom(owner_key.address, annotators[2].address, REWARD // 2, sender=stranger)
    assert token.balanceOf(owner_key.address) == REWARD // 2


def test_permit_revertsIfReplayed(token, chain, owner_key, stranger, deadline, reverts):
    v, r, s = sign_permit(token, chain, owner_key, stranger.address, 1, deadline)
    token.permit(owner_key.address, stranger.address, 1, deadline, v, r, s, sender=stranger)
    # The nonce moved on, so the same signature now recovers some other address.
    with reverts(token.ERC2612InvalidSigner, owner=owner_key.address):
        token.permit(owner_key.address, stranger.address, 1, deadline, v, r, s, sender=stranger)
    assert token.nonces(owner_key.address) == 1


@pytest.mark.parametrize("tamper", ["value", "spender", "signer"])
def test_permit_revertsIfSignatureDoesNotMatch(token, chain, owner_key, stranger, annotators, deadline, reverts,
                                               tamper):
    signer, spender, value = owner_key, stranger.address, 1
    if tamper == "signer":
        signer = Account.create()
    v, r, s = sign_permit(token, chain, signer, spender, value, deadline, nonce=0)
    if tamper == "value":
        value = 2
    elif tamper == "spender":
        spender = annotators[0].address
    with reverts(token.ERC2612InvalidSigner, owner=owner_key.address):
        token.permit(owner_key.address, spender, value, deadline, v, r, s, sender=stranger)


def test_permit_revertsIfDeadlinePassed(token, chain, owner_key, stranger, reverts):
    deadline = chain.pending_timestamp - 1
    v, r, s = sign_permit(token, chain, owner_key, stranger.address, 1, deadline)
    with reverts(token.ERC2612ExpiredSignature, deadline=deadline):
        token.permit(owner_key.address, stranger.address, 1, deadline, v, r, s, sender=stranger)
