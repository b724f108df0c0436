"""FeeStaking: LSR stakes that earn the protocol fee in ETH and allowed ERC-20s.

Stake, unbond and withdraw (with the delay timed on anvil's clock); distributions pro rata to the
stakes at the time, held while nothing is staked; claims per currency (also relayed by anyone);
the allow-list and the delay under the admin role; reentrancy by a hostile token and a hostile
receiver; fee-on-transfer tokens. ``FeeModel`` is the accounting in Python, integer for integer:
the unit tests and the state machine at the end check the contract against it, and it against
exact pro-rata shares. Expected reverts go through the ``reverts`` fixture.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction

import pytest
from conftest import REWARD, ZERO_BYTES32
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from labelshare.leaves import AcceptedAnnotation

ETH = "0x0000000000000000000000000000000000000000"
SCALE = 10**36
DELAY = 2 * 24 * 3600  # unbonding delay of the tests' own staking contracts
DAY = 24 * 3600
USD = 10**6  # one tUSD


# ------------------------------------------------------------------ the model


@dataclass
class Pool:
    reward_per_share: int = 0
    distributed: int = 0
    claimed: int = 0
    held: int = 0


@dataclass
class FeeModel:
    """FeeStaking's accounting, rounding as it rounds, plus what exact pro rata would pay."""

    currencies: list[str]
    staked: dict[str, int] = field(default_factory=dict)
    pools: dict[str, Pool] = field(default_factory=dict)
    settled_per_share: dict[tuple[str, str], int] = field(default_factory=dict)
    earned: dict[tuple[str, str], int] = field(default_factory=dict)
    fair: dict[tuple[str, str], Fraction] = field(default_factory=dict)  # exact pro-rata share of each credit
    # Distributions + settlements per currency: with one wei per staker's unsettled share, the dust bound.
    roundings: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        self.pools = {c: Pool() for c in self.currencies}
        self.roundings = dict.fromkeys(self.currencies, 0)

    @property
    def total(self) -> int:
        return sum(self.staked.values())

    def _unsettled(self, account: str, currency: str) -> int:
        delta = self.pools[currency].reward_per_share - self.settled_per_share.get((account, currency), 0)
        return self.staked.get(account, 0) * delta // SCALE

    def _settle(self, account: str, currency: str) -> None:
        per_share = self.pools[currency].reward_per_share
        if self.settled_per_share.get((account, currency), 0) != per_share:
            self.earned[account, currency] = self.claimable(account, currency)
            self.settled_per_share[account, currency] = per_share
            self.roundings[currency] += 1

    def stake(self, account: str, amount: int) -> None:
        for currency in self.currencies:
            self._settle(account, currency)
        self.staked[account] = self.staked.get(account, 0) + amount

    def unstake(self, account: str, amount: int) -> None:
        for currency in self.currencies:
            self._settle(account, currency)
        self.staked[account] -= amount

    def distribute(self, currency: str, amount: int) -> int:
        """Returns what stakers are credited now."""
        pool, total = self.pools[currency], self.total
        if total == 0:
            pool.held += amount
            return 0
        credited, pool.held = amount + pool.held, 0
        pool.reward_per_share += credited * SCALE // total
        pool.distributed += credited
        self.roundings[currency] += 1
        for account, stake in self.staked.items():
            key = (account, currency)
            self.fair[key] = self.fair.get(key, Fraction(0)) + Fraction(credited * stake, total)
        return credited

    def claimable(self, account: str, currency: str) -> int:
        return self.earned.get((account, currency), 0) + self._unsettled(account, currency)

    def claim(self, account: str, currency: str) -> int:
        self._settle(account, currency)
        amount = self.earned.pop((account, currency), 0)
        self.pools[currency].claimed += amount
        return amount

    def dust(self, currency: str, accounts) -> int:
        pool = self.pools[currency]
        return pool.distributed - pool.claimed - sum(self.claimable(a, currency) for a in accounts)


# ------------------------------------------------------------------ helpers


def events(receipt, event) -> list[dict]:
    return [dict(log.event_arguments) for log in receipt.decode_logs(event)]


def address(account) -> str:
    return to_checksum_address(getattr(account, "address", account))


@pytest.fixture
def stablecoin(stablecoin, stranger):
    """The session's tUSD with a million of it minted to the stranger (the tests' fee source)."""
    stablecoin.mint(stranger.address, 1_000_000 * USD, sender=stranger)
    return stablecoin


@pytest.fixture
def staking(project, deployer, token, admin, guardian, stablecoin):
    """A FeeStaking of the session's LSR whose admin is the ``admin`` account (the protocol's own
    answers only to the timelock), with tUSD allowed."""
    return deployer.deploy(project.FeeStaking, token.address, admin.address, guardian.address, DELAY,
                           [stablecoin.address])


@pytest.fixture
def fund(create_project, settle_epoch):
    """Mints ``counts[account] * REWARD`` LSR to each account by settling an epoch of their work."""

    def fund_(counts: dict) -> None:
        project_id = create_project()
        settle_epoch([AcceptedAnnotation(address(a), project_id, keccak(text=f"{project_id}-{address(a)}-{t}"),
                                         keccak(text="label"), REWARD)
                      for a, n in counts.items() for t in range(n)])

    return fund_


@pytest.fixture
def stake(staking, token):
    """Approves and stakes ``amount`` LSR as ``account``; returns the receipt."""

    def stake_(account, amount: int):
        token.approve(staking.address, amount, sender=account)
        return staking.stake(amount, sender=account)

    return stake_


@pytest.fixture
def stakers(annotators, fund, stake):
    """The three annotators staking 1, 2 and 5 LSR."""
    fund(dict(zip(annotators, (10, 10, 10), strict=True)))
    for account, units in zip(annotators, (1, 2, 5), strict=True):
        stake(account, units * REWARD)
    return annotators


# ------------------------------------------------------------ construction


def test_deployment_stakesLsrUnderTheTimelock(protocol, token, timelock, guardian, deployer, deploy_params, govern):
    staking = protocol["staking"]
    assert staking.stakingToken() == token.address
    assert staking.hasRole(ZERO_BYTES32, timelock.address) and not staking.hasRole(ZERO_BYTES32, deployer.address)
    assert staking.hasRole(staking.PAUSER_ROLE(), guardian.address)
    assert staking.unbondingDelay() == deploy_params.unbonding_delay
    assert staking.currencies() == [ETH] and staking.isCurrencyAllowed(ETH)
    receipt = govern(staking, "setUnbondingDelay", 3 * DAY)
    assert events(receipt, staking.UnbondingDelayChanged) == [{"oldDelay": deploy_params.unbonding_delay,
                                                               "newDelay": 3 * DAY}]
    assert staking.unbondingDelay() == 3 * DAY


def test_constructor_refusesZeroAddressesBadDelaysAndTheStakingToken(project, deployer, token, admin, guardian,
                                                                      reverts, deploy_reverting):
    container = project.FeeStaking
    for args in ((ETH, admin, guardian), (token, ETH, guardian), (token, admin, ETH)):
        with reverts(container.StakingZeroAddress):
            deploy_reverting(container, *args, DELAY, [], sender=deployer)
    for delay in (DAY - 1, 30 * DAY + 1):
        with reverts(container.StakingInvalidUnbondingDelay, delay=delay, minDelay=DAY, maxDelay=30 * DAY):
            deploy_reverting(container, token, admin, guardian, delay, [], sender=deployer)
    with reverts(container.StakingInvalidCurrency, currency=token.address):
        deploy_reverting(container, token, admin, guardian, DELAY, [token.address], sender=deployer)


def test_constructor_allowsEthAndTheGivenTokens(staking, stablecoin):
    assert staking.currencies() == [ETH, stablecoin.address]
    assert staking.isCurrencyAllowed(ETH) and staking.isCurrencyAllowed(stablecoin.address)
    assert (staking.MIN_UNBONDING_DELAY(), staking.MAX_UNBONDING_DELAY(), staking.MAX_CURRENCIES()) == (
        DAY, 30 * DAY, 8)


# ------------------------------------------------------------------- stake


def test_stake_movesLsrInAndCounts(staking, token, annotators, fund, stake):
    fund({annotators[0]: 3})
    receipt = stake(annotators[0], 2 * REWARD)
    assert events(receipt, staking.Staked) == [{"account": annotators[0].address, "amount": 2 * REWARD}]
    assert staking.stakedOf(annotators[0]) == staking.totalStaked() == token.balanceOf(staking.address) == 2 * REWARD
    assert token.balanceOf(annotators[0]) == REWARD


def test_stake_refusesZeroMissingAllowanceAndPause(staking, token, annotators, fund, guardian, stranger, reverts):
    fund({annotators[0]: 1})
    with reverts(staking.StakingZeroAmount):
        staking.stake(0, sender=annotators[0])
    with reverts(token.ERC20InsufficientAllowance, spender=staking.address, allowance=0, needed=REWARD):
        staking.stake(REWARD, sender=annotators[0])
    with reverts(staking.AccessControlUnauthorizedAccount, account=stranger.address):
        staking.pause(sender=stranger)
    staking.pause(sender=guardian)
    token.approve(staking.address, REWARD, sender=annotators[0])
    with reverts(staking.EnforcedPause):
        staking.stake(REWARD, sender=annotators[0])
    with reverts(staking.AccessControlUnauthorizedAccount, account=stranger.address):
        staking.unpause(sender=stranger)
    staking.unpause(sender=guardian)
    staking.stake(REWARD, sender=annotators[0])
    assert staking.stakedOf(annotators[0]) == REWARD


def _permit(token, owner, spender: str, value: int, deadline: int, chain_id: int):
    message = {"types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                          {"name": "chainId", "type": "uint256"},
                                          {"name": "verifyingContract", "type": "address"}],
                         "Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                                    {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                                    {"name": "deadline", "type": "uint256"}]},
               "primaryType": "Permit",
               "domain": {"name": token.name(), "version": "1", "chainId": chain_id,
                          "verifyingContract": token.address},
               "message": {"owner": owner.address, "spender": spender, "value": value,
                           "nonce": token.nonces(owner.address), "deadline": deadline}}
    signed = Account.sign_message(encode_typed_data(full_message=message), owner.private_key)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def test_stakeWithPermit_stakesWithoutAnApproval(staking, token, annotators, fund, chain, stranger, reverts):
    owner = annotators[0]
    fund({owner: 2})
    deadline = chain.pending_timestamp + 3600
    v, r, s = _permit(token, owner, staking.address, REWARD, deadline, chain.chain_id)
    receipt = staking.stakeWithPermit(REWARD, deadline, v, r, s, sender=owner)
    assert events(receipt, staking.Staked) == [{"account": owner.address, "amount": REWARD}]
    assert staking.stakedOf(owner) == REWARD and token.allowance(owner, staking.address) == 0
    # A permit someone else already submitted still stakes, from the allowance it left.
    v, r, s = _permit(token, owner, staking.address, REWARD, deadline, chain.chain_id)
    token.permit(owner.address, staking.address, REWARD, deadline, v, r, s, sender=stranger)
    staking.stakeWithPermit(REWARD, deadline, v, r, s, sender=owner)
    assert staking.stakedOf(owner) == 2 * REWARD
    # A bad permit with no allowance behind it stakes nothing.
    fund({owner: 1})
    with reverts(token.ERC20InsufficientAllowance, spender=staking.address, allowance=0, needed=REWARD):
        staking.stakeWithPermit(REWARD, deadline, v, r, s, sender=owner)


# ---------------------------------------------------------------- unbonding


def test_requestUnstake_stopsEarningAndWithdrawWaitsOutTheDelay(staking, token, stakers, stranger, chain, reverts):
    a, b, c = stakers
    receipt = staking.requestUnstake(REWARD, sender=c)
    available = chain.blocks.head.timestamp + DELAY
    assert events(receipt, staking.UnstakeRequested) == [
        {"account": c.address, "amount": REWARD, "unbonding": REWARD, "availableAt": available}]
    assert staking.stakedOf(c) == 4 * REWARD and staking.totalStaked() == 7 * REWARD
    assert staking.unbondingOf(c) == (REWARD, available) and staking.totalUnbonding() == REWARD
    # Unbonding stake earns nothing: 7 staked share the fee.
    staking.distribute(ETH, 7_000, value=7_000, sender=stranger)
    assert [staking.claimable(x, ETH) for x in stakers] == [1_000, 2_000, 4_000]
    chain.pending_timestamp = available - 1
    with reverts(staking.StakingStillUnbonding, account=c.address, availableAt=available):
        staking.withdraw(sender=c)
    # A second request adds to the unbonding stake and restarts its clock.
    chain.pending_timestamp = available - 1
    staking.requestUnstake(REWARD, sender=c)
    later = available - 1 + DELAY
    assert staking.unbondingOf(c) == (2 * REWARD, later)
    chain.pending_timestamp = later - 1
    with reverts(staking.StakingStillUnbonding, account=c.address, availableAt=later):
        staking.withdraw(sender=c)
    chain.pending_timestamp = later
    before = token.balanceOf(c)
    receipt = staking.withdraw(sender=c)
    assert events(receipt, staking.Withdrawn) == [{"account": c.address, "amount": 2 * REWARD}]
    assert token.balanceOf(c) == before + 2 * REWARD
    assert staking.unbondingOf(c) == (0, 0) and staking.totalUnbonding() == 0
    assert token.balanceOf(staking.address) == staking.totalStaked() == 6 * REWARD
    with reverts(staking.StakingNothingUnbonding, account=c.address):
        staking.withdraw(sender=c)


def test_requestUnstake_refusesZeroAndMoreThanStaked(staking, stakers, stranger, reverts):
    with reverts(staking.StakingZeroAmount):
        staking.requestUnstake(0, sender=stakers[0])
    with reverts(staking.StakingInsufficientStake, account=stakers[0].address, requested=REWARD + 1, staked=REWARD):
        staking.requestUnstake(REWARD + 1, sender=stakers[0])
    with reverts(staking.StakingInsufficientStake, account=stranger.address, requested=1, staked=0):
        staking.requestUnstake(1, sender=stranger)
    with reverts(staking.StakingNothingUnbonding, account=stranger.address):
        staking.withdraw(sender=stranger)


# -------------------------------------------------------------------- fees


def test_distribute_isProRataAcrossChangingStakes(staking, token, stablecoin, stakers, stake, stranger, chain):
    """Stakes 1:2:5, then 1:1:5 (b unbonds one), then 1:1:9 (c adds four), then 0:1:9 (a unbonds
    all): each distribution is shared by the stakes of its moment; the model predicts every wei."""
    a, b, c = stakers
    model = FeeModel([ETH, stablecoin.address])
    for x, units in zip(stakers, (1, 2, 5), strict=True):
        model.stake(x.address, units * REWARD)
    stablecoin.approve(staking.address, 10**12 * USD, sender=stranger)

    def distribute(currency, amount):
        receipt = staking.distribute(currency, amount, value=amount if currency == ETH else 0, sender=stranger)
        credited = model.distribute(currency, amount)
        assert events(receipt, staking.FeesDistributed) == [
            {"currency": currency, "source": stranger.address, "amount": amount, "credited": credited,
             "rewardPerShare": model.pools[currency].reward_per_share}]

    distribute(ETH, 8 * 10**18 + 5)
    distribute(stablecoin.address, 1_000 * USD + 1)
    staking.requestUnstake(REWARD, sender=b)
    model.unstake(b.address, REWARD)
    distribute(ETH, 10**18 + 3)
    fund_more = 4 * REWARD
    stake(c, fund_more)
    model.stake(c.address, fund_more)
    distribute(stablecoin.address, 333 * USD)
    distribute(ETH, 10**9 + 1)
    staking.requestUnstake(REWARD, sender=a)
    model.unstake(a.address, REWARD)
    distribute(ETH, 12_345)
    for currency in (ETH, stablecoin.address):
        for x in stakers:
            assert staking.claimable(x, currency) == model.claimable(x.address, currency)
            assert model.claimable(x.address, currency) <= model.fair[x.address, currency]
        assert staking.pool(currency) == tuple(vars(model.pools[currency]).values())
    # a held 1/8, then 1/7, then 1/11 of the stake: its exact share, rounded down once.
    exact = Fraction(8 * 10**18 + 5, 8) + Fraction(10**18 + 3, 7) + Fraction(10**9 + 1, 11)
    assert exact - 1 < staking.claimable(a, ETH) <= exact
    for x in stakers:
        balance = x.balance
        receipt = staking.claim(x, ETH, sender=stranger)  # relayed: paid to x, gas paid by the stranger
        amount = model.claim(x.address, ETH)
        assert events(receipt, staking.FeesClaimed) == [{"account": x.address, "currency": ETH, "amount": amount}]
        assert x.balance == balance + amount
        usd = stablecoin.balanceOf(x)
        staking.claim(x, stablecoin.address, sender=x)
        assert stablecoin.balanceOf(x) == usd + model.claim(x.address, stablecoin.address)
    for currency in (ETH, stablecoin.address):
        dust = model.dust(currency, [x.address for x in stakers])
        assert 0 <= dust <= model.roundings[currency]
    assert chain.provider.get_balance(staking.address) == model.pools[ETH].distributed - model.pools[ETH].claimed
    assert stablecoin.balanceOf(staking.address) == dust


def test_distribute_holdsFeesUntilSomeoneStakes(staking, stakers, stranger):
    for x in stakers:
        staking.requestUnstake(staking.stakedOf(x), sender=x)
    receipt = staking.distribute(ETH, 1_000, value=1_000, sender=stranger)
    assert events(receipt, staking.FeesDistributed) == [
        {"currency": ETH, "source": stranger.address, "amount": 1_000, "credited": 0, "rewardPerShare": 0}]
    assert staking.pool(ETH) == (0, 0, 0, 1_000) and staking.claimable(stakers[0], ETH) == 0


def test_distribute_creditsHeldFeesWithTheNext(staking, token, annotators, fund, stake, stranger):
    staking.distribute(ETH, 1_000, value=1_000, sender=stranger)
    fund({annotators[0]: 1, annotators[1]: 3})
    stake(annotators[0], REWARD)
    stake(annotators[1], 3 * REWARD)
    receipt = staking.distribute(ETH, 3, value=3, sender=stranger)
    per_share = 1_003 * SCALE // (4 * REWARD)
    assert events(receipt, staking.FeesDistributed) == [
        {"currency": ETH, "source": stranger.address, "amount": 3, "credited": 1_003, "rewardPerShare": per_share}]
    assert staking.pool(ETH) == (per_share, 1_003, 0, 0)
    assert [staking.claimable(x, ETH) for x in annotators[:2]] == [250, 752]


def test_distribute_refusesZeroUnlistedCurrenciesAndWrongValues(project, deployer, staking, stablecoin, stakers,
                                                                stranger, reverts):
    with reverts(staking.StakingZeroAmount):
        staking.distribute(ETH, 0, sender=stranger)
    other = deployer.deploy(project.TestStablecoin)
    with reverts(staking.StakingCurrencyNotAllowed, currency=other.address):
        staking.distribute(other.address, 5, sender=stranger)
    with reverts(staking.StakingWrongValue, sent=4, expected=5):
        staking.distribute(ETH, 5, value=4, sender=stranger)
    stablecoin.approve(staking.address, 5, sender=stranger)
    with reverts(staking.StakingWrongValue, sent=1, expected=0):
        staking.distribute(stablecoin.address, 5, value=1, sender=stranger)
    assert staking.pool(ETH) == staking.pool(stablecoin.address) == (0, 0, 0, 0)


def test_distribute_refusesFeeOnTransferTokens(project, deployer, staking, stakers, admin, stranger, reverts):
    skimming = deployer.deploy(project.HostileToken)
    staking.setCurrencyAllowed(skimming.address, True, sender=admin)
    skimming.mint(stranger.address, 10_000, sender=stranger)
    skimming.approve(staking.address, 10_000, sender=stranger)
    skimming.arm(2, ETH, b"", sender=stranger)  # Mode.SkimFee: keeps 1% of every transfer
    with reverts(staking.StakingTransferShortfall, received=9_900, expected=10_000):
        staking.distribute(skimming.address, 10_000, sender=stranger)
    assert staking.pool(skimming.address) == (0, 0, 0, 0) and skimming.balanceOf(staking.address) == 0


def test_claim_refusesNothingToClaimAndPaysOnce(staking, stakers, stranger, reverts):
    with reverts(staking.StakingNothingToClaim, account=stakers[0].address, currency=ETH):
        staking.claim(stakers[0], ETH, sender=stakers[0])
    staking.distribute(ETH, 8_000, value=8_000, sender=stranger)
    staking.claim(stakers[0], ETH, sender=stakers[0])
    with reverts(staking.StakingNothingToClaim, account=stakers[0].address, currency=ETH):
        staking.claim(stakers[0], ETH, sender=stranger)
    with reverts(staking.StakingNothingToClaim, account=stranger.address, currency=ETH):
        staking.claim(stranger, ETH, sender=stranger)


def test_claim_paysEarningsOfStakeSinceWithdrawn(staking, stakers, stranger, chain):
    c = stakers[2]
    staking.distribute(ETH, 8_000, value=8_000, sender=stranger)
    staking.requestUnstake(5 * REWARD, sender=c)
    chain.pending_timestamp = staking.unbondingOf(c).availableAt
    staking.withdraw(sender=c)
    staking.distribute(ETH, 3_000, value=3_000, sender=stranger)
    assert staking.claimable(c, ETH) == 5_000
    staking.claim(c, ETH, sender=c)
    assert staking.claimable(c, ETH) == 0 and staking.pool(ETH).claimed == 5_000


# ------------------------------------------------------------------- admin


def test_setCurrencyAllowed_isAdminOnlyBoundedAndKeepsRemovedFeesClaimable(project, deployer, staking, stablecoin,
                                                                          token, stakers, admin, stranger, reverts):
    with reverts(staking.AccessControlUnauthorizedAccount, account=stranger.address):
        staking.setCurrencyAllowed(stablecoin.address, False, sender=stranger)
    with reverts(staking.StakingInvalidCurrency, currency=token.address):
        staking.setCurrencyAllowed(token.address, True, sender=admin)
    stablecoin.approve(staking.address, 800, sender=stranger)
    staking.distribute(stablecoin.address, 800, sender=stranger)
    receipt = staking.setCurrencyAllowed(stablecoin.address, False, sender=admin)
    assert events(receipt, staking.CurrencyAllowed) == [{"currency": stablecoin.address, "allowed": False}]
    assert not staking.isCurrencyAllowed(stablecoin.address)
    with reverts(staking.StakingCurrencyNotAllowed, currency=stablecoin.address):
        staking.distribute(stablecoin.address, 800, sender=stranger)
    # Removed, its fees stay claimable, and stake changes still settle them.
    staking.requestUnstake(REWARD, sender=stakers[2])
    assert [staking.claimable(x, stablecoin.address) for x in stakers] == [100, 200, 500]
    staking.claim(stakers[2], stablecoin.address, sender=stranger)
    assert stablecoin.balanceOf(stakers[2]) == 500
    # Re-allowing does not list it twice; the list is bounded.
    staking.setCurrencyAllowed(stablecoin.address, True, sender=admin)
    assert staking.currencies() == [ETH, stablecoin.address]
    extra = [deployer.deploy(project.TestStablecoin) for _ in range(6)]
    for coin in extra:
        staking.setCurrencyAllowed(coin.address, True, sender=admin)
    one_too_many = deployer.deploy(project.TestStablecoin)
    with reverts(staking.StakingTooManyCurrencies, maxCurrencies=8):
        staking.setCurrencyAllowed(one_too_many.address, True, sender=admin)
    staking.setCurrencyAllowed(extra[0].address, False, sender=admin)  # removing frees no slot: fees may remain
    with reverts(staking.StakingTooManyCurrencies, maxCurrencies=8):
        staking.setCurrencyAllowed(one_too_many.address, True, sender=admin)


def test_setUnbondingDelay_isAdminOnlyAndBounded(staking, admin, stranger, reverts):
    with reverts(staking.AccessControlUnauthorizedAccount, account=stranger.address):
        staking.setUnbondingDelay(3 * DAY, sender=stranger)
    for delay in (DAY - 1, 30 * DAY + 1):
        with reverts(staking.StakingInvalidUnbondingDelay, delay=delay, minDelay=DAY, maxDelay=30 * DAY):
            staking.setUnbondingDelay(delay, sender=admin)
    receipt = staking.setUnbondingDelay(DAY, sender=admin)
    assert events(receipt, staking.UnbondingDelayChanged) == [{"oldDelay": DELAY, "newDelay": DAY}]
    assert staking.unbondingDelay() == DAY


# ------------------------------------------------------------- reentrancy


def test_reentrantToken_cannotClaimTwiceOrDistributeInside(project, deployer, staking, stakers, admin, stranger):
    hostile = deployer.deploy(project.HostileToken)
    staking.setCurrencyAllowed(hostile.address, True, sender=admin)
    hostile.mint(stranger.address, 80_000, sender=stranger)
    hostile.approve(staking.address, 80_000, sender=stranger)
    # The distribution's transferFrom tries to distribute again from inside; the guard refuses it.
    hostile.arm(1, staking.address, staking.distribute.encode_input(hostile.address, 8_000), sender=stranger)
    staking.distribute(hostile.address, 8_000, sender=stranger)
    assert (hostile.attempts(), hostile.successes()) == (1, 0)
    assert hostile.lastError()[:4] == keccak(text="ReentrancyGuardReentrantCall()")[:4]
    assert staking.pool(hostile.address).distributed == hostile.balanceOf(staking.address) == 8_000
    # The claim's transfer tries to claim the same fees again.
    c = stakers[2]
    hostile.arm(1, staking.address, staking.claim.encode_input(c.address, hostile.address), sender=stranger)
    staking.claim(c, hostile.address, sender=c)
    assert (hostile.attempts(), hostile.successes()) == (2, 0)
    assert hostile.lastError()[:4] == keccak(text="ReentrancyGuardReentrantCall()")[:4]
    assert hostile.balanceOf(c) == staking.pool(hostile.address).claimed == 5_000


def test_reentrantReceiver_cannotClaimTwice(project, deployer, staking, token, stakers, fund, stranger):
    receiver = deployer.deploy(project.HostileReceiver)
    fund({receiver.address: 2})
    receiver.execute(token.address, token.approve.encode_input(staking.address, 2 * REWARD), sender=deployer)
    receiver.execute(staking.address, staking.stake.encode_input(2 * REWARD), sender=deployer)
    staking.distribute(ETH, 10_000, value=10_000, sender=stranger)  # stakes 1:2:5:2
    receiver.arm(staking.address, staking.claim.encode_input(receiver.address, ETH), False, sender=deployer)
    staking.claim(receiver, ETH, sender=stranger)
    assert (receiver.attempts(), receiver.successes()) == (1, 0)
    assert receiver.lastError()[:4] == keccak(text="ReentrancyGuardReentrantCall()")[:4]
    assert receiver.balance == staking.pool(ETH).claimed == 2_000


def test_refusingReceiver_blocksOnlyItsOwnClaim(project, deployer, staking, token, stakers, fund, stranger):
    receiver = deployer.deploy(project.HostileReceiver)
    fund({receiver.address: 2})
    receiver.execute(token.address, token.approve.encode_input(staking.address, 2 * REWARD), sender=deployer)
    receiver.execute(staking.address, staking.stake.encode_input(2 * REWARD), sender=deployer)
    staking.distribute(ETH, 10_000, value=10_000, sender=stranger)
    receiver.arm(staking.address, b"", True, sender=deployer)
    with pytest.raises(Exception, match="refused"):
        staking.claim(receiver, ETH, sender=stranger)
    staking.claim(stakers[0], ETH, sender=stranger)  # everyone else is paid
    receiver.arm(staking.address, b"", False, sender=deployer)
    staking.claim(receiver, ETH, sender=stranger)
    assert receiver.balance == 2_000 and staking.claimable(receiver, ETH) == 0


# ------------------------------------------------------------ state machine

EXAMPLES = int(os.environ.get("LABELSHARE_PROPERTY_EXAMPLES", "8"))
STEPS = int(os.environ.get("LABELSHARE_PROPERTY_STEPS", "15"))
FUNDED = 40  # LSR each staker starts with


class StakingMachine(RuleBasedStateMachine):
    """Random stakes, unbonding, waits, withdrawals, distributions and claims against ``FeeModel``."""

    def __init__(self, staking, token, stablecoin, stakers, fee_source, relayer, chain, reverts) -> None:
        super().__init__()
        self.staking, self.token, self.stablecoin, self.chain, self.reverts = staking, token, stablecoin, chain, reverts
        self.stakers, self.fee_source, self.relayer = stakers, fee_source, relayer
        self.claimants = [*stakers, fee_source]  # the fee source never stakes: it has nothing to claim
        self.snapshot_id = chain.snapshot()
        self.model = FeeModel([ETH, stablecoin.address])
        self.unbonding: dict[str, tuple[int, int]] = {}  # account -> (amount, available at)
        self.paid: dict[tuple[str, str], int] = {}
        self.lsr = {a.address: token.balanceOf(a) for a in stakers}

    def teardown(self) -> None:
        self.chain.restore(self.snapshot_id)

    def _now(self) -> int:
        return self.chain.blocks.head.timestamp

    @rule(who=st.integers(0, 2), amount=st.integers(0, 3 * REWARD))
    def stake(self, who, amount):
        """Stakes up to what the account has (0 must be refused)."""
        account = self.stakers[who]
        amount = min(amount, self.lsr[account.address])
        if amount == 0:
            with self.reverts(self.staking.StakingZeroAmount):
                self.staking.stake(0, sender=account)
            return
        self.staking.stake(amount, sender=account)
        self.model.stake(account.address, amount)
        self.lsr[account.address] -= amount

    @rule(who=st.integers(0, 2), share=st.fractions(0, Fraction(11, 10)))
    def request_unstake(self, who, share):
        """Unbonds a share of the stake; above all of it (or 0) must be refused."""
        account = self.stakers[who]
        staked = self.model.staked.get(account.address, 0)
        amount = int(share * staked) if staked else int(share * REWARD)
        if amount == 0:
            with self.reverts(self.staking.StakingZeroAmount):
                self.staking.requestUnstake(0, sender=account)
        elif amount > staked:
            with self.reverts(self.staking.StakingInsufficientStake, account=account.address, requested=amount,
                              staked=staked):
                self.staking.requestUnstake(amount, sender=account)
        else:
            receipt = self.staking.requestUnstake(amount, sender=account)
            self.model.unstake(account.address, amount)
            pending = self.unbonding.get(account.address, (0, 0))[0] + amount
            self.unbonding[account.address] = (pending, receipt.timestamp + DELAY)

    @rule(seconds=st.integers(1, 3 * DELAY // 2))
    def wait(self, seconds):
        """Lets time pass."""
        self.chain.mine(timestamp=self._now() + seconds)

    @rule(who=st.integers(0, 2))
    def withdraw(self, who):
        """Withdraws: refused with nothing unbonding or before the delay, else pays the whole unbonding stake."""
        account = self.stakers[who]
        amount, available_at = self.unbonding.get(account.address, (0, 0))
        if amount == 0:
            with self.reverts(self.staking.StakingNothingUnbonding, account=account.address):
                self.staking.withdraw(sender=account)
            return
        if abs(available_at - self._now()) < 60:  # too close to call which block the transaction lands in
            return
        if available_at > self._now():
            with self.reverts(self.staking.StakingStillUnbonding, account=account.address, availableAt=available_at):
                self.staking.withdraw(sender=account)
            return
        self.staking.withdraw(sender=account)
        del self.unbonding[account.address]
        self.lsr[account.address] += amount

    @rule(in_usd=st.booleans(), amount=st.integers(0, 10**19))
    def distribute(self, in_usd, amount):
        """Sends fees in ETH or tUSD (0 must be refused)."""
        currency = self.stablecoin.address if in_usd else ETH
        value = 0 if in_usd else amount
        if amount == 0:
            with self.reverts(self.staking.StakingZeroAmount):
                self.staking.distribute(currency, 0, sender=self.fee_source)
            return
        self.staking.distribute(currency, amount, value=value, sender=self.fee_source)
        self.model.distribute(currency, amount)

    @rule(who=st.integers(0, 3), in_usd=st.booleans())
    def claim(self, who, in_usd):
        """Claims for an account, relayed: it is paid exactly what it earned, or refused with nothing to claim."""
        account = self.claimants[who]
        currency = self.stablecoin.address if in_usd else ETH
        expected = self.model.claimable(account.address, currency)
        if expected == 0:
            with self.reverts(self.staking.StakingNothingToClaim, account=account.address, currency=currency):
                self.staking.claim(account, currency, sender=self.relayer)
            return
        before = self.stablecoin.balanceOf(account) if in_usd else account.balance
        self.staking.claim(account, currency, sender=self.relayer)
        after = self.stablecoin.balanceOf(account) if in_usd else account.balance
        assert after - before == self.model.claim(account.address, currency) == expected
        self.paid[account.address, currency] = self.paid.get((account.address, currency), 0) + expected

    @invariant()
    def fees_distributed_are_claimed_claimable_or_dust(self):
        """Per currency: distributed = claimed + claimable + dust, dust within its bound, and the
        contract holds exactly what is unclaimed plus what is held."""
        for currency in self.model.currencies:
            for account in self.claimants:
                assert self.staking.claimable(account, currency) == self.model.claimable(account.address, currency)
            pool = self.model.pools[currency]
            assert self.staking.pool(currency) == (pool.reward_per_share, pool.distributed, pool.claimed, pool.held)
            # Settled losses, plus each staker's pending share rounded down once in `claimable`.
            dust = self.model.dust(currency, [a.address for a in self.stakers])
            assert 0 <= dust <= self.model.roundings[currency] + len(self.stakers)
        eth = self.chain.provider.get_balance(self.staking.address)
        usd = self.stablecoin.balanceOf(self.staking.address)
        for currency, held in ((ETH, eth), (self.stablecoin.address, usd)):
            pool = self.model.pools[currency]
            assert held == pool.distributed - pool.claimed + pool.held

    @invariant()
    def nobody_earns_more_than_pro_rata(self):
        """What each account was paid and can claim never exceeds its exact pro-rata share."""
        for account in self.stakers:
            for currency in self.model.currencies:
                earned = self.paid.get((account.address, currency), 0) + self.model.claimable(account.address, currency)
                assert earned <= self.model.fair.get((account.address, currency), 0)

    @invariant()
    def staked_plus_unbonding_is_the_lsr_held(self):
        """Stakes and unbonding stakes match the model and add up to the contract's LSR."""
        staked = sum(self.model.staked.values())
        unbonding = sum(amount for amount, _ in self.unbonding.values())
        assert (self.staking.totalStaked(), self.staking.totalUnbonding()) == (staked, unbonding)
        assert self.token.balanceOf(self.staking.address) == staked + unbonding
        for account in self.stakers:
            assert self.staking.stakedOf(account) == self.model.staked.get(account.address, 0)
            assert self.staking.unbondingOf(account) == self.unbonding.get(account.address, (0, 0))


def test_staking_rules_preserve_invariants(staking, token, stablecoin, annotators, fund, stranger, deployer, chain,
                                           reverts):
    fund(dict.fromkeys(annotators, FUNDED))
    for account in annotators:
        token.approve(staking.address, FUNDED * REWARD, sender=account)
    stablecoin.approve(staking.address, 2**256 - 1, sender=stranger)
    stablecoin.mint(stranger.address, 10**30, sender=stranger)
    run_state_machine_as_test(
        lambda: StakingMachine(staking, token, stablecoin, annotators, stranger, deployer, chain, reverts),
        settings=settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]),
    )
