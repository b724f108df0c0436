// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title LabelShare reward token
/// @notice ERC-20 (with EIP-2612 permit) minted only by the LabelShare ledger when it settles an
/// epoch of accepted annotations. Capped supply; pausable in an emergency.
interface IRewardToken is IERC20 {
    /// @notice Thrown when an account other than the ledger tries to mint.
    error RewardTokenUnauthorizedMinter(address caller);

    /// @notice Thrown when a constructor argument that must be an address is zero.
    error RewardTokenZeroAddress();

    /// @notice Thrown when `mintBatch` gets different numbers of recipients and amounts.
    error RewardTokenLengthMismatch(uint256 recipients, uint256 amounts);

    /// @notice The only account allowed to mint: the ledger, fixed at deployment.
    function minter() external view returns (address);

    /// @notice Mints `amount` tokens to `to`. Only the ledger may call; reverts while paused and
    /// when the supply cap would be exceeded.
    /// @param to Recipient, an annotator being paid for accepted work.
    /// @param amount Amount in the token's smallest unit.
    function mint(address to, uint256 amount) external;

    /// @notice Mints `amounts[i]` tokens to `to[i]` for every i: one call per settled chunk rather
    /// than one per payout. Only the ledger may call; reverts while paused, when the supply cap
    /// would be exceeded, or when the two arrays differ in length.
    /// @param to Recipients, the annotators being paid.
    /// @param amounts Amounts in the token's smallest unit, one per recipient.
    function mintBatch(address[] calldata to, uint256[] calldata amounts) external;

    /// @notice Stops all transfers and mints. Only the pauser role.
    function pause() external;

    /// @notice Resumes transfers and mints. Only the pauser role.
    function unpause() external;
}
