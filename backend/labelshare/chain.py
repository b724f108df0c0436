"""The backend's one door to the chain: the web3 client, the service's signing keys, the
contract handles from the deployment manifest and the Ape build, and decoding of the ledger's
custom errors into LabelShare exceptions. Nothing else in the backend touches web3 directly.

Every JSON-RPC request goes through ``RetryingHTTPProvider`` (written here, not web3's
``ExceptionRetryConfiguration``, which is switched off): a transport failure (connection refused
or reset, a timeout, HTTP 429/5xx, a body that is not a JSON-RPC response) is retried with
exponential backoff and jitter, ``rpc_attempts`` times in all, for the methods that are safe to
repeat (web3's allow-list: reads, and ``eth_sendRawTransaction``, whose signed bytes are the same
transaction however often they are sent); anything else gets one attempt. When the attempts run
out it raises ``ChainError`` (the API answers 503 ``chain_error``), naming the method, the number
of attempts and the kind of failure, never the RPC URL's path or query (where providers put API
keys) nor any key. A JSON-RPC error answer (a revert, "nonce too low") is the node's answer, not
a transport failure, and is never retried here."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import function_abi_to_4byte_selector, to_checksum_address
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted, TransactionNotFound, Web3RPCError
from web3._utils.batching import sort_batch_response_by_response_ids
from web3.providers.rpc.utils import check_if_retry_on_failure
from web3.types import RPCEndpoint, RPCResponse

from labelshare.config import DEV_KEYS, LOCAL_CHAIN_IDS, Settings
from labelshare.deployment import Deployment
from labelshare.errors import ChainError, LabelShareError
from labelshare.signatures import SubmissionDomain

__all__ = ["Chain", "FeeAboveCeiling", "LedgerReverted", "RetryingHTTPProvider", "SentTransaction",
           "TransactionRejected", "event_logs", "load_key", "redact_url"]

log = logging.getLogger(__name__)

_RETRY_HTTP_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
LOG_BLOCK_RANGE = 5_000  # blocks per eth_getLogs call, within what public RPC providers accept


def event_logs(event: Any, from_block: int, to_block: int, **filters: Any) -> list[Any]:
    """Every log of a web3 contract ``event`` in ``from_block``..``to_block``, in windows of
    ``LOG_BLOCK_RANGE`` blocks, matching ``filters`` on indexed arguments."""
    logs: list[Any] = []
    for start in range(from_block, to_block + 1, LOG_BLOCK_RANGE):
        end = min(start + LOG_BLOCK_RANGE - 1, to_block)
        logs.extend(event.get_logs(from_block=start, to_block=end, argument_filters=filters or None))
    return logs


def redact_url(url: str) -> str:
    """``scheme://host:port`` of ``url``: hosted RPC URLs carry API keys in their path or query."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"


def _failure(err: BaseException) -> str:
    """What went wrong, in words that carry no URL (requests' messages include the full URL)."""
    if isinstance(err, requests.Timeout):
        return "timed out"
    if isinstance(err, requests.ConnectionError):
        text = str(err).lower()
        if "refused" in text:
            return "connection refused"
        if "reset" in text or "aborted" in text or "remotedisconnected" in text:
            return "connection reset"
        return "connection failed"
    if isinstance(err, requests.HTTPError):
        return f"HTTP {err.response.status_code if err.response is not None else '?'}"
    if isinstance(err, ValueError):
        return "malformed response (not JSON-RPC)"
    return type(err).__name__


class RetryingHTTPProvider(HTTPProvider):
    """web3's HTTPProvider with bounded retries, exponential backoff and jitter on transport
    failures, and ``ChainError`` once they run out (see the module's docstring)."""

    def __init__(self, url: str, timeout: float, attempts: int, backoff: float) -> None:
        super().__init__(url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.public_url = redact_url(url)

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        attempts = self.attempts if check_if_retry_on_failure(method) else 1
        return self._post(method, self.encode_rpc_request(method, params), attempts,
                          lambda r: isinstance(r, dict) and ("result" in r or "error" in r))

    def make_batch_request(self, batch_requests: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse] | RPCResponse:
        """One JSON-RPC batch, retried as a whole when every method in it is safe to repeat."""
        methods = [method for method, _ in batch_requests]
        attempts = self.attempts if all(check_if_retry_on_failure(m) for m in methods) else 1
        # A list of answers, or one error object when the node refuses the whole batch.
        response = self._post(RPCEndpoint(f"batch of {len(methods)} ({methods[0]}, ...)"),
                              self.encode_batch_rpc_request(batch_requests), attempts,
                              lambda r: isinstance(r, list) or (isinstance(r, dict) and "error" in r))
        return sort_batch_response_by_response_ids(response) if isinstance(response, list) else response

    def _post(self, method: RPCEndpoint, request_data: bytes, attempts: int, valid: Callable[[Any], bool]) -> Any:
        failure: BaseException | None = None
        for attempt in range(1, attempts + 1):
            try:
                raw = self._make_request(method, request_data)  # web3's own retry is off: one POST
                response = self.decode_rpc_response(raw)  # ValueError when the body is not JSON
                if not valid(response):
                    raise ValueError("not a JSON-RPC response")
                return response
            except requests.HTTPError as err:
                failure = err
                if err.response is not None and err.response.status_code not in _RETRY_HTTP_STATUS:
                    break  # 4xx: the node refuses this request; asking again will not help
            except (requests.ConnectionError, requests.Timeout, ValueError) as err:
                failure = err
            if attempt < attempts:
                delay = self.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
                log.warning("RPC %s to %s failed (%s), attempt %d of %d; retrying in %.2fs",
                            method, self.public_url, _failure(failure), attempt, attempts, delay)
                time.sleep(delay)
        assert failure is not None
        raise ChainError(f"the chain is unavailable: {method} to {self.public_url} failed "
                         f"({_failure(failure)}) after {attempt} attempt(s)") from None


class LedgerReverted(LabelShareError):
    """A ledger call reverted with one of its custom errors (``name``, ``args``)."""

    status, code = 409, "ledger_reverted"

    def __init__(self, name: str, args: tuple[Any, ...]) -> None:
        super().__init__(f"the ledger refused: {name}{args}")
        self.name = name
        self.args_ = args


class TransactionRejected(ChainError):
    """The node answered and refused a signed transaction (fee below the base fee, a bad nonce
    other than "too low", ...): sending the same bytes again will not help."""

    code = "transaction_rejected"


class FeeAboveCeiling(ChainError):
    """The network's fee (base fee + tip) is above the configured ceiling: nothing is signed."""

    code = "fee_above_ceiling"


GWEI = 10**9
NONCE_ATTEMPTS = 5  # transact: signing again after another process took the nonce
READ_BATCH = 100  # contract reads per JSON-RPC batch, well within what public RPC providers accept


def _gwei(wei: int) -> str:
    return f"{wei / GWEI:.9f}".rstrip("0").rstrip(".") + " gwei"


@dataclass(frozen=True)
class SentTransaction:
    tx_hash: str
    nonce: int
    raw: str  # signed transaction, hex: can be rebroadcast unchanged


def load_key(settings: Settings, role: str, chain_id: int) -> LocalAccount:
    """The key for ``role`` ("verifier", "qualifier", "registrar"): an explicit key, a keystore,
    or on a local chain anvil's published development key. The key never appears in errors."""
    key = getattr(settings, f"{role}_key", None)
    keystore: Path | None = getattr(settings, f"{role}_keystore", None)
    if key is not None:
        return Account.from_key(key.get_secret_value())
    if keystore is not None:
        password = getattr(settings, f"{role}_keystore_password", None)
        if password is None:
            raise ChainError(f"LABELSHARE_{role.upper()}_KEYSTORE_PASSWORD is not set", field=f"{role}_keystore")
        try:
            return Account.from_key(Account.decrypt(json.loads(keystore.read_text()), password.get_secret_value()))
        except (OSError, ValueError) as err:
            raise ChainError(f"cannot open the {role} keystore {keystore}: {type(err).__name__}") from None
    if settings.allow_dev_keys and chain_id in LOCAL_CHAIN_IDS:
        return Account.from_key(DEV_KEYS[role])
    raise ChainError(f"no {role} key: set LABELSHARE_{role.upper()}_KEY or LABELSHARE_{role.upper()}_KEYSTORE")


class _ThreadLocks:
    def __init__(self) -> None:
        self._locks = {role: threading.Lock() for role in DEV_KEYS}

    def __call__(self, role: str) -> threading.Lock:
        return self._locks[role]


class Chain:
    """Web3 client bound to one LabelShare deployment."""

    def __init__(self, settings: Settings, deployment: Deployment | None = None) -> None:
        self.settings = settings
        self.deployment = deployment or Deployment.load(settings.deployment_file)
        self.w3 = Web3(RetryingHTTPProvider(settings.rpc_url, settings.rpc_timeout_seconds, settings.rpc_attempts,
                                            settings.rpc_backoff_seconds))
        try:
            chain_id = self.w3.eth.chain_id
        except ChainError as err:
            raise ChainError(f"cannot reach the chain: {err.detail}") from None
        except Exception as err:  # noqa: BLE001 - any other failure means the same here
            raise ChainError(f"cannot reach the chain at {redact_url(settings.rpc_url)}: "
                             f"{type(err).__name__}") from None
        if settings.chain_id is not None and chain_id != settings.chain_id:
            raise ChainError(f"LABELSHARE_CHAIN_ID is {settings.chain_id} but the RPC node at "
                             f"{redact_url(settings.rpc_url)} is on chain {chain_id}: refusing to start")
        if chain_id != self.deployment.chain_id:
            raise ChainError(f"RPC is chain {chain_id} but the deployment is on chain {self.deployment.chain_id}")
        self.chain_id = chain_id
        self.ledger: Contract = self.w3.eth.contract(
            address=to_checksum_address(self.deployment.address("ledger")), abi=self.deployment.abi("ledger"))
        self.token: Contract = self.w3.eth.contract(
            address=to_checksum_address(self.deployment.address("token")), abi=self.deployment.abi("token"))
        # Dataset licences (absent from deployments older than the contract).
        self.licences: Contract | None = self._contract("licences")
        self.domain = SubmissionDomain(chain_id, self.ledger.address)
        self._errors = {
            function_abi_to_4byte_selector(item): item
            for name in ("ledger", "token", "licences") if name in self.deployment.contracts
            for item in self.deployment.abi(name) if item["type"] == "error"
        }
        self._keys: dict[str, LocalAccount] = {}
        # ``with send_lock(role):`` around signing and broadcasting in ``transact``: one sender per
        # key at a time. This process's threads by default; the API sets one that spans every
        # process on its database (labelshare.leader.SenderLocks).
        self.send_lock: Callable[[str], AbstractContextManager[Any]] = _ThreadLocks()

    def _contract(self, name: str) -> Contract | None:
        if name not in self.deployment.contracts:
            return None
        return self.w3.eth.contract(address=to_checksum_address(self.deployment.address(name)),
                                    abi=self.deployment.abi(name))

    def account(self, role: str) -> LocalAccount:
        if role not in self._keys:
            self._keys[role] = load_key(self.settings, role, self.chain_id)
        return self._keys[role]

    # ------------------------------------------------------------------- reads

    def read_batch(self, calls: list[Any], block: int | str = "latest") -> list[Any]:
        """The results of contract view ``calls`` (``contract.functions.f(args)``) at ``block``, in
        JSON-RPC batches of ``READ_BATCH``: one round trip for many reads. ChainError (never a
        partial answer) when the node cannot be reached or any read fails."""
        results: list[Any] = []
        for first in range(0, len(calls), READ_BATCH):
            try:
                with self.w3.batch_requests() as batch:
                    for call in calls[first:first + READ_BATCH]:
                        batch.add(call.call(block_identifier=block))
                    results.extend(batch.execute())
            except LabelShareError:
                raise
            except Exception as err:  # noqa: BLE001 - a failed read, whatever web3 calls it
                raise self.decode_error(err) from None
        return results

    # ------------------------------------------------------------------ errors

    def decode_error(self, err: Exception) -> LabelShareError:
        """A ledger/token custom error as LedgerReverted; anything else as ChainError."""
        data = getattr(err, "data", None)
        if isinstance(err, (ContractCustomError, ContractLogicError)) and isinstance(data, str) and len(data) >= 10:
            selector = bytes.fromhex(data[2:10])
            if abi := self._errors.get(selector):
                types = [i["type"] for i in abi["inputs"]]
                args = self.w3.codec.decode(types, bytes.fromhex(data[10:]))
                return LedgerReverted(abi["name"], tuple(args))
        return ChainError(f"chain call failed: {type(err).__name__}: {err}")

    # ------------------------------------------------------------ transactions

    def sign(self, role: str, call: Any, nonce: int | None = None) -> SentTransaction:
        """Builds and signs ``call`` (a contract function call) from ``role``'s key without
        sending it; ledger reverts surface here, from the gas estimate."""
        account = self.account(role)
        if nonce is None:
            nonce = self.w3.eth.get_transaction_count(account.address, "pending")
        fees = self.fees()  # before anything else: a fee above the ceiling signs nothing
        try:
            estimate = call.estimate_gas({"from": account.address})
            # An estimate is exact for the state it ran on; the mined block can differ (its
            # timestamp decides whether a slot write is a no-op), so leave a margin.
            tx = call.build_transaction({"from": account.address, "nonce": nonce, "chainId": self.chain_id,
                                         "gas": estimate * 5 // 4, **fees})
        except (ContractCustomError, ContractLogicError, Web3RPCError) as err:
            raise self.decode_error(err) from None
        signed = account.sign_transaction(tx)
        return SentTransaction("0x" + bytes(signed.hash).hex(), nonce, "0x" + bytes(signed.raw_transaction).hex())

    def broadcast(self, tx: SentTransaction) -> bool:
        """Sends a signed transaction; already-known or already-mined is not an error. Returns
        False when the node said so ("already known", "nonce too low"): then either this
        transaction was sent before, or another one took its nonce."""
        try:
            self.w3.eth.send_raw_transaction(tx.raw)
        except Web3RPCError as err:
            message = str(err).lower()
            if "already known" in message or "nonce too low" in message or "already imported" in message:
                log.info("transaction %s was already known to the node (%s)", tx.tx_hash, message[:80])
                return False
            raise TransactionRejected(f"the node refused transaction {tx.tx_hash} (nonce {tx.nonce}): "
                                      f"{message[:200]}") from None
        return True

    def fees(self) -> dict[str, int]:
        """The fee fields of a transaction sent now: EIP-1559 (``maxPriorityFeePerGas`` = the
        configured tip or the node's suggestion; ``maxFeePerGas`` = twice the base fee plus the
        tip, as wallets offer, never above ``max_fee_gwei``), or ``gasPrice`` on a chain without
        a base fee. Raises FeeAboveCeiling when even the base fee plus the tip is above it."""
        settings = self.settings
        ceiling = int(settings.max_fee_gwei * GWEI) if settings.max_fee_gwei is not None else None
        base_fee = self.w3.eth.get_block("latest").get("baseFeePerGas")
        if base_fee is None:  # a chain without EIP-1559
            price = self.w3.eth.gas_price
            if ceiling is not None and price > ceiling:
                raise FeeAboveCeiling(f"the gas price {_gwei(price)} is above LABELSHARE_MAX_FEE_GWEI "
                                      f"({_gwei(ceiling)}): holding the transaction until it falls or the "
                                      "ceiling is raised")
            return {"gasPrice": price}
        tip = int(settings.priority_fee_gwei * GWEI) if settings.priority_fee_gwei is not None \
            else self.w3.eth.max_priority_fee
        max_fee = 2 * base_fee + tip
        if ceiling is not None:
            if base_fee + tip > ceiling:
                raise FeeAboveCeiling(f"base fee {_gwei(base_fee)} + tip {_gwei(tip)} is above "
                                      f"LABELSHARE_MAX_FEE_GWEI ({_gwei(ceiling)}): holding the transaction until "
                                      "the base fee falls or the ceiling is raised")
            max_fee = min(max_fee, ceiling)
        return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip}

    def wait(self, tx_hash: str, timeout: float = 120.0, confirmations: int | None = None) -> dict[str, Any] | None:
        """The receipt once mined and ``confirmations`` blocks deep (default: the configured
        number), still in the chain after that wait; None if that takes longer than ``timeout``."""
        confirmations = self.settings.confirmations if confirmations is None else confirmations
        deadline = time.monotonic() + timeout
        while True:
            try:
                receipt = self.w3.eth.wait_for_transaction_receipt(
                    tx_hash, timeout=max(0.1, deadline - time.monotonic()), poll_latency=0.1)
            except TimeExhausted:
                return None
            if self.depth(receipt) >= confirmations:
                again = self.receipt(tx_hash)  # a reorganisation may have moved or dropped it meanwhile
                if again is not None and again["blockHash"] == receipt["blockHash"]:
                    return dict(receipt)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.5)

    def depth(self, receipt: dict[str, Any]) -> int:
        """Blocks mined on top of the receipt's block (its confirmations)."""
        return self.w3.eth.block_number - receipt["blockNumber"]

    def confirmed_block(self) -> int | str:
        """The newest block a read may trust as final: ``confirmations`` below the head (never
        before the deployment, where the contracts would not answer at all)."""
        if not self.settings.confirmations:
            return "latest"
        return max(self.deployment.block_number, self.w3.eth.block_number - self.settings.confirmations)

    def _known(self, tx_hash: str) -> bool:
        """Whether the node has the transaction (pending or mined)."""
        try:
            self.w3.eth.get_transaction(tx_hash)
            return True
        except TransactionNotFound:
            return False

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        """The receipt, or None if the node does not know the transaction as mined. A node that
        cannot be reached raises ChainError: "unknown" must not be mistaken for "not mined"."""
        try:
            return dict(self.w3.eth.get_transaction_receipt(tx_hash))
        except TransactionNotFound:
            return None

    def transact(self, role: str, call: Any) -> dict[str, Any]:
        """Sign, send and wait; raises LedgerReverted/ChainError on failure.

        Every replica sends with the same key, each taking the node's next nonce: two that sign
        at once would sign the same nonce, and the node keep one (the other hearing "nonce too
        low", "already known" for a hash it never got, or "replacement transaction underpriced").
        ``send_lock`` keeps senders apart; should two still meet (an RPC behind a load balancer
        whose nodes lag on the pending nonce), the loser signs again with the next nonce, a
        bounded number of times."""
        with self.send_lock(role):
            for attempt in range(1, NONCE_ATTEMPTS + 1):
                tx = self.sign(role, call)
                try:
                    # Asked only after a "known" answer: a load-balanced RPC may not show a
                    # transaction it just took, and asking then would sign a second one.
                    if self.broadcast(tx) or self._known(tx.tx_hash):
                        break
                    taken = "taken by another transaction"
                except TransactionRejected as err:
                    if "replacement" not in err.detail:  # "replacement transaction underpriced"
                        raise
                    taken = err.detail
                if attempt == NONCE_ATTEMPTS:
                    raise ChainError(f"could not send a {role} transaction: nonce {tx.nonce} {taken}, "
                                     f"{NONCE_ATTEMPTS} times")
                log.info("%s nonce %s was taken by another sender (another replica?); signing again", role, tx.nonce)
                time.sleep(random.uniform(0.05, 0.2) * attempt)  # let the other sender's transaction reach the pool
        receipt = self.wait(tx.tx_hash)
        if receipt is None:
            raise ChainError(f"transaction {tx.tx_hash} was not mined (with {self.settings.confirmations} "
                             "confirmation(s)) in time")
        if receipt["status"] != 1:
            raise ChainError(f"transaction {tx.tx_hash} reverted")
        return receipt
