"""The LabelShare SDK: a typed Python client for the API and the chain, with a real wallet.

``LabelShareClient`` signs in with Sign-In with Ethereum (EIP-4361), signs submissions as
``eth_signTypedData_v4`` (EIP-712), covers the annotator and requester endpoints, and reads the
chain (token balance, inclusion proofs checked by the ledger itself) with the ABIs the API serves
from the Ape build. Every API rejection is raised as ``ApiError`` carrying the server's code,
message and field; the CLI (``labelshare``) is built on this module.

    client = LabelShareClient("http://127.0.0.1:8000", unlock(keystore, password))
    client.sign_in()
    offer = client.next_task(project_id=1)
    client.submit(offer, {"label": "cat"})
    client.verify_inclusion(submission_id=1).ok
    client.buy_licence(version_id=1)             # dataset licences: sent from this wallet
    client.claim_revenue()                       # every claimable share of licence revenue
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any
from urllib.parse import urlparse

import httpx
import requests
import siwe
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import function_abi_to_4byte_selector, to_checksum_address
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.logs import DISCARD

from labelshare.chain import redact_url
from labelshare.labels import label_hash
from labelshare.leaves import AcceptedAnnotation, annotation_leaf
from labelshare.merkle import verify_proof

__all__ = ["ApiError", "ChainReader", "ChainTxError", "ChainUnreachable", "InclusionCheck", "LabelShareClient",
           "format_amount", "human_amount", "parse_amount", "siwe_message", "submission_body"]

TOKEN_DECIMALS = 18
HUMAN_PLACES = 6  # decimals people read; exact amounts stay in the API's and the SDK's values
ETH = "0x0000000000000000000000000000000000000000"  # DatasetLicences' currency id for ether


def format_amount(amount: int | str, decimals: int = TOKEN_DECIMALS) -> str:
    """``1500000000000000000`` -> ``"1.5"``: a token amount in whole units, exactly."""
    with localcontext(prec=100):  # 2^256 has 78 digits: exact, never rounded
        text = format(Decimal(int(amount)).scaleb(-decimals), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def human_amount(amount: int | str, decimals: int = TOKEN_DECIMALS) -> str:
    """``224999999999999999`` -> ``"0.225"``: a token amount rounded to ``HUMAN_PLACES`` decimals for
    tables and messages; a non-zero amount below that shows as ``"<0.000001"``, never as 0."""
    exact = Decimal(format_amount(amount, decimals))
    with localcontext(prec=100):
        rounded = exact.quantize(Decimal(1).scaleb(-HUMAN_PLACES))
    if exact and not rounded:
        return f"<{Decimal(1).scaleb(-HUMAN_PLACES):f}"
    text = format(rounded, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_amount(text: str, decimals: int = TOKEN_DECIMALS) -> int:
    """``"1.5"`` -> ``1500000000000000000``; ValueError for anything that is not an exact
    non-negative amount in whole units."""
    try:
        with localcontext(prec=100):
            value = Decimal(text.strip()).scaleb(decimals)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite() or value < 0 or value != value.to_integral_value():
        raise ValueError(f"{text!r} is not a non-negative amount with at most {decimals} decimals")
    return int(value)


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}" + (f" (field {field})" if field else ""))
        self.status, self.code, self.detail, self.field = status, code, detail, field


def siwe_message(address: str, nonce: str, chain_id: int, domain: str, uri: str, issued_at: str | None = None) -> str:
    """The EIP-4361 message a wallet signs to sign in."""
    return siwe.SiweMessage(
        domain=domain, address=address, uri=uri, version="1", chain_id=chain_id, nonce=nonce,
        issued_at=issued_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), statement="Sign in to LabelShare",
    ).prepare_message()


def submission_body(account: LocalAccount, offer: dict[str, Any], payload: Any, nonce: int | None = None,
                    deadline: int | None = None, domain: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``POST /submissions`` body for a ``/tasks/next`` offer, signed as ``eth_signTypedData_v4``."""
    nonce = secrets.randbits(53) if nonce is None else nonce  # below 2^53: an exact JSON number
    deadline = int(time.time()) + 600 if deadline is None else deadline
    domain = domain or offer["eip712_domain"]
    digest = "0x" + label_hash(payload).hex()
    message = {"annotator": account.address, "projectId": offer["project_id"], "taskId": offer["task_id"],
               "labelHash": digest, "nonce": nonce, "deadline": deadline}
    typed = {"types": offer["eip712_types"], "primaryType": "Submission", "domain": domain, "message": message}
    signature = "0x" + bytes(account.sign_typed_data(full_message=typed).signature).hex()
    return {"project_id": offer["project_id"], "task_id": offer["task_id"], "payload": payload, "label_hash": digest,
            "nonce": nonce, "deadline": deadline, "chain_id": domain["chainId"],
            "verifying_contract": domain["verifyingContract"], "signature": signature}


@dataclass(frozen=True)
class ChainReader:
    """Read-only handles on the deployment the API serves, over any RPC endpoint."""

    w3: Web3
    ledger: Contract
    token: Contract
    deployment_block: int
    licences: Contract | None = None  # DatasetLicences, when the deployment has it

    def erc20(self, address: str) -> Contract:
        """Any ERC-20, through the reward token's ABI (its ERC-20 part fits every token)."""
        return self.w3.eth.contract(address=to_checksum_address(address), abi=self.token.abi)


class ChainUnreachable(RuntimeError):
    """The chain cannot be read: no RPC URL, the RPC endpoint does not answer, or it is on
    another chain than the API's protocol."""


class ChainTxError(RuntimeError):
    """A transaction this wallet sent was refused (``name`` is the contract's custom error, if any)."""

    def __init__(self, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class InclusionCheck:
    """Whether one accepted annotation is committed to by its epoch's on-chain root."""

    submission_id: int
    epoch_id: int
    leaf: str
    root: str  # the root the API's manifest names
    onchain_root: str
    matches_submission: bool  # annotator, task and label hash are the ones the API recorded for me
    leaf_recomputed: bool  # the leaf rebuilt here from the annotation equals the served leaf
    proof_valid: bool  # the proof leads from the leaf to the root, checked here
    verified_on_chain: bool  # LabelLedger.verifyAnnotation said so

    @property
    def ok(self) -> bool:
        return (self.matches_submission and self.leaf_recomputed and self.proof_valid and self.verified_on_chain
                and self.root == self.onchain_root)


class LabelShareClient:
    """One wallet's session with a LabelShare API (and, for reads, its chain).

    ``account`` may be None for read-only use (projects, epochs, stats, audits). ``token`` resumes
    a saved session of ``address`` instead of signing in again."""

    def __init__(self, base_url: str, account: LocalAccount | None = None, siwe_domain: str | None = None,
                 timeout: float = 30.0, token: str | None = None, address: str | None = None) -> None:
        self.account = account
        self.address = account.address if account else address
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self.siwe_domain = siwe_domain
        self.chain: dict[str, Any] | None = None
        self._reader: ChainReader | None = None
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> LabelShareClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _signer(self) -> LocalAccount:
        if self.account is None:
            raise RuntimeError("this client has no wallet: pass an account to sign")
        return self.account

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"error": "http_error", "detail": response.text[:200]}
            raise ApiError(response.status_code, body.get("error", "error"), body.get("detail", ""), body.get("field"))
        return None if response.status_code == 204 else response.json()

    # -------------------------------------------------------------- sign in

    def sign_in(self) -> dict[str, Any]:
        """EIP-4361 sign-in for the service's domain (as ``/chain`` names it); returns the session
        ``{token, address, expires_at, requester}`` and uses its token from now on."""
        account = self._signer()
        chain = self.chain_info()
        domain = self.siwe_domain or chain.get("siwe_domain") or urlparse(self.base_url).netloc
        nonce = self._call("GET", "/auth/nonce")["nonce"]
        message = siwe_message(account.address, nonce, chain["chain_id"], domain, f"http://{domain}")
        signature = "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()
        session = self._call("POST", "/auth/verify", json={"message": message, "signature": signature})
        self.http.headers["Authorization"] = f"Bearer {session['token']}"
        self.address = session["address"]
        return session

    # ---------------------------------------------------------------- chain

    def chain_info(self) -> dict[str, Any]:
        """Chain id, contract addresses, the EIP-712 domain and types, the SIWE domain."""
        if self.chain is None:
            self.chain = self._call("GET", "/chain")
        return self.chain

    def chain_reader(self, rpc_url: str | None = None) -> ChainReader:
        """Contracts over ``rpc_url`` (default: the RPC URL the API advertises), with the ABIs the
        API serves from the Ape build; refuses an RPC on another chain."""
        if self._reader is None:
            chain = self.chain_info()
            url = rpc_url or chain.get("rpc_url")
            if not url:
                raise ChainUnreachable("the API advertises no RPC URL: pass one (--rpc-url / LABELSHARE_RPC_URL)")
            w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))
            try:
                chain_id = w3.eth.chain_id
            except (requests.ConnectionError, requests.Timeout):
                raise ChainUnreachable(f"cannot reach the chain at {redact_url(url)}") from None
            if chain_id != chain["chain_id"]:
                raise ChainUnreachable(f"the RPC node at {redact_url(url)} is on chain {chain_id}, the API's "
                                       f"protocol on chain {chain['chain_id']}")
            abis = self._call("GET", "/chain/abi")
            licences = (w3.eth.contract(address=to_checksum_address(chain["licences"]), abi=abis["licences"])
                        if chain.get("licences") and abis.get("licences") else None)
            self._reader = ChainReader(
                w3, w3.eth.contract(address=to_checksum_address(chain["ledger"]), abi=abis["ledger"]),
                w3.eth.contract(address=to_checksum_address(chain["token"]), abi=abis["token"]),
                chain["deployment_block"], licences)
        return self._reader

    def token_balance(self, address: str | None = None, rpc_url: str | None = None) -> int:
        """The on-chain reward-token balance of ``address`` (default: this wallet)."""
        owner = address or self.address
        if owner is None:
            raise RuntimeError("whose balance? pass an address or sign in")
        return int(self.chain_reader(rpc_url).token.functions.balanceOf(to_checksum_address(owner)).call())

    def token_symbol(self, rpc_url: str | None = None) -> str:
        return str(self.chain_reader(rpc_url).token.functions.symbol().call())

    def inclusion_proof(self, epoch_id: int, submission_id: int) -> dict[str, Any]:
        return self._call("GET", f"/epochs/{epoch_id}/proof/{submission_id}")

    def verify_inclusion(self, submission_id: int, rpc_url: str | None = None) -> InclusionCheck:
        """Proves that one of my settled submissions is in its epoch's on-chain root: the leaf is
        rebuilt here from my submission, the proof is checked here and by the ledger."""
        # The newest of mine at or below that id: itself, if it is mine.
        mine = {s["id"]: s for s in self.submissions(limit=1, before=submission_id + 1)}
        if submission_id not in mine:
            raise ApiError(404, "not_found", f"submission {submission_id} is not one of yours", "submission_id")
        submission = mine[submission_id]
        if submission["status"] != "accepted" or submission["epoch_id"] is None:
            raise ApiError(409, "not_settled", f"submission {submission_id} is {submission['status']} and in no "
                           "epoch yet: only accepted work is committed on-chain", "submission_id")
        epoch_id = submission["epoch_id"]
        served = self.inclusion_proof(epoch_id, submission_id)
        assert self.address is not None, "submissions() needs a session, which names the address"
        annotation = AcceptedAnnotation(to_checksum_address(self.address), submission["project_id"],
                                        bytes.fromhex(submission["task_id"][2:]),
                                        bytes.fromhex(submission["label_hash"][2:]), int(submission["reward"]))
        leaf = annotation_leaf(epoch_id, annotation)
        proof = [bytes.fromhex(p[2:]) for p in served["proof"]]
        reader = self.chain_reader(rpc_url)
        onchain_root = "0x" + bytes(reader.ledger.functions.epoch(epoch_id).call()[0]).hex()
        verified = reader.ledger.functions.verifyAnnotation(epoch_id, annotation.as_tuple(), proof).call()
        matches = (to_checksum_address(served["annotator"]) == annotation.annotator
                   and served["task_id"] == submission["task_id"] and served["label_hash"] == submission["label_hash"]
                   and int(served["reward"]) == annotation.reward and served["project_id"] == annotation.project_id)
        return InclusionCheck(
            submission_id=submission_id, epoch_id=epoch_id, leaf=served["leaf"], root=served["root"],
            onchain_root=onchain_root, matches_submission=matches, leaf_recomputed="0x" + leaf.hex() == served["leaf"],
            proof_valid=verify_proof(leaf, proof, bytes.fromhex(served["root"][2:])), verified_on_chain=bool(verified))

    # ------------------------------------------------------------ requester

    def create_project(self, **spec: Any) -> dict[str, Any]:
        """Registers a project on the ledger; ``spec`` as ``projects.ProjectCreate`` (an int
        ``reward_per_label`` is sent as the API takes it, a decimal string)."""
        if isinstance(spec.get("reward_per_label"), int):
            spec = spec | {"reward_per_label": str(spec["reward_per_label"])}
        return self._call("POST", "/projects", json=spec)

    def projects(self, owner: str | None = None) -> list[dict[str, Any]]:
        """Open projects, or every project of ``owner``."""
        return self._call("GET", "/projects", params={"owner": owner} if owner else None)

    def project(self, project_id: int) -> dict[str, Any]:
        return self._call("GET", f"/projects/{project_id}")

    def set_open(self, project_id: int, open_: bool) -> dict[str, Any]:
        return self._call("POST", f"/projects/{project_id}/{'open' if open_ else 'close'}")

    def tasks(self, project_id: int, status: str | None = None, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """A project's tasks with progress (its owner only)."""
        params: dict[str, Any] = {"offset": offset, "limit": limit} | ({"status": status} if status else {})
        return self._call("GET", f"/projects/{project_id}/tasks", params=params)

    def project_quality(self, project_id: int) -> dict[str, Any]:
        """Confidence of the verified labels and each annotator's record (its owner only)."""
        return self._call("GET", f"/projects/{project_id}/quality")

    def upload_tasks(self, project_id: int, content: bytes | str, fmt: str = "jsonl", gold: bool = False) -> dict[str, Any]:
        return self._call("POST", f"/projects/{project_id}/tasks", params={"format": fmt, "gold": gold},
                          content=content.encode() if isinstance(content, str) else content)

    def stats(self, project_id: int) -> dict[str, Any]:
        return self._call("GET", f"/projects/{project_id}/stats")

    def export(self, project_id: int, fmt: str = "jsonl", version: int | None = None) -> str:
        """Verified labels: all of them (the owner), or one dataset version's (the owner or a
        licence holder)."""
        params: dict[str, Any] = {"format": fmt} | ({"version": version} if version is not None else {})
        response = self.http.get(f"/projects/{project_id}/export", params=params)
        if response.status_code >= 400:
            body = response.json()
            raise ApiError(response.status_code, body["error"], body["detail"], body.get("field"))
        return response.text

    # ------------------------------------------------------------ annotator

    def next_task(self, project_id: int) -> dict[str, Any] | None:
        """An offer of a task (held until its ``expires_at``), or None when none is left for me.
        While I hold the most open offers a project allows, this is the oldest of them again."""
        return self._call("GET", "/tasks/next", params={"project_id": project_id})

    def release(self, task_id: str) -> None:
        """Gives up my open offer of ``task_id`` (a skip): its slot goes to others at once."""
        self._call("DELETE", f"/tasks/{task_id}/offer")

    def submit(self, offer: dict[str, Any], payload: Any) -> dict[str, Any]:
        """Signs ``payload`` for ``offer`` (a ``next_task`` result, or any dict with project_id,
        task_id and the EIP-712 domain and types) and submits it."""
        return self._call("POST", "/submissions", json=submission_body(self._signer(), offer, payload))

    def offer_for(self, project_id: int, task_id: str) -> dict[str, Any]:
        """What ``submit`` needs for a task offered earlier (e.g. saved by ``labelshare fetch``)."""
        chain = self.chain_info()
        return {"project_id": project_id, "task_id": task_id, "eip712_domain": chain["eip712_domain"],
                "eip712_types": chain["eip712_types"]}

    def submissions(self, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
        """My submissions, newest first: ``limit`` of them, older than submission ``before``."""
        return self._call("GET", "/me/submissions", params=_page(limit, before))

    def all_submissions(self) -> list[dict[str, Any]]:
        """Every one of my submissions, newest first, fetched a page at a time."""
        rows: list[dict[str, Any]] = []
        while page := self.submissions(limit=1000, before=rows[-1]["id"] if rows else None):
            rows += page
        return rows

    def rewards(self, limit: int = 50) -> dict[str, Any]:
        """Pending, settled (held by the ledger at the API's confirmations), resending and unverified
        totals with the ``reason`` for any difference, and the ``limit`` most recent epochs with their
        status and transactions."""
        return self._call("GET", "/me/rewards", params={"limit": limit})

    def epochs(self, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
        """Epochs, newest first: ``limit`` of them, older than epoch ``before``."""
        return self._call("GET", "/epochs", params=_page(limit, before))

    def manifest(self, epoch_id: int) -> dict[str, Any]:
        return self._call("GET", f"/epochs/{epoch_id}/manifest")

    def quality(self) -> dict[str, Any]:
        """Reliability per domain and any suspension."""
        return self._call("GET", "/me/quality")

    # -------------------------------------------------------- qualifications

    def qualification_tests(self) -> list[dict[str, Any]]:
        return self._call("GET", "/qualifications")

    def put_qualification_test(self, domain: str, **spec: Any) -> dict[str, Any]:
        """Creates or extends a domain's test (admins)."""
        return self._call("PUT", f"/qualifications/{domain}", json=spec)

    def start_qualification(self, domain: str) -> dict[str, Any]:
        return self._call("POST", f"/qualifications/{domain}/attempts")

    def answer_qualification(self, attempt_id: int, answers: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/qualifications/attempts/{attempt_id}", json={"answers": answers})

    # ------------------------------------------------------------- licences

    def publish_version(self, project_id: int) -> dict[str, Any]:
        """Publishes the project's next dataset version (owner; the service's verifier key sends it)."""
        return self._call("POST", f"/projects/{project_id}/versions")

    def versions(self, project_id: int) -> list[dict[str, Any]]:
        return self._call("GET", f"/projects/{project_id}/versions")

    def project_revenue(self, project_id: int) -> dict[str, Any]:
        """Terms, prices, versions with their revenue pools, and every sale of the project."""
        return self._call("GET", f"/projects/{project_id}/revenue")

    def my_revenue(self) -> list[dict[str, Any]]:
        """This wallet's shares of licence revenue, per version and currency, with claim proofs."""
        return self._call("GET", "/me/revenue")

    def my_licences(self) -> list[dict[str, Any]]:
        return self._call("GET", "/me/licences")

    def _licences(self, rpc_url: str | None = None) -> Contract:
        licences = self.chain_reader(rpc_url).licences
        if licences is None:
            raise RuntimeError("the API's deployment has no DatasetLicences contract")
        return licences

    def _send(self, call: Any, value: int = 0, rpc_url: str | None = None) -> dict[str, Any]:
        """Signs ``call`` with this wallet, sends it and waits for the receipt; a revert is raised
        as ``ChainTxError`` naming the contract's custom error."""
        account = self._signer()
        reader = self.chain_reader(rpc_url)
        try:
            tx = call.build_transaction({"from": account.address, "value": value,
                                         "nonce": reader.w3.eth.get_transaction_count(account.address, "pending")})
        except Exception as err:  # noqa: BLE001 - web3 raises several types for a revert in the estimate
            raise ChainTxError(*_describe_revert(err, reader)) from None
        signed = account.sign_transaction(tx)
        tx_hash = reader.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = reader.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        if receipt["status"] != 1:
            raise ChainTxError(f"transaction 0x{bytes(tx_hash).hex()} reverted")
        return dict(receipt)

    def set_licence_terms(self, project_id: int, price: int | None = None, currency: str = ETH,
                          requester_share_bps: int | None = None) -> list[str]:
        """Sets the project's licence price in ``currency`` and/or the requester's share (owner's
        wallet); returns the transaction hashes."""
        licences, hashes = self._licences(), []
        if price is not None:
            hashes.append(self._send(licences.functions.setPrice(project_id, to_checksum_address(currency), price)))
        if requester_share_bps is not None:
            hashes.append(self._send(licences.functions.setRequesterShare(project_id, requester_share_bps)))
        return ["0x" + bytes(r["transactionHash"]).hex() for r in hashes]

    def buy_licence(self, version_id: int, currency: str = ETH, max_price: int | None = None) -> dict[str, Any]:
        """Buys a licence to ``version_id`` from this wallet at the project's current price in
        ``currency`` (approving an ERC-20 first when needed); refuses a price above ``max_price``."""
        licences = self._licences()
        currency = to_checksum_address(currency)
        project_id = licences.functions.version(version_id).call()[0]
        price = licences.functions.price(project_id, currency).call()
        if price == 0:
            raise ChainTxError(f"project {project_id} is not for sale in {currency}", "LicencesNotForSale")
        if max_price is not None and price > max_price:
            raise ChainTxError(f"the price is {price}, above your limit of {max_price}", "LicencesPriceChanged")
        if int(currency, 16) != 0:
            erc20 = self.chain_reader().erc20(currency)
            if erc20.functions.allowance(self._signer().address, licences.address).call() < price:
                self._send(erc20.functions.approve(licences.address, price))
        receipt = self._send(licences.functions.buyLicence(version_id, currency, price),
                             value=price if int(currency, 16) == 0 else 0)
        event = licences.events.LicencePurchased().process_receipt(receipt, errors=DISCARD)[0]["args"]
        return {"licence_id": event["licenceId"], "version_id": version_id, "project_id": project_id,
                "currency": currency, "price": price, "tx_hash": "0x" + bytes(receipt["transactionHash"]).hex()}

    def claim_revenue(self, version_id: int | None = None) -> list[dict[str, Any]]:
        """Claims every claimable share of licence revenue (of one version, if given) to this
        wallet; returns what each claim paid."""
        licences, paid = self._licences(), []
        for row in self.my_revenue():
            if int(row["claimable"]) == 0 or (version_id is not None and row["version_id"] != version_id):
                continue
            receipt = self._send(licences.functions.claim(
                row["version_id"], to_checksum_address(row["currency"]), self._signer().address, int(row["shares"]),
                [bytes.fromhex(p[2:]) for p in row["proof"]]))
            event = licences.events.RevenueClaimed().process_receipt(receipt, errors=DISCARD)[0]["args"]
            paid.append({"version_id": row["version_id"], "currency": row["currency"], "symbol": row["symbol"],
                         "decimals": row["decimals"], "amount": event["amount"],
                         "tx_hash": "0x" + bytes(receipt["transactionHash"]).hex()})
        return paid

    def withdraw_revenue(self, currency: str = ETH) -> int:
        """Withdraws what sales credited to this wallet in ``currency`` (a requester's share);
        returns the amount (0 when nothing is owed)."""
        licences = self._licences()
        currency = to_checksum_address(currency)
        owed = licences.functions.owed(self._signer().address, currency).call()
        if owed:
            self._send(licences.functions.withdraw(currency))
        return int(owed)


def _page(limit: int, before: int | None) -> dict[str, int]:
    return {"limit": limit} | ({"before": before} if before is not None else {})


def _describe_revert(err: Exception, reader: ChainReader) -> tuple[str, str | None]:
    """A revert's custom error by name, decoded with the ABIs the API serves."""
    data = getattr(err, "data", None)
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        abis = [*reader.ledger.abi, *(reader.licences.abi if reader.licences is not None else [])]
        for item in abis:
            if item.get("type") == "error" and function_abi_to_4byte_selector(item).hex() == data[2:10]:
                args = reader.w3.codec.decode([i["type"] for i in item["inputs"]], bytes.fromhex(data[10:]))
                return f"the contract refused: {item['name']}{tuple(args)}", item["name"]
    return f"the transaction would fail: {err}", None
