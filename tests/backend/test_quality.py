"""Live quality control through the API: gold decided at submit, the review pass (Dawid–Skene
anchored on gold) deciding overlapping labels, Shah–Zhou's quality factor and the domain
multiplier in rewards (settled on-chain), spammer suspension by the sequential test on gold, and
revocation of a specialist qualification on the ledger."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from labelshare.db.models import Assignment, Reliability, Submission, Task, utcnow
from labelshare.domains import domain_id

REWARD = 10**18
BPS = 10_000
LABELS = ["cat", "dog", "bird"]
CLASSIFICATION = {"type": "classification", "labels": LABELS}


# ---------------------------------------------------------------------------------- helpers


def _project(requester_client, *, domain: str = "general", overlap: int = 1, gold_rate: float = 0.5,
             reward: int = REWARD, **policy: Any) -> dict[str, Any]:
    response = requester_client.post("/projects", json={
        "name": "Pets", "instructions": "What animal is it?", "domain": domain, "label_schema": CLASSIFICATION,
        "reward_per_label": str(reward), "overlap": overlap, "gold_rate": gold_rate, **policy})
    assert response.status_code == 201, response.text
    return response.json()


def _upload(requester_client, project_id: int, rows: list[dict[str, Any]], gold: bool = False) -> None:
    body = "".join(json.dumps(r) + "\n" for r in rows)
    response = requester_client.post(f"/projects/{project_id}/tasks", params={"format": "jsonl", "gold": gold},
                                     content=body)
    assert response.status_code == 201, response.text
    assert response.json()["created"] == len(rows)


def _gold(requester_client, project_id: int, answers: list[str], prefix: str = "g") -> dict[str, str]:
    """Uploads gold tasks with ``answers``; returns their data text -> answer."""
    rows = [{"id": f"{prefix}{i}", "data": {"text": f"{prefix}{i}"}, "gold": {"label": a}}
            for i, a in enumerate(answers)]
    _upload(requester_client, project_id, rows, gold=True)
    return {r["data"]["text"]: r["gold"]["label"] for r in rows}


def _normal(requester_client, project_id: int, ids: list[str]) -> None:
    _upload(requester_client, project_id, [{"id": i, "data": {"text": i}} for i in ids])


def _offer(client: httpx.Client, project_id: int, tries: int = 64) -> httpx.Response:
    """/tasks/next until it offers a task (gold is mixed in at random: a 204 may only mean "not
    drawn this time") or answers an error; the last response."""
    for _ in range(tries):
        response = client.get("/tasks/next", params={"project_id": project_id})
        if response.status_code != 204:
            return response
    return response


def _take(client: httpx.Client, project_id: int) -> dict[str, Any]:
    response = _offer(client, project_id)
    assert response.status_code == 200, response.text
    return response.json()


def _submit(client: httpx.Client, wallet, offer: dict[str, Any], label: str) -> dict[str, Any]:
    response = client.post("/submissions", json=wallet.sign_submission(offer, {"label": label}))
    assert response.status_code == 201, response.text
    return response.json()


def _wrong(label: str, k: int = 0) -> str:
    return [x for x in LABELS if x != label][k]


def _mine(client: httpx.Client) -> dict[str, dict[str, Any]]:
    """The signed-in annotator's submissions by task key."""
    response = client.get("/me/submissions")
    assert response.status_code == 200, response.text
    return {s["task_id"]: s for s in response.json()}


def _quality(client: httpx.Client, domain: str = "general") -> dict[str, Any]:
    body = client.get("/me/quality").json()
    return {"suspended": body["suspended"], "suspension_reason": body["suspension_reason"],
            **next((d for d in body["domains"] if d["domain"] == domain), {})}


def _offer_gold(api, project_id: int, offered: bool) -> None:
    """Forces /tasks/next's draw: while not ``offered``, the project's gold tasks look complete and
    only normal work is offered (labels before any gold answer, deterministically)."""
    with api.sessions.begin() as s:
        s.execute(update(Task).where(Task.project_id == project_id, Task.is_gold.is_(True))
                  .values(complete=not offered))


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    return body


# ----------------------------------------------------------------------- gold, decided at once


def test_goldSubmission_decidedAtOnce_correctPaidWrongRejected(api, wallet, requester_client):
    project = _project(requester_client)
    answers = _gold(requester_client, project["id"], ["cat", "dog"])
    w = wallet()
    client = w.sign_in(api)

    first = _take(client, project["id"])
    right = _submit(client, w, first, answers[first["data"]["text"]])
    assert (right["status"], right["reason"], right["quality_factor_bps"]) == ("accepted", None, BPS)
    policy = project["reward_policy"]
    assert policy["domain_multiplier_bps"] == BPS
    assert right["reward"] == str(REWARD * policy["domain_multiplier_bps"] * BPS // BPS**2) == str(REWARD)

    second = _take(client, project["id"])
    assert second["task_id"] != first["task_id"]
    wrong = _submit(client, w, second, _wrong(answers[second["data"]["text"]]))
    assert (wrong["status"], wrong["reason"], wrong["reward"]) == ("rejected", "disagrees with the gold answer", "0")

    quality = _quality(client)
    assert quality["suspended"] is False
    assert (quality["gold_answered"], quality["gold_correct"], quality["recent_gold"]) == (2, 1, "10")
    assert quality["quality_factor_bps"] == 0  # the default policy's floor after a wrong answer
    mine = _mine(client)
    assert mine[first["task_id"]]["status"] == "accepted" and mine[second["task_id"]]["status"] == "rejected"
    stats = requester_client.get(f"/projects/{project['id']}/stats").json()
    assert (stats["accepted"], stats["rejected"], stats["pending"], stats["awaiting_review"]) == (1, 1, 0, 0)


# ----------------------------------------------------------------- Shah–Zhou quality factor


@pytest.mark.parametrize("floor_bps", [None, 5000], ids=["defaultFloor", "floor5000"])
def test_qualityFactor_floorAfterWrongGold_fullAgainAfterWindow_settlesOnChain(api, wallet, requester_client, token,
                                                                             floor_bps):
    extra = {} if floor_bps is None else {"quality_floor_bps": floor_bps}
    project = _project(requester_client, **extra)
    policy = project["reward_policy"]
    assert policy["floor_bps"] == (floor_bps or 0) and policy["gold_window"] == 3
    floor_reward = REWARD * policy["floor_bps"] // BPS
    answers = _gold(requester_client, project["id"], ["cat", "dog", "bird"])
    w = wallet()
    client = w.sign_in(api)

    miss = _take(client, project["id"])
    assert _submit(client, w, miss, _wrong(answers[miss["data"]["text"]]))["status"] == "rejected"
    for _ in range(2):
        hit = _take(client, project["id"])
        after_miss = _submit(client, w, hit, answers[hit["data"]["text"]])
        assert after_miss["status"] == "accepted"
        assert (after_miss["quality_factor_bps"], after_miss["reward"]) == (policy["floor_bps"], str(floor_reward))

    # A normal label accepted by the review pass is paid at the floor too (the window, "011", holds a miss).
    _normal(requester_client, project["id"], ["t0"])
    normal = _take(client, project["id"])
    assert normal["data"] == {"text": "t0"}
    assert _submit(client, w, normal, "bird")["status"] == "pending"
    api.review()
    decided = _mine(client)[normal["task_id"]]
    assert (decided["status"], decided["quality_factor_bps"], decided["reward"]) == \
        ("accepted", policy["floor_bps"], str(floor_reward))

    # Settlement takes floor-paid (possibly zero-reward) annotations: the epoch settles on-chain.
    epoch_id = api.settler.run_once(force=True)
    assert epoch_id is not None
    epoch = client.get(f"/epochs/{epoch_id}").json()
    assert (epoch["status"], epoch["annotation_count"], epoch["total_reward"]) == ("settled", 3, str(3 * floor_reward))
    assert token.balanceOf(w.address) == 3 * floor_reward
    rewards = client.get("/me/rewards").json()
    assert (rewards["settled"], rewards["pending"]) == (str(3 * floor_reward), "0")

    # Three correct gold answers in a row push the miss out of the window: full pay again.
    answers |= _gold(requester_client, project["id"], ["cat"], prefix="h")
    offer = _take(client, project["id"])
    assert _submit(client, w, offer, answers[offer["data"]["text"]])["quality_factor_bps"] == BPS  # "111"
    assert _quality(client)["recent_gold"] == "0111"


# ------------------------------------------------------------------------------ review pass


def test_reviewPass_decidesCompleteTasks_dissenterRejected(api, wallet, make_project, requester_client):
    project = make_project(tasks=2, overlap=3)
    pid = project["id"]
    annotators = [wallet() for _ in range(3)]
    clients = [a.sign_in(api) for a in annotators]
    votes = ["cat", "cat", "dog"]
    for i, (w, client, label) in enumerate(zip(annotators, clients, votes, strict=True)):
        for _ in range(2):
            assert _submit(client, w, _take(client, pid), label)["status"] == "pending"
        stats = requester_client.get(f"/projects/{pid}/stats").json()
        assert stats["tasks_complete"] == (2 if i == 2 else 0)  # complete only at the overlap
    stats = requester_client.get(f"/projects/{pid}/stats").json()
    assert (stats["pending"], stats["accepted"], stats["awaiting_review"]) == (6, 0, 2)
    assert requester_client.get(f"/projects/{pid}/export", params={"format": "jsonl"}).text == ""
    assert all(s["status"] == "pending" for c in clients for s in _mine(c).values())

    [result] = api.review()
    assert (result.project_id, result.tasks, result.accepted, result.rejected) == (pid, 2, 4, 2)

    for client, label in zip(clients, votes, strict=True):
        mine = list(_mine(client).values())
        assert len(mine) == 2
        if label == "cat":
            assert all((s["status"], s["reward"], s["quality_factor_bps"]) == ("accepted", str(REWARD), BPS)
                       for s in mine), mine
        else:
            assert all((s["status"], s["reason"], s["reward"]) == ("rejected", "disagrees with the verified label", "0")
                       for s in mine), mine
    stats = requester_client.get(f"/projects/{pid}/stats").json()
    assert (stats["pending"], stats["accepted"], stats["rejected"], stats["awaiting_review"]) == (0, 4, 2, 0)
    export = requester_client.get(f"/projects/{pid}/export", params={"format": "jsonl"})
    rows = [json.loads(line) for line in export.text.splitlines()]
    assert sorted(r["task_id"] for r in rows) == ["t0", "t1"]
    for row in rows:
        assert row["label"] == {"label": "cat"}
        assert isinstance(row["confidence"], float) and 1 / 3 < row["confidence"] <= 1.0
    csv_export = requester_client.get(f"/projects/{pid}/export", params={"format": "csv"}).text
    assert csv_export.splitlines()[0] == "task_id,task_key,data,label,confidence"
    assert api.review() == []  # nothing left to review


@pytest.mark.parametrize("schedule", ["reviewAfterEveryLabel", "reviewOnceAtTheEnd"])
def test_reviewPass_labelBeforeGoldEvidence_heldUntilFullWindow_payIndependentOfReviewTiming(
        api, wallet, requester_client, schedule):
    """Issue 16.10. A guesser's first labels, given before any gold answer, used to be paid in
    full when a review pass ran before their first gold answer (an empty record), and at the floor
    when it ran after: what spammers earned depended on how fast the machine was. Both schedules
    must now pay the same: nothing until a full window of gold evidence is in, then its price."""
    project = _project(requester_client)  # gold_rate 0.5, the default window of 3
    window = project["reward_policy"]["gold_window"]
    _normal(requester_client, project["id"], [f"t{i}" for i in range(3)])
    answers = _gold(requester_client, project["id"], ["cat", "dog", "bird"])
    spammer, honest = wallet(), wallet()
    spam, fair = spammer.sign_in(api), honest.sign_in(api)

    # No gold is drawn yet: both label before answering any gold (overlap 1: each label is its
    # task's verified label).
    _offer_gold(api, project["id"], False)
    labelled: dict[str, list[str]] = {spammer.address: [], honest.address: []}
    for client, w in ((spam, spammer), (spam, spammer), (fair, honest)):
        offer = _take(client, project["id"])
        assert _submit(client, w, offer, "cat")["status"] == "pending"
        labelled[w.address].append(offer["task_id"])
        if schedule == "reviewAfterEveryLabel":  # the worker outpacing the annotators (a loaded machine)
            api.review()
    if schedule == "reviewAfterEveryLabel":
        assert all(s["status"] == "pending" for c in (spam, fair) for s in _mine(c).values())
        stats = requester_client.get(f"/projects/{project['id']}/stats").json()
        assert (stats["awaiting_review"], stats["pending"], stats["accepted"]) == (0, 3, 0)  # verified, held

    # Then gold: the spammer answers a full window wrong, the honest annotator right.
    _offer_gold(api, project["id"], True)
    for client, w, right in ((spam, spammer, False), (fair, honest, True)):
        for _ in range(window):
            offer = _take(client, project["id"])
            truth = answers[offer["data"]["text"]]
            _submit(client, w, offer, truth if right else _wrong(truth))
    api.review()

    mine = _mine(spam)
    # Decided now and paid nothing, whenever the review ran: accepted at the "000" window's floor,
    # or rejected where the gold-anchored fit no longer trusts the guesser's label.
    assert [(mine[t]["status"] != "pending", mine[t]["reward"]) for t in labelled[spammer.address]] == [(True, "0")] * 2
    [task] = labelled[honest.address]
    decided = _mine(fair)[task]
    assert (decided["status"], decided["quality_factor_bps"], decided["reward"]) == ("accepted", BPS, str(REWARD))
    assert api.review() == []  # nothing held any more


@pytest.mark.parametrize("gold_answers", [[], ["cat", "dog"]], ids=["noGold", "twoGold"])
def test_reviewPass_fewerGoldTasksThanWindow_decidedOnceAllAnswered(api, wallet, requester_client, gold_answers):
    """Issue 16.10. A label waits for min(gold_window, the project's gold tasks) gold answers: a
    project with less gold than the window (or none uploaded) must not hold its labels forever."""
    project = _project(requester_client)  # gold_rate 0.5, the default window of 3
    assert project["reward_policy"]["gold_window"] > len(gold_answers)
    _normal(requester_client, project["id"], ["t0", "t1"])
    w = wallet()
    client = w.sign_in(api)
    offer = _take(client, project["id"])  # only normal work exists yet
    assert _submit(client, w, offer, "cat")["status"] == "pending"
    task = offer["task_id"]

    answers = _gold(requester_client, project["id"], gold_answers) if gold_answers else {}
    for _ in answers:
        api.review()
        assert _mine(client)[task]["status"] == "pending"  # held: not all the project's gold answered yet
        while (gold := _take(client, project["id"]))["data"]["text"] not in answers:
            _submit(client, w, gold, "cat")  # the other normal task, drawn instead of gold
        _submit(client, w, gold, answers[gold["data"]["text"]])
    api.review()

    decided = _mine(client)[task]  # overlap 1: its own label is the verified one
    assert (decided["status"], decided["quality_factor_bps"], decided["reward"]) == ("accepted", BPS, str(REWARD))
    assert api.review() == []  # nothing held


def test_reviewPass_goldAnchoredSkillsOutvotePlurality(api, wallet, requester_client):
    """One annotator proven right on gold; two who answer "dog" whenever the gold answer is "cat"
    (and right otherwise, so no spam test sets them aside). On normal tasks the one says cat and
    the two say dog: plurality (and Dawid–Skene without gold) says dog; Dawid–Skene anchored on
    gold knows the two say dog for cats and follows the one."""
    project = _project(requester_client, overlap=3)
    pid = project["id"]
    truths = ["cat"] * 3 + ["dog"] * 2 + ["bird"] * 2
    answers = _gold(requester_client, pid, truths)
    reliable, *confused = [wallet() for _ in range(3)]
    clients = [w.sign_in(api) for w in (reliable, *confused)]
    # Gold first (the project holds only gold, so every offer is gold)...
    for k, (w, client) in enumerate(zip((reliable, *confused), clients, strict=True)):
        for _ in truths:
            offer = _take(client, pid)
            truth = answers[offer["data"]["text"]]
            given = truth if k == 0 or truth != "cat" else "dog"
            assert _submit(client, w, offer, given)["status"] == ("accepted" if given == truth else "rejected")
    # ...then normal tasks where the reliable annotator says cat and both others say dog.
    normal = [f"t{i}" for i in range(4)]
    _normal(requester_client, pid, normal)
    for k, (w, client) in enumerate(zip((reliable, *confused), clients, strict=True)):
        for _ in normal:
            offer = _take(client, pid)
            assert offer["data"]["text"] in normal
            assert _submit(client, w, offer, "cat" if k == 0 else "dog")["status"] == "pending"
    # The two are neither suspended nor, by their gold record, suspected of guessing: they vote.
    assert all(not _quality(c)["suspended"] for c in clients)
    with api.sessions() as s:
        llr = dict(s.execute(select(Reliability.annotator, Reliability.spam_llr)).all())
    assert all(llr[w.address] < 0 for w in confused), llr

    api.review()
    rows = [json.loads(line) for line in requester_client.get(f"/projects/{pid}/export").text.splitlines()]
    assert sorted(r["task_id"] for r in rows) == normal
    assert all(r["label"] == {"label": "cat"} for r in rows), rows
    assert all(r["confidence"] > 0.9 for r in rows), rows
    normal_keys = {r["task_key"] for r in rows}
    for k, client in enumerate(clients):
        decided = [s for key, s in _mine(client).items() if key in normal_keys]
        assert len(decided) == len(normal)
        expected = ("accepted", None) if k == 0 else ("rejected", "disagrees with the verified label")
        assert all((s["status"], s["reason"]) == expected for s in decided), decided
    skills = [_quality(c)["skill"] for c in clients]
    assert skills[0] > 0.9 and all(s < skills[0] - 0.2 for s in skills[1:]), skills


# ---------------------------------------------------------------------- spammer suspension


def _sprt_bound(settings, chance: float) -> int:
    """Gold answers, all wrong, after which Wald's test (chance vs honest_skill) must fire."""
    p1 = chance + (1 - chance) * settings.honest_skill
    upper = math.log((1 - settings.spam_beta) / settings.spam_alpha)
    return math.ceil(upper / math.log((1 - chance) / (1 - p1)))


def _live_offers(api, annotator: str) -> set[str]:
    """Keys of the tasks ``annotator`` holds an unexpired, unanswered offer of."""
    with api.sessions() as s:
        answered = select(Submission.task_id).where(Submission.annotator == annotator)
        return set(s.scalars(select(Task.task_key).join(Assignment, Assignment.task_id == Task.id).where(
            Assignment.annotator == annotator, Assignment.expires_at > utcnow(), Task.id.not_in(answered))))


def test_offer_liveOfferOfAnotherAnnotatorHoldsTheSlot(api, wallet, requester_client):
    work = _project(requester_client, gold_rate=0.0)
    _normal(requester_client, work["id"], ["t0", "t1"])
    first, second = wallet(), wallet()
    client = first.sign_in(api)
    assert _submit(client, first, _take(client, work["id"]), "cat")["status"] == "pending"  # t0 is full
    _take(client, work["id"])  # t1 is offered to `first`: with overlap 1 nobody else may have it
    assert second.sign_in(api).get("/tasks/next", params={"project_id": work["id"]}).status_code == 204


def test_spammer_suspendedBySequentialTest_pendingWorkRejectedSlotsReopen(api, wallet, requester_client):
    bound = _sprt_bound(api.app.state.settings, 1 / len(LABELS))
    work = _project(requester_client, gold_rate=0.0)
    _normal(requester_client, work["id"], ["t0", "t1"])
    gold = _project(requester_client)
    answers = _gold(requester_client, gold["id"], [LABELS[i % 3] for i in range(bound + 3)])
    spammer, honest = wallet(), wallet()
    spam, fair = spammer.sign_in(api), honest.sign_in(api)

    # The spammer labels one task (pending, the task is full) and holds an offer of the other.
    labelled = _take(spam, work["id"])
    assert _submit(spam, spammer, labelled, "cat")["status"] == "pending"
    held = _take(spam, work["id"])
    assert _live_offers(api, spammer.address) == {held["task_id"]}

    # An honest annotator answers every gold task right and is never suspended.
    for _ in answers:
        offer = _take(fair, gold["id"])
        assert _submit(fair, honest, offer, answers[offer["data"]["text"]])["status"] == "accepted"
    quality = _quality(fair)
    assert (quality["suspended"], quality["gold_answered"], quality["gold_correct"]) == (False, len(answers),
                                                                                        len(answers))

    # The spammer answers gold wrong until refused: within the test's bound.
    answered = 0
    while (offer := _offer(spam, gold["id"])).status_code == 200:
        answered += 1
        assert answered <= bound, "not suspended within the sequential test's bound"
        decided = _submit(spam, spammer, offer.json(), _wrong(answers[offer.json()["data"]["text"]]))
        assert decided["reason"] == "disagrees with the gold answer"
    assert answered == bound
    body = _error(offer, 403, "annotator_suspended")
    assert "suspended" in body["detail"] and "chance level" in body["detail"] and f"0 of {bound}" in body["detail"]
    body = _error(spam.get("/tasks/next", params={"project_id": work["id"]}), 403, "annotator_suspended")
    assert "chance level" in body["detail"]
    body = _error(spam.post("/submissions", json=spammer.sign_submission(held, {"label": "cat"})), 403,
                  "annotator_suspended")
    assert "chance level" in body["detail"]
    quality = _quality(spam)
    assert quality["suspended"] is True and "chance level" in quality["suspension_reason"]
    assert (quality["gold_answered"], quality["gold_correct"]) == (bound, 0)

    rejected = _mine(spam)[labelled["task_id"]]
    assert rejected["status"] == "rejected" and rejected["reason"].startswith("annotator suspended")
    assert "chance level" in rejected["reason"]
    # Both slots reopen: the rejected label's and the held offer's (no longer a live offer).
    assert _live_offers(api, spammer.address) == set()
    reopened = []
    for _ in range(2):  # one at a time: a wallet holds one open offer a project
        reopened.append(offer := _take(fair, work["id"]))
        assert _submit(fair, honest, offer, "dog")["status"] == "pending"
    assert {o["task_id"] for o in reopened} == {labelled["task_id"], held["task_id"]}
    api.review()
    assert all(_mine(fair)[o["task_id"]]["status"] == "accepted" for o in reopened)
    assert _quality(fair)["suspended"] is False


# ------------------------------------------------------------------------ domain multiplier


def test_specialistProject_paysDomainMultiplier_settledOnChain(api, wallet, requester_client, ledger, qualifier,
                                                              token):
    project = _project(requester_client, domain="medicine", gold_rate=0.0)
    assert project["reward_policy"]["domain_multiplier_bps"] == 30_000
    assert requester_client.get(f"/projects/{project['id']}").json()["reward_policy"] == project["reward_policy"]
    _normal(requester_client, project["id"], ["t0"])
    w = wallet()
    client = w.sign_in(api)
    _error(client.get("/tasks/next", params={"project_id": project["id"]}), 403, "task_not_offered")
    ledger.grantQualification(w.address, domain_id("medicine"), 1, b"\0" * 32, sender=qualifier)

    offer = _take(client, project["id"])
    assert _submit(client, w, offer, "cat")["status"] == "pending"
    api.review()
    decided = _mine(client)[offer["task_id"]]
    assert (decided["status"], decided["quality_factor_bps"]) == ("accepted", BPS)
    assert decided["reward"] == str(3 * REWARD)
    assert api.settler.run_once(force=True) is not None
    assert token.balanceOf(w.address) == 3 * REWARD


# ------------------------------------------------------------------------------ revocation


@pytest.mark.settings(revoke_min_gold=4)
def test_specialist_lowGoldAccuracy_refusedThenRevokedOnChainAfterWorkSettled(api, wallet, requester_client, ledger,
                                                                             qualifier, token):
    settings = api.app.state.settings
    project = _project(requester_client, domain="medicine", overlap=2)
    pid = project["id"]
    medicine = domain_id("medicine")
    specialist, peer = wallet(), wallet()
    client, peer_client = specialist.sign_in(api), peer.sign_in(api)
    for w in (specialist, peer):
        ledger.grantQualification(w.address, medicine, 1, b"\0" * 32, sender=qualifier)
    _normal(requester_client, pid, ["t0"])
    pending = _take(client, pid)
    assert pending["data"] == {"text": "t0"}
    assert _submit(client, specialist, pending, "cat")["status"] == "pending"  # t0 needs one more label

    # Gold: right on the cat (accepted: paid work), dog and bird swapped: recent accuracy below
    # the bar. (Their "cat" stays trustworthy, so the review pass can accept their t0 label.)
    truths = ["cat", "dog", "bird", "dog"]
    assert len(truths) == settings.revoke_min_gold and 1 / len(truths) < settings.revoke_accuracy
    answers = _gold(requester_client, pid, truths)
    for _ in truths:
        offer = _take(client, pid)
        truth = answers[offer["data"]["text"]]
        given = {"dog": "bird", "bird": "dog"}.get(truth, truth)
        assert _submit(client, specialist, offer, given)["status"] == ("accepted" if given == truth else "rejected")
    body = _error(client.get("/tasks/next", params={"project_id": pid}), 403, "task_not_offered")
    assert "medicine qualification is being revoked" in body["detail"] and "25%" in body["detail"]
    quality = _quality(client, "medicine")
    assert quality["suspended"] is False and "below 60%" in quality["qualification_revoke_reason"]

    # The revocation waits while the specialist's work in the domain is unsettled (the ledger
    # would refuse to pay it): accepted, in an epoch not yet settled, or still pending review.
    api.review()
    assert ledger.isQualified(specialist.address, medicine) is True
    epoch_id = api.settler.close_epoch()
    assert epoch_id is not None and client.get(f"/epochs/{epoch_id}").json()["status"] == "settling"
    api.review()
    assert ledger.isQualified(specialist.address, medicine) is True
    api.settler.run_once()  # finishes the epoch
    assert client.get(f"/epochs/{epoch_id}").json()["status"] == "settled"
    assert token.balanceOf(specialist.address) == 3 * REWARD
    api.review()
    assert ledger.isQualified(specialist.address, medicine) is True  # t0 is still pending

    while (offer := _take(peer_client, pid))["data"]["text"] != "t0":  # gold may be mixed in first
        _submit(peer_client, peer, offer, answers[offer["data"]["text"]])
    _submit(peer_client, peer, offer, "cat")
    api.review()
    decided = _mine(client)[pending["task_id"]]
    assert (decided["status"], decided["quality_factor_bps"], decided["reward"]) == ("accepted", 0, "0")
    assert ledger.isQualified(specialist.address, medicine) is True
    assert api.settler.run_once(force=True) is not None
    rewards = client.get("/me/rewards").json()
    assert (rewards["pending_annotations"], rewards["settled"]) == (0, str(3 * REWARD))  # t0 settled too

    api.review()
    assert ledger.isQualified(specialist.address, medicine) is False
    assert ledger.qualificationLevel(specialist.address, medicine) == 0
    assert ledger.isQualified(peer.address, medicine) is True
    body = _error(client.get("/tasks/next", params={"project_id": pid}), 403, "task_not_offered")
    assert "needs a medicine qualification" in body["detail"]
    api.review()  # nothing more to revoke: a second pass sends nothing and does not fail
