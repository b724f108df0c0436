// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IDatasetLicences} from "./interfaces/IDatasetLicences.sol";
import {ILabelLedger} from "./interfaces/ILabelLedger.sol";

/// @title DatasetLicences
/// @notice Licences to LabelShare datasets, paid in ETH or ERC-20, with the revenue shared
/// between the protocol, the requester and the annotators who built the data. See IDatasetLicences.
/// @dev Roles: DEFAULT_ADMIN_ROLE (the timelock) sets the fee and the treasury and administers
/// the roles; PUBLISHER_ROLE (the backend's verifier key) publishes dataset versions;
/// PAUSER_ROLE (the guardian) pauses sales. Project owners, as recorded by the ledger, set
/// their projects' prices and requester share. Every transfer out is a pull by its payee.
contract DatasetLicences is IDatasetLicences, AccessControl, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Role that publishes dataset versions (the backend's verifier key).
    bytes32 public constant PUBLISHER_ROLE = keccak256("PUBLISHER_ROLE");
    /// @notice Role that pauses and unpauses sales.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Highest protocol fee, in basis points (10%).
    uint256 public constant MAX_FEE_BPS = 1_000;
    /// @notice Highest requester share, in basis points (50%): contributors keep at least 40%.
    uint256 public constant MAX_REQUESTER_SHARE_BPS = 5_000;
    /// @notice Largest `totalShares` of a version; keeps rounding dust at one wei per payment.
    uint256 public constant MAX_TOTAL_SHARES = 1e36;
    /// @notice The currency id of ETH.
    address public constant ETH = address(0);
    /// @dev Basis-point denominator.
    uint256 private constant _BPS = 10_000;
    /// @dev Scale of `revenuePerShare`.
    uint256 private constant _SCALE = 1e36;

    /// @dev The ledger whose projects and epochs are licensed.
    ILabelLedger private immutable _ledger;

    /// @dev Protocol fee of future sales, in basis points.
    uint256 private _feeBps;
    /// @dev Account credited with protocol fees.
    address private _treasury;
    /// @dev Published versions by id, from 1.
    mapping(uint256 versionId => DatasetVersion) private _versions;
    /// @dev Number of versions.
    uint256 private _versionCount;
    /// @dev Latest version of each project.
    mapping(uint256 projectId => uint256 versionId) private _latestVersion;
    /// @dev Licence prices by project and currency.
    mapping(uint256 projectId => mapping(address currency => uint256)) private _prices;
    /// @dev Requester share of each project's sales, in basis points.
    mapping(uint256 projectId => uint256) private _requesterShareBps;
    /// @dev Licences by id, from 1.
    mapping(uint256 licenceId => Licence) private _licences;
    /// @dev Number of licences.
    uint256 private _licenceCount;
    /// @dev First licence of each buyer to each version.
    mapping(address buyer => mapping(uint256 versionId => uint256 licenceId)) private _licenceOf;
    /// @dev Contributors' revenue by version and currency.
    mapping(uint256 versionId => mapping(address currency => Pool)) private _pools;
    /// @dev What each contributor has claimed, by version and currency.
    mapping(uint256 versionId => mapping(address currency => mapping(address annotator => uint256))) private _claimed;
    /// @dev Balances credited by sales (fees, requester shares), by account and currency.
    mapping(address account => mapping(address currency => uint256)) private _owed;

    /// @param ledger_ The LabelShare ledger.
    /// @param admin Holder of DEFAULT_ADMIN_ROLE: the timelock.
    /// @param pauser Holder of PAUSER_ROLE: the guardian key.
    /// @param publisher Holder of PUBLISHER_ROLE: the backend's verifier key.
    /// @param treasury_ Account credited with protocol fees.
    /// @param feeBps_ Initial protocol fee, at most `MAX_FEE_BPS`.
    constructor(ILabelLedger ledger_, address admin, address pauser, address publisher, address treasury_, uint256 feeBps_) {
        if (
            address(ledger_) == address(0) || admin == address(0) || pauser == address(0) || publisher == address(0)
                || treasury_ == address(0)
        ) revert LicencesZeroAddress();
        if (feeBps_ > MAX_FEE_BPS) revert LicencesFeeTooHigh(feeBps_, MAX_FEE_BPS);
        _ledger = ledger_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, pauser);
        _grantRole(PUBLISHER_ROLE, publisher);
        _treasury = treasury_;
        _feeBps = feeBps_;
        emit TreasuryChanged(address(0), treasury_);
        emit FeeChanged(0, feeBps_);
    }

    // ---------------------------------------------------------------- versions

    /// @inheritdoc IDatasetLicences
    function publishVersion(uint256 projectId, uint64 fromEpoch, uint64 toEpoch, bytes32 sharesRoot, uint256 totalShares)
        external
        onlyRole(PUBLISHER_ROLE)
        whenNotPaused
        returns (uint256 versionId)
    {
        if (projectId == 0 || projectId > _ledger.projectCount()) revert LicencesUnknownProject(projectId);
        if (
            fromEpoch == 0 || fromEpoch > toEpoch || !_ledger.isEpochSettled(fromEpoch)
                || !_ledger.isEpochSettled(toEpoch)
        ) revert LicencesInvalidEpochRange(fromEpoch, toEpoch);
        if (sharesRoot == bytes32(0) || totalShares == 0 || totalShares > MAX_TOTAL_SHARES) {
            revert LicencesInvalidShares(sharesRoot, totalShares);
        }
        versionId = ++_versionCount;
        _versions[versionId] = DatasetVersion({
            projectId: projectId,
            fromEpoch: fromEpoch,
            toEpoch: toEpoch,
            publishedAt: uint64(block.timestamp),
            sharesRoot: sharesRoot,
            totalShares: totalShares
        });
        _latestVersion[projectId] = versionId;
        emit VersionPublished(versionId, projectId, fromEpoch, toEpoch, sharesRoot, totalShares);
    }

    // ------------------------------------------------------------------- terms

    /// @inheritdoc IDatasetLicences
    function setPrice(uint256 projectId, address currency, uint256 newPrice) external {
        _onlyProjectOwner(projectId);
        _prices[projectId][currency] = newPrice;
        emit PriceSet(projectId, currency, newPrice);
    }

    /// @inheritdoc IDatasetLicences
    function setRequesterShare(uint256 projectId, uint256 shareBps) external {
        _onlyProjectOwner(projectId);
        if (shareBps > MAX_REQUESTER_SHARE_BPS) revert LicencesRequesterShareTooHigh(shareBps, MAX_REQUESTER_SHARE_BPS);
        _requesterShareBps[projectId] = shareBps;
        emit RequesterShareSet(projectId, shareBps);
    }

    // ------------------------------------------------------------------- sales

    /// @inheritdoc IDatasetLicences
    function buyLicence(uint256 versionId, address currency, uint256 expectedPrice)
        external
        payable
        nonReentrant
        whenNotPaused
        returns (uint256 licenceId)
    {
        DatasetVersion storage v = _existingVersion(versionId);
        uint256 projectId = v.projectId;
        uint256 cost = _prices[projectId][currency];
        if (cost == 0) revert LicencesNotForSale(projectId, currency);
        if (cost != expectedPrice) revert LicencesPriceChanged(expectedPrice, cost);
        uint256 expectedValue = currency == ETH ? cost : 0;
        if (msg.value != expectedValue) revert LicencesWrongValue(msg.value, expectedValue);

        // Effects first; the ERC-20 pull comes last and is checked by balance.
        uint256 fee = cost * _feeBps / _BPS;
        uint256 requesterAmount = cost * _requesterShareBps[projectId] / _BPS;
        uint256 contributorsAmount = cost - fee - requesterAmount;
        _owed[_treasury][currency] += fee;
        _owed[_ledger.project(projectId).owner][currency] += requesterAmount;
        Pool storage p = _pools[versionId][currency];
        p.revenuePerShare += Math.mulDiv(contributorsAmount, _SCALE, v.totalShares);
        p.contributed += contributorsAmount;

        licenceId = ++_licenceCount;
        _licences[licenceId] = Licence({
            buyer: msg.sender,
            versionId: uint64(versionId),
            purchasedAt: uint64(block.timestamp),
            currency: currency,
            price: cost,
            fee: fee,
            requesterAmount: requesterAmount,
            contributorsAmount: contributorsAmount
        });
        if (_licenceOf[msg.sender][versionId] == 0) _licenceOf[msg.sender][versionId] = licenceId;
        emit LicencePurchased(
            licenceId, versionId, projectId, msg.sender, currency, cost, fee, requesterAmount, contributorsAmount
        );

        if (currency != ETH) {
            IERC20 token = IERC20(currency);
            uint256 before = token.balanceOf(address(this));
            token.safeTransferFrom(msg.sender, address(this), cost);
            uint256 received = token.balanceOf(address(this)) - before;
            if (received != cost) revert LicencesTransferShortfall(received, cost);
        }
    }

    // ------------------------------------------------------------------ payouts

    /// @inheritdoc IDatasetLicences
    function claim(uint256 versionId, address currency, address annotator, uint256 shares, bytes32[] calldata proof)
        external
        nonReentrant
        returns (uint256 amount)
    {
        DatasetVersion storage v = _existingVersion(versionId);
        if (!MerkleProof.verifyCalldata(proof, v.sharesRoot, shareLeaf(annotator, shares))) {
            revert LicencesInvalidShareProof(versionId, annotator, shares);
        }
        Pool storage p = _pools[versionId][currency];
        uint256 entitled = Math.mulDiv(shares, p.revenuePerShare, _SCALE);
        amount = entitled - _claimed[versionId][currency][annotator];
        if (amount == 0) revert LicencesNothingToClaim(annotator, currency);
        _claimed[versionId][currency][annotator] = entitled;
        p.claimed += amount;
        emit RevenueClaimed(versionId, annotator, currency, amount);
        _send(currency, annotator, amount);
    }

    /// @inheritdoc IDatasetLicences
    function withdraw(address currency) external nonReentrant returns (uint256 amount) {
        amount = _owed[msg.sender][currency];
        if (amount == 0) revert LicencesNothingToClaim(msg.sender, currency);
        _owed[msg.sender][currency] = 0;
        emit Withdrawn(msg.sender, currency, amount);
        _send(currency, msg.sender, amount);
    }

    // ------------------------------------------------------------------- admin

    /// @inheritdoc IDatasetLicences
    function setFeeBps(uint256 newFeeBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newFeeBps > MAX_FEE_BPS) revert LicencesFeeTooHigh(newFeeBps, MAX_FEE_BPS);
        emit FeeChanged(_feeBps, newFeeBps);
        _feeBps = newFeeBps;
    }

    /// @inheritdoc IDatasetLicences
    function setTreasury(address newTreasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newTreasury == address(0)) revert LicencesZeroAddress();
        emit TreasuryChanged(_treasury, newTreasury);
        _treasury = newTreasury;
    }

    /// @inheritdoc IDatasetLicences
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc IDatasetLicences
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ------------------------------------------------------------------- views

    /// @inheritdoc IDatasetLicences
    function ledger() external view returns (address) {
        return address(_ledger);
    }

    /// @inheritdoc IDatasetLicences
    function version(uint256 versionId) external view returns (DatasetVersion memory) {
        return _existingVersion(versionId);
    }

    /// @inheritdoc IDatasetLicences
    function versionCount() external view returns (uint256) {
        return _versionCount;
    }

    /// @inheritdoc IDatasetLicences
    function latestVersion(uint256 projectId) external view returns (uint256) {
        return _latestVersion[projectId];
    }

    /// @inheritdoc IDatasetLicences
    function licence(uint256 licenceId) external view returns (Licence memory l) {
        l = _licences[licenceId];
        // slither-disable-next-line timestamp -- compares the buyer's address; the struct merely also holds a time
        if (l.buyer == address(0)) revert LicencesUnknownLicence(licenceId);
    }

    /// @inheritdoc IDatasetLicences
    function licenceCount() external view returns (uint256) {
        return _licenceCount;
    }

    /// @inheritdoc IDatasetLicences
    function licenceOf(address buyer, uint256 versionId) external view returns (uint256) {
        return _licenceOf[buyer][versionId];
    }

    /// @inheritdoc IDatasetLicences
    function price(uint256 projectId, address currency) external view returns (uint256) {
        return _prices[projectId][currency];
    }

    /// @inheritdoc IDatasetLicences
    function requesterShareBps(uint256 projectId) external view returns (uint256) {
        return _requesterShareBps[projectId];
    }

    /// @inheritdoc IDatasetLicences
    function feeBps() external view returns (uint256) {
        return _feeBps;
    }

    /// @inheritdoc IDatasetLicences
    function treasury() external view returns (address) {
        return _treasury;
    }

    /// @inheritdoc IDatasetLicences
    function pool(uint256 versionId, address currency) external view returns (Pool memory) {
        return _pools[versionId][currency];
    }

    /// @inheritdoc IDatasetLicences
    function claimed(uint256 versionId, address currency, address annotator) external view returns (uint256) {
        return _claimed[versionId][currency][annotator];
    }

    /// @inheritdoc IDatasetLicences
    function claimable(uint256 versionId, address currency, address annotator, uint256 shares)
        external
        view
        returns (uint256)
    {
        uint256 entitled = Math.mulDiv(shares, _pools[versionId][currency].revenuePerShare, _SCALE);
        uint256 already = _claimed[versionId][currency][annotator];
        return entitled > already ? entitled - already : 0;
    }

    /// @inheritdoc IDatasetLicences
    function owed(address account, address currency) external view returns (uint256) {
        return _owed[account][currency];
    }

    /// @inheritdoc IDatasetLicences
    function shareLeaf(address annotator, uint256 shares) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(annotator, shares))));
    }

    // ---------------------------------------------------------------- internal

    /// @dev A published version, or a revert.
    function _existingVersion(uint256 versionId) private view returns (DatasetVersion storage v) {
        v = _versions[versionId];
        if (v.sharesRoot == bytes32(0)) revert LicencesUnknownVersion(versionId);
    }

    /// @dev Reverts unless the caller owns `projectId` on the ledger.
    function _onlyProjectOwner(uint256 projectId) private view {
        if (_ledger.project(projectId).owner != msg.sender) revert LicencesNotProjectOwner(projectId, msg.sender);
    }

    /// @dev Pays `amount` of `currency` to `to`; a failing recipient reverts only its own payout.
    function _send(address currency, address to, uint256 amount) private {
        if (currency == ETH) Address.sendValue(payable(to), amount);
        else IERC20(currency).safeTransfer(to, amount);
    }
}
