"""Response models: what the API returns, documented in the OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class NonceOut(BaseModel):
    nonce: str
    expires_at: datetime


class SignInIn(BaseModel):
    message: str = Field(max_length=4096, description="the EIP-4361 message, as signed")
    signature: str = Field(max_length=200, description="personal_sign signature of the message, hex")


class SessionOut(BaseModel):
    token: str
    address: str
    expires_at: datetime
    requester: bool


class ChainOut(BaseModel):
    chain_id: int
    ledger: str
    token: str
    eip712_domain: dict[str, Any]
    eip712_types: dict[str, Any]
    siwe_domain: str = Field(description="the EIP-4361 domain sign-in messages must name")
    rpc_url: str | None = Field(description="a public RPC URL for read-only chain access, if the service offers one")
    deployment_block: int = Field(description="the block the protocol was deployed at: where event scans start")
    licences: str | None = Field(default=None, description="the DatasetLicences contract")
    stablecoin: str | None = Field(default=None, description="a test ERC-20 (tUSD) licences can be paid in; local chains only")


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
    owner: str
    name: str
    instructions: str
    domain: str
    label_schema: dict[str, Any]
    spec_hash: str
    reward_per_label: str = Field(description="smallest token unit, decimal string")
    overlap: int
    gold_rate: float
    reward_policy: dict[str, Any] = Field(description="rewards.RewardPolicy: gold_window, floor_bps, domain_multiplier_bps")
    open: bool
    registered_tx: str


class ImportOut(BaseModel):
    created: int
    gold: bool


class TaskOffer(BaseModel):
    project_id: int
    task_id: str = Field(description="bytes32 id to sign as taskId")
    data: dict[str, Any]
    label_schema: dict[str, Any]
    instructions: str
    eip712_domain: dict[str, Any]
    eip712_types: dict[str, Any]
    expires_at: datetime = Field(description="the offer holds its slot until then: submit before, or release it")


class SubmissionOut(BaseModel):
    id: int
    project_id: int
    task_id: str
    status: str
    reason: str | None
    reward: str
    quality_factor_bps: int | None = Field(description="the quality factor applied to the reward (10000 = full)")
    epoch_id: int | None
    label_hash: str
    created_at: datetime


class EpochReward(BaseModel):
    epoch_id: int
    amount: str
    annotations: int
    status: str
    tx_hashes: list[str]


class RewardsOut(BaseModel):
    address: str
    pending: str = Field(description="accepted, not yet settled on-chain")
    pending_annotations: int
    settled: str
    epochs: list[EpochReward]


class EpochOut(BaseModel):
    id: int
    status: str
    root: str
    annotation_count: int
    total_reward: str
    chunk_count: int
    manifest_sha256: str
    tx_hashes: list[str]
    closed_at: datetime
    settled_at: datetime | None


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
    address: str
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
    grant_tx: str | None = Field(description="the ledger transaction granting the qualification")


class AnnotatorQuality(BaseModel):
    address: str
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
    task_key: str = Field(description="bytes32 id annotators sign as taskId")
    data: dict[str, Any]
    gold: bool
    submissions: int
    complete: bool
    verified_label: dict[str, Any] | None
    confidence: float | None


class InclusionProofOut(BaseModel):
    epoch_id: int
    submission_id: int
    annotator: str
    project_id: int
    task_id: str
    label_hash: str
    reward: str
    leaf: str
    proof: list[str]
    root: str


# ---------------------------------------------------------------- licences
# Amounts are decimal strings in the currency's smallest unit (wei for ETH): uint256 does not fit JSON numbers.


class VersionOut(BaseModel):
    version_id: int
    project_id: int
    from_epoch: int = Field(description="first settled ledger epoch of the dataset version")
    to_epoch: int = Field(description="last settled ledger epoch of the dataset version")
    published_at: int = Field(description="block timestamp of publication, seconds")
    shares_root: str = Field(description="Merkle root over (annotator, shares) leaves")
    total_shares: str
    tx_hash: str | None = None


class CurrencyAmount(BaseModel):
    currency: str = Field(description="0x000…000 for ETH, else the ERC-20's address")
    symbol: str
    decimals: int


class PriceOut(CurrencyAmount):
    price: str


class PoolOut(CurrencyAmount):
    revenue_per_share: str = Field(description="contributors' revenue per share, scaled by 1e36")
    contributed: str = Field(description="contributors' part of every sale of this version in this currency")
    claimed: str
    claimable: str = Field(description="what contributors can still claim")
    dust: str = Field(description="rounding left in the contract: at most one unit per sale plus one per contributor")


class VersionRevenueOut(VersionOut):
    contributors: int
    pools: list[PoolOut]


class LicenceOut(BaseModel):
    licence_id: int
    version_id: int
    project_id: int
    buyer: str
    currency: str
    price: str
    fee: str
    requester_amount: str
    contributors_amount: str
    tx_hash: str
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
    annotator: str
    shares: str
    total_shares: str
    proof: list[str]


class AnnotatorRevenueOut(CurrencyAmount):
    version_id: int
    project_id: int
    shares: str
    total_shares: str
    claimed: str
    claimable: str
    proof: list[str] = Field(description="the shares leaf's Merkle proof, for DatasetLicences.claim")
