// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IFeeStaking} from "./interfaces/IFeeStaking.sol";

/// @title FeeStaking
/// @notice LSR staking that earns the LabelShare protocol fee in ETH and allowed ERC-20s. See IFeeStaking.
/// @dev Roles: DEFAULT_ADMIN_ROLE (the timelock) keeps the currency allow-list and the unbonding
/// delay and administers the roles; PAUSER_ROLE (the guardian) pauses new stakes. Every transfer
/// out is a pull: stakers withdraw their stake and claim their fees.
contract FeeStaking is IFeeStaking, AccessControl, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Role that pauses and unpauses staking.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Shortest unbonding delay: longer than an epoch interval plus the challenge window.
    uint256 public constant MIN_UNBONDING_DELAY = 1 days;
    /// @notice Longest unbonding delay, so governance cannot lock stakes indefinitely.
    uint256 public constant MAX_UNBONDING_DELAY = 30 days;
    /// @notice Most currencies ever allowed (ETH included): a stake change settles each of them.
    uint256 public constant MAX_CURRENCIES = 8;
    /// @notice The currency id of ETH.
    address public constant ETH = address(0);
    /// @dev Scale of `rewardPerShare`.
    uint256 private constant _SCALE = 1e36;

    /// @dev The token staked (LSR).
    IERC20 private immutable _stakingToken;

    /// @dev Unbonding delay of new requests, in seconds.
    uint256 private _unbondingDelay;
    /// @dev Stake earning fees, by account.
    mapping(address account => uint256) private _staked;
    /// @dev Sum of `_staked`.
    uint256 private _totalStaked;
    /// @dev Stake waiting out the unbonding delay, by account.
    mapping(address account => Unbonding) private _unbonding;
    /// @dev Sum of `_unbonding` amounts.
    uint256 private _totalUnbonding;
    /// @dev Every currency ever allowed, ETH first.
    address[] private _currencies;
    /// @dev Whether a currency is in `_currencies`.
    mapping(address currency => bool) private _tracked;
    /// @dev Whether fees in a currency are accepted now.
    mapping(address currency => bool) private _allowed;
    /// @dev Fee accounting by currency.
    mapping(address currency => Pool) private _pools;
    /// @dev Each account's `rewardPerShare` when its earnings were last settled, by currency.
    mapping(address account => mapping(address currency => uint256)) private _settledPerShare;
    /// @dev Each account's settled, unclaimed fees, by currency.
    mapping(address account => mapping(address currency => uint256)) private _earned;

    /// @param stakingToken_ The token staked (LSR).
    /// @param admin Holder of DEFAULT_ADMIN_ROLE: the timelock.
    /// @param pauser Holder of PAUSER_ROLE: the guardian key.
    /// @param unbondingDelay_ Initial unbonding delay, within [`MIN_UNBONDING_DELAY`, `MAX_UNBONDING_DELAY`].
    /// @param feeTokens ERC-20s allowed as fee currencies from the start (ETH always is).
    constructor(IERC20 stakingToken_, address admin, address pauser, uint256 unbondingDelay_, address[] memory feeTokens) {
        if (address(stakingToken_) == address(0) || admin == address(0) || pauser == address(0)) {
            revert StakingZeroAddress();
        }
        _checkUnbondingDelay(unbondingDelay_);
        _stakingToken = stakingToken_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, pauser);
        _unbondingDelay = unbondingDelay_;
        emit UnbondingDelayChanged(0, unbondingDelay_);
        _allowCurrency(ETH, true);
        for (uint256 i; i < feeTokens.length; ++i) {
            _allowCurrency(feeTokens[i], true);
        }
    }

    // ------------------------------------------------------------------- stake

    /// @inheritdoc IFeeStaking
    function stake(uint256 amount) external nonReentrant whenNotPaused {
        _stake(amount);
    }

    /// @inheritdoc IFeeStaking
    function stakeWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
        whenNotPaused
    {
        // A front-run permit leaves the allowance in place; without it the transfer below reverts.
        // slither-disable-next-line reentrancy-benign -- the call is the immutable LSR's permit, which calls nothing
        try IERC20Permit(address(_stakingToken)).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        _stake(amount);
    }

    /// @inheritdoc IFeeStaking
    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert StakingZeroAmount();
        uint256 staked = _staked[msg.sender];
        if (amount > staked) revert StakingInsufficientStake(msg.sender, amount, staked);
        _settleAll(msg.sender);
        _staked[msg.sender] = staked - amount;
        _totalStaked -= amount;
        Unbonding storage u = _unbonding[msg.sender];
        u.amount += amount;
        u.availableAt = uint64(block.timestamp + _unbondingDelay);
        _totalUnbonding += amount;
        emit UnstakeRequested(msg.sender, amount, u.amount, u.availableAt);
    }

    /// @inheritdoc IFeeStaking
    function withdraw() external nonReentrant returns (uint256 amount) {
        Unbonding memory u = _unbonding[msg.sender];
        amount = u.amount;
        if (amount == 0) revert StakingNothingUnbonding(msg.sender);
        // slither-disable-next-line timestamp -- a delay of a day or more; a few seconds of validator skew cannot matter
        if (block.timestamp < u.availableAt) revert StakingStillUnbonding(msg.sender, u.availableAt);
        delete _unbonding[msg.sender];
        _totalUnbonding -= amount;
        emit Withdrawn(msg.sender, amount);
        _stakingToken.safeTransfer(msg.sender, amount);
    }

    // -------------------------------------------------------------------- fees

    /// @inheritdoc IFeeStaking
    function distribute(address currency, uint256 amount) external payable nonReentrant {
        if (amount == 0) revert StakingZeroAmount();
        if (!_allowed[currency]) revert StakingCurrencyNotAllowed(currency);
        uint256 expectedValue = currency == ETH ? amount : 0;
        if (msg.value != expectedValue) revert StakingWrongValue(msg.value, expectedValue);

        // Effects first; the ERC-20 pull comes last and is checked by balance.
        Pool storage p = _pools[currency];
        uint256 credited = 0; // while nothing is staked, the amount is held
        if (_totalStaked == 0) {
            p.held += amount;
        } else {
            credited = amount + p.held;
            p.held = 0;
            p.rewardPerShare += Math.mulDiv(credited, _SCALE, _totalStaked);
            p.distributed += credited;
        }
        emit FeesDistributed(currency, msg.sender, amount, credited, p.rewardPerShare);

        if (currency != ETH) {
            IERC20 token = IERC20(currency);
            uint256 before = token.balanceOf(address(this));
            token.safeTransferFrom(msg.sender, address(this), amount);
            uint256 received = token.balanceOf(address(this)) - before;
            if (received != amount) revert StakingTransferShortfall(received, amount);
        }
    }

    /// @inheritdoc IFeeStaking
    function claim(address account, address currency) external nonReentrant returns (uint256 amount) {
        _settle(account, currency);
        amount = _earned[account][currency];
        if (amount == 0) revert StakingNothingToClaim(account, currency);
        _earned[account][currency] = 0;
        _pools[currency].claimed += amount;
        emit FeesClaimed(account, currency, amount);
        if (currency == ETH) Address.sendValue(payable(account), amount);
        else IERC20(currency).safeTransfer(account, amount);
    }

    // ------------------------------------------------------------------- admin

    /// @inheritdoc IFeeStaking
    function setCurrencyAllowed(address currency, bool allowed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _allowCurrency(currency, allowed);
    }

    /// @inheritdoc IFeeStaking
    function setUnbondingDelay(uint256 newDelay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _checkUnbondingDelay(newDelay);
        emit UnbondingDelayChanged(_unbondingDelay, newDelay);
        _unbondingDelay = newDelay;
    }

    /// @inheritdoc IFeeStaking
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc IFeeStaking
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ------------------------------------------------------------------- views

    /// @inheritdoc IFeeStaking
    function stakingToken() external view returns (address) {
        return address(_stakingToken);
    }

    /// @inheritdoc IFeeStaking
    function stakedOf(address account) external view returns (uint256) {
        return _staked[account];
    }

    /// @inheritdoc IFeeStaking
    function unbondingOf(address account) external view returns (Unbonding memory) {
        return _unbonding[account];
    }

    /// @inheritdoc IFeeStaking
    function totalStaked() external view returns (uint256) {
        return _totalStaked;
    }

    /// @inheritdoc IFeeStaking
    function totalUnbonding() external view returns (uint256) {
        return _totalUnbonding;
    }

    /// @inheritdoc IFeeStaking
    function claimable(address account, address currency) external view returns (uint256) {
        return _earned[account][currency] + _unsettled(account, currency);
    }

    /// @inheritdoc IFeeStaking
    function pool(address currency) external view returns (Pool memory) {
        return _pools[currency];
    }

    /// @inheritdoc IFeeStaking
    function currencies() external view returns (address[] memory) {
        return _currencies;
    }

    /// @inheritdoc IFeeStaking
    function isCurrencyAllowed(address currency) external view returns (bool) {
        return _allowed[currency];
    }

    /// @inheritdoc IFeeStaking
    function unbondingDelay() external view returns (uint256) {
        return _unbondingDelay;
    }

    // ---------------------------------------------------------------- internal

    /// @dev Stakes `amount` from the caller, after settling its earnings at its old stake.
    function _stake(uint256 amount) private {
        if (amount == 0) revert StakingZeroAmount();
        _settleAll(msg.sender);
        _staked[msg.sender] += amount;
        _totalStaked += amount;
        emit Staked(msg.sender, amount);
        _stakingToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @dev Settles `account`'s earnings in every currency ever allowed (at most `MAX_CURRENCIES`).
    function _settleAll(address account) private {
        uint256 n = _currencies.length;
        for (uint256 i; i < n; ++i) {
            _settle(account, _currencies[i]);
        }
    }

    /// @dev Moves what `account` earned in `currency` since its last settlement into `_earned`.
    function _settle(address account, address currency) private {
        uint256 perShare = _pools[currency].rewardPerShare;
        if (_settledPerShare[account][currency] == perShare) return;
        _earned[account][currency] += _unsettled(account, currency);
        _settledPerShare[account][currency] = perShare;
    }

    /// @dev What `account` earned in `currency` since its last settlement (rounded down).
    function _unsettled(address account, address currency) private view returns (uint256) {
        uint256 delta = _pools[currency].rewardPerShare - _settledPerShare[account][currency];
        return Math.mulDiv(_staked[account], delta, _SCALE);
    }

    /// @dev Adds `currency` to the allow-list (tracking it for good) or removes it.
    function _allowCurrency(address currency, bool allowed) private {
        if (currency == address(_stakingToken)) revert StakingInvalidCurrency(currency);
        if (allowed && !_tracked[currency]) {
            if (_currencies.length == MAX_CURRENCIES) revert StakingTooManyCurrencies(MAX_CURRENCIES);
            _tracked[currency] = true;
            _currencies.push(currency);
        }
        _allowed[currency] = allowed;
        emit CurrencyAllowed(currency, allowed);
    }

    /// @dev Reverts unless `delay` is within [`MIN_UNBONDING_DELAY`, `MAX_UNBONDING_DELAY`].
    function _checkUnbondingDelay(uint256 delay) private pure {
        if (delay < MIN_UNBONDING_DELAY || delay > MAX_UNBONDING_DELAY) {
            revert StakingInvalidUnbondingDelay(delay, MIN_UNBONDING_DELAY, MAX_UNBONDING_DELAY);
        }
    }
}
