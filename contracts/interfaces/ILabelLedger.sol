// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title LabelShare ledger
/// @notice Records projects, per-domain annotator qualifications, and settled epochs of accepted
/// annotations. Settling an epoch records a Merkle root over its accepted annotations and mints
/// each annotator's reward in the same transaction.
/// @dev Sharp edges, stated up front:
/// - Epoch ids are sequential from 1. An epoch opens with its first settled chunk, which fixes
///   its header (root, annotation count, reward total, chunk count); each chunk settles once.
/// - The header's reward total is an upper bound checked against the per-epoch mint cap when the
///   epoch opens; chunks can never mint more than it. Together with `minEpochInterval`, this
///   bounds what a stolen verifier key can mint before the guardian pauses.
/// - A payout is bounded by `annotations * rewardPerLabel * maxRewardMultiplierBps / 10_000` of its
///   project, and on a specialist project the annotator must hold a qualification in its domain.
/// - Anyone can rebuild every reward from `EpochOpened`, `AnnotatorRewarded` and `EpochSettled`.
interface ILabelLedger {
    /// @notice A labelling project, registered by an account holding the requester role.
    struct Project {
        address owner; // the requester's wallet
        uint32 overlap; // annotators per task (k)
        bool open; // accepting work
        address registrar; // the account that registered it (the owner or the backend)
        bytes32 domain; // "general" or a specialist domain, as a left-aligned short string
        bytes32 specHash; // keccak256 of the canonical project spec (schema, instructions)
        uint256 rewardPerLabel; // base reward per accepted label, smallest token unit
    }

    /// @notice The header fixed by an epoch's first chunk; every chunk must repeat it.
    struct EpochHeader {
        bytes32 root; // Merkle root over the epoch's accepted annotations (see `annotationLeaf`)
        uint32 annotations; // number of leaves
        uint128 totalReward; // sum of all payouts of the epoch
        uint16 chunkCount; // number of settle transactions the epoch is split into
    }

    /// @notice The ledger's record of an epoch.
    struct Epoch {
        bytes32 root;
        uint128 declaredReward;
        uint128 minted;
        uint32 declaredAnnotations;
        uint32 settledAnnotations;
        uint16 chunkCount;
        uint16 chunksSettled;
        uint64 openedAt;
    }

    /// @notice One annotator's reward for their accepted annotations on one project in an epoch.
    struct Payout {
        address annotator;
        uint256 projectId;
        uint32 annotations;
        uint128 amount;
    }

    /// @notice One accepted annotation, as committed to in an epoch's Merkle root.
    struct Annotation {
        address annotator;
        uint256 projectId;
        bytes32 taskId;
        bytes32 labelHash; // keccak256 of the canonical label payload
        uint256 reward;
    }

    /// @notice The EIP-712 message an annotator signs for each submission.
    struct Submission {
        address annotator;
        uint256 projectId;
        bytes32 taskId;
        bytes32 labelHash;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice Thrown when an address argument is zero.
    error LedgerZeroAddress();
    /// @notice Thrown when the token's minter is not this ledger.
    error LedgerNotTokenMinter(address minter);
    /// @notice Thrown when a project is created with overlap 0.
    error LedgerInvalidOverlap(uint32 overlap);
    /// @notice Thrown when a project is created with a zero reward per label.
    error LedgerZeroReward();
    /// @notice Thrown when a project's spec hash is zero.
    error LedgerZeroSpecHash();
    /// @notice Thrown when a domain is zero, or a qualification is granted for the general domain.
    error LedgerInvalidDomain(bytes32 domain);
    /// @notice Thrown when a qualification level of 0 is granted (revoke instead).
    error LedgerInvalidLevel(uint8 level);
    /// @notice Thrown when a project id does not exist.
    error LedgerUnknownProject(uint256 projectId);
    /// @notice Thrown when an account other than the project's owner or registrar changes it.
    error LedgerNotProjectManager(uint256 projectId, address caller);
    /// @notice Thrown when revoking a qualification the annotator does not hold.
    error LedgerNotQualified(address annotator, bytes32 domain);
    /// @notice Thrown when a payout goes to an annotator unqualified for the project's domain.
    error LedgerAnnotatorNotQualified(address annotator, uint256 projectId, bytes32 domain);
    /// @notice Thrown when a new epoch's id is not the next one.
    error LedgerEpochOutOfOrder(uint256 epochId, uint256 expected);
    /// @notice Thrown when an epoch header has a zero root, zero annotations or zero chunks.
    error LedgerInvalidEpochHeader(uint256 epochId);
    /// @notice Thrown when a chunk's header differs from the one its epoch opened with.
    error LedgerEpochHeaderMismatch(uint256 epochId);
    /// @notice Thrown when an epoch's declared reward exceeds the per-epoch mint cap.
    error LedgerEpochMintCapExceeded(uint256 epochId, uint256 totalReward, uint256 cap);
    /// @notice Thrown when a new epoch opens before `minEpochInterval` has passed.
    error LedgerEpochTooSoon(uint256 epochId, uint256 earliest);
    /// @notice Thrown when settling an epoch whose every chunk is already settled.
    error LedgerEpochAlreadySettled(uint256 epochId);
    /// @notice Thrown when settling a chunk of an epoch a second time.
    error LedgerChunkAlreadySettled(uint256 epochId, uint256 chunkIndex);
    /// @notice Thrown when a chunk index is not below the epoch's chunk count.
    error LedgerInvalidChunk(uint256 epochId, uint256 chunkIndex, uint256 chunkCount);
    /// @notice Thrown when a chunk has no payouts.
    error LedgerEmptyChunk(uint256 epochId, uint256 chunkIndex);
    /// @notice Thrown when a payout covers zero annotations.
    error LedgerEmptyPayout(address annotator, uint256 projectId);
    /// @notice Thrown when a payout exceeds what its annotations can earn on its project.
    error LedgerPayoutAboveRate(address annotator, uint256 projectId, uint256 amount, uint256 maxAmount);
    /// @notice Thrown when an epoch's chunks would mint more than its declared reward.
    error LedgerEpochRewardExceeded(uint256 epochId, uint256 declared, uint256 attempted);
    /// @notice Thrown when an epoch's chunks would pay more annotations than declared.
    error LedgerEpochAnnotationsExceeded(uint256 epochId, uint256 declared, uint256 attempted);
    /// @notice Thrown when a reward multiplier bound is below 1x.
    error LedgerInvalidMultiplier(uint256 multiplierBps);

    /// @notice Emitted when a project is registered.
    event ProjectCreated(
        uint256 indexed projectId,
        address indexed owner,
        bytes32 indexed domain,
        bytes32 specHash,
        uint256 rewardPerLabel,
        uint32 overlap,
        address registrar
    );
    /// @notice Emitted when a project is opened or closed.
    event ProjectStatusChanged(uint256 indexed projectId, bool open);
    /// @notice Emitted when an annotator is granted (or re-graded in) a domain qualification.
    event QualificationGranted(address indexed annotator, bytes32 indexed domain, uint8 level, bytes32 evidence);
    /// @notice Emitted when an annotator's domain qualification is revoked.
    event QualificationRevoked(address indexed annotator, bytes32 indexed domain, bytes32 reason);
    /// @notice Emitted when an epoch's first chunk fixes its header.
    event EpochOpened(
        uint256 indexed epochId, bytes32 root, uint32 annotations, uint128 totalReward, uint16 chunkCount
    );
    /// @notice Emitted for every payout: one annotator, one project, one epoch.
    event AnnotatorRewarded(
        uint256 indexed epochId, uint256 indexed projectId, address indexed annotator, uint32 annotations, uint128 amount
    );
    /// @notice Emitted when one chunk of an epoch is settled.
    event EpochChunkSettled(uint256 indexed epochId, uint16 chunkIndex, uint32 annotations, uint128 minted);
    /// @notice Emitted when an epoch's last chunk is settled.
    event EpochSettled(uint256 indexed epochId, bytes32 root, uint32 annotations, uint128 minted);
    /// @notice Emitted when the per-epoch mint cap changes.
    event EpochMintCapChanged(uint256 oldCap, uint256 newCap);
    /// @notice Emitted when the payout-rate bound changes.
    event MaxRewardMultiplierChanged(uint256 oldMultiplierBps, uint256 newMultiplierBps);
    /// @notice Emitted when the minimum time between epoch openings changes.
    event MinEpochIntervalChanged(uint64 oldInterval, uint64 newInterval);

    /// @notice Registers a project. Only the requester role; not while paused.
    /// @param owner The requester's wallet, which may later close or reopen the project.
    /// @param specHash keccak256 of the canonical project spec.
    /// @param domain "general" or a specialist domain (left-aligned short string).
    /// @param rewardPerLabel Base reward per accepted label, smallest token unit; non-zero.
    /// @param overlap Annotators per task; non-zero.
    /// @return projectId The new project's id, counting from 1.
    function createProject(address owner, bytes32 specHash, bytes32 domain, uint256 rewardPerLabel, uint32 overlap)
        external
        returns (uint256 projectId);

    /// @notice Opens or closes a project. Only its owner or registrar.
    /// @param projectId The project.
    /// @param open True to accept work, false to stop.
    function setProjectOpen(uint256 projectId, bool open) external;

    /// @notice Grants `annotator` a qualification of `level` in `domain`. Only the qualifier role.
    /// @param annotator The annotator's wallet.
    /// @param domain A specialist domain; "general" needs no qualification.
    /// @param level Non-zero level; granting again re-grades.
    /// @param evidence Hash of the evidence (e.g. the qualification test's result manifest).
    function grantQualification(address annotator, bytes32 domain, uint8 level, bytes32 evidence) external;

    /// @notice Revokes `annotator`'s qualification in `domain`. Only the qualifier role; allowed
    /// while paused.
    /// @param annotator The annotator's wallet.
    /// @param domain The specialist domain.
    /// @param reason Short machine-readable reason (e.g. "reliability").
    function revokeQualification(address annotator, bytes32 domain, bytes32 reason) external;

    /// @notice Settles one chunk of an epoch: mints every payout of the chunk. The first chunk to
    /// arrive opens the epoch with `header`. Only the verifier role; not while paused. Payouts on
    /// a closed project are allowed: work accepted before it closed is still paid.
    /// @param epochId The epoch; a new epoch must be `nextEpochId()`.
    /// @param header The epoch's header, identical for every chunk.
    /// @param chunkIndex Index of this chunk, below `header.chunkCount`; each settles once.
    /// @param payouts The chunk's payouts, at least one.
    function settle(uint256 epochId, EpochHeader calldata header, uint16 chunkIndex, Payout[] calldata payouts)
        external;

    /// @notice Sets the largest reward one epoch may declare. Only the admin (timelock).
    /// @param newCap The new cap, smallest token unit.
    function setEpochMintCap(uint256 newCap) external;

    /// @notice Sets the bound on a payout's rate, in basis points of the project's base reward.
    /// Only the admin (timelock).
    /// @param newMultiplierBps At least 10_000 (1x).
    function setMaxRewardMultiplier(uint256 newMultiplierBps) external;

    /// @notice Sets the minimum number of seconds between two epoch openings. Only the admin.
    /// @param newInterval Seconds.
    function setMinEpochInterval(uint64 newInterval) external;

    /// @notice Stops project registration, qualification grants and settlement. Only the pauser.
    function pause() external;

    /// @notice Resumes the ledger. Only the pauser.
    function unpause() external;

    /// @notice The reward token this ledger mints.
    function token() external view returns (address);

    /// @notice A project's record; reverts for unknown ids.
    /// @param projectId The project.
    function project(uint256 projectId) external view returns (Project memory);

    /// @notice Number of projects registered so far (ids run from 1 to this).
    function projectCount() external view returns (uint256);

    /// @notice An annotator's qualification level in a domain (0 = none).
    /// @param annotator The annotator's wallet.
    /// @param domain The domain.
    function qualificationLevel(address annotator, bytes32 domain) external view returns (uint8);

    /// @notice True when `annotator` may be paid on projects of `domain`.
    /// @param annotator The annotator's wallet.
    /// @param domain The domain; "general" is open to everyone.
    function isQualified(address annotator, bytes32 domain) external view returns (bool);

    /// @notice The ledger's record of an epoch (all zero if it never opened).
    /// @param epochId The epoch.
    function epoch(uint256 epochId) external view returns (Epoch memory);

    /// @notice The id the next new epoch must use.
    function nextEpochId() external view returns (uint256);

    /// @notice True once every chunk of the epoch is settled.
    /// @param epochId The epoch.
    function isEpochSettled(uint256 epochId) external view returns (bool);

    /// @notice True when the given chunk of the epoch is settled.
    /// @param epochId The epoch.
    /// @param chunkIndex The chunk.
    function isChunkSettled(uint256 epochId, uint256 chunkIndex) external view returns (bool);

    /// @notice Current per-epoch mint cap.
    function epochMintCap() external view returns (uint256);

    /// @notice Current payout-rate bound in basis points of a project's base reward.
    function maxRewardMultiplierBps() external view returns (uint256);

    /// @notice Current minimum seconds between two epoch openings.
    function minEpochInterval() external view returns (uint64);

    /// @notice The Merkle leaf of an accepted annotation in an epoch: OpenZeppelin's standard
    /// double-hashed leaf `keccak256(bytes.concat(keccak256(abi.encode(epochId, annotation...))))`.
    /// @param epochId The epoch the annotation was settled in.
    /// @param annotation The annotation.
    function annotationLeaf(uint256 epochId, Annotation calldata annotation) external pure returns (bytes32);

    /// @notice True when `proof` shows `annotation` is in the root of `epochId`.
    /// @param epochId The epoch.
    /// @param annotation The annotation.
    /// @param proof Sibling hashes from leaf to root (OpenZeppelin MerkleProof, sorted pairs).
    function verifyAnnotation(uint256 epochId, Annotation calldata annotation, bytes32[] calldata proof)
        external
        view
        returns (bool);

    /// @notice The EIP-712 digest an annotator signs for `submission`, under this ledger's domain
    /// (name "LabelShare", version "1", this chain, this contract).
    /// @param submission The submission.
    function submissionDigest(Submission calldata submission) external view returns (bytes32);

    /// @notice The address that signed `submission`; reverts on a malformed signature.
    /// @param submission The submission.
    /// @param signature 65-byte (r, s, v) signature, s in the lower half; 64-byte EIP-2098
    /// compact signatures are refused, as by the backend.
    function recoverSubmitter(Submission calldata submission, bytes calldata signature)
        external
        view
        returns (address);
}
