// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {ERC20Pausable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Pausable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

import {IRewardToken} from "./interfaces/IRewardToken.sol";

/// @title RewardToken
/// @notice The LabelShare reward token. Every unit in existence was minted by the ledger for
/// accepted annotations, so total supply equals the sum of settled epoch rewards.
/// @dev The minter is immutable: the deploy script predicts the ledger's address and the ledger
/// checks at construction that it is this token's minter. No role can add another minter.
/// Roles: DEFAULT_ADMIN_ROLE (the timelock) manages PAUSER_ROLE (the guardian).
contract RewardToken is IRewardToken, ERC20, ERC20Permit, ERC20Capped, ERC20Pausable, AccessControl {
    /// @notice Role allowed to pause and unpause transfers and mints.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @dev The ledger; the only account that can mint.
    address private immutable _minter;

    /// @param name_ ERC-20 name (also the EIP-712 domain name for permit).
    /// @param symbol_ ERC-20 symbol.
    /// @param cap_ Maximum total supply, in the smallest unit.
    /// @param minter_ The ledger's address (predicted before the ledger is deployed).
    /// @param admin Holder of DEFAULT_ADMIN_ROLE: the timelock.
    /// @param pauser Holder of PAUSER_ROLE: the guardian key.
    constructor(
        string memory name_,
        string memory symbol_,
        uint256 cap_,
        address minter_,
        address admin,
        address pauser
    ) ERC20(name_, symbol_) ERC20Permit(name_) ERC20Capped(cap_) {
        if (minter_ == address(0) || admin == address(0) || pauser == address(0)) {
            revert RewardTokenZeroAddress();
        }
        _minter = minter_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, pauser);
    }

    /// @inheritdoc IRewardToken
    function minter() external view returns (address) {
        return _minter;
    }

    /// @inheritdoc IRewardToken
    function mint(address to, uint256 amount) external {
        if (msg.sender != _minter) revert RewardTokenUnauthorizedMinter(msg.sender);
        _mint(to, amount);
    }

    /// @inheritdoc IRewardToken
    function mintBatch(address[] calldata to, uint256[] calldata amounts) external {
        if (msg.sender != _minter) revert RewardTokenUnauthorizedMinter(msg.sender);
        if (to.length != amounts.length) revert RewardTokenLengthMismatch(to.length, amounts.length);
        for (uint256 i = 0; i < to.length; ++i) {
            _mint(to[i], amounts[i]);
        }
    }

    /// @inheritdoc IRewardToken
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc IRewardToken
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @dev Supply cap and pause apply to every balance change, mints included.
    function _update(address from, address to, uint256 value)
        internal
        override(ERC20, ERC20Capped, ERC20Pausable)
    {
        super._update(from, to, value);
    }
}
