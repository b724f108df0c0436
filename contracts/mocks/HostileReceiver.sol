// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title HostileReceiver
/// @notice Tests only: an account whose `receive` calls `target` with `payload` (a reentrancy
/// attempt on an ETH payout), or reverts when `refuse` is set. It forwards any call to `target`
/// so tests can act through it (e.g. withdraw or claim as this account).
contract HostileReceiver {
    address public target;
    bytes public payload;
    bool public refuse;
    uint256 public attempts;
    uint256 public successes;
    bytes public lastError;

    /// @notice Arms the receiver.
    function arm(address target_, bytes calldata payload_, bool refuse_) external {
        (target, payload, refuse) = (target_, payload_, refuse_);
    }

    /// @notice Calls `to` with `data` and `msg.value`, bubbling up any revert.
    function execute(address to, bytes calldata data) external payable returns (bytes memory result) {
        bool ok;
        (ok, result) = to.call{value: msg.value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 32), mload(result))
            }
        }
    }

    receive() external payable {
        if (refuse) revert("refused");
        if (payload.length != 0) {
            ++attempts;
            (bool ok, bytes memory err) = target.call(payload);
            if (ok) ++successes;
            else lastError = err;
        }
    }
}
