"""Specialist qualification tests: admins author a domain's test; an annotator's attempt draws
questions without their answers; a pass grants the qualification on the ledger (and opens the
domain's projects), a fail waits out the cooldown; bad answers are refused and change nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from eth_account import Account

from labelshare.domains import domain_id

_ADMIN = Account.create()
pytestmark = pytest.mark.settings(admins=_ADMIN.address)

LABELS = ["benign", "malignant", "unclear"]
SCHEMA = {"type": "classification", "labels": LABELS}
MEDICINE = domain_id("medicine")


def _items(n: int, prefix: str = "m") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", "data": {"text": f"case {prefix}{i}"}, "answer": {"label": LABELS[i % 3]}}
            for i in range(n)]


def _spec(items: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    return {"label_schema": SCHEMA, "questions": 4, "pass_accuracy": 0.75, "cooldown_seconds": 3600,
            "items": items, **overrides}


def _error(response: httpx.Response, status: int, code: str, field: Any) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["error"], body["field"]) == (code, field), body
    assert isinstance(body["detail"], str) and len(body["detail"]) >= 10, body
    return body


def _tests(client: httpx.Client) -> dict[str, dict[str, Any]]:
    response = client.get("/qualifications")
    assert response.status_code == 200, response.text
    return {t["domain"]: t for t in response.json()}


@pytest.fixture
def admin_client(api, wallet):
    client = wallet(_ADMIN).sign_in(api)
    yield client
    client.close()


@pytest.fixture
def medicine_test(admin_client) -> dict[str, dict[str, Any]]:
    """A medicine test of 6 items (4 questions an attempt); returns answers by item data."""
    items = _items(6)
    response = admin_client.put("/qualifications/medicine", json=_spec(items))
    assert response.status_code == 200, response.text
    assert response.json() == {"domain": "medicine", "added": 6, "pool": 6}
    return {item["data"]["text"]: item["answer"] for item in items}


def _start(client: httpx.Client, domain: str = "medicine") -> dict[str, Any]:
    response = client.post(f"/qualifications/{domain}/attempts")
    assert response.status_code == 201, response.text
    return response.json()


def _answers(attempt: dict[str, Any], key: dict[str, dict[str, Any]], wrong: int = 0) -> dict[str, Any]:
    """Correct answers to ``attempt`` looked up by item data, the first ``wrong`` of them wrong."""
    out = {}
    for i, q in enumerate(attempt["questions"]):
        right = key[q["data"]["text"]]
        out[q["item_id"]] = right if i >= wrong else {"label": next(x for x in LABELS if x != right["label"])}
    return out


def _grade(client: httpx.Client, attempt: dict[str, Any], answers: dict[str, Any]) -> httpx.Response:
    return client.post(f"/qualifications/attempts/{attempt['attempt_id']}", json={"answers": answers})


def _gold_record(client: httpx.Client) -> tuple[int, int]:
    domains = {d["domain"]: d for d in client.get("/me/quality").json()["domains"]}
    record = domains.get("medicine", {"gold_answered": 0, "gold_correct": 0})
    return record["gold_answered"], record["gold_correct"]


# ------------------------------------------------------------------------------ authoring


def test_putTest_adminCreates_othersRefused_badDomainNotFound(api, wallet, admin_client, medicine_test):
    listed = _tests(admin_client)
    assert set(listed) == {"medicine"}
    assert {k: listed["medicine"][k] for k in ("questions", "pass_accuracy", "cooldown_seconds", "pool")} == \
        {"questions": 4, "pass_accuracy": 0.75, "cooldown_seconds": 3600, "pool": 6}
    assert listed["medicine"]["label_schema"]["labels"] == LABELS
    assert listed["medicine"]["domain_multiplier_bps"] == 30_000

    stranger = wallet().sign_in(api)
    _error(stranger.put("/qualifications/medicine", json=_spec(_items(2, "x"))), 403, "forbidden", None)
    for domain in ("general", "astrology"):
        _error(admin_client.put(f"/qualifications/{domain}", json=_spec(_items(6))), 404, "not_found", "domain")
    assert _tests(admin_client)["medicine"]["pool"] == 6 and set(_tests(admin_client)) == {"medicine"}

    # Adding items: the pool grows; an existing id is refused.
    added = admin_client.put("/qualifications/medicine", json=_spec(_items(2, "n")))
    assert added.status_code == 200 and added.json() == {"domain": "medicine", "added": 2, "pool": 8}
    _error(admin_client.put("/qualifications/medicine", json=_spec(_items(1, "n"))), 400, "invalid_input",
           "items[0].id")


def test_putTest_invalidItemsStoreNothing(admin_client, medicine_test):
    bad = [*_items(2, "b"), {"id": "b2", "data": {"text": "case b2"}, "answer": {"label": "purple"}}]
    body = _error(admin_client.put("/qualifications/medicine", json=_spec(bad)), 400, "invalid_input",
                  "items[2].answer")
    assert "b2" in body["detail"]
    _error(admin_client.put("/qualifications/law", json=_spec(_items(3, "l"), questions=5)), 400, "invalid_input",
           "items")
    # Nothing stored: no law test, the medicine pool as it was, and the rejected items' ids free.
    assert set(_tests(admin_client)) == {"medicine"} and _tests(admin_client)["medicine"]["pool"] == 6
    again = admin_client.put("/qualifications/medicine", json=_spec(_items(2, "b")))
    assert again.status_code == 200 and again.json()["pool"] == 8


# ------------------------------------------------------------------------------- attempts


def test_attempt_passGrantsQualificationOnChain_opensSpecialistProjects(api, wallet, medicine_test, make_project,
                                                                      ledger, chain):
    project = make_project(tasks=1, overlap=1, domain="medicine")
    w = wallet()
    client = w.sign_in(api)
    _error(client.get("/tasks/next", params={"project_id": project["id"]}), 403, "task_not_offered", "project_id")

    attempt = _start(client)
    assert attempt["domain"] == "medicine" and attempt["label_schema"] == SCHEMA
    questions = attempt["questions"]
    assert len(questions) == 4 and len({q["item_id"] for q in questions}) == 4
    assert all(set(q) == {"item_id", "data"} and q["data"]["text"] in medicine_test for q in questions), questions
    assert _start(client)["attempt_id"] == attempt["attempt_id"]  # the open attempt, not a new draw

    graded = _grade(client, attempt, _answers(attempt, medicine_test))
    assert graded.status_code == 200, graded.text
    result = graded.json()
    assert (result["passed"], result["correct"], result["total"]) == (True, 4, 4)
    assert result["grant_tx"] and len(result["grant_tx"]) == 66
    assert chain.provider.web3.eth.get_transaction_receipt(result["grant_tx"])["status"] == 1
    assert ledger.isQualified(w.address, MEDICINE) is True
    assert ledger.qualificationLevel(w.address, MEDICINE) == 1
    assert _gold_record(client) == (4, 4)  # the test's answers count as gold answers

    offer = client.get("/tasks/next", params={"project_id": project["id"]})
    assert offer.status_code == 200, offer.text
    assert offer.json()["task_id"]
    _error(client.post("/qualifications/medicine/attempts"), 409, "conflict", "domain")  # already qualified


def test_attempt_failNotQualified_retryOnlyAfterCooldown(api, wallet, admin_client, medicine_test, ledger):
    w = wallet()
    client = w.sign_in(api)
    attempt = _start(client)
    graded = _grade(client, attempt, _answers(attempt, medicine_test, wrong=2))
    assert graded.status_code == 200, graded.text
    assert {k: graded.json()[k] for k in ("passed", "correct", "total", "grant_tx")} == \
        {"passed": False, "correct": 2, "total": 4, "grant_tx": None}
    assert ledger.isQualified(w.address, MEDICINE) is False
    body = _error(client.post("/qualifications/medicine/attempts"), 409, "conflict", "domain")
    assert "retry after" in body["detail"]

    no_wait = admin_client.put("/qualifications/medicine", json=_spec([], cooldown_seconds=0))
    assert no_wait.status_code == 200 and no_wait.json()["pool"] == 6
    retry = _start(client)
    assert retry["attempt_id"] != attempt["attempt_id"]
    passed = _grade(client, retry, _answers(retry, medicine_test))
    assert passed.status_code == 200 and passed.json()["passed"] is True, passed.text
    assert ledger.isQualified(w.address, MEDICINE) is True


def test_grade_badAnswersRefusedAndChangeNothing(api, wallet, medicine_test, ledger):
    w = wallet()
    client = w.sign_in(api)
    _error(client.post("/qualifications/law/attempts"), 404, "not_found", "domain")  # no law test
    attempt = _start(client)
    right = _answers(attempt, medicine_test)
    first = attempt["questions"][0]["item_id"]

    missing = {k: v for k, v in right.items() if k != first}
    body = _error(_grade(client, attempt, missing), 400, "invalid_input", "answers")
    assert first in body["detail"]
    unknown = right | {"999999": {"label": "benign"}}
    body = _error(_grade(client, attempt, unknown), 400, "invalid_input", "answers")
    assert "999999" in body["detail"]
    body = _error(_grade(client, attempt, right | {first: {"label": "purple"}}), 400, "schema_violation",
                  f"answers.{first}.label")
    assert "purple" in body["detail"]
    _error(_grade(client, attempt, right | {first: "benign"}), 400, "schema_violation", f"answers.{first}")
    assert _gold_record(client) == (0, 0)  # nothing was graded

    other = wallet().sign_in(api)
    _error(_grade(other, attempt, right), 404, "not_found", "attempt_id")
    _error(other.post("/qualifications/attempts/2147483647", json={"answers": {}}), 404, "not_found", "attempt_id")
    assert ledger.isQualified(w.address, MEDICINE) is False

    graded = _grade(client, attempt, right)
    assert graded.status_code == 200 and graded.json()["passed"] is True, graded.text
    _error(_grade(client, attempt, right), 409, "conflict", "attempt_id")
    assert _gold_record(client) == (4, 4)
