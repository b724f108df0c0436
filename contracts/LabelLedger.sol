// SPDX-License-Identifier: MIT
// slither-disable-next-line pragma -- the other ranges are OpenZeppelin 5.7's own; every build compiles with solc 0.8.30
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";

import {ILabelLedger} from "./interfaces/ILabelLedger.sol";
import {IRewardToken} from "./interfaces/IRewardToken.sol";

/// @title LabelLedger
/// @notice The LabelShare protocol's on-chain record: projects, qualifications, and settled
/// epochs of accepted annotations with the rewards minted for them. See ILabelLedger.
/// @dev Roles: DEFAULT_ADMIN_ROLE (the timelock) administers every role and the caps;
/// VERIFIER_ROLE settles; QUALIFIER_ROLE grants and revokes qualifications; REQUESTER_ROLE
/// registers projects; PAUSER_ROLE (the guardian) pauses.
contract LabelLedger is ILabelLedger, AccessControl, Pausable, EIP712 {
    using BitMaps for BitMaps.BitMap;

    /// @notice Role that settles epochs (the backend's verifier key).
    bytes32 public constant VERIFIER_ROLE = keccak256("VERIFIER_ROLE");
    /// @notice Role that grants and revokes qualifications.
    bytes32 public constant QUALIFIER_ROLE = keccak256("QUALIFIER_ROLE");
    /// @notice Role that registers projects.
    bytes32 public constant REQUESTER_ROLE = keccak256("REQUESTER_ROLE");
    /// @notice Role that pauses and unpauses in an emergency.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice The domain open to every annotator without qualification.
    bytes32 public constant GENERAL_DOMAIN = "general";
    /// @notice EIP-712 type hash of `Submission`.
    bytes32 public constant SUBMISSION_TYPEHASH = keccak256(
        "Submission(address annotator,uint256 projectId,bytes32 taskId,bytes32 labelHash,uint256 nonce,uint256 deadline)"
    );
    /// @dev Basis-point denominator for reward multipliers.
    uint256 private constant _BPS = 10_000;

    /// @dev The reward token; its immutable minter is this contract.
    IRewardToken private immutable _token;

    /// @dev Number of projects; ids run from 1 to this.
    uint256 private _projectCount;
    /// @dev Projects by id.
    mapping(uint256 projectId => Project) private _projects;
    /// @dev Qualification level per annotator and domain; 0 means none.
    mapping(address annotator => mapping(bytes32 domain => uint8 level)) private _qualifications;

    /// @dev Epoch records by id.
    mapping(uint256 epochId => Epoch) private _epochs;
    /// @dev Settled chunks, keyed by `_chunkKey(epochId, chunkIndex)`.
    BitMaps.BitMap private _settledChunks;
    /// @dev The id the next new epoch must use; epochs count from 1.
    uint256 private _nextEpochId = 1;
    /// @dev When the most recent epoch opened (0 before the first).
    uint64 private _lastEpochOpenedAt;
    /// @dev Minimum seconds between two epoch openings.
    uint64 private _minEpochInterval;
    /// @dev Largest reward one epoch may declare.
    uint256 private _epochMintCap;
    /// @dev Bound on a payout's rate, in basis points of the project's base reward.
    uint256 private _maxRewardMultiplierBps;

    /// @param token_ The reward token, whose minter must be this contract's address.
    /// @param admin Holder of DEFAULT_ADMIN_ROLE: the timelock.
    /// @param pauser Holder of PAUSER_ROLE: the guardian key.
    /// @param verifier Holder of VERIFIER_ROLE: the backend's settlement key.
    /// @param qualifier Holder of QUALIFIER_ROLE.
    /// @param requester Holder of REQUESTER_ROLE (the backend's registrar or a requester wallet).
    /// @param epochMintCap_ Initial per-epoch mint cap.
    /// @param maxRewardMultiplierBps_ Initial payout-rate bound, at least 10_000.
    /// @param minEpochInterval_ Initial minimum seconds between epoch openings.
    constructor(
        IRewardToken token_,
        address admin,
        address pauser,
        address verifier,
        address qualifier,
        address requester,
        uint256 epochMintCap_,
        uint256 maxRewardMultiplierBps_,
        uint64 minEpochInterval_
    ) EIP712("LabelShare", "1") {
        if (
            address(token_) == address(0) || admin == address(0) || pauser == address(0)
                || verifier == address(0) || qualifier == address(0) || requester == address(0)
        ) revert LedgerZeroAddress();
        if (token_.minter() != address(this)) revert LedgerNotTokenMinter(token_.minter());
        if (maxRewardMultiplierBps_ < _BPS) revert LedgerInvalidMultiplier(maxRewardMultiplierBps_);
        _token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, pauser);
        _grantRole(VERIFIER_ROLE, verifier);
        _grantRole(QUALIFIER_ROLE, qualifier);
        _grantRole(REQUESTER_ROLE, requester);
        _epochMintCap = epochMintCap_;
        _maxRewardMultiplierBps = maxRewardMultiplierBps_;
        _minEpochInterval = minEpochInterval_;
        emit EpochMintCapChanged(0, epochMintCap_);
        emit MaxRewardMultiplierChanged(0, maxRewardMultiplierBps_);
        emit MinEpochIntervalChanged(0, minEpochInterval_);
    }

    // ---------------------------------------------------------------- projects

    /// @inheritdoc ILabelLedger
    function createProject(address owner, bytes32 specHash, bytes32 domain, uint256 rewardPerLabel, uint32 overlap)
        external
        onlyRole(REQUESTER_ROLE)
        whenNotPaused
        returns (uint256 projectId)
    {
        if (owner == address(0)) revert LedgerZeroAddress();
        if (specHash == bytes32(0)) revert LedgerZeroSpecHash();
        if (domain == bytes32(0)) revert LedgerInvalidDomain(domain);
        if (rewardPerLabel == 0) revert LedgerZeroReward();
        if (overlap == 0) revert LedgerInvalidOverlap(overlap);
        projectId = ++_projectCount;
        _projects[projectId] = Project({
            owner: owner,
            overlap: overlap,
            open: true,
            registrar: msg.sender,
            domain: domain,
            specHash: specHash,
            rewardPerLabel: rewardPerLabel
        });
        emit ProjectCreated(projectId, owner, domain, specHash, rewardPerLabel, overlap, msg.sender);
    }

    /// @inheritdoc ILabelLedger
    function setProjectOpen(uint256 projectId, bool open) external {
        Project storage p = _existingProject(projectId);
        if (msg.sender != p.owner && msg.sender != p.registrar) revert LedgerNotProjectManager(projectId, msg.sender);
        p.open = open;
        emit ProjectStatusChanged(projectId, open);
    }

    // ---------------------------------------------------------- qualifications

    /// @inheritdoc ILabelLedger
    function grantQualification(address annotator, bytes32 domain, uint8 level, bytes32 evidence)
        external
        onlyRole(QUALIFIER_ROLE)
        whenNotPaused
    {
        if (annotator == address(0)) revert LedgerZeroAddress();
        if (domain == bytes32(0) || domain == GENERAL_DOMAIN) revert LedgerInvalidDomain(domain);
        if (level == 0) revert LedgerInvalidLevel(level);
        _qualifications[annotator][domain] = level;
        emit QualificationGranted(annotator, domain, level, evidence);
    }

    /// @inheritdoc ILabelLedger
    function revokeQualification(address annotator, bytes32 domain, bytes32 reason)
        external
        onlyRole(QUALIFIER_ROLE)
    {
        if (_qualifications[annotator][domain] == 0) revert LedgerNotQualified(annotator, domain);
        delete _qualifications[annotator][domain];
        emit QualificationRevoked(annotator, domain, reason);
    }

    // -------------------------------------------------------------- settlement

    /// @inheritdoc ILabelLedger
    function settle(uint256 epochId, EpochHeader calldata header, uint16 chunkIndex, Payout[] calldata payouts)
        external
        onlyRole(VERIFIER_ROLE)
        whenNotPaused
    {
        Epoch storage e = _epochs[epochId];
        if (e.chunkCount == 0) {
            _openEpoch(e, epochId, header);
        } else {
            if (e.chunksSettled == e.chunkCount) revert LedgerEpochAlreadySettled(epochId);
            if (
                header.root != e.root || header.annotations != e.declaredAnnotations
                    || header.totalReward != e.declaredReward || header.chunkCount != e.chunkCount
            ) revert LedgerEpochHeaderMismatch(epochId);
        }
        if (chunkIndex >= e.chunkCount) revert LedgerInvalidChunk(epochId, chunkIndex, e.chunkCount);
        if (payouts.length == 0) revert LedgerEmptyChunk(epochId, chunkIndex);
        uint256 key = _chunkKey(epochId, chunkIndex);
        if (_settledChunks.get(key)) revert LedgerChunkAlreadySettled(epochId, chunkIndex);
        _settledChunks.set(key);

        // slither-disable-next-line reentrancy-no-eth,reentrancy-events -- the one call is the immutable RewardToken's mint, which calls nothing
        (uint256 annotations, uint256 minted) = _pay(epochId, payouts);

        uint256 settledAnnotations = e.settledAnnotations + annotations;
        if (settledAnnotations > e.declaredAnnotations) {
            revert LedgerEpochAnnotationsExceeded(epochId, e.declaredAnnotations, settledAnnotations);
        }
        uint256 totalMinted = e.minted + minted;
        if (totalMinted > e.declaredReward) revert LedgerEpochRewardExceeded(epochId, e.declaredReward, totalMinted);
        // Both fit: each is bounded by its declared uint32/uint128 counterpart just above.
        e.settledAnnotations = uint32(settledAnnotations);
        e.minted = uint128(totalMinted);
        e.chunksSettled += 1;
        emit EpochChunkSettled(epochId, chunkIndex, uint32(annotations), uint128(minted));
        if (e.chunksSettled == e.chunkCount) emit EpochSettled(epochId, e.root, e.settledAnnotations, e.minted);
    }

    /// @dev Fixes an epoch's header on its first chunk, after the ordering, cap and pace checks.
    function _openEpoch(Epoch storage e, uint256 epochId, EpochHeader calldata header) private {
        if (epochId != _nextEpochId) revert LedgerEpochOutOfOrder(epochId, _nextEpochId);
        if (header.root == bytes32(0) || header.annotations == 0 || header.chunkCount == 0) {
            revert LedgerInvalidEpochHeader(epochId);
        }
        if (header.totalReward > _epochMintCap) {
            revert LedgerEpochMintCapExceeded(epochId, header.totalReward, _epochMintCap);
        }
        // slither-disable-next-line timestamp -- only paces epoch openings; a few seconds of validator skew cannot matter
        if (_lastEpochOpenedAt != 0) {
            uint256 earliest = uint256(_lastEpochOpenedAt) + _minEpochInterval;
            if (block.timestamp < earliest) revert LedgerEpochTooSoon(epochId, earliest);
        }
        e.root = header.root;
        e.declaredAnnotations = header.annotations;
        e.declaredReward = header.totalReward;
        e.chunkCount = header.chunkCount;
        e.openedAt = uint64(block.timestamp);
        _lastEpochOpenedAt = uint64(block.timestamp);
        _nextEpochId = epochId + 1;
        emit EpochOpened(epochId, header.root, header.annotations, header.totalReward, header.chunkCount);
    }

    /// @dev Checks every payout of a chunk and mints them in one call to the token; returns the
    /// chunk's annotation and reward sums. Payouts are sorted by (annotator, project), so the
    /// project's rate and domain are read once per run of the same project, not once per payout.
    function _pay(uint256 epochId, Payout[] calldata payouts)
        private
        returns (uint256 annotations, uint256 minted)
    {
        uint256 multiplierBps = _maxRewardMultiplierBps;
        address[] memory recipients = new address[](payouts.length);
        uint256[] memory amounts = new uint256[](payouts.length);
        uint256 paid;
        uint256 projectId;
        bytes32 domain;
        uint256 rewardPerLabel;
        for (uint256 i = 0; i < payouts.length; ++i) {
            Payout calldata p = payouts[i];
            if (i == 0 || p.projectId != projectId) {
                Project storage proj = _existingProject(p.projectId);
                (projectId, domain, rewardPerLabel) = (p.projectId, proj.domain, proj.rewardPerLabel);
            }
            _checkPayout(p, domain, rewardPerLabel, multiplierBps);
            annotations += p.annotations;
            minted += p.amount;
            emit AnnotatorRewarded(epochId, p.projectId, p.annotator, p.annotations, p.amount);
            if (p.amount != 0) {
                recipients[paid] = p.annotator;
                amounts[paid] = p.amount;
                ++paid;
            }
        }
        if (paid == 0) return (annotations, minted);
        // Zero-amount payouts mint nothing: trim both arrays to the `paid` entries in place.
        // slither-disable-next-line assembly -- lowers the lengths of two arrays allocated above; never raises them
        assembly ("memory-safe") {
            mstore(recipients, paid)
            mstore(amounts, paid)
        }
        _token.mintBatch(recipients, amounts);
    }

    /// @dev Reverts unless `p` pays a real annotator, for some annotations, qualified in the
    /// project's domain, at most `multiplierBps` of the project's rate.
    function _checkPayout(Payout calldata p, bytes32 domain, uint256 rewardPerLabel, uint256 multiplierBps)
        private
        view
    {
        if (p.annotator == address(0)) revert LedgerZeroAddress();
        if (p.annotations == 0) revert LedgerEmptyPayout(p.annotator, p.projectId);
        if (domain != GENERAL_DOMAIN && _qualifications[p.annotator][domain] == 0) {
            revert LedgerAnnotatorNotQualified(p.annotator, p.projectId, domain);
        }
        uint256 maxAmount = uint256(p.annotations) * rewardPerLabel * multiplierBps / _BPS;
        if (p.amount > maxAmount) revert LedgerPayoutAboveRate(p.annotator, p.projectId, p.amount, maxAmount);
    }

    // ------------------------------------------------------------------- admin

    /// @inheritdoc ILabelLedger
    function setEpochMintCap(uint256 newCap) external onlyRole(DEFAULT_ADMIN_ROLE) {
        emit EpochMintCapChanged(_epochMintCap, newCap);
        _epochMintCap = newCap;
    }

    /// @inheritdoc ILabelLedger
    function setMaxRewardMultiplier(uint256 newMultiplierBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newMultiplierBps < _BPS) revert LedgerInvalidMultiplier(newMultiplierBps);
        emit MaxRewardMultiplierChanged(_maxRewardMultiplierBps, newMultiplierBps);
        _maxRewardMultiplierBps = newMultiplierBps;
    }

    /// @inheritdoc ILabelLedger
    function setMinEpochInterval(uint64 newInterval) external onlyRole(DEFAULT_ADMIN_ROLE) {
        emit MinEpochIntervalChanged(_minEpochInterval, newInterval);
        _minEpochInterval = newInterval;
    }

    /// @inheritdoc ILabelLedger
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc ILabelLedger
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ------------------------------------------------------------------- views

    /// @inheritdoc ILabelLedger
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc ILabelLedger
    function project(uint256 projectId) external view returns (Project memory) {
        return _existingProject(projectId);
    }

    /// @inheritdoc ILabelLedger
    function projectCount() external view returns (uint256) {
        return _projectCount;
    }

    /// @inheritdoc ILabelLedger
    function qualificationLevel(address annotator, bytes32 domain) external view returns (uint8) {
        return _qualifications[annotator][domain];
    }

    /// @inheritdoc ILabelLedger
    function isQualified(address annotator, bytes32 domain) external view returns (bool) {
        return domain == GENERAL_DOMAIN || _qualifications[annotator][domain] != 0;
    }

    /// @inheritdoc ILabelLedger
    function epoch(uint256 epochId) external view returns (Epoch memory) {
        return _epochs[epochId];
    }

    /// @inheritdoc ILabelLedger
    function nextEpochId() external view returns (uint256) {
        return _nextEpochId;
    }

    /// @inheritdoc ILabelLedger
    function isEpochSettled(uint256 epochId) external view returns (bool) {
        Epoch storage e = _epochs[epochId];
        return e.chunkCount != 0 && e.chunksSettled == e.chunkCount;
    }

    /// @inheritdoc ILabelLedger
    function isChunkSettled(uint256 epochId, uint256 chunkIndex) external view returns (bool) {
        // Only opened epochs have settled chunks; the bound also keeps `_chunkKey` from wrapping.
        return epochId < _nextEpochId && chunkIndex <= type(uint16).max
            && _settledChunks.get(_chunkKey(epochId, chunkIndex));
    }

    /// @inheritdoc ILabelLedger
    function epochMintCap() external view returns (uint256) {
        return _epochMintCap;
    }

    /// @inheritdoc ILabelLedger
    function maxRewardMultiplierBps() external view returns (uint256) {
        return _maxRewardMultiplierBps;
    }

    /// @inheritdoc ILabelLedger
    function minEpochInterval() external view returns (uint64) {
        return _minEpochInterval;
    }

    /// @inheritdoc ILabelLedger
    function annotationLeaf(uint256 epochId, Annotation calldata a) public pure returns (bytes32) {
        return keccak256(
            bytes.concat(keccak256(abi.encode(epochId, a.annotator, a.projectId, a.taskId, a.labelHash, a.reward)))
        );
    }

    /// @inheritdoc ILabelLedger
    function verifyAnnotation(uint256 epochId, Annotation calldata annotation, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        bytes32 root = _epochs[epochId].root;
        return root != bytes32(0) && MerkleProof.verifyCalldata(proof, root, annotationLeaf(epochId, annotation));
    }

    /// @inheritdoc ILabelLedger
    function submissionDigest(Submission calldata s) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(SUBMISSION_TYPEHASH, s.annotator, s.projectId, s.taskId, s.labelHash, s.nonce, s.deadline))
        );
    }

    /// @inheritdoc ILabelLedger
    function recoverSubmitter(Submission calldata submission, bytes calldata signature)
        external
        view
        returns (address)
    {
        return ECDSA.recover(submissionDigest(submission), signature);
    }

    // ---------------------------------------------------------------- internal

    /// @dev A project that exists, or a revert.
    function _existingProject(uint256 projectId) private view returns (Project storage p) {
        p = _projects[projectId];
        if (p.owner == address(0)) revert LedgerUnknownProject(projectId);
    }

    /// @dev One bit per (epoch, chunk): chunk indexes are uint16 and epoch ids are sequential
    /// (far below 2^240), so keys never collide.
    function _chunkKey(uint256 epochId, uint256 chunkIndex) private pure returns (uint256) {
        return (epochId << 16) | chunkIndex;
    }
}
