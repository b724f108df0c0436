"""Rejections: every way the API refuses a submission, a sign-in or a requester's request answers
with the documented status, error code, human-readable detail and (where one input is at fault)
field, and stores nothing. Where it makes sense, the same annotator then succeeds with a valid
request on the same task with the same nonce, proving the rejection consumed neither."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import siwe
from eth_account import Account
from eth_keys import keys
from sqlalchemy import func, select, update

from labelshare.db.models import Assignment, AuthSession, Project, Submission, Task
from labelshare.domains import domain_id
from labelshare.labels import label_hash
from labelshare.signatures import Submission as SignedSubmission
from labelshare.signatures import SubmissionDomain
from labelshare.tasks import task_key

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
CAT, DOG = {"label": "cat"}, {"label": "dog"}
SPANS = {"type": "spans", "labels": ["PER", "ORG"]}
BOXES = {"type": "boxes", "labels": ["car", "person"]}
PAIRWISE = {"type": "pairwise"}
_ANY = object()


# ---------------------------------------------------------------------------------- helpers


def _client(api) -> httpx.Client:
    """Like ``api.client()``, without the TLS context (plain HTTP to localhost; building one costs
    ~50 ms; this file makes hundreds)."""
    return httpx.Client(base_url=api.url, timeout=30, verify=False)


def _count(api, model) -> int:
    with api.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def _assert_error(response, status: int, code: str, field: Any = _ANY) -> dict[str, Any]:
    """The error rendering: status, code, a human-readable detail and the field at fault."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error", "detail", "field"}, body
    assert body["error"] == code, body
    detail = body["detail"]
    assert isinstance(detail, str) and detail != code and " " in detail.strip() and len(detail) >= 10, body
    if field is not _ANY:
        assert body["field"] == field, body
    return body


def _with_signature(body: dict[str, Any], signature: str) -> dict[str, Any]:
    return body | {"signature": signature}


def _digest(body: dict[str, Any], annotator: str, domain: SubmissionDomain) -> bytes:
    return domain.digest(SignedSubmission(annotator, body["project_id"], bytes.fromhex(body["task_id"][2:]),
                                          bytes.fromhex(body["label_hash"][2:]), body["nonce"], body["deadline"]))


def _sign_for(signer: Account, annotator: str, offer: dict[str, Any], payload: Any, nonce: int) -> dict[str, Any]:
    """A submission body naming ``annotator`` but signed by ``signer``'s key."""
    deadline = int(time.time()) + 600
    digest = "0x" + label_hash(payload).hex()
    message = {"annotator": annotator, "projectId": offer["project_id"], "taskId": offer["task_id"],
               "labelHash": digest, "nonce": nonce, "deadline": deadline}
    typed = {"types": offer["eip712_types"], "primaryType": "Submission", "domain": offer["eip712_domain"],
             "message": message}
    signature = signer.sign_typed_data(full_message=typed).signature
    domain = offer["eip712_domain"]
    return {"project_id": offer["project_id"], "task_id": offer["task_id"], "payload": payload, "label_hash": digest,
            "nonce": nonce, "deadline": deadline, "chain_id": domain["chainId"],
            "verifying_contract": domain["verifyingContract"], "signature": "0x" + bytes(signature).hex()}


def _fresh_nonce(client) -> tuple[str, int]:
    return client.get("/auth/nonce").json()["nonce"], client.get("/chain").json()["chain_id"]


def _submit_ok(client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/submissions", json=body)
    assert response.status_code == 201, response.text
    return response.json()


# ---------------------------------------------------------------------- malformed signatures


def _not_hex(sig: str, body, domain) -> str:
    return "0x" + "zz" + sig[4:]


def _short(sig: str, body, domain) -> str:
    return sig[:2 + 64 * 2]


def _long(sig: str, body, domain) -> str:
    return sig + "00"


def _unrecoverable(sig: str, body, domain) -> str:
    # r = 5 is not the x-coordinate of a curve point: no public key recovers, whatever the digest.
    return "0x" + (5).to_bytes(32, "big").hex() + (1).to_bytes(32, "big").hex() + "1c"


def _garbage_other(sig: str, body, domain) -> str:
    # 65 bytes of garbage that happen to recover to some (random) address.
    return "0x" + "aa" * 32 + "11" * 32 + "1b"


def _v29(sig: str, body, domain) -> str:
    return sig[:-2] + "1d"


def _high_s_twin(sig: str, body, domain) -> str:
    raw = bytes.fromhex(sig[2:])
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    twin_s, twin_v = SECP256K1_N - s, 55 - v  # 27 <-> 28
    # The twin is a valid ECDSA signature of the same digest by the same key (the EIP-2 malleability).
    digest = _digest(body, body["_annotator"], domain)
    recovered = keys.Signature(vrs=(twin_v - 27, r, twin_s)).recover_public_key_from_msg_hash(digest)
    assert recovered.to_checksum_address() == body["_annotator"]
    return "0x" + raw[:32].hex() + twin_s.to_bytes(32, "big").hex() + bytes([twin_v]).hex()


@pytest.mark.parametrize(("mangle", "status", "code"), [
    pytest.param(_not_hex, 400, "invalid_signature", id="notHex"),
    pytest.param(_short, 400, "invalid_signature", id="64bytes"),
    pytest.param(_long, 400, "invalid_signature", id="66bytes"),
    pytest.param(_unrecoverable, 400, "invalid_signature", id="garbageRecoversToNothing"),
    pytest.param(_garbage_other, 403, "signer_mismatch", id="garbageRecoversToAnotherAddress"),
    pytest.param(_v29, 400, "invalid_signature", id="v29"),
    pytest.param(_high_s_twin, 400, "invalid_signature", id="highSMalleableTwin"),
])
def test_submissions_rejectedIfSignatureMalformed(api, make_project, annotator, mangle, status, code):
    project = make_project(tasks=1, overlap=1)
    w, client, offer = annotator(project["id"])
    body = w.sign_submission(offer, CAT)
    domain = SubmissionDomain(offer["eip712_domain"]["chainId"], offer["eip712_domain"]["verifyingContract"])
    bad = _with_signature(body, mangle(body["signature"], body | {"_annotator": w.address}, domain))

    _assert_error(client.post("/submissions", json=bad), status, code, field="signature")
    assert _count(api, Submission) == 0
    _submit_ok(client, body)  # same task, same nonce
    assert _count(api, Submission) == 1


# ---------------------------------------------------------------------------- signer mismatch


@pytest.mark.parametrize("case", ["anotherKeySignsTheSameMessage", "bodyOfAnotherAnnotator"])
def test_submissions_rejectedIfSignerMismatch(api, make_project, annotator, case):
    project = make_project(tasks=1, overlap=2)
    w, client, offer = annotator(project["id"])
    other, other_client, other_offer = annotator(project["id"])
    assert other_offer["task_id"] == offer["task_id"]
    nonce = secrets.randbits(53)
    if case == "anotherKeySignsTheSameMessage":
        # The message names the signed-in annotator, but another key signed it.
        bad, poster = _sign_for(other.account, w.address, offer, CAT, nonce), client
    else:
        # Annotator A's correctly signed body, posted with annotator B's session.
        bad, poster = w.sign_submission(offer, CAT, nonce=nonce), other_client

    body = _assert_error(poster.post("/submissions", json=bad), 403, "signer_mismatch", field="signature")
    assert "signature is by" in body["detail"]
    assert _count(api, Submission) == 0
    _submit_ok(client, w.sign_submission(offer, CAT, nonce=nonce))
    _submit_ok(other_client, other.sign_submission(other_offer, CAT, nonce=nonce))
    assert _count(api, Submission) == 2


# --------------------------------------------------------------------------------- deadline


@pytest.mark.parametrize(("offset", "code"), [
    pytest.param(-1, "deadline_expired", id="expired"),
    pytest.param(24 * 3600 + 600, "invalid_input", id="tooFarInTheFuture"),
])
def test_submissions_rejectedIfDeadlineOutOfRange(api, make_project, annotator, offset, code):
    project = make_project(tasks=1, overlap=1)
    w, client, offer = annotator(project["id"])
    nonce = secrets.randbits(53)
    bad = w.sign_submission(offer, CAT, nonce=nonce, deadline=int(time.time()) + offset)

    _assert_error(client.post("/submissions", json=bad), 400, code, field="deadline")
    assert _count(api, Submission) == 0
    _submit_ok(client, w.sign_submission(offer, CAT, nonce=nonce))
    assert _count(api, Submission) == 1


# ------------------------------------------------------------------------------------ nonce


def test_submissions_conflictIfNonceReusedOnAnotherTask(api, make_project, annotator):
    project = make_project(tasks=2, overlap=1)
    w, client, first = annotator(project["id"])
    nonce = secrets.randbits(53)
    _submit_ok(client, w.sign_submission(first, CAT, nonce=nonce))
    second = client.get("/tasks/next", params={"project_id": project["id"]}).json()
    assert second["task_id"] != first["task_id"]

    _assert_error(client.post("/submissions", json=w.sign_submission(second, CAT, nonce=nonce)), 409,
                  "nonce_reused", field="nonce")
    assert _count(api, Submission) == 1
    _submit_ok(client, w.sign_submission(second, CAT, nonce=nonce + 1))
    assert _count(api, Submission) == 2


# ----------------------------------------------------------------------------- EIP-712 domain


@pytest.mark.parametrize(("case", "code", "field"), [
    pytest.param("wrongChainId", "wrong_domain", "chain_id", id="wrongChainId"),
    pytest.param("wrongVerifyingContract", "wrong_domain", "verifying_contract", id="wrongVerifyingContract"),
    pytest.param("signedUnderAnotherChainId", "signer_mismatch", "signature", id="signedUnderAnotherChainId"),
])
def test_submissions_forbiddenIfWrongDomain(api, make_project, annotator, case, code, field):
    project = make_project(tasks=1, overlap=1)
    w, client, offer = annotator(project["id"])
    ours = offer["eip712_domain"]
    nonce = secrets.randbits(53)
    if case == "wrongChainId":
        bad = w.sign_submission(offer, CAT, nonce=nonce, domain=ours | {"chainId": 1})
        assert bad["chain_id"] == 1
    elif case == "wrongVerifyingContract":
        bad = w.sign_submission(offer, CAT, nonce=nonce, domain=ours | {"verifyingContract": Account.create().address})
    else:
        # The body claims our domain but the signature was made under chain 1: it recovers to
        # another address.
        bad = w.sign_submission(offer, CAT, nonce=nonce, domain=ours | {"chainId": 1}) | {"chain_id": ours["chainId"]}

    _assert_error(client.post("/submissions", json=bad), 403, code, field=field)
    assert _count(api, Submission) == 0
    _submit_ok(client, w.sign_submission(offer, CAT, nonce=nonce))
    assert _count(api, Submission) == 1


# ---------------------------------------------------------------------------------- payload


def test_submissions_rejectedIfLabelHashOfAnotherPayload(api, make_project, annotator):
    project = make_project(tasks=1, overlap=1)
    w, client, offer = annotator(project["id"])
    nonce = secrets.randbits(53)
    signed_cat = w.sign_submission(offer, CAT, nonce=nonce)

    _assert_error(client.post("/submissions", json=signed_cat | {"payload": DOG}), 400, "invalid_input",
                  field="label_hash")
    assert _count(api, Submission) == 0
    _submit_ok(client, w.sign_submission(offer, DOG, nonce=nonce))
    assert _count(api, Submission) == 1


def _upload(requester_client, project_id: int, rows: list[dict[str, Any]]) -> None:
    body = "".join(json.dumps(r) + "\n" for r in rows)
    response = requester_client.post(f"/projects/{project_id}/tasks?format=jsonl", content=body)
    assert response.status_code == 201, response.text


_SPAN = {"start": 0, "end": 4, "label": "PER"}
_BOX = {"x": 0, "y": 0, "w": 10, "h": 10, "label": "car"}


@pytest.mark.parametrize(("schema", "valid", "payload", "field"), [
    pytest.param(None, CAT, {"label": "cow"}, "payload.label", id="classificationLabelNotInSet"),
    pytest.param(None, CAT, {"label": "cat", "confidence": 1}, "payload.confidence", id="classificationExtraKey"),
    pytest.param(None, CAT, {"label": 1}, "payload.label", id="classificationLabelNotAString"),
    pytest.param(None, CAT, "cat", "payload", id="classificationNotAnObject"),
    pytest.param(SPANS, {"spans": [_SPAN]}, {"spans": [_SPAN | {"end": 7}]}, "payload.spans[0].end",
                 id="spanPastTextEnd"),
    pytest.param(SPANS, {"spans": [_SPAN]}, {"spans": [_SPAN, {"start": 2, "end": 6, "label": "ORG"}]},
                 "payload.spans[1].start", id="spansOverlap"),
    pytest.param(SPANS, {"spans": [_SPAN]}, {"spans": [_SPAN | {"start": "0"}]}, "payload.spans[0].start",
                 id="spanStartAsString"),
    pytest.param(BOXES, {"boxes": [_BOX]}, {"boxes": [_BOX | {"x": 50, "w": 60}]}, "payload.boxes[0].w",
                 id="boxPastWidth"),
    pytest.param(BOXES, {"boxes": [_BOX]}, {"boxes": [_BOX | {"y": 95, "h": 6}]}, "payload.boxes[0].h",
                 id="boxPastHeight"),
    pytest.param(PAIRWISE, {"choice": "a"}, {"choice": "tie"}, "payload.choice", id="pairwiseTieNotAllowed"),
])
def test_submissions_rejectedIfPayloadBreaksSchema(api, make_project, requester_client, annotator, schema, valid,
                                                   payload, field):
    if schema is None or schema is SPANS:
        project = make_project(tasks=1, overlap=1, schema=schema)  # task text "item 0": 6 characters
    else:
        project = make_project(tasks=0, overlap=1, schema=schema)
        data = {"width": 100, "height": 100} if schema is BOXES else {"a": "first answer", "b": "second answer"}
        _upload(requester_client, project["id"], [{"id": "t0", "data": data}])
    w, client, offer = annotator(project["id"])
    nonce = secrets.randbits(53)

    _assert_error(client.post("/submissions", json=w.sign_submission(offer, payload, nonce=nonce)), 400,
                  "schema_violation", field=field)
    assert _count(api, Submission) == 0
    _submit_ok(client, w.sign_submission(offer, valid, nonce=nonce))
    assert _count(api, Submission) == 1


@pytest.mark.settings(max_payload_bytes=200)
def test_submissions_payloadTooLargeIfLabelOverLimit(api, make_project, annotator):
    project = make_project(tasks=1, overlap=1)
    w, client, offer = annotator(project["id"])
    nonce = secrets.randbits(53)

    body = _assert_error(client.post("/submissions", json=w.sign_submission(offer, {"label": "x" * 300}, nonce=nonce)),
                         413, "payload_too_large", field="payload")
    assert "200" in body["detail"]
    assert _count(api, Submission) == 0
    _submit_ok(client, w.sign_submission(offer, CAT, nonce=nonce))
    assert _count(api, Submission) == 1


_BODY_LIMIT = 4096


@pytest.mark.settings(max_body_bytes=_BODY_LIMIT)
def test_submissions_payloadTooLargeIfRequestBodyOverLimit(api, make_project, annotator):
    project = make_project(tasks=1, overlap=1)
    w, client, offer = annotator(project["id"])
    body = w.sign_submission(offer, CAT)
    padded = (json.dumps(body) + " " * _BODY_LIMIT).encode()  # valid JSON, only too big

    response = client.post("/submissions", content=padded, headers={"Content-Type": "application/json"})
    _assert_error(response, 413, "payload_too_large", field=None)
    assert _count(api, Submission) == 0
    _submit_ok(client, body)
    assert _count(api, Submission) == 1


@pytest.mark.settings(max_body_bytes=_BODY_LIMIT)
def test_submissions_payloadTooLargeIfChunkedRequestBodyOverLimit(api, make_project, annotator):
    project = make_project(tasks=1, overlap=1)
    w, client, offer = annotator(project["id"])
    padded = (json.dumps(w.sign_submission(offer, CAT)) + " " * _BODY_LIMIT).encode()

    response = client.post("/submissions", content=iter([padded]),  # an iterator: Transfer-Encoding: chunked
                           headers={"Content-Type": "application/json"})
    _assert_error(response, 413, "payload_too_large", field=None)
    assert _count(api, Submission) == 0


# -------------------------------------------------------------------------------- task state


@pytest.mark.parametrize("case", ["unknownTask", "taskOfAnotherProject"])
def test_submissions_notFoundIfTaskNotInProject(api, make_project, annotator, case):
    project = make_project(tasks=1, overlap=1)
    w, client, offer = annotator(project["id"])
    if case == "unknownTask":
        wrong = offer | {"task_id": "0x" + secrets.token_hex(32)}
    else:
        other = make_project(tasks=1, overlap=1)
        wrong = offer | {"project_id": other["id"]}  # this project's task, signed as the other project's
    nonce = secrets.randbits(53)

    _assert_error(client.post("/submissions", json=w.sign_submission(wrong, CAT, nonce=nonce)), 404, "not_found",
                  field="task_id")
    assert _count(api, Submission) == 0
    _submit_ok(client, w.sign_submission(offer, CAT, nonce=nonce))
    assert _count(api, Submission) == 1


def test_submissions_conflictIfProjectClosed(api, make_project, annotator, requester_client, ledger):
    project = make_project(tasks=1, overlap=1)
    w, client, offer = annotator(project["id"])
    body = w.sign_submission(offer, CAT)
    closed = requester_client.post(f"/projects/{project['id']}/close")
    assert closed.status_code == 200 and closed.json()["open"] is False
    assert ledger.project(project["id"]).open is False  # closed on-chain too

    _assert_error(client.post("/submissions", json=body), 409, "conflict", field="task_id")
    assert _count(api, Submission) == 0
    assert requester_client.post(f"/projects/{project['id']}/open").status_code == 200
    _submit_ok(client, body)  # the same signed body, once the project is open again


def test_submissions_forbiddenIfAssignmentExpired(api, make_project, annotator):
    project = make_project(tasks=1, overlap=1)
    first, first_client, offer = annotator(project["id"])
    second, second_client, _ = annotator()
    # The first annotator idles past the assignment's lifetime: the task goes to the second.
    with api.sessions.begin() as s:
        s.execute(update(Assignment).where(Assignment.annotator == first.address)
                  .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    second_offer = second_client.get("/tasks/next", params={"project_id": project["id"]})
    assert second_offer.status_code == 200 and second_offer.json()["task_id"] == offer["task_id"]

    _assert_error(first_client.post("/submissions", json=first.sign_submission(offer, CAT)), 403,
                  "task_not_offered", field="task_id")
    assert _count(api, Submission) == 0
    _submit_ok(second_client, second.sign_submission(second_offer.json(), CAT))


def test_submissions_forbiddenIfTaskNotOffered(api, make_project, annotator):
    project = make_project(tasks=2, overlap=1)
    w, client, offer = annotator(project["id"])
    never_offered = task_key(project["id"], "t1" if offer["task_id"] == task_key(project["id"], "t0") else "t0")
    nonce = secrets.randbits(53)

    _assert_error(client.post("/submissions", json=w.sign_submission(offer | {"task_id": never_offered}, CAT,
                                                                        nonce=nonce)),
                  403, "task_not_offered", field="task_id")
    assert _count(api, Submission) == 0
    # Once offered, the same task and nonce go through (the first offer released: one open offer a project).
    assert client.delete(f"/tasks/{offer['task_id']}/offer").status_code == 204
    again = client.get("/tasks/next", params={"project_id": project["id"]}).json()
    assert again["task_id"] == never_offered
    _submit_ok(client, w.sign_submission(again, CAT, nonce=nonce))
    assert _count(api, Submission) == 1


def test_submissions_conflictIfAlreadySubmitted(api, make_project, annotator):
    project = make_project(tasks=2, overlap=3)  # overlap 3: the task stays open after one label
    w, client, offer = annotator(project["id"])
    _submit_ok(client, w.sign_submission(offer, CAT))
    nonce = secrets.randbits(53)

    _assert_error(client.post("/submissions", json=w.sign_submission(offer, DOG, nonce=nonce)), 409,
                  "already_submitted", field="task_id")
    assert _count(api, Submission) == 1
    with api.sessions() as s:
        assert s.scalar(select(Task.submission_count).where(Task.task_key == offer["task_id"])) == 1
    # The rejected attempt's nonce is still free.
    second = client.get("/tasks/next", params={"project_id": project["id"]}).json()
    _submit_ok(client, w.sign_submission(second, CAT, nonce=nonce))
    assert _count(api, Submission) == 2


def test_tasksNext_forbiddenIfSpecialistProjectWithoutQualification(api, make_project, annotator, ledger, qualifier):
    project = make_project(tasks=1, overlap=1, domain="medicine")
    w, client, _ = annotator()

    body = _assert_error(client.get("/tasks/next", params={"project_id": project["id"]}), 403, "task_not_offered",
                         field="project_id")
    assert "medicine" in body["detail"]
    assert _count(api, Assignment) == 0
    # Nor can the task be submitted without the offer.
    offer = {"project_id": project["id"], "task_id": task_key(project["id"], "t0"),
             **client.get("/chain").json()}
    nonce = secrets.randbits(53)
    _assert_error(client.post("/submissions", json=w.sign_submission(offer, CAT, nonce=nonce)), 403,
                  "task_not_offered", field="task_id")
    assert _count(api, Submission) == 0
    # Qualified on-chain, the same annotator is offered the task and submits with the same nonce.
    ledger.grantQualification(w.address, domain_id("medicine"), 1, b"\0" * 32, sender=qualifier)
    offered = client.get("/tasks/next", params={"project_id": project["id"]})
    assert offered.status_code == 200, offered.text
    _submit_ok(client, w.sign_submission(offered.json(), CAT, nonce=nonce))
    assert _count(api, Submission) == 1


# ------------------------------------------------------------------------------ authentication


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="noToken"),
    pytest.param({"Authorization": "Bearer " + secrets.token_urlsafe(32)}, id="bogusToken"),
])
def test_submissions_unauthenticatedIfNotSignedIn(api, make_project, annotator, headers):
    project = make_project(tasks=1, overlap=1)
    w, client, offer = annotator(project["id"])
    body = w.sign_submission(offer, CAT)

    with _client(api) as anonymous:
        _assert_error(anonymous.post("/submissions", json=body, headers=headers), 401, "unauthenticated", field=None)
        _assert_error(anonymous.get("/tasks/next", params={"project_id": project["id"]}, headers=headers), 401,
                      "unauthenticated", field=None)
    assert _count(api, Submission) == 0
    _submit_ok(client, body)
    assert _count(api, Submission) == 1


# --------------------------------------------------------------------------- request validation


def _set(key: str, value: Any):
    return lambda body: body | {key: value}


def _drop(key: str):
    return lambda body: {k: v for k, v in body.items() if k != key}


@pytest.mark.parametrize(("mutate", "field"), [
    pytest.param(_set("project_id", "abc"), "project_id", id="projectIdNotAnInteger"),
    pytest.param(_set("task_id", "0x1234"), "task_id", id="taskIdNot32Bytes"),
    pytest.param(_set("comment", "hi"), "comment", id="unknownField"),
    pytest.param(_drop("signature"), "signature", id="missingSignature"),
])
def test_submissions_invalidInputIfBodyFieldInvalid(api, make_project, annotator, mutate, field):
    project = make_project(tasks=1, overlap=1)
    w, client, offer = annotator(project["id"])
    body = w.sign_submission(offer, CAT)

    _assert_error(client.post("/submissions", json=mutate(body)), 400, "invalid_input", field=field)
    assert _count(api, Submission) == 0
    _submit_ok(client, body)
    assert _count(api, Submission) == 1


@pytest.mark.parametrize("content", [
    pytest.param(b'{"project_id": 1, "task_id": ', id="truncatedJson"),
    pytest.param(b"[]", id="jsonList"),
])
def test_submissions_invalidInputIfBodyNotASubmissionObject(api, make_project, annotator, content):
    project = make_project(tasks=1, overlap=1)
    w, client, offer = annotator(project["id"])

    body = _assert_error(client.post("/submissions", content=content, headers={"Content-Type": "application/json"}),
                         400, "invalid_input")
    assert _count(api, Submission) == 0
    _submit_ok(client, w.sign_submission(offer, CAT))
    assert body["field"] is None  # no single field is at fault (not the parser's character offset)


def test_tasksNext_invalidInputIfProjectIdNotAnInteger(api, annotator):
    _, client, _ = annotator()
    _assert_error(client.get("/tasks/next", params={"project_id": "abc"}), 400, "invalid_input", field="project_id")
    assert _count(api, Assignment) == 0


@pytest.mark.parametrize("project_id", [
    pytest.param(10**6, id="unknown"),
    pytest.param(2**31, id="over32Bits"),
    pytest.param(2**64, id="over64Bits"),
])
def test_tasksNext_notFoundIfProjectUnknown(api, annotator, project_id):
    _, client, _ = annotator()
    _assert_error(client.get("/tasks/next", params={"project_id": project_id}), 404, "not_found", field="project_id")
    assert _count(api, Assignment) == 0


# ------------------------------------------------------------------------------------ sign-in


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def _siwe_wrong_domain(w, nonce, chain_id):
    message = w.siwe_message(nonce, chain_id, domain="evil.example")
    return message, w.sign_text(message)


def _siwe_wrong_chain(w, nonce, chain_id):
    message = w.siwe_message(nonce, chain_id + 1)
    return message, w.sign_text(message)


def _siwe_too_old(w, nonce, chain_id):
    message = w.siwe_message(nonce, chain_id, issued_at=_iso(-timedelta(hours=1)))
    return message, w.sign_text(message)


def _siwe_future(w, nonce, chain_id):
    message = w.siwe_message(nonce, chain_id, issued_at=_iso(timedelta(hours=1)))
    return message, w.sign_text(message)


def _siwe_expired(w, nonce, chain_id):
    message = siwe.SiweMessage(
        domain="localhost:8000", address=w.address, uri="http://localhost:8000", version="1", chain_id=chain_id,
        nonce=nonce, issued_at=_iso(-timedelta(seconds=30)), expiration_time=_iso(-timedelta(seconds=5)),
    ).prepare_message()
    return message, w.sign_text(message)


def _siwe_other_key(w, nonce, chain_id):
    message = w.siwe_message(nonce, chain_id)
    return message, w.__class__().sign_text(message)


def _siwe_garbage_message(w, nonce, chain_id):
    return "let me in", w.sign_text("let me in")


def _siwe_zero_signature(w, nonce, chain_id):
    return w.siwe_message(nonce, chain_id), "0x" + "00" * 65




@pytest.fixture
def anonymous(api):
    with _client(api) as client:
        yield client


def _verify(client, signer, message: str, signature: str | None = None):
    signature = signer.sign_text(message) if signature is None else signature
    return client.post("/auth/verify", json={"message": message, "signature": signature})


@pytest.mark.parametrize(("make", "status", "code", "field"), [
    pytest.param(_siwe_wrong_domain, 403, "wrong_domain", "message", id="wrongDomain"),
    pytest.param(_siwe_wrong_chain, 403, "wrong_domain", "message", id="wrongChainId"),
    pytest.param(_siwe_too_old, 400, "invalid_input", "message", id="issuedAnHourAgo"),
    pytest.param(_siwe_future, 400, "invalid_input", "message", id="issuedInTheFuture"),
    pytest.param(_siwe_expired, 400, "invalid_input", "message", id="expirationTimePassed"),
    pytest.param(_siwe_other_key, 400, "invalid_signature", "signature", id="signedByAnotherKey"),
    pytest.param(_siwe_zero_signature, 400, "invalid_signature", "signature", id="signatureRecoversNoKey"),
    pytest.param(_siwe_garbage_message, 400, "invalid_input", "message", id="garbageMessage"),
])
def test_authVerify_rejectedIfMessageOrSignatureInvalid(api, anonymous, wallet, make, status,
                                                        code, field):
    w = wallet()
    nonce, chain_id = _fresh_nonce(anonymous)
    message, signature = make(w, nonce, chain_id)

    _assert_error(_verify(anonymous, w, message, signature), status, code, field=field)
    assert _count(api, AuthSession) == 0
    # The nonce was not burnt: a correct sign-in with it goes through.
    assert _verify(anonymous, w, w.siwe_message(nonce, chain_id)).status_code == 200
    assert _count(api, AuthSession) == 1


@pytest.mark.settings(siwe_max_age_seconds=5)
def test_authVerify_rejectedIfIssuedAtOlderThanConfiguredMaxAge(api, anonymous, wallet):
    w = wallet()
    nonce, chain_id = _fresh_nonce(anonymous)
    message = w.siwe_message(nonce, chain_id, issued_at=_iso(-timedelta(seconds=30)))

    body = _assert_error(_verify(anonymous, w, message), 400, "invalid_input", field="message")
    assert "5s" in body["detail"]
    assert _count(api, AuthSession) == 0
    assert _verify(anonymous, w, w.siwe_message(nonce, chain_id)).status_code == 200


def test_authVerify_forbiddenIfNonceReused(api, anonymous, wallet):
    w = wallet()
    nonce, chain_id = _fresh_nonce(anonymous)
    assert _verify(anonymous, w, w.siwe_message(nonce, chain_id)).status_code == 200
    assert _count(api, AuthSession) == 1

    for signer in (w, wallet()):  # the same address again, and another address
        _assert_error(_verify(anonymous, signer, signer.siwe_message(nonce, chain_id)), 403, "forbidden",
                      field="message")
    assert _count(api, AuthSession) == 1


def test_authVerify_forbiddenIfNonceUnknown(api, anonymous, wallet):
    w = wallet()
    _, chain_id = _fresh_nonce(anonymous)

    _assert_error(_verify(anonymous, w, w.siwe_message(secrets.token_hex(8), chain_id)), 403, "forbidden",
                  field="message")
    assert _count(api, AuthSession) == 0


@pytest.mark.settings(siwe_nonce_ttl_seconds=0)
def test_authVerify_forbiddenIfNonceExpired(api, anonymous, wallet):
    w = wallet()
    nonce, chain_id = _fresh_nonce(anonymous)  # expires as it is issued

    _assert_error(_verify(anonymous, w, w.siwe_message(nonce, chain_id)), 403, "forbidden", field="message")
    assert _count(api, AuthSession) == 0


def test_authVerify_invalidInputIfMessageMissing(api, anonymous):
    _assert_error(anonymous.post("/auth/verify", json={"signature": "0x00"}), 400, "invalid_input", field="message")
    assert _count(api, AuthSession) == 0


# ------------------------------------------------------------------------------------ requester


_PROJECT = {"name": "Pets", "instructions": "What animal is it?", "domain": "general",
            "label_schema": {"type": "classification", "labels": ["cat", "dog"]}, "reward_per_label": str(10**18),
            "overlap": 3, "gold_rate": 0.0}


def test_projects_forbiddenIfNotARequester(api, annotator, ledger):
    _, client, _ = annotator()
    registered = ledger.projectCount()
    body = _assert_error(client.post("/projects", json=_PROJECT), 403, "forbidden", field=None)
    assert "not a requester" in body["detail"]
    assert _count(api, Project) == 0
    assert ledger.projectCount() == registered


@pytest.mark.parametrize(("change", "field"), [
    pytest.param({"overlap": 0}, "overlap", id="overlapZero"),
    pytest.param({"domain": "astrology"}, "domain", id="unknownDomain"),
    pytest.param({"reward_per_label": "0"}, "reward_per_label", id="rewardZero"),
    pytest.param({"label_schema": {"type": "classification", "labels": ["cat"]}},
                 "label_schema.classification.labels", id="schemaWithOneLabel"),
])
def test_projects_invalidInputIfFieldInvalid(api, requester_client, ledger, change, field):
    registered = ledger.projectCount()
    _assert_error(requester_client.post("/projects", json=_PROJECT | change), 400, "invalid_input", field=field)
    assert _count(api, Project) == 0
    assert ledger.projectCount() == registered  # nor registered on-chain
    assert requester_client.post("/projects", json=_PROJECT).status_code == 201


def _jsonl(*rows: Any) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


@pytest.mark.parametrize(("fmt", "gold", "content", "rows"), [
    pytest.param("jsonl", False, _jsonl({"id": "n1", "data": {"text": "a"}}, '{"id": "n2", "data": ',
                                        {"id": "n1", "data": {"text": "b"}}, {"id": "n3"},
                                        {"id": "t0", "data": {"text": "c"}}, {"id": "", "data": {}},
                                        {"id": "n4", "data": "text"}, [1, 2],
                                        {"id": "n5", "data": {"text": "d"}, "gold": CAT}),
                 [(2, "line"), (3, "id"), (4, "data"), (5, "id"), (6, "id"), (7, "data"), (8, "row"), (9, "gold")],
                 id="jsonl"),
    pytest.param("json", False, json.dumps([{"id": "n1", "data": {}}, "n2", {"data": {}}, {"id": "n1", "data": {}}]),
                 [(2, "row"), (3, "id"), (4, "id")], id="json"),
    pytest.param("csv", False, "id,text\nn1,a\n,b\nn1,c\n", [(3, "id"), (4, "id")], id="csv"),  # file lines
    pytest.param("jsonl", True, _jsonl({"id": "g1", "data": {"text": "a"}}), [(1, "gold")],
                 id="goldWithoutAnswer"),
    pytest.param("jsonl", True, _jsonl({"id": "g1", "data": {"text": "a"}, "gold": {"label": "cow"}},
                                       {"id": "g2", "data": {"text": "b"}, "gold": CAT}),
                 [(1, "gold.payload.label")], id="goldAnswerBreaksSchema"),
    pytest.param("csv", True, 'id,text,gold\ng1,a,{not json\ng2,b,"{""label"": ""cat""}"\n', [(2, "gold")],
                 id="csvGoldNotJson"),
])
def test_projectTasks_invalidRowsIfAnyRowBad(api, make_project, requester_client, fmt, gold, content, rows):
    project = make_project(tasks=1, overlap=1)  # t0 exists
    before = _count(api, Task)

    response = requester_client.post(f"/projects/{project['id']}/tasks", params={"format": fmt, "gold": gold},
                                     content=content)
    body = _assert_error(response, 400, "invalid_rows", field=None)
    assert [(r["row"], r["field"]) for r in body["rows"]] == rows, body["rows"]
    assert all(isinstance(r["message"], str) and " " in r["message"] for r in body["rows"])
    assert f"{len(rows)} of" in body["detail"]
    assert _count(api, Task) == before  # all or nothing


def test_projectTasks_invalidRowsReportLineNumbersIfBlankLines(api, make_project, requester_client):
    project = make_project(tasks=0, overlap=1)
    content = _jsonl({"id": "n1", "data": {}}) + "\n" + _jsonl({"id": "n1", "data": {}}, "not json")

    body = _assert_error(requester_client.post(f"/projects/{project['id']}/tasks?format=jsonl", content=content), 400,
                         "invalid_rows", field=None)
    assert [(r["row"], r["field"]) for r in body["rows"]] == [(3, "id"), (4, "line")], body["rows"]
    assert _count(api, Task) == 0


@pytest.mark.parametrize(("fmt", "content"), [
    pytest.param("json", '{"id": "n1", "data": {}}', id="jsonNotAList"),
    pytest.param("csv", "name,text\nn1,a\n", id="csvWithoutIdColumn"),
    pytest.param("jsonl", "", id="emptyFile"),
])
def test_projectTasks_invalidInputIfFileUnreadable(api, make_project, requester_client, fmt, content):
    # A file that cannot be read as a whole is one error on field "file", not a per-row report.
    project = make_project(tasks=1, overlap=1)
    before = _count(api, Task)

    response = requester_client.post(f"/projects/{project['id']}/tasks", params={"format": fmt}, content=content)
    _assert_error(response, 400, "invalid_input", field="file")
    assert _count(api, Task) == before


_REQUESTER_A, _REQUESTER_B = Account.create(), Account.create()


# Lower case: the settings fixture applies overrides with model_copy, which skips Settings'
# lower-casing validator, and requester checks compare lower-cased addresses.
@pytest.mark.settings(requesters=f"{_REQUESTER_A.address},{_REQUESTER_B.address}".lower())
def test_projectTasks_forbiddenIfAnotherRequestersProject(api, wallet, annotator):
    owner, other = wallet(_REQUESTER_A).sign_in(api), wallet(_REQUESTER_B).sign_in(api)
    _, stranger, _ = annotator()
    with owner, other:
        created = owner.post("/projects", json=_PROJECT)
        assert created.status_code == 201, created.text
        project_id = created.json()["id"]
        rows = _jsonl({"id": "t0", "data": {"text": "a"}})

        body = _assert_error(other.post(f"/projects/{project_id}/tasks?format=jsonl", content=rows), 403, "forbidden",
                             field="project_id")
        assert "another requester" in body["detail"]
        # Only the owner exports every label; anyone else needs a licence to a dataset version.
        refused = _assert_error(other.get(f"/projects/{project_id}/export"), 403, "forbidden", field="version")
        assert "buy a licence" in refused["detail"]
        _assert_error(stranger.post(f"/projects/{project_id}/tasks?format=jsonl", content=rows), 403, "forbidden",
                      field=None)
        assert _count(api, Task) == 0
        assert owner.post(f"/projects/{project_id}/tasks?format=jsonl", content=rows).status_code == 201
    assert _count(api, Task) == 1
