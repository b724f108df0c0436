// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IRewardToken} from "../interfaces/IRewardToken.sol";

/// @title PerAnnotationRewarder (reference only, not part of the protocol)
/// @notice The straightforward alternative to LabelLedger's epochs, kept so the gas benchmark
/// (`ape run bench_gas`, benchmarks/gas.py) can compare against it: one transaction per accepted
/// annotation, which records the annotation and mints its reward with an OpenZeppelin ERC-20 mint.
/// It is never deployed by the protocol's deploy script.
/// @dev Uses its own RewardToken instance whose immutable minter is this contract (the deployer
/// predicts this contract's address, as for the ledger). Each record costs one transaction: the
/// 21,000 base, a new storage slot for the annotation, the event, and the mint (a balance write,
/// the total supply write and the ERC-20 Transfer event).
contract PerAnnotationRewarder is AccessControl {
    /// @notice Role that records accepted annotations (the verifier key).
    bytes32 public constant VERIFIER_ROLE = keccak256("VERIFIER_ROLE");

    /// @dev The reward token; its immutable minter is this contract.
    IRewardToken private immutable _token;

    /// @dev Annotations already rewarded, by leaf (e.g. `LabelLedger.annotationLeaf`).
    mapping(bytes32 leaf => bool) private _recorded;

    /// @notice Thrown when an address argument is zero.
    error RewarderZeroAddress();
    /// @notice Thrown at construction when the token's minter is not this contract.
    error RewarderNotTokenMinter(address minter);
    /// @notice Thrown when the leaf is zero.
    error RewarderZeroLeaf();
    /// @notice Thrown when an annotation is recorded a second time.
    error RewarderAlreadyRecorded(bytes32 leaf);

    /// @notice Emitted for every recorded annotation.
    /// @param leaf The annotation's leaf (its unique hash).
    /// @param annotator The wallet that made the annotation and received `amount`.
    /// @param amount Reward minted, in the token's smallest unit.
    event AnnotationRewarded(bytes32 indexed leaf, address indexed annotator, uint256 amount);

    /// @param token_ The reward token, whose minter must be this contract's address.
    /// @param admin Holder of DEFAULT_ADMIN_ROLE.
    /// @param verifier Holder of VERIFIER_ROLE.
    constructor(IRewardToken token_, address admin, address verifier) {
        if (address(token_) == address(0) || admin == address(0) || verifier == address(0)) {
            revert RewarderZeroAddress();
        }
        if (token_.minter() != address(this)) revert RewarderNotTokenMinter(token_.minter());
        _token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(VERIFIER_ROLE, verifier);
    }

    /// @notice Records one accepted annotation and mints its reward to its annotator. Only the
    /// verifier role; each leaf once.
    /// @param leaf The annotation's unique hash; non-zero.
    /// @param annotator The annotator's wallet; non-zero.
    /// @param amount Reward in the token's smallest unit (may be zero: then nothing is minted).
    function recordAnnotation(bytes32 leaf, address annotator, uint256 amount) external onlyRole(VERIFIER_ROLE) {
        if (annotator == address(0)) revert RewarderZeroAddress();
        if (leaf == bytes32(0)) revert RewarderZeroLeaf();
        if (_recorded[leaf]) revert RewarderAlreadyRecorded(leaf);
        _recorded[leaf] = true;
        emit AnnotationRewarded(leaf, annotator, amount);
        if (amount != 0) _token.mint(annotator, amount);
    }

    /// @notice True once `leaf` has been recorded.
    /// @param leaf The annotation's hash.
    function isRecorded(bytes32 leaf) external view returns (bool) {
        return _recorded[leaf];
    }

    /// @notice The reward token this contract mints.
    function token() external view returns (address) {
        return address(_token);
    }
}
