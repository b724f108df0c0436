"""Rate limits (``labelshare.api.rate_limit``): per client IP on sign-in, on nonces and on every
request and on ``GET /tasks/next``; per signed-in wallet on ``POST /submissions`` and
``GET /tasks/next``. Over a limit the answer is ``429 {"error": "rate_limited", "detail": ...,
"field": null}`` with ``Retry-After``, and nothing is stored; other IPs and other wallets are not
affected; ``/health`` never is.

Each test sets tiny limits with ``@pytest.mark.settings`` on its own server. Another client IP
is simulated with ``X-Forwarded-For``, which uvicorn honours from 127.0.0.1 (its default
``--forwarded-allow-ips``), as it would from a reverse proxy there.
"""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from labelshare.config import Settings
from labelshare.db.models import Assignment, AuthNonce, AuthSession, Submission

CAT = {"label": "cat"}


def _count(api, model) -> int:
    with api.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def _client(api, token: str | None = None, ip: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if ip:
        headers["X-Forwarded-For"] = ip
    return httpx.Client(base_url=api.url, timeout=30, verify=False, headers=headers)


def _assert_limited(response: httpx.Response, window_seconds: int = 60) -> dict:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == "rate_limited" and body["field"] is None, body
    assert "too many" in body["detail"] and "retry in" in body["detail"], body
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= window_seconds, retry_after
    return body


def _sign_in_body(client: httpx.Client, w) -> dict[str, str]:
    nonce, chain_id = client.get("/auth/nonce").json()["nonce"], client.get("/chain").json()["chain_id"]
    message = w.siwe_message(nonce, chain_id)
    return {"message": message, "signature": w.sign_text(message)}


@pytest.mark.settings(rate_limit_sign_in_per_ip="3/minute")
def test_authVerify_rateLimitedPerIp(api, wallet):
    with _client(api) as client, _client(api, ip="203.0.113.7") as elsewhere:
        for _ in range(3):  # refused sign-ins count too
            assert client.post("/auth/verify", json={"message": "x", "signature": "0x"}).status_code == 400
        body = _sign_in_body(client, wallet())  # valid: only the limit stops it
        limited = _assert_limited(client.post("/auth/verify", json=body))
        assert "sign-in" in limited["detail"] and "3 per minute" in limited["detail"]
        assert _count(api, AuthSession) == 0
        assert elsewhere.post("/auth/verify", json=body).status_code == 200  # another IP; the nonce was not burnt
    assert _count(api, AuthSession) == 1


@pytest.mark.settings(rate_limit_nonce_per_ip="2/minute")
def test_authNonce_rateLimitedPerIp_nothingStored(api):
    with _client(api) as client, _client(api, ip="203.0.113.8") as elsewhere:
        assert all(client.get("/auth/nonce").status_code == 200 for _ in range(2))
        stored = _count(api, AuthNonce)
        _assert_limited(client.get("/auth/nonce"))
        assert _count(api, AuthNonce) == stored
        assert elsewhere.get("/auth/nonce").status_code == 200


@pytest.mark.settings(rate_limit_submissions_per_address="2/minute")
def test_submissions_rateLimitedPerAddress_acrossSessions_notOtherAddresses(api, wallet, make_project):
    project = make_project(tasks=3, overlap=2)
    alice, bob = wallet(), wallet()
    alice.sign_in(api).close()
    bob.sign_in(api).close()
    with _client(api, alice.token) as a, _client(api, bob.token) as b:
        offer = a.get("/tasks/next", params={"project_id": project["id"]}).json()
        assert a.post("/submissions", json={"nonsense": 1}).status_code == 400  # refused ones count too
        assert a.post("/submissions", json=alice.sign_submission(offer, CAT)).status_code == 201
        next_offer = a.get("/tasks/next", params={"project_id": project["id"]}).json()
        body = alice.sign_submission(next_offer, CAT)
        limited = _assert_limited(a.post("/submissions", json=body))
        assert "submission" in limited["detail"] and "by your address" in limited["detail"]
        assert _count(api, Submission) == 1
        # Another wallet from the same IP is not limited.
        bob_offer = b.get("/tasks/next", params={"project_id": project["id"]}).json()
        assert b.post("/submissions", json=bob.sign_submission(bob_offer, CAT)).status_code == 201
    # A new session of the same wallet shares the address's limit once the server knows the
    # session (from its first authenticated request).
    alice.sign_in(api).close()
    with _client(api, alice.token) as a2:
        assert a2.get("/me/quality").status_code == 200
        _assert_limited(a2.post("/submissions", json=body))
    assert _count(api, Submission) == 2


@pytest.mark.settings(rate_limit_tasks_per_address="2/minute")
def test_tasksNext_rateLimitedPerAddress(api, wallet, make_project):
    project = make_project(tasks=3, overlap=1)
    alice, bob = wallet(), wallet()
    alice.sign_in(api).close()
    bob.sign_in(api).close()
    with _client(api, alice.token) as a, _client(api, bob.token) as b:
        # The server learns a session's address on its first authenticated request (until then
        # the limit counts per session token): this one is not rate-limited per address.
        assert a.get("/me/quality").status_code == 200
        assert a.get("/tasks/next", params={"project_id": project["id"]}).status_code == 200
        assert a.get("/tasks/next", params={"project_id": project["id"]}).status_code == 200
        limited = _assert_limited(a.get("/tasks/next", params={"project_id": project["id"]}))
        assert "task" in limited["detail"]
        assert b.get("/tasks/next", params={"project_id": project["id"]}).status_code == 200
        # Without a token, or with one no session has, there is no wallet to count: such requests
        # are refused as unauthenticated (and counted per IP only), however many there are.
        with _client(api) as anonymous, _client(api, "not-a-session-token") as bogus:
            for _ in range(4):
                assert anonymous.get("/tasks/next", params={"project_id": project["id"]}).status_code == 401
                assert bogus.get("/tasks/next", params={"project_id": project["id"]}).status_code == 401


@pytest.mark.settings(rate_limit_tasks_per_ip="3/minute")
def test_tasksNext_rateLimitedPerIp_acrossWallets_nothingStored(api, wallet, make_project):
    """Wallets are free: fresh ones from one IP share its /tasks/next limit."""
    project = make_project(tasks=10, overlap=1)
    wallets = [wallet() for _ in range(5)]
    for w in wallets:
        w.sign_in(api).close()
    with _client(api, wallets[0].token, ip="203.0.113.7") as first:
        assert first.get("/tasks/next", params={"project_id": project["id"]}).status_code == 200
    for w in wallets[1:3]:
        with _client(api, w.token, ip="203.0.113.7") as c:
            assert c.get("/tasks/next", params={"project_id": project["id"]}).status_code == 200
    offered = _count(api, Assignment)
    with _client(api, wallets[3].token, ip="203.0.113.7") as c:
        limited = _assert_limited(c.get("/tasks/next", params={"project_id": project["id"]}))
    assert "task" in limited["detail"] and "IP" in limited["detail"]
    assert _count(api, Assignment) == offered
    with _client(api, wallets[4].token, ip="198.51.100.9") as elsewhere:
        assert elsewhere.get("/tasks/next", params={"project_id": project["id"]}).status_code == 200


@pytest.mark.settings(rate_limit_per_ip="5/minute")
def test_everyRequest_rateLimitedPerIp_butHealth(api):
    with _client(api) as client, _client(api, ip="198.51.100.4") as elsewhere:
        assert all(client.get("/chain").status_code == 200 for _ in range(5))
        for path in ("/chain", "/epochs", "/projects", "/openapi.json", "/no/such/path"):
            body = _assert_limited(client.get(path))
            assert "from your IP address" in body["detail"]
        _assert_limited(client.post("/submissions", json={}))
        assert client.get("/health").status_code == 200
        assert elsewhere.get("/chain").status_code == 200


@pytest.mark.settings(rate_limit_enabled=False, rate_limit_per_ip="1/minute", rate_limit_nonce_per_ip="1/minute")
def test_rateLimits_offWhenDisabled(api):
    with _client(api) as client:
        assert all(client.get("/auth/nonce").status_code == 200 for _ in range(5))
        assert "429" not in client.get("/openapi.json").json()["paths"]["/submissions"]["post"]["responses"]


def test_rateLimits_documentedInOpenApi_withRetryAfter(api):
    with _client(api) as client:
        spec = client.get("/openapi.json").json()
    response = spec["paths"]["/submissions"]["post"]["responses"]["429"]
    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    assert "Retry-After" in response["headers"]
    assert "429" not in spec["paths"]["/health"]["get"]["responses"]


def test_settings_refuseMalformedLimitsAndSyncStorage():
    assert Settings(rate_limit_per_ip="10/second;600/minute").rate_limit_per_ip == "10/second;600/minute"
    with pytest.raises(ValidationError, match="rate_limit_per_ip"):
        Settings(rate_limit_per_ip="lots")
    with pytest.raises(ValidationError, match="async storage"):
        Settings(rate_limit_storage_uri="memory://")
