// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title LabelShareTimelock
/// @notice OpenZeppelin's TimelockController, unchanged. It holds DEFAULT_ADMIN_ROLE on the token
/// and the ledger, so every change to roles and mint caps is public for `minDelay` seconds
/// before it can take effect.
/// @dev Declared here only so that the Ape build carries its ABI and bytecode.
contract LabelShareTimelock is TimelockController {
    /// @param minDelay Seconds between scheduling and executing an operation.
    /// @param proposers Accounts that may schedule (and cancel) operations: the admin key.
    /// @param executors Accounts that may execute ready operations.
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors)
        TimelockController(minDelay, proposers, executors, address(0))
    {}
}
