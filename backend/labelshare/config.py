"""Service configuration from environment variables (prefix ``LABELSHARE_``), with local defaults
that work against ``make run``'s anvil.

Keys are ``SecretStr`` and never logged. The defaults for the verifier, qualifier and registrar
keys are anvil's *published development keys*: they are refused on any chain but a local one.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from labelshare.deployment import manifest_path, run_dir

__all__ = ["DEV_KEYS", "LOCAL_CHAIN_IDS", "Settings", "get_settings"]

# anvil's published development keys (mnemonic "test test ... junk"), accounts #1-#4.
# Public knowledge: for local chains only; Settings refuses them anywhere else.
DEV_KEYS = {
    "verifier": "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",  # #1
    "qualifier": "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",  # #2
    "registrar": "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",  # #3
}
DEV_REQUESTER = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"  # anvil #4: the demo requester
DEV_ADMIN = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil #0: the local deployer
LOCAL_CHAIN_IDS = frozenset({31337, 1337})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LABELSHARE_", env_file=None, extra="ignore")

    rpc_url: str = "http://127.0.0.1:8545"
    # The chain the operator means to be on: the service refuses to start when the RPC node (or
    # the deployment file) is on another one. Unset: the deployment file's chain is expected.
    chain_id: int | None = None
    # An RPC URL browsers may read the chain through when no wallet is connected (the web page's
    # audit view); on a local chain, rpc_url is advertised when this is unset.
    public_rpc_url: str | None = None
    # By default in the local stack's folder (labelshare.deployment.run_dir: LABELSHARE_RUN_DIR),
    # where `ape run deploy` records a local deployment.
    database_url: str = Field(default_factory=lambda: f"sqlite:///{run_dir() / 'labelshare.db'}")
    deployment_file: Path = Field(default_factory=lambda: manifest_path("ethereum", "local"))
    manifests_dir: Path = Field(default_factory=lambda: run_dir() / "manifests")

    # Keys: a hex private key, or an eth-account keystore file plus its password.
    verifier_key: SecretStr | None = None
    verifier_keystore: Path | None = None
    verifier_keystore_password: SecretStr | None = None
    qualifier_key: SecretStr | None = None
    qualifier_keystore: Path | None = None
    qualifier_keystore_password: SecretStr | None = None
    registrar_key: SecretStr | None = None
    registrar_keystore: Path | None = None
    registrar_keystore_password: SecretStr | None = None
    allow_dev_keys: bool = True  # only ever honoured on a local chain id

    # Who may act as a requester (comma-separated addresses).
    requesters: str = DEV_REQUESTER

    # Sign-in
    siwe_domain: str = "localhost:8000"
    siwe_nonce_ttl_seconds: int = 300
    siwe_max_age_seconds: int = 600  # a SIWE message issued longer ago is refused
    session_ttl_seconds: int = 3600

    # Submissions
    max_payload_bytes: int = 16 * 1024
    max_body_bytes: int = 1024 * 1024  # whole request; task imports have their own limit
    max_import_bytes: int = 20 * 1024 * 1024
    max_deadline_seconds: int = 24 * 3600  # a deadline further out than this is refused
    max_json_depth: int = 64  # JSON bodies nested deeper are refused (labelshare.api.input_guard)

    # Offers (/tasks/next; labelshare.tasks): how long an unsubmitted offer holds its slot, and
    # how many open offers one wallet may hold in a project and in all. Wallets are free: these
    # keep one from holding a project's tasks away from everyone else.
    offer_ttl_seconds: float = 300.0
    max_open_offers_per_project: int = 1
    max_open_offers: int = 3

    @field_validator("offer_ttl_seconds", "max_open_offers_per_project", "max_open_offers")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be positive")
        return value

    # Epochs: close when the oldest pending accepted annotation is this old, or this many wait.
    epoch_max_age_seconds: float = 5.0
    epoch_max_annotations: int = 1000
    settlement_poll_seconds: float = 1.0
    settlement_enabled: bool = True
    payouts_per_chunk: int = 400
    # Blocks on top of the one that mined a settle transaction before its chunk counts as
    # settled (0: mined is enough, as on anvil).
    confirmations: int = 0

    # EIP-1559 fees of the service's transactions: the tip offered (unset: the node's suggestion)
    # and the most it ever pays per gas. A transaction that would need more (base fee + tip above
    # the ceiling) is not signed: settlement holds, says so in its log and on /status, and goes
    # on by itself once the base fee falls or the ceiling is raised.
    priority_fee_gwei: Decimal | None = None
    max_fee_gwei: Decimal | None = None

    @field_validator("confirmations")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("confirmations cannot be negative")
        return value

    @field_validator("priority_fee_gwei", "max_fee_gwei")
    @classmethod
    def _positive_wei(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and (value < 0 or value * 10**9 != int(value * 10**9)):
            raise ValueError("a fee in gwei must be positive, in whole wei (at most 9 decimals)")
        return value

    @model_validator(mode="after")
    def _tip_below_ceiling(self) -> Settings:
        if self.max_fee_gwei is not None and self.priority_fee_gwei is not None \
                and self.priority_fee_gwei > self.max_fee_gwei:
            raise ValueError(f"priority_fee_gwei ({self.priority_fee_gwei}) is above max_fee_gwei "
                             f"({self.max_fee_gwei}): no transaction could ever be sent")
        return self

    # Quality (see labelshare.quality): the review pass, the spam tests, qualification revocation.
    review_window_tasks: int = 5000  # aggregation looks at this many recent complete tasks per project
    accept_min_agreement: float = 0.5  # spans/boxes: agreement with the verified label to be accepted
    honest_skill: float = 0.5  # the spam test's "honest": this share of the way from chance to perfect
    spam_alpha: float = 0.01  # the spam test's target rate of suspending an honest annotator
    spam_beta: float = 0.05  # ... and of missing a guesser
    spam_min_answers: int = 40  # aggregation skill rule: answers needed before it can suspend
    spam_margin: float = 0.1  # ... and how close to chance counts as chance (share of chance -> perfect)
    revoke_min_gold: int = 8  # recent gold answers needed before a qualification can be revoked
    revoke_accuracy: float = 0.6  # recent gold accuracy below which it is

    # Who may author qualification tests (comma-separated addresses); anvil #0 locally.
    admins: str = DEV_ADMIN

    # Rate limits (labelshare.api.rate_limit), in the limits library's notation: "N/second",
    # "N/minute", "N per 5 minutes", several joined by ";" (each must hold). Over a limit the API
    # answers 429 rate_limited with Retry-After. Counted in each process's memory by default: with
    # N API processes (workers or replicas) a client gets up to N times these; a shared
    # rate_limit_storage_uri (e.g. "async+redis://host:6379") makes them global. The defaults sit
    # far above what a person, the test suite or `make bench` sends.
    rate_limit_enabled: bool = True
    rate_limit_per_ip: str = "20000/minute"  # every request but /health, per client IP
    rate_limit_sign_in_per_ip: str = "120/minute"  # POST /auth/verify, per client IP
    rate_limit_nonce_per_ip: str = "120/minute"  # GET /auth/nonce (each stores a nonce), per client IP
    rate_limit_submissions_per_address: str = "600/minute"  # POST /submissions, per signed-in wallet
    rate_limit_tasks_per_address: str = "600/minute"  # GET /tasks/next, per signed-in wallet
    rate_limit_tasks_per_ip: str = "3000/minute"  # GET /tasks/next, per client IP (however many wallets)
    rate_limit_storage_uri: str = "async+memory://"  # an async storage of the limits library

    @field_validator("rate_limit_per_ip", "rate_limit_sign_in_per_ip", "rate_limit_nonce_per_ip",
                     "rate_limit_submissions_per_address", "rate_limit_tasks_per_address",
                     "rate_limit_tasks_per_ip")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        parse_many(value)  # ValueError (a settings error at start-up) if it is not a rate limit
        return value

    @field_validator("rate_limit_storage_uri")
    @classmethod
    def _async_storage(cls, value: str) -> str:
        if not value.startswith("async+"):  # the middleware runs on the event loop
            raise ValueError("rate_limit_storage_uri must name an async storage: async+memory://, async+redis://...")
        return value

    # RPC transport (labelshare.chain.RetryingHTTPProvider): seconds before one JSON-RPC request
    # times out; attempts in all for a request that is safe to repeat (reads, raw transactions);
    # the first backoff in seconds, doubled after each failed attempt (with jitter).
    rpc_timeout_seconds: float = 10.0
    rpc_attempts: int = 3
    rpc_backoff_seconds: float = 0.25
    # The settlement worker's longest wait between failed passes (it doubles from
    # settlement_poll_seconds after each failure and starts again after a pass that succeeds).
    settlement_max_backoff_seconds: float = 30.0

    @property
    def admin_addresses(self) -> frozenset[str]:
        """Lower-cased admin addresses."""
        return frozenset(a.strip().lower() for a in self.admins.split(",") if a.strip())

    @property
    def requester_addresses(self) -> frozenset[str]:
        """Lower-cased requester addresses."""
        return frozenset(a.strip().lower() for a in self.requesters.split(",") if a.strip())


@lru_cache
def get_settings() -> Settings:
    return Settings()
