"""Response models: what the API returns, documented in the OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from labelshare.wire import SIGNATURE, Address, Bytes32, DecimalString, documented_pattern


class NonceOut(BaseModel):
    nonce: str
    expires_at: datetime


class SignInIn(BaseModel):
    message: str = Field(max_length=4096, description="the EIP-4361 message, as signed")
    signature: str = Field(max_length=200, description="personal_sign signature of the message, hex",
                           json_schema_extra=documented_pattern(SIGNATURE))


class SessionOut(BaseModel):
    token: str = Field(description="the bearer token: send it as 'Authorization: Bearer <token>'")
    address: Address
    expires_at: datetime
    requester: bool


class ChainOut(BaseModel):
    chain_id: int
    ledger: Address
    token: Address
    eip712_domain: dict[str, Any]
    eip712_types: dict[str, Any]
    siwe_domain: str = Field(description="the EIP-4361 domain sign-in messages must name")
    rpc_url: str | None = Field(description="a public RPC URL for read-only chain access, if the service offers one")
    deployment_block: int = Field(description="the block the protocol was deployed at: where event scans start")
    licences: Address | None = Field(default=None, description="the DatasetLicences contract")
    stablecoin: Address | None = Field(default=None,
                                       description="a test ERC-20 (tUSD) licences can be paid in; local chains only")


class SettlementStatusOut(BaseModel):
    enabled: bool = Field(description="whether this replica runs a settlement worker")
    leader: bool = Field(description="whether this replica leads settlement now (exactly one does)")
    leader_since: datetime | None = Field(description="when this replica became the leader")
    current_leader: str | None = Field(description="host:pid of the process that leads, as the database tells")
    election: str = Field(description="how the leader is elected: postgresql advisory lock, flock, sole or none")
    state: str = Field(description="disabled, standby, settling, held (fees above the ceiling), failing or stopped")
    held_reason: str | None = Field(description="why settlement holds, while it does")
    last_error: str | None = Field(description="the last failed pass, while failures go on")
    failures: int = Field(description="consecutive failed passes")
    passes: int = Field(description="passes that succeeded since this replica started")
    confirmations: int = Field(description="blocks on top of a settle transaction before its chunk counts as settled")
    max_fee_gwei: str | None = Field(description="the fee ceiling per gas, if one is set")
    priority_fee_gwei: str | None = Field(description="the tip per gas offered; unset: the node's suggestion")


class StatusOut(BaseModel):
    replica: str = Field(description="host:pid of the process that answered")
    chain_id: int
    settlement: SettlementStatusOut


class ContractAbis(BaseModel):
    ledger: list[dict[str, Any]]
    token: list[dict[str, Any]] = Field(description="the reward token's; fits any ERC-20's calls")
    licences: list[dict[str, Any]] | None = None


class ProjectOut(BaseModel):
    id: int
    owner: Address
    name: str
    instructions: str
    domain: str
    label_schema: dict[str, Any]
    spec_hash: Bytes32
    reward_per_label: DecimalString = Field(description="smallest token unit, decimal string")
    overlap: int
    gold_rate: float
    reward_policy: dict[str, Any] = Field(description="rewards.RewardPolicy: gold_window, floor_bps, domain_multiplier_bps")
    open: bool
    registered_tx: Bytes32


class ImportOut(BaseModel):
    created: int
    gold: bool


class TaskOffer(BaseModel):
    project_id: int
    task_id: Bytes32 = Field(description="bytes32 id to sign as taskId")
    data: dict[str, Any]
    label_schema: dict[str, Any]
    instructions: str
    eip712_domain: dict[str, Any]
    eip712_types: dict[str, Any]
    expires_at: datetime = Field(description="the offer holds its slot until then: submit before, or release it")


class SubmissionOut(BaseModel):
    id: int
    project_id: int
    task_id: Bytes32 = Field(description="the task's bytes32 id, as signed")
    status: str
    reason: str | None
    reward: DecimalString
    quality_factor_bps: int | None = Field(description="the quality factor applied to the reward (10000 = full)")
    epoch_id: int | None
    label_hash: Bytes32
    created_at: datetime


EPOCH_STATUS = ("settling: its transactions are being sent or confirmed; settled: the ledger holds it settled "
                "at the configured confirmations (asked at most a second ago); confirming: the ledger holds it, "
                "fewer blocks deep than that; resending: recorded as settled, but the ledger no longer holds it "
                "(the settlement worker sends it again); unverified: recorded as settled, the chain could not be "
                "asked. Only `settled` is final")
EPOCH_REASON = "why the epoch is not settled although the backend recorded it so (null otherwise)"


class EpochReward(BaseModel):
    epoch_id: int
    amount: DecimalString
    annotations: int
    status: str = Field(description=EPOCH_STATUS)
    reason: str | None = Field(default=None, description=EPOCH_REASON)
    tx_hashes: list[Bytes32]


class RewardsOut(BaseModel):
    address: Address
    pending: DecimalString = Field(description="accepted, not settled on-chain at the configured confirmations "
                                               "(includes `resending`)")
    pending_annotations: int
    settled: DecimalString = Field(description="in epochs the ledger holds settled at the configured confirmations")
    resending: DecimalString = Field(description="part of `pending`: in epochs recorded as settled that the ledger "
                                                 "no longer holds (status resending or confirming)")
    unverified: DecimalString = Field(description="in epochs recorded as settled while the chain could not be "
                                                  "asked: neither pending nor settled")
    reason: str | None = Field(default=None, description="why anything recorded as settled is not counted as "
                                                         "settled (null when everything is verified)")
    epochs: list[EpochReward]


class EpochOut(BaseModel):
    id: int
    status: str = Field(description=EPOCH_STATUS)
    reason: str | None = Field(default=None, description=EPOCH_REASON)
    root: Bytes32
    annotation_count: int
    total_reward: DecimalString
    chunk_count: int
    manifest_sha256: str
    tx_hashes: list[Bytes32]
    closed_at: datetime
    settled_at: datetime | None = Field(description="when the backend confirmed it; null unless status is settled")


class DomainReliability(BaseModel):
    domain: str
    gold_answered: int
    gold_correct: int
    recent_gold: str = Field(description='last gold answers, oldest first: "1" correct, "0" wrong')
    quality_factor_bps: int = Field(description="what your next accepted label in this domain is paid, of the "
                                                "base x domain rate, on a project with the default policy")
    skill: float | None = Field(description="balanced accuracy the last aggregation estimated")
    skill_chance: float | None
    skill_answers: int
    qualification_revoke_reason: str | None


class QualityOut(BaseModel):
    address: Address
    suspended: bool
    suspension_reason: str | None
    domains: list[DomainReliability]


class QualificationTestOut(BaseModel):
    domain: str
    label_schema: dict[str, Any]
    questions: int
    pass_accuracy: float
    cooldown_seconds: int
    pool: int
    domain_multiplier_bps: int = Field(description="what specialist work in this domain pays, of the base reward")


class QualificationTestUpdated(BaseModel):
    domain: str
    added: int
    pool: int


class QualificationQuestion(BaseModel):
    item_id: str
    data: dict[str, Any]


class AttemptOut(BaseModel):
    attempt_id: int
    domain: str
    expires_at: datetime
    label_schema: dict[str, Any]
    pass_accuracy: float
    questions: list[QualificationQuestion]


class GradeOut(BaseModel):
    attempt_id: int
    domain: str
    correct: int
    total: int
    passed: bool
    grant_tx: Bytes32 | None = Field(description="the ledger transaction granting the qualification")


class AnnotatorQuality(BaseModel):
    address: Address
    submissions: int
    accepted: int
    rejected: int
    pending: int
    acceptance_rate: float | None = Field(description="accepted of decided")
    gold_answered: int
    gold_correct: int
    skill: float | None = Field(description="balanced accuracy the last aggregation estimated, in the project's domain")


class ProjectQualityOut(BaseModel):
    project_id: int
    verified_tasks: int
    mean_confidence: float | None = Field(description="mean posterior confidence of the verified labels")
    low_confidence_tasks: int
    low_confidence_below: float
    annotators: list[AnnotatorQuality]


class TaskOut(BaseModel):
    task_id: str = Field(description="the requester's id for the task")
    task_key: Bytes32 = Field(description="bytes32 id annotators sign as taskId")
    data: dict[str, Any]
    gold: bool
    submissions: int
    complete: bool
    verified_label: dict[str, Any] | None
    confidence: float | None


class InclusionProofOut(BaseModel):
    epoch_id: int
    submission_id: int
    annotator: Address
    project_id: int
    task_id: Bytes32
    label_hash: Bytes32
    reward: DecimalString
    leaf: Bytes32
    proof: list[Bytes32]
    root: Bytes32


# ---------------------------------------------------------------- licences
# Amounts are decimal strings in the currency's smallest unit (wei for ETH): uint256 does not fit JSON numbers.


class VersionOut(BaseModel):
    version_id: int
    project_id: int
    from_epoch: int = Field(description="first settled ledger epoch of the dataset version")
    to_epoch: int = Field(description="last settled ledger epoch of the dataset version")
    published_at: int = Field(description="block timestamp of publication, seconds")
    shares_root: Bytes32 = Field(description="Merkle root over (annotator, shares) leaves")
    total_shares: DecimalString
    tx_hash: Bytes32 | None = None


class CurrencyAmount(BaseModel):
    currency: Address = Field(description="0x000…000 for ETH, else the ERC-20's address")
    symbol: str
    decimals: int


class PriceOut(CurrencyAmount):
    price: DecimalString


class PoolOut(CurrencyAmount):
    revenue_per_share: DecimalString = Field(description="contributors' revenue per share, scaled by 1e36")
    contributed: DecimalString = Field(description="contributors' part of every sale of this version in this currency")
    claimed: DecimalString
    claimable: DecimalString = Field(description="what contributors can still claim")
    dust: DecimalString = Field(description="rounding left in the contract: at most one unit per sale plus one per "
                                            "contributor")


class VersionRevenueOut(VersionOut):
    contributors: int
    pools: list[PoolOut]


class LicenceOut(BaseModel):
    licence_id: int
    version_id: int
    project_id: int
    buyer: Address
    currency: Address
    price: DecimalString
    fee: DecimalString
    requester_amount: DecimalString
    contributors_amount: DecimalString
    tx_hash: Bytes32
    block: int


class ProjectRevenueOut(BaseModel):
    project_id: int
    fee_bps: int = Field(description="protocol fee of future sales, basis points")
    requester_share_bps: int = Field(description="requester's share of future sales, basis points")
    prices: list[PriceOut]
    versions: list[VersionRevenueOut]
    sales: list[LicenceOut]


class ShareProofOut(BaseModel):
    version_id: int
    annotator: Address
    shares: DecimalString
    total_shares: DecimalString
    proof: list[Bytes32]


class AnnotatorRevenueOut(CurrencyAmount):
    version_id: int
    project_id: int
    shares: DecimalString
    total_shares: DecimalString
    claimed: DecimalString
    claimable: DecimalString
    proof: list[Bytes32] = Field(description="the shares leaf's Merkle proof, for DatasetLicences.claim")
