// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title LabelShare dataset licences
/// @notice Sells licences to a project's verified dataset and shares the revenue with the
/// annotators who built it. A buyer pays in ETH or in an ERC-20 the project prices; each payment
/// is split into a protocol fee, the requester's share and the contributors' share. The
/// contributors' share is divided pro rata to each annotator's settled rewards in the project
/// over the licensed dataset version, and each annotator claims it whenever they like.
/// @dev Sharp edges, stated up front:
/// - A dataset version is a range of settled ledger epochs of one project. Its shares are each
///   annotator's rewards in that project over those epochs, read from the ledger's
///   `AnnotatorRewarded` events by the publisher (the backend's verifier key) and committed as
///   a Merkle root; the root is not recomputed on-chain (that would cost O(annotators)). The
///   audit, and anyone, rebuilds it from chain data before relying on it.
/// - Payments cost O(1) gas whatever the number of contributors: each adds to the version's
///   revenue per share (scaled by 1e36) in its currency. An annotator's claimable amount is
///   `shares * revenuePerShare / 1e36` minus what they already claimed.
/// - Rounding: per version and currency, what can never be claimed is at most one wei per
///   payment plus one wei per contributor (as `totalShares <= 1e36`).
/// - Fees and the requester's share accrue to their accounts and are withdrawn by them (pull).
/// - Terms change only future sales: every licence records what was paid and how it was split.
interface IDatasetLicences {
    /// @notice A licensable dataset version of a project.
    struct DatasetVersion {
        uint256 projectId;
        uint64 fromEpoch; // first ledger epoch of the range (inclusive)
        uint64 toEpoch; // last ledger epoch of the range (inclusive)
        uint64 publishedAt;
        bytes32 sharesRoot; // Merkle root over leaves (annotator, shares), OpenZeppelin StandardMerkleTree
        uint256 totalShares; // sum of every contributor's shares
    }

    /// @notice A licence: what a buyer paid for which dataset version, and when.
    struct Licence {
        address buyer;
        uint64 versionId;
        uint64 purchasedAt;
        address currency; // address(0) for ETH
        uint256 price;
        uint256 fee;
        uint256 requesterAmount;
        uint256 contributorsAmount;
    }

    /// @notice One version's revenue in one currency.
    struct Pool {
        uint256 revenuePerShare; // contributors' revenue per share, scaled by 1e36
        uint256 contributed; // contributors' share of every payment so far
        uint256 claimed; // what contributors have claimed so far
    }

    /// @notice Thrown when an address argument is zero.
    error LicencesZeroAddress();
    /// @notice Thrown when the protocol fee would exceed `MAX_FEE_BPS`.
    error LicencesFeeTooHigh(uint256 feeBps, uint256 maxBps);
    /// @notice Thrown when a requester share would exceed `MAX_REQUESTER_SHARE_BPS`.
    error LicencesRequesterShareTooHigh(uint256 shareBps, uint256 maxBps);
    /// @notice Thrown when the caller does not own the project on the ledger.
    error LicencesNotProjectOwner(uint256 projectId, address caller);
    /// @notice Thrown when an epoch range is empty, starts at 0, or is not settled at both ends.
    error LicencesInvalidEpochRange(uint64 fromEpoch, uint64 toEpoch);
    /// @notice Thrown when a version is published with a zero root or shares out of range.
    error LicencesInvalidShares(bytes32 sharesRoot, uint256 totalShares);
    /// @notice Thrown for a project the ledger does not know.
    error LicencesUnknownProject(uint256 projectId);
    /// @notice Thrown for a version id that was never published.
    error LicencesUnknownVersion(uint256 versionId);
    /// @notice Thrown for a licence id that was never sold.
    error LicencesUnknownLicence(uint256 licenceId);
    /// @notice Thrown when the project has no price in the currency.
    error LicencesNotForSale(uint256 projectId, address currency);
    /// @notice Thrown when the price the buyer agreed to is not the current price.
    error LicencesPriceChanged(uint256 expected, uint256 current);
    /// @notice Thrown when the ETH sent is not the price (or is sent with an ERC-20 payment).
    error LicencesWrongValue(uint256 sent, uint256 expected);
    /// @notice Thrown when the token transfer credited less than the price (fee-on-transfer tokens).
    error LicencesTransferShortfall(uint256 received, uint256 expected);
    /// @notice Thrown when a (annotator, shares) leaf is not in the version's shares root.
    error LicencesInvalidShareProof(uint256 versionId, address annotator, uint256 shares);
    /// @notice Thrown when there is nothing to claim or withdraw.
    error LicencesNothingToClaim(address account, address currency);

    /// @notice Emitted when a dataset version is published.
    event VersionPublished(
        uint256 indexed versionId,
        uint256 indexed projectId,
        uint64 fromEpoch,
        uint64 toEpoch,
        bytes32 sharesRoot,
        uint256 totalShares
    );
    /// @notice Emitted when a project owner sets a price (0 withdraws the currency from sale).
    event PriceSet(uint256 indexed projectId, address indexed currency, uint256 price);
    /// @notice Emitted when a project owner sets the requester's share of future sales.
    event RequesterShareSet(uint256 indexed projectId, uint256 shareBps);
    /// @notice Emitted on every sale, with the split of the payment.
    event LicencePurchased(
        uint256 indexed licenceId,
        uint256 indexed versionId,
        uint256 indexed projectId,
        address buyer,
        address currency,
        uint256 price,
        uint256 fee,
        uint256 requesterAmount,
        uint256 contributorsAmount
    );
    /// @notice Emitted when a contributor's revenue is paid out.
    event RevenueClaimed(uint256 indexed versionId, address indexed annotator, address indexed currency, uint256 amount);
    /// @notice Emitted when an account credited by sales (treasury, requester) draws its balance.
    event Withdrawn(address indexed account, address indexed currency, uint256 amount);
    /// @notice Emitted when the protocol fee changes.
    event FeeChanged(uint256 oldFeeBps, uint256 newFeeBps);
    /// @notice Emitted when the treasury changes.
    event TreasuryChanged(address indexed oldTreasury, address indexed newTreasury);

    /// @notice Publishes a dataset version of `projectId`: its settled epochs `fromEpoch`..`toEpoch`
    /// and the Merkle root of its contributors' shares. Publisher role only.
    /// @return versionId The new version's id (from 1).
    function publishVersion(uint256 projectId, uint64 fromEpoch, uint64 toEpoch, bytes32 sharesRoot, uint256 totalShares)
        external
        returns (uint256 versionId);

    /// @notice Sets the project's licence price in `currency` (address(0) for ETH); 0 stops sales in it.
    /// Project owner only.
    function setPrice(uint256 projectId, address currency, uint256 newPrice) external;

    /// @notice Sets the requester's share of the project's future sales, in basis points. Project owner only.
    function setRequesterShare(uint256 projectId, uint256 shareBps) external;

    /// @notice Buys a licence to `versionId`, paying its price in `currency` (address(0): send it as ETH;
    /// an ERC-20: approve it first). Reverts unless `expectedPrice` is the project's current price.
    /// @return licenceId The new licence's id (from 1).
    function buyLicence(uint256 versionId, address currency, uint256 expectedPrice) external payable returns (uint256 licenceId);

    /// @notice Pays `annotator` their unclaimed revenue of `versionId` in `currency`, given their
    /// shares leaf and its proof. Anyone may call; the revenue always goes to `annotator`.
    /// @return amount What was paid.
    function claim(uint256 versionId, address currency, address annotator, uint256 shares, bytes32[] calldata proof)
        external
        returns (uint256 amount);

    /// @notice Sends the caller everything sales credited to it in `currency` (fees, requester shares).
    /// @return amount What was paid.
    function withdraw(address currency) external returns (uint256 amount);

    /// @notice Sets the protocol fee for future sales, at most `MAX_FEE_BPS`. Admin only.
    function setFeeBps(uint256 newFeeBps) external;

    /// @notice Sets the account credited with protocol fees from now on. Admin only.
    function setTreasury(address newTreasury) external;

    /// @notice Stops sales and publishing (claims and withdrawals stay open). Pauser only.
    function pause() external;

    /// @notice Resumes sales and publishing. Pauser only.
    function unpause() external;

    /// @notice The ledger whose projects and epochs this contract licenses.
    function ledger() external view returns (address);

    /// @notice A published version; reverts for an unknown id.
    function version(uint256 versionId) external view returns (DatasetVersion memory);

    /// @notice Number of versions published; ids run from 1 to this.
    function versionCount() external view returns (uint256);

    /// @notice The most recent version of a project (0 if none).
    function latestVersion(uint256 projectId) external view returns (uint256);

    /// @notice A licence by id; reverts for an unknown id.
    function licence(uint256 licenceId) external view returns (Licence memory);

    /// @notice Number of licences sold; ids run from 1 to this.
    function licenceCount() external view returns (uint256);

    /// @notice The first licence `buyer` bought to `versionId`, or 0 if none.
    function licenceOf(address buyer, uint256 versionId) external view returns (uint256);

    /// @notice The project's price in `currency` (0: not for sale in it).
    function price(uint256 projectId, address currency) external view returns (uint256);

    /// @notice The requester's share of the project's sales, in basis points.
    function requesterShareBps(uint256 projectId) external view returns (uint256);

    /// @notice The protocol fee, in basis points.
    function feeBps() external view returns (uint256);

    /// @notice The account credited with protocol fees.
    function treasury() external view returns (address);

    /// @notice A version's revenue in `currency`.
    function pool(uint256 versionId, address currency) external view returns (Pool memory);

    /// @notice What `annotator` has claimed of `versionId`'s revenue in `currency`.
    function claimed(uint256 versionId, address currency, address annotator) external view returns (uint256);

    /// @notice What `annotator` holding `shares` can claim now (the shares are not checked here).
    function claimable(uint256 versionId, address currency, address annotator, uint256 shares)
        external
        view
        returns (uint256);

    /// @notice What `account` can withdraw in `currency` (fees, requester shares).
    function owed(address account, address currency) external view returns (uint256);

    /// @notice The leaf of `(annotator, shares)` in a version's shares tree.
    function shareLeaf(address annotator, uint256 shares) external pure returns (bytes32);
}
