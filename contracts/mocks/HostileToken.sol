// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title HostileToken
/// @notice Tests only: an ERC-20 that turns hostile on demand. In `Mode.Reenter` every transfer
/// first calls `target` with `payload` (a reentrancy attempt) and records whether that call
/// succeeded; in `Mode.SkimFee` it keeps 1% of every transfer (a fee-on-transfer token).
contract HostileToken is ERC20 {
    enum Mode {
        Honest,
        Reenter,
        SkimFee
    }

    Mode public mode;
    address public target;
    bytes public payload;
    /// @notice How many reentrant calls were attempted, and how many succeeded.
    uint256 public attempts;
    uint256 public successes;
    /// @notice The revert data of the last failed reentrant call.
    bytes public lastError;

    constructor() ERC20("Hostile", "HOST") {}

    /// @notice Mints `amount` to `to`.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms the token.
    function arm(Mode mode_, address target_, bytes calldata payload_) external {
        (mode, target, payload) = (mode_, target_, payload_);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (mode == Mode.Reenter && from != address(0)) {
            Mode saved = mode;
            mode = Mode.Honest; // one attempt per transfer
            ++attempts;
            (bool ok, bytes memory err) = target.call(payload);
            if (ok) ++successes;
            else lastError = err;
            mode = saved;
        }
        if (mode == Mode.SkimFee && from != address(0) && to != address(0)) {
            uint256 fee = value / 100;
            super._update(from, address(0xdead), fee);
            value -= fee;
        }
        super._update(from, to, value);
    }
}
