"""Offers (``/tasks/next``) cannot be hoarded: a wallet holds at most
``max_open_offers_per_project`` open offers in a project (asking again answers the one it holds)
and ``max_open_offers`` in all (409 past that); ``DELETE /tasks/{task_id}/offer`` releases one at
once, only by its holder; an unsubmitted offer expires after ``offer_ttl_seconds``. Against the
real API and anvil, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import httpx
import pytest
from sqlalchemy import func, select

from labelshare.db.models import Assignment, Submission
from labelshare.tasks import task_key

CAT = {"label": "cat"}


def _next(client: httpx.Client, project_id: int) -> httpx.Response:
    return client.get("/tasks/next", params={"project_id": project_id})


def _offers(api, annotator: str | None = None) -> list[tuple[int, str, datetime]]:
    """(task row, annotator, expires_at) of every stored offer (of ``annotator``)."""
    query = select(Assignment.task_id, Assignment.annotator, Assignment.expires_at).order_by(Assignment.id)
    if annotator is not None:
        query = query.where(Assignment.annotator == annotator)
    with api.sessions() as s:
        return [tuple(row) for row in s.execute(query)]


def _error(response: httpx.Response, status: int, code: str, field: str | None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and body["field"] == field, body
    return body


def test_oneWallet_askingFiveTimes_holdsOneTask_nextAnnotatorGetsWork(api, make_project, annotator):
    """The issue's scenario: overlap 1, five tasks, one wallet asks five times without submitting."""
    project = make_project(tasks=5, overlap=1)
    hoarder, client, first = annotator(project["id"])
    again = [_next(client, project["id"]) for _ in range(4)]
    assert [r.status_code for r in again] == [200] * 4, [r.text for r in again]
    assert {r.json()["task_id"] for r in again} == {first["task_id"]}  # a reload gets the same task
    assert {r.json()["expires_at"] for r in again} == {first["expires_at"]}  # and does not extend it
    assert len(_offers(api, hoarder.address)) == 1

    honest, honest_client, offer = annotator(project["id"])
    assert offer["task_id"] != first["task_id"]
    assert honest_client.post("/submissions", json=honest.sign_submission(offer, CAT)).status_code == 201


def test_manyWalletsHoarding_cannotStopAnHonestAnnotator(api, make_project, annotator):
    project = make_project(tasks=30, overlap=1)
    hoarders = [annotator() for _ in range(20)]
    for _, client, _ in hoarders:
        for _ in range(4):
            assert _next(client, project["id"]).status_code == 200
    assert len(_offers(api)) == 20  # one each

    honest, client, _ = annotator()
    for _ in range(5):  # gets work, labels it, gets more
        offer = _next(client, project["id"])
        assert offer.status_code == 200, offer.text
        assert client.post("/submissions", json=honest.sign_submission(offer.json(), CAT)).status_code == 201


def test_openOffersAcrossProjects_capped_conflictNamesTheWayOut(api, make_project, annotator):
    projects = [make_project(tasks=2, overlap=1) for _ in range(4)]
    w, client, _ = annotator()
    held = [_next(client, p["id"]).json() for p in projects[:3]]
    body = _error(_next(client, projects[3]["id"]), 409, "conflict", "project_id")
    assert "3 open offers" in body["detail"] and "release" in body["detail"]
    assert len(_offers(api, w.address)) == 3
    # Asking again where it already holds one still answers that offer.
    assert _next(client, projects[0]["id"]).json()["task_id"] == held[0]["task_id"]
    # One submitted frees room for the fourth project.
    assert client.post("/submissions", json=w.sign_submission(held[0], CAT)).status_code == 201
    assert _next(client, projects[3]["id"]).status_code == 200


def test_concurrentAsks_oneWallet_oneOffer(api, make_project, annotator):
    project = make_project(tasks=8, overlap=1)
    w, client, _ = annotator()
    barrier = threading.Barrier(8)
    answers: list[httpx.Response] = []

    def ask() -> None:
        with api.client(w.token) as c:
            barrier.wait()
            answers.append(_next(c, project["id"]))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in answers] == [200] * 8, [r.text for r in answers]
    assert len({r.json()["task_id"] for r in answers}) == 1
    assert len(_offers(api, w.address)) == 1


def test_release_freesTheSlotAtOnce_taskNotOfferedToTheReleaserAgain(api, make_project, annotator):
    project = make_project(tasks=1, overlap=1)
    holder, holder_client, offer = annotator(project["id"])
    other, other_client, _ = annotator()
    assert _next(other_client, project["id"]).status_code == 204

    released = holder_client.delete(f"/tasks/{offer['task_id']}/offer")
    assert released.status_code == 204, released.text
    taken = _next(other_client, project["id"])
    assert taken.status_code == 200 and taken.json()["task_id"] == offer["task_id"]
    # Released is given up: no longer submittable, and not offered again.
    _error(holder_client.post("/submissions", json=holder.sign_submission(offer, CAT)), 403, "task_not_offered",
           "task_id")
    assert other_client.post("/submissions", json=other.sign_submission(taken.json(), CAT)).status_code == 201
    assert _next(holder_client, project["id"]).status_code == 204


def test_release_onlyByTheHolder(api, make_project, annotator):
    project = make_project(tasks=1, overlap=1)
    holder, holder_client, offer = annotator(project["id"])
    _, other_client, _ = annotator()
    before = _offers(api)

    _error(other_client.delete(f"/tasks/{offer['task_id']}/offer"), 404, "not_found", "task_id")
    with api.client() as anonymous:
        _error(anonymous.delete(f"/tasks/{offer['task_id']}/offer"), 401, "unauthenticated", None)
    assert _offers(api) == before
    assert _next(other_client, project["id"]).status_code == 204  # the slot is still the holder's
    assert holder_client.post("/submissions", json=holder.sign_submission(offer, CAT)).status_code == 201


def test_release_unknownMalformedSubmittedOrReleased_clearError_changesNothing(api, make_project, annotator):
    project = make_project(tasks=3, overlap=3)
    w, client, offer = annotator(project["id"])
    before = _offers(api)

    _error(client.delete(f"/tasks/{task_key(project['id'], 'no-such-task')}/offer"), 404, "not_found", "task_id")
    _error(client.delete("/tasks/0x1234/offer"), 400, "invalid_input", "task_id")
    assert _offers(api) == before

    assert client.post("/submissions", json=w.sign_submission(offer, CAT)).status_code == 201
    body = _error(client.delete(f"/tasks/{offer['task_id']}/offer"), 409, "conflict", "task_id")
    assert "already submitted" in body["detail"]
    second = _next(client, project["id"]).json()
    assert client.delete(f"/tasks/{second['task_id']}/offer").status_code == 204
    after_release = _offers(api)
    body = _error(client.delete(f"/tasks/{second['task_id']}/offer"), 409, "conflict", "task_id")
    assert "expired or released" in body["detail"]
    assert _offers(api) == after_release
    with api.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 1


@pytest.mark.settings(offer_ttl_seconds=1.0)
def test_expiry_freesTheSlot_andTheExpiredOfferCannotBeSubmittedOrReleased(api, make_project, annotator):
    project = make_project(tasks=1, overlap=1)
    holder, holder_client, offer = annotator(project["id"])
    other, other_client, _ = annotator()
    assert _next(other_client, project["id"]).status_code == 204
    expires = datetime.fromisoformat(offer["expires_at"].replace("Z", "+00:00"))
    time.sleep(max(0.0, expires.timestamp() - time.time()) + 0.2)

    taken = _next(other_client, project["id"])
    assert taken.status_code == 200 and taken.json()["task_id"] == offer["task_id"]
    before = _offers(api)
    body = _error(holder_client.delete(f"/tasks/{offer['task_id']}/offer"), 409, "conflict", "task_id")
    assert "expired or released" in body["detail"]
    assert _offers(api) == before
    _error(holder_client.post("/submissions", json=holder.sign_submission(offer, CAT)), 403, "task_not_offered",
           "task_id")
    assert other_client.post("/submissions", json=other.sign_submission(taken.json(), CAT)).status_code == 201
