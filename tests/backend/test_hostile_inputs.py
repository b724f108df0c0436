"""Hostile inputs: each is refused with a clear 4xx — ``{"error", "detail", "field"}``, the field
where one input is at fault — and stores nothing (rows counted before and after), and the server
answers the next, valid request as usual.

``test_rejections.py`` already covers, and this module does not repeat: signatures that are not
hex, 64 or 66 bytes, unrecoverable, v=29 or the high-s twin; another signer; an expired deadline
and one too far out; a nonce reused on another task; a wrong chain id or verifying contract (and
a body signed under another chain); a label hash of another payload; schema violations; a label
over ``max_payload_bytes``; a body over ``max_body_bytes`` (declared and chunked); truncated JSON
and a JSON list to ``/submissions``; SIWE messages for another domain or chain, issued an hour
ago or in the future, expired, signed by another key, a zero signature, garbage; a SIWE nonce
reused, unknown or expired; requests without a valid session. Added here:

- bodies: malformed JSON to ``/auth/verify``; not UTF-8; NUL bytes; a 5,000-digit integer; NaN;
  wrong types and out-of-range numbers field by field; a 10 MB body to ``/submissions`` and
  ``/auth/verify`` (declared and chunked) and a task import over its own 20 MiB limit;
- JSON nested 10,000 levels deep (payload, sign-in, task import), and the 64-level boundary;
- Unicode: escaped lone surrogates (``"\\ud800"``) and NUL (``"\\u0000"``) in a payload, a
  signed field that is echoed in the error, a SIWE message, a project, a task import; a valid
  surrogate pair; bidi and zero-width characters; non-NFC forms; very long labels;
- signatures of 0 bytes, empty, odd-length hex, over 200 characters; SIWE signatures of 0, 64
  and 66 bytes or not hex;
- replays of an accepted submission (sequential, from a second session, and concurrent);
  deadlines at now, 0, negative and 2^256-1; a chain id of 0 and past 2^256; a verifying
  contract that is no address;
- SIWE: look-alike domains, a not-before in the future, a nonce used by two sign-ins at once.

**Labels are compared code point for code point** (byte-exact over UTF-8): a label must be one
of the project's labels exactly as ``/tasks/next`` returns them. The server normalises nothing —
no Unicode normalisation (NFC "café" and NFD "cafe\\u0301" are different labels), no case
folding, no trimming, no stripping of zero-width or bidi characters — because ``label_hash`` is
keccak256 of the RFC 8785 canonical form of the payload *as the annotator signed it*, and RFC 8785
does not normalise either; normalising on one side would make valid signatures fail to verify.
A look-alike label (``"c\\u200bat"``, ``"\\u202ecat"``) is simply not in the label set and is
refused as ``schema_violation``. What no text may hold is a lone surrogate or NUL: those are
refused for every body (``labelshare.api.input_guard``).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import siwe
from sqlalchemy import func, select

from labelshare.db.models import AuthSession, Project, Submission, Task

CAT = {"label": "cat"}
MB = 1024 * 1024
_ANY = object()


# ---------------------------------------------------------------------------------- helpers


def _client(api, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=api.url, timeout=60, verify=False, headers=headers)


def _counts(api) -> dict[str, int]:
    with api.sessions() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m))
                for m in (Submission, AuthSession, Task, Project)}


def _assert_error(response: httpx.Response, status: int, code: str, field: Any = _ANY, case: str = "") -> dict:
    assert response.status_code == status, (case, response.status_code, response.text[:500])
    body = response.json()
    assert set(body) >= {"error", "detail", "field"}, (case, body)
    assert body["error"] == code, (case, body)
    detail = body["detail"]
    assert isinstance(detail, str) and " " in detail.strip() and len(detail) >= 10, (case, body)
    if field is not _ANY:
        assert body["field"] == field, (case, body)
    return body


def _post_raw(client: httpx.Client, path: str, content: bytes | Any, content_type: str = "application/json"):
    return client.post(path, content=content, headers={"Content-Type": content_type})


def _raw_json(body: dict[str, Any], **replace: str) -> bytes:
    """``body`` as JSON text with some values replaced by raw JSON text (escapes kept as sent)."""
    text = json.dumps({k: (f"@@{k}@@" if k in replace else v) for k, v in body.items()})
    for key, raw in replace.items():
        text = text.replace(f'"@@{key}@@"', raw)
    return text.encode()


@pytest.fixture
def offered(make_project, annotator):
    """A one-task project, and an annotator holding the offer of its task."""
    project = make_project(tasks=1, overlap=1)
    return annotator(project["id"])


def _submit_ok(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/submissions", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _project(requester_client, labels: list[str], name: str = "Pets") -> dict[str, Any]:
    response = requester_client.post("/projects", json={
        "name": name, "instructions": "What is it?", "domain": "general",
        "label_schema": {"type": "classification", "labels": labels}, "reward_per_label": str(10**18), "overlap": 1,
        "gold_rate": 0.0})
    assert response.status_code == 201, response.text
    project = response.json()
    upload = requester_client.post(f"/projects/{project['id']}/tasks?format=jsonl",
                                   content='{"id": "t0", "data": {"text": "item"}}\n')
    assert upload.status_code == 201, upload.text
    return project


# -------------------------------------------------------------------------- malformed bodies


def test_submissions_invalidInputIfBodyUnparsableOrWronglyTyped(api, offered):
    w, client, offer = offered
    body = w.sign_submission(offer, CAT)
    text = json.dumps(body).encode()
    before = _counts(api)
    cases: list[tuple[str, bytes, str, Any, str]] = [  # name, body, code, field, content type
        ("notUtf8", text.replace(b'"cat"', b'"\xff\xfe"'), "invalid_input", None, "application/json"),
        ("rawSurrogateBytes", text.replace(b'"cat"', b'"\xed\xa0\x80"'), "invalid_input", None, "application/json"),
        ("nulByte", text.replace(b'"cat"', b'"c\x00at"'), "invalid_input", None, "application/json"),
        ("integerOf5000Digits", _raw_json(body, nonce="9" * 5000), "invalid_input", None, "application/json"),
        ("nonceNaN", _raw_json(body, nonce="NaN"), "invalid_input", "nonce", "application/json"),
        ("payloadNaN", _raw_json(body, payload='{"label": NaN}'), "schema_violation", "payload", "application/json"),
        ("payloadInfinity", _raw_json(body, payload='{"label": Infinity}'), "schema_violation", "payload",
         "application/json"),
        ("textPlain", text, "invalid_input", None, "text/plain"),
        ("emptyBody", b"", "invalid_input", None, "application/json"),
        ("jsonString", b'"submission"', "invalid_input", None, "application/json"),
        ("nonceAsList", _raw_json(body, nonce="[1]"), "invalid_input", "nonce", "application/json"),
        ("nonceNegative", _raw_json(body, nonce="-1"), "invalid_input", "nonce", "application/json"),
        ("nonce2pow256", _raw_json(body, nonce=str(2**256)), "invalid_input", "nonce", "application/json"),
        ("deadlineNull", _raw_json(body, deadline="null"), "invalid_input", "deadline", "application/json"),
        ("deadlineNegative", _raw_json(body, deadline="-1"), "invalid_input", "deadline", "application/json"),
        ("chainIdNotANumber", _raw_json(body, chain_id='"mainnet"'), "invalid_input", "chain_id", "application/json"),
        ("chainIdZero", _raw_json(body, chain_id="0"), "invalid_input", "chain_id", "application/json"),
        ("signatureNumber", _raw_json(body, signature="123"), "invalid_input", "signature", "application/json"),
        ("signatureObject", _raw_json(body, signature='{"r": 1}'), "invalid_input", "signature", "application/json"),
        ("contractNumber", _raw_json(body, verifying_contract="12"), "invalid_input", "verifying_contract",
         "application/json"),
        ("payloadMissing", json.dumps({k: v for k, v in body.items() if k != "payload"}).encode(), "invalid_input",
         "payload", "application/json"),
    ]
    for name, content, code, field, content_type in cases:
        _assert_error(_post_raw(client, "/submissions", content, content_type), 400, code, field, case=name)
    assert _counts(api) == before
    _submit_ok(client, body)  # same task, same nonce: nothing was consumed


def test_authVerify_invalidInputIfBodyUnparsableOrWronglyTyped(api, wallet):
    w = wallet()
    with _client(api) as client:
        nonce, chain_id = client.get("/auth/nonce").json()["nonce"], client.get("/chain").json()["chain_id"]
        message = w.siwe_message(nonce, chain_id)
        good = {"message": message, "signature": w.sign_text(message)}
        text = json.dumps(good).encode()
        cases = [
            ("truncatedJson", text[: len(text) // 2], None),
            ("notUtf8", text.replace(b"Sign in", b"Sign \xc3\x28in"), None),
            ("nulByte", text.replace(b"Sign in", b"Sign\x00in"), None),
            ("jsonList", b"[]", None),
            ("messageNumber", _raw_json(good, message="123"), "message"),
            ("messageList", _raw_json(good, message='["a"]'), "message"),
            ("signatureNull", _raw_json(good, signature="null"), "signature"),
            ("signatureMissing", json.dumps({"message": message}).encode(), "signature"),
        ]
        for name, content, field in cases:
            _assert_error(_post_raw(client, "/auth/verify", content), 400, "invalid_input", field, case=name)
        assert _counts(api)["AuthSession"] == 0
        # The nonce was not burnt by any of them.
        assert client.post("/auth/verify", json=good).status_code == 200


# ------------------------------------------------------------------------------ huge bodies


def _ten_mb_json(key: str) -> bytes:
    return b'{"' + key.encode() + b'": "' + b"x" * (10 * MB) + b'"}'


@pytest.mark.parametrize("chunked", [False, True], ids=["declaredLength", "chunked"])
def test_submissionsAndAuthVerify_payloadTooLargeIf10MbBody(api, offered, chunked):
    w, client, offer = offered
    before = _counts(api)
    for path, key in (("/submissions", "payload"), ("/auth/verify", "message")):
        content = _ten_mb_json(key)
        response = _post_raw(client, path, iter([content[i:i + MB] for i in range(0, len(content), MB)]) if chunked
                             else content)
        body = _assert_error(response, 413, "payload_too_large", None, case=path)
        assert str(api.app.state.settings.max_body_bytes) in body["detail"]
    assert _counts(api) == before
    _submit_ok(client, w.sign_submission(offer, CAT))


@pytest.mark.parametrize("chunked", [False, True], ids=["declaredLength", "chunked"])
def test_projectTasks_payloadTooLargeIfFileOverImportLimit(api, make_project, requester_client, chunked):
    project = make_project(tasks=0, overlap=1)
    limit = api.app.state.settings.max_import_bytes
    lines = [b'{"id": "t%d", "data": {"text": "%s"}}\n' % (i, b"x" * 1000) for i in range(limit // 1000 + 2)]
    rows = b"".join(lines)
    assert len(rows) > limit
    content = iter([rows[i:i + MB] for i in range(0, len(rows), MB)]) if chunked else rows
    before = _counts(api)

    response = requester_client.post(f"/projects/{project['id']}/tasks?format=jsonl", content=content)
    body = _assert_error(response, 413, "payload_too_large", None)
    assert str(limit) in body["detail"]
    assert _counts(api) == before
    ok = requester_client.post(f"/projects/{project['id']}/tasks?format=jsonl", content=b"".join(lines[:10]))
    assert ok.status_code == 201 and ok.json()["created"] == 10, ok.text


# ----------------------------------------------------------------------------- deep nesting


def _deep(levels: int, leaf: str = '"cat"', kind: str = "array") -> str:
    if kind == "array":
        return "[" * levels + leaf + "]" * levels
    return '{"a": ' * levels + leaf + "}" * levels


@pytest.mark.parametrize("kind", ["array", "object"])
def test_deeplyNestedJson_invalidInputNotAServerError(api, offered, requester_client, kind):
    w, client, offer = offered
    body = w.sign_submission(offer, CAT)
    deep = _deep(10_000, kind=kind)
    before = _counts(api)

    _assert_error(_post_raw(client, "/submissions", _raw_json(body, payload=deep)), 400, "invalid_input", None,
                  case="payload")
    _assert_error(_post_raw(client, "/auth/verify", _raw_json({"message": "m", "signature": "s"}, message=deep)),
                  400, "invalid_input", None, case="signIn")
    _assert_error(_post_raw(client, "/auth/verify", deep.encode()), 400, "invalid_input", None, case="signInBody")
    line = '{"id": "deep", "data": {"x": ' + deep + "}}\n"
    for fmt, content in (("jsonl", line), ("json", "[" + line + "]")):
        _assert_error(requester_client.post(f"/projects/{offer['project_id']}/tasks?format={fmt}", content=content),
                      400, "invalid_input", None, case=f"import {fmt}")
    assert _counts(api) == before
    _submit_ok(client, w.sign_submission(offer, CAT))


def test_projectTasks_dataNestedAtTheLimitIsImportedAndOffered_oneLevelMoreRefused(api, make_project,
                                                                                    requester_client, annotator):
    project = make_project(tasks=0, overlap=1)
    limit = api.app.state.settings.max_json_depth
    # The row object and "data" take two levels.
    at_limit = '{"id": "ok", "data": {"x": ' + _deep(limit - 2, "1") + "}}\n"
    over = '{"id": "deep", "data": {"x": ' + _deep(limit - 1, "1") + "}}\n"

    body = _assert_error(requester_client.post(f"/projects/{project['id']}/tasks?format=jsonl", content=over), 400,
                         "invalid_input", None)
    assert f"{limit} levels" in body["detail"]
    assert _counts(api)["Task"] == 0
    assert requester_client.post(f"/projects/{project['id']}/tasks?format=jsonl", content=at_limit).status_code == 201
    _, _, offer = annotator(project["id"])  # read back and served as stored
    assert json.dumps(offer["data"]["x"]).count("[") == limit - 2


# ---------------------------------------------------------------------------------- unicode


def test_loneSurrogateOrNulEscapes_invalidInputEverywhere(api, offered, requester_client, wallet):
    w, client, offer = offered
    body = w.sign_submission(offer, CAT)
    before = _counts(api)
    project_json = json.dumps({"name": "@@", "instructions": "x", "domain": "general", "reward_per_label": "1",
                               "label_schema": {"type": "classification", "labels": ["a", "b"]}, "overlap": 1})
    for escape in ("\\ud800", "\\udfff", "\\ud83d\\ud83d", "\\u0000"):
        what = "NUL" if escape == "\\u0000" else "surrogate"
        cases = {
            "payloadLabel": (client, "/submissions", _raw_json(body, payload=f'{{"label": "{escape}"}}')),
            "payloadKey": (client, "/submissions", _raw_json(body, payload=f'{{"{escape}": "cat"}}')),
            # Echoed in the 403 detail if it got that far: the rendering must not break on it.
            "verifyingContract": (client, "/submissions", _raw_json(body, verifying_contract=f'"0x{escape}"')),
            "siweMessage": (client, "/auth/verify", _raw_json({"message": "m", "signature": "0x00"},
                                                              message=f'"{escape} wants you to sign in"')),
            "projectName": (requester_client, "/projects", project_json.replace("@@", f"P{escape}").encode()),
            "importData": (requester_client, f"/projects/{offer['project_id']}/tasks?format=jsonl",
                           f'{{"id": "u1", "data": {{"text": "a{escape}b"}}}}\n'.encode()),
            "importId": (requester_client, f"/projects/{offer['project_id']}/tasks?format=json",
                         f'[{{"id": "{escape}", "data": {{"text": "a"}}}}]'.encode()),
        }
        for name, (poster, path, content) in cases.items():
            response = _post_raw(poster, path, content)
            detail = _assert_error(response, 400, "invalid_input", None, case=f"{name} {escape}")["detail"]
            assert what in detail, detail
    # A NUL byte in a CSV import (csv itself would take it; PostgreSQL would not).
    _assert_error(requester_client.post(f"/projects/{offer['project_id']}/tasks?format=csv",
                                        content=b"id,text\nn1,a\x00b\n"), 400, "invalid_input", None, case="csvNul")
    assert _counts(api) == before
    # Text that merely looks like an escape is fine: an escaped backslash before "ud800".
    ok = requester_client.post(f"/projects/{offer['project_id']}/tasks?format=jsonl",
                               content=b'{"id": "literal", "data": {"text": "\\\\ud800 and \\\\u0000"}}\n')
    assert ok.status_code == 201, ok.text
    _submit_ok(client, body)


def test_surrogatePairEscapeIsAValidLabel(api, requester_client, annotator):
    project = _project(requester_client, ["\U0001F600", "\U0001F622"])  # 😀 😢
    w, client, offer = annotator(project["id"])
    body = w.sign_submission(offer, {"label": "\U0001F600"})
    # Sent as ASCII JSON: the emoji as the escaped pair "\ud83d\ude00", as Python's json.dumps writes it.
    content = json.dumps(body, ensure_ascii=True).encode()
    assert b"\\ud83d\\ude00" in content
    response = _post_raw(client, "/submissions", content)
    assert response.status_code == 201, response.text


def test_labelsComparedCodePointForCodePoint_lookAlikesAndOtherFormsRefused(api, requester_client, annotator):
    cafe_nfc = "caf\u00e9"
    assert unicodedata.is_normalized("NFC", cafe_nfc)
    rtl = "\u05d7\u05ea\u05d5\u05dc"  # a right-to-left label is as valid as any
    project = _project(requester_client, [cafe_nfc, "cat", rtl])
    w, client, offer = annotator(project["id"])
    nonce = secrets.randbits(53)
    before = _counts(api)
    for name, label in [
        ("nfd", unicodedata.normalize("NFD", cafe_nfc)),  # "cafe\u0301": the same text to a reader
        ("nfkcLookAlike", "c\uff41t"),  # fullwidth a
        ("zeroWidthSpace", "c\u200bat"),
        ("zeroWidthJoiner", "cat\u200d"),
        ("bidiOverride", "\u202ecat"),
        ("rtlMarkAround", f"\u200f{rtl}"),
        ("trailingSpace", "cat "),
        ("upperCase", "CAT"),
        ("byteOrderMark", "\ufeffcat"),
    ]:
        response = client.post("/submissions", json=w.sign_submission(offer, {"label": label}, nonce=nonce))
        body = _assert_error(response, 400, "schema_violation", "payload.label", case=name)
        assert "is not one of" in body["detail"], body
    assert _counts(api) == before
    _submit_ok(client, w.sign_submission(offer, {"label": cafe_nfc}, nonce=nonce))


def test_veryLongLabels_refused(api, requester_client, annotator):
    project = _project(requester_client, ["cat", "dog"])
    w, client, offer = annotator(project["id"])
    nonce = secrets.randbits(53)
    limit = api.app.state.settings.max_payload_bytes
    before = _counts(api)

    # Over the payload limit (but within the body limit): 413 on the payload.
    body = _assert_error(client.post("/submissions", json=w.sign_submission(offer, {"label": "x" * 100_000},
                                                                              nonce=nonce)),
                         413, "payload_too_large", "payload")
    assert str(limit) in body["detail"]
    # Just under it: a label that is simply not in the set (and the detail does not echo 16 KB).
    body = _assert_error(client.post("/submissions", json=w.sign_submission(offer, {"label": "x" * (limit - 20)},
                                                                              nonce=nonce)),
                         400, "schema_violation", "payload.label")
    assert len(body["detail"]) <= 1000 and body["detail"].endswith("…"), body["detail"]
    # A project label over 64 characters is refused when the project is created.
    response = requester_client.post("/projects", json={
        "name": "Long", "instructions": "x", "domain": "general", "reward_per_label": "1", "overlap": 1,
        "label_schema": {"type": "classification", "labels": ["x" * 65, "y"]}})
    _assert_error(response, 400, "invalid_input", "label_schema.classification.labels.0")
    assert _counts(api) == before
    _submit_ok(client, w.sign_submission(offer, CAT, nonce=nonce))


# ------------------------------------------------------------------------------- signatures


def test_submissions_invalidSignatureIfEmptyOddOrOverlong(api, offered):
    w, client, offer = offered
    body = w.sign_submission(offer, CAT)
    before = _counts(api)
    for name, signature, code in [
        ("empty", "", "invalid_signature"),
        ("zeroBytes", "0x", "invalid_signature"),
        ("oddLengthHex", body["signature"][:-1], "invalid_signature"),
        ("whitespace", " " + body["signature"], "invalid_signature"),
        ("over200Characters", "0x" + "ab" * 100, "invalid_input"),
    ]:
        _assert_error(client.post("/submissions", json=body | {"signature": signature}), 400, code, "signature",
                      case=name)
    assert _counts(api) == before
    _submit_ok(client, body)


def test_authVerify_invalidSignatureIfWrongLengthOrNotHex(api, wallet):
    w = wallet()
    with _client(api) as client:
        nonce, chain_id = client.get("/auth/nonce").json()["nonce"], client.get("/chain").json()["chain_id"]
        message = w.siwe_message(nonce, chain_id)
        good = w.sign_text(message)
        for name, signature, code in [
            ("zeroBytes", "0x", "invalid_signature"),
            ("empty", "", "invalid_signature"),
            ("64bytes", good[:2 + 128], "invalid_signature"),
            ("66bytes", good + "00", "invalid_signature"),
            ("notHex", "0x" + "zz" * 65, "invalid_signature"),
            ("over200Characters", "0x" + "ab" * 100, "invalid_input"),
        ]:
            _assert_error(client.post("/auth/verify", json={"message": message, "signature": signature}), 400, code,
                          "signature", case=name)
        assert _counts(api)["AuthSession"] == 0
        assert client.post("/auth/verify", json={"message": message, "signature": good}).status_code == 200


# ---------------------------------------------------------------------------------- replays


def test_submissions_conflictIfAcceptedBodyReplayed(api, make_project, annotator):
    project = make_project(tasks=1, overlap=2)  # overlap 2: the task stays open after one label
    w, client, offer = annotator(project["id"])
    body = w.sign_submission(offer, CAT)
    _submit_ok(client, body)
    before = _counts(api)

    _assert_error(client.post("/submissions", json=body), 409, "already_submitted", "task_id", case="sameSession")
    w.sign_in(api).close()  # a second session of the same wallet
    with _client(api, w.token) as second_session:
        _assert_error(second_session.post("/submissions", json=body), 409, "already_submitted", "task_id",
                      case="anotherSessionOfTheSameWallet")
    assert _counts(api)["Submission"] == before["Submission"] == 1


def test_submissions_concurrentReplaysStoreOne(api, make_project, annotator):
    project = make_project(tasks=1, overlap=3)
    w, client, offer = annotator(project["id"])
    body = w.sign_submission(offer, CAT)
    results: list[int] = []
    start = threading.Barrier(4)

    def post() -> None:
        with _client(api, w.token) as c:
            start.wait()
            response = c.post("/submissions", json=body)
            results.append(response.status_code)
            if response.status_code != 201:
                _assert_error(response, 409, "already_submitted", "task_id")

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == [201, 409, 409, 409], results
    assert _counts(api)["Submission"] == 1


# ------------------------------------------------------------------------ deadline and domain


def test_submissions_deadlineAndDomainEdgeValues(api, offered):
    w, client, offer = offered
    nonce = secrets.randbits(53)
    now = int(time.time())
    domain = offer["eip712_domain"]
    before = _counts(api)
    for name, body, status, code, field in [
        ("deadlineNow", w.sign_submission(offer, CAT, nonce=nonce, deadline=now), 400, "deadline_expired",
         "deadline"),
        ("deadlineZero", w.sign_submission(offer, CAT, nonce=nonce, deadline=0), 400, "deadline_expired", "deadline"),
        ("deadlineUint256Max", w.sign_submission(offer, CAT, nonce=nonce, deadline=2**256 - 1), 400, "invalid_input",
         "deadline"),
        # Integers in JSON bodies are bounded to 2^53 - 1 (exact in every parser); below it, any other chain is 403.
        ("chainIdPast2pow53", w.sign_submission(offer, CAT, nonce=nonce) | {"chain_id": 2**53}, 400,
         "invalid_input", "chain_id"),
        ("chainIdPast2pow256", w.sign_submission(offer, CAT, nonce=nonce) | {"chain_id": 2**300}, 400,
         "invalid_input", "chain_id"),
        ("chainIdLargestOther", w.sign_submission(offer, CAT, nonce=nonce) | {"chain_id": 2**53 - 1}, 403,
         "wrong_domain", "chain_id"),
        ("contractNotAnAddress", w.sign_submission(offer, CAT, nonce=nonce) | {"verifying_contract": "0x1234"}, 403,
         "wrong_domain", "verifying_contract"),
        ("contractEmpty", w.sign_submission(offer, CAT, nonce=nonce) | {"verifying_contract": ""}, 403,
         "wrong_domain", "verifying_contract"),
    ]:
        _assert_error(client.post("/submissions", json=body), status, code, field, case=name)
    assert _counts(api) == before
    # The ledger's address in lower case is the same contract: accepted.
    _submit_ok(client, w.sign_submission(offer, CAT, nonce=nonce) | {"verifying_contract":
                                                                     domain["verifyingContract"].lower()})


# ---------------------------------------------------------------------------------- sign-in


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def _siwe(w, nonce: str, chain_id: int, domain: str = "localhost:8000", **fields: str) -> str:
    return siwe.SiweMessage(domain=domain, address=w.address, uri="https://app.example/login", version="1",
                            chain_id=chain_id, nonce=nonce, issued_at=fields.pop("issued_at", _iso(timedelta(0))),
                            **fields).prepare_message()


def test_authVerify_refusedIfLookAlikeDomainOrNotYetValid(api, wallet):
    w = wallet()
    with _client(api) as client:
        nonce, chain_id = client.get("/auth/nonce").json()["nonce"], client.get("/chain").json()["chain_id"]
        for name, message, status, code in [
            ("otherPort", _siwe(w, nonce, chain_id, "localhost:8001"), 403, "wrong_domain"),
            ("upperCase", _siwe(w, nonce, chain_id, "LOCALHOST:8000"), 403, "wrong_domain"),
            ("suffix", _siwe(w, nonce, chain_id, "localhost.evil.example:8000"), 403, "wrong_domain"),
            ("userinfo", _siwe(w, nonce, chain_id, "evil.example@localhost:8000"), 403, "wrong_domain"),
            ("noPort", _siwe(w, nonce, chain_id, "localhost"), 403, "wrong_domain"),
            ("notBeforeInAnHour", _siwe(w, nonce, chain_id, not_before=_iso(timedelta(hours=1))), 400,
             "invalid_input"),
            ("issuedInYear9999", _siwe(w, nonce, chain_id, issued_at="9999-01-01T00:00:00Z"), 400, "invalid_input"),
        ]:
            response = client.post("/auth/verify", json={"message": message, "signature": w.sign_text(message)})
            _assert_error(response, status, code, "message", case=name)
        assert _counts(api)["AuthSession"] == 0
        message = w.siwe_message(nonce, chain_id)
        assert client.post("/auth/verify", json={"message": message, "signature": w.sign_text(message)}
                           ).status_code == 200


def test_authVerify_nonceUsedByConcurrentSignInsOpensOneSession(api, wallet):
    with _client(api) as client:
        nonce, chain_id = client.get("/auth/nonce").json()["nonce"], client.get("/chain").json()["chain_id"]
    signers = [wallet() for _ in range(4)]  # four wallets race for one nonce
    bodies = [{"message": (m := s.siwe_message(nonce, chain_id)), "signature": s.sign_text(m)} for s in signers]
    results: list[httpx.Response] = []
    start = threading.Barrier(len(bodies))

    def verify(body: dict[str, str]) -> None:
        with _client(api) as c:
            start.wait()
            results.append(c.post("/auth/verify", json=body))

    threads = [threading.Thread(target=verify, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(r.status_code for r in results) == [200, 403, 403, 403], [r.text for r in results]
    for r in results:
        if r.status_code == 403:
            _assert_error(r, 403, "forbidden", "message")
    assert _counts(api)["AuthSession"] == 1
