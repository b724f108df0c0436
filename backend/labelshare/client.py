"""A small Python client for the LabelShare API with a real wallet: Sign-In with Ethereum,
EIP-712 signed submissions, and the requester and annotator endpoints. Every API rejection is
raised as ``ApiError`` carrying the server's code, message and field."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import httpx
import siwe
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from labelshare.labels import label_hash

__all__ = ["ApiError", "LabelShareClient", "siwe_message", "submission_body"]


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
    nonce = secrets.randbits(64) if nonce is None else nonce
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


class LabelShareClient:
    """One wallet's session with a LabelShare API."""

    def __init__(self, base_url: str, account: LocalAccount, siwe_domain: str | None = None,
                 timeout: float = 30.0) -> None:
        self.account = account
        self.http = httpx.Client(base_url=base_url, timeout=timeout)
        self.siwe_domain = siwe_domain or urlparse(base_url).netloc
        self.chain: dict[str, Any] | None = None

    def close(self) -> None:
        self.http.close()

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
        self.chain = self._call("GET", "/chain")
        nonce = self._call("GET", "/auth/nonce")["nonce"]
        message = siwe_message(self.account.address, nonce, self.chain["chain_id"], self.siwe_domain,
                               f"http://{self.siwe_domain}")
        signature = "0x" + bytes(self.account.sign_message(encode_defunct(text=message)).signature).hex()
        session = self._call("POST", "/auth/verify", json={"message": message, "signature": signature})
        self.http.headers["Authorization"] = f"Bearer {session['token']}"
        return session

    # ------------------------------------------------------------ requester

    def create_project(self, **spec: Any) -> dict[str, Any]:
        return self._call("POST", "/projects", json=spec)

    def upload_tasks(self, project_id: int, content: bytes | str, fmt: str = "jsonl", gold: bool = False) -> dict[str, Any]:
        return self._call("POST", f"/projects/{project_id}/tasks", params={"format": fmt, "gold": gold},
                          content=content.encode() if isinstance(content, str) else content)

    def stats(self, project_id: int) -> dict[str, Any]:
        return self._call("GET", f"/projects/{project_id}/stats")

    def export(self, project_id: int, fmt: str = "jsonl") -> str:
        response = self.http.get(f"/projects/{project_id}/export", params={"format": fmt})
        if response.status_code >= 400:
            body = response.json()
            raise ApiError(response.status_code, body["error"], body["detail"], body.get("field"))
        return response.text

    # ------------------------------------------------------------ annotator

    def next_task(self, project_id: int) -> dict[str, Any] | None:
        return self._call("GET", "/tasks/next", params={"project_id": project_id})

    def submit(self, offer: dict[str, Any], payload: Any) -> dict[str, Any]:
        return self._call("POST", "/submissions", json=submission_body(self.account, offer, payload))

    def submissions(self) -> list[dict[str, Any]]:
        return self._call("GET", "/me/submissions")

    def rewards(self) -> dict[str, Any]:
        return self._call("GET", "/me/rewards")

    def epochs(self) -> list[dict[str, Any]]:
        return self._call("GET", "/epochs")

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
