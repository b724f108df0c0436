// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title LabelShare fee staking
/// @notice LSR holders stake to earn the protocol fee. Fee sources (escrow payouts, licence sales)
/// send fees in ETH or an allowed ERC-20 with `distribute`; each staker earns them pro rata to
/// their stake at the time of the distribution and claims each currency whenever they like.
/// Unstaking takes an unbonding delay, during which the stake earns nothing.
/// @dev Sharp edges, stated up front:
/// - A distribution costs O(1) gas whatever the number of stakers: it adds to the currency's
///   reward per staked unit (scaled by 1e36). Changing a stake settles the account's earnings in
///   every currency ever allowed, so there are at most `MAX_CURRENCIES` of them (ETH included).
/// - Fees sent while nothing is staked are held and join the next distribution of that currency:
///   they stay with the stakers (whoever is staked then, locked for the unbonding delay) and are
///   never lost or counted twice.
/// - Rounding: per currency, what can never be claimed is at most one wei per distribution plus
///   one wei per settlement of an account's earnings (a stake change or a claim, its last claim
///   included; until then `claimable` rounds each account's pending share down once), as the total
///   stake (at most LSR's supply cap) is below 1e36.
/// - A new unstake request adds to the account's unbonding amount and restarts its clock.
/// - The staking token can not be a fee currency (staked LSR and LSR fees would share a balance).
interface IFeeStaking {
    /// @notice One fee currency's accounting.
    struct Pool {
        uint256 rewardPerShare; // fees per staked unit, scaled by 1e36
        uint256 distributed; // fees credited to stakers so far
        uint256 claimed; // fees claimed so far
        uint256 held; // fees received while nothing was staked, waiting for the next distribution
    }

    /// @notice An account's stake that is waiting out the unbonding delay.
    struct Unbonding {
        uint256 amount;
        uint64 availableAt; // when `withdraw` may take it
    }

    /// @notice Thrown when an address argument is zero.
    error StakingZeroAddress();
    /// @notice Thrown when an amount is zero.
    error StakingZeroAmount();
    /// @notice Thrown when an account unstakes more than it has staked.
    error StakingInsufficientStake(address account, uint256 requested, uint256 staked);
    /// @notice Thrown when an account withdraws with nothing unbonding.
    error StakingNothingUnbonding(address account);
    /// @notice Thrown when an account withdraws before its unbonding delay has passed.
    error StakingStillUnbonding(address account, uint256 availableAt);
    /// @notice Thrown when an unbonding delay is outside [`MIN_UNBONDING_DELAY`, `MAX_UNBONDING_DELAY`].
    error StakingInvalidUnbondingDelay(uint256 delay, uint256 minDelay, uint256 maxDelay);
    /// @notice Thrown when fees are sent in a currency that is not on the allow-list.
    error StakingCurrencyNotAllowed(address currency);
    /// @notice Thrown when the staking token is offered as a fee currency.
    error StakingInvalidCurrency(address currency);
    /// @notice Thrown when allowing one more currency would exceed `MAX_CURRENCIES`.
    error StakingTooManyCurrencies(uint256 maxCurrencies);
    /// @notice Thrown when the ETH sent is not the amount (or is sent with an ERC-20 distribution).
    error StakingWrongValue(uint256 sent, uint256 expected);
    /// @notice Thrown when the token transfer credited less than the amount (fee-on-transfer tokens).
    error StakingTransferShortfall(uint256 received, uint256 expected);
    /// @notice Thrown when an account has nothing to claim in a currency.
    error StakingNothingToClaim(address account, address currency);

    /// @notice Emitted when an account stakes.
    event Staked(address indexed account, uint256 amount);
    /// @notice Emitted when an account starts unbonding `amount`; `unbonding` is its whole unbonding stake.
    event UnstakeRequested(address indexed account, uint256 amount, uint256 unbonding, uint64 availableAt);
    /// @notice Emitted when an account takes back its unbonded stake.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice Emitted when fees arrive; `credited` is what stakers earned now (the amount plus fees
    /// held before), 0 when nothing is staked and the amount is held.
    event FeesDistributed(
        address indexed currency, address indexed source, uint256 amount, uint256 credited, uint256 rewardPerShare
    );
    /// @notice Emitted when an account's fees are paid to it.
    event FeesClaimed(address indexed account, address indexed currency, uint256 amount);
    /// @notice Emitted when a currency is added to or removed from the allow-list.
    event CurrencyAllowed(address indexed currency, bool allowed);
    /// @notice Emitted when the unbonding delay changes.
    event UnbondingDelayChanged(uint256 oldDelay, uint256 newDelay);

    /// @notice Stakes `amount` of the staking token from the caller (approve it first).
    function stake(uint256 amount) external;

    /// @notice Stakes `amount` with an EIP-2612 permit of the caller instead of an approval. A permit
    /// already used (e.g. by someone who saw it first) is ignored if the allowance is there.
    function stakeWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;

    /// @notice Starts unbonding `amount` of the caller's stake: it stops earning now and can be
    /// withdrawn after the unbonding delay.
    function requestUnstake(uint256 amount) external;

    /// @notice Sends the caller its whole unbonding stake once the delay has passed.
    /// @return amount What was sent.
    function withdraw() external returns (uint256 amount);

    /// @notice Sends `amount` of fees in `currency` (address(0): as ETH with the call; an ERC-20:
    /// approve it first) to the stakers, pro rata to their stake now. Anyone may call.
    function distribute(address currency, uint256 amount) external payable;

    /// @notice Pays `account` its fees in `currency`. Anyone may call; the fees always go to `account`.
    /// @return amount What was paid.
    function claim(address account, address currency) external returns (uint256 amount);

    /// @notice Adds `currency` to the fee allow-list or removes it (its fees stay claimable). Admin only.
    function setCurrencyAllowed(address currency, bool allowed) external;

    /// @notice Sets the unbonding delay of future requests. Admin only.
    function setUnbondingDelay(uint256 newDelay) external;

    /// @notice Stops new stakes (unstaking, withdrawals, distributions and claims stay open). Pauser only.
    function pause() external;

    /// @notice Resumes staking. Pauser only.
    function unpause() external;

    /// @notice The token staked (LSR).
    function stakingToken() external view returns (address);

    /// @notice What `account` has staked and earning.
    function stakedOf(address account) external view returns (uint256);

    /// @notice What `account` has unbonding, and when it can be withdrawn.
    function unbondingOf(address account) external view returns (Unbonding memory);

    /// @notice The total stake earning fees.
    function totalStaked() external view returns (uint256);

    /// @notice The total stake unbonding.
    function totalUnbonding() external view returns (uint256);

    /// @notice What `account` can claim now in `currency`.
    function claimable(address account, address currency) external view returns (uint256);

    /// @notice A currency's accounting.
    function pool(address currency) external view returns (Pool memory);

    /// @notice Every currency ever allowed, ETH first (removed ones stay: their fees can still be claimed).
    function currencies() external view returns (address[] memory);

    /// @notice Whether fees in `currency` are accepted now.
    function isCurrencyAllowed(address currency) external view returns (bool);

    /// @notice The unbonding delay of new requests, in seconds.
    function unbondingDelay() external view returns (uint256);
}
