"""The API calls nothing settled that the chain does not hold at the configured confirmations
(issue 16, point 4): an epoch settled through the API's own settler, then lost by the chain
(ape's anvil reverted to a snapshot taken before or just after the settlement) or made
unreachable (a real proxy refusing connections), is answered as resending / confirming /
unverified with a reason by ``/me/rewards``, ``/epochs`` and ``/epochs/{id}``, and as settled
again once the chain holds it. The API's answers may lag the chain by ``FRESH_SECONDS``: every
check waits at most a few seconds for them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fault_support import REWARD, wait_until
from labelshare.settled import FRESH_SECONDS

WITHIN = FRESH_SECONDS + 4  # the cache's bound, and slack for a loaded machine


@pytest.fixture
def settings(settings, proxy, database_url):
    """The API (and its settler) on ape's anvil through the fault proxy, which passes everything
    until a test makes it fail. (``database_url`` named here keeps its parametrization, which an
    overriding fixture otherwise hides.)"""
    return settings.model_copy(update={"rpc_url": proxy.url, "rpc_attempts": 2, "rpc_backoff_seconds": 0.05})


def _labelled(api, wallet, make_project) -> tuple[Any, httpx.Client]:
    """Two wallets label the two tasks of a project alike and a review accepts them: the first
    wallet and its signed-in client (owed 2 * REWARD once settled)."""
    project = make_project(tasks=2, overlap=2)
    signed_in = []
    for _ in range(2):
        w = wallet()
        client = w.sign_in(api)
        while (offer := client.get("/tasks/next", params={"project_id": project["id"]})).status_code == 200:
            assert client.post("/submissions", json=w.sign_submission(offer.json(), {"label": "cat"})).status_code == 201
        signed_in.append((w, client))
    api.review()
    return signed_in[0]


def _answers(client: httpx.Client, epoch_id: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """/me/rewards, /epochs/{id} and that epoch's row of /epochs."""
    rewards = client.get("/me/rewards")
    one = client.get(f"/epochs/{epoch_id}")
    listed = client.get("/epochs")
    for response in (rewards, one, listed):
        assert response.status_code == 200, response.text
    return rewards.json(), one.json(), next(e for e in listed.json() if e["id"] == epoch_id)


def _wait_for(client: httpx.Client, epoch_id: int, status: str) -> tuple[dict[str, Any], ...]:
    """The three answers once all of them give the epoch ``status`` (within the cache's bound)."""
    def seen() -> tuple[dict[str, Any], ...] | None:
        rewards, one, listed = answers = _answers(client, epoch_id)
        return answers if rewards["epochs"][-1]["status"] == one["status"] == listed["status"] == status else None

    return wait_until(seen, WITHIN, f"the API did not say {status}: {_answers(client, epoch_id)}", interval=0.1)


def _assert_settled(answers: tuple[dict[str, Any], ...], owed: int) -> None:
    rewards, one, listed = answers
    assert (rewards["settled"], rewards["pending"], rewards["resending"], rewards["unverified"]) \
        == (str(owed), "0", "0", "0"), rewards
    assert rewards["reason"] is None and rewards["epochs"][-1]["reason"] is None, rewards
    assert one["reason"] is None and one["settled_at"] is not None, one
    assert listed == one


def _assert_not_settled(answers: tuple[dict[str, Any], ...], owed: int, status: str, why: str) -> None:
    rewards, one, listed = answers
    assert rewards["settled"] == "0", rewards
    assert why in rewards["reason"] and why in rewards["epochs"][-1]["reason"], rewards
    assert why in one["reason"] and one["settled_at"] is None, one
    assert listed == one
    if status == "unverified":  # the chain could not be asked: neither pending nor settled
        assert (rewards["unverified"], rewards["pending"], rewards["pending_annotations"]) == (str(owed), "0", 0)
    else:  # recorded as settled, not held at the confirmations: pending, counted as resending
        assert (rewards["pending"], rewards["resending"], rewards["pending_annotations"]) == (str(owed), str(owed), 2)


def test_chainLosesSettlement_answersResendingWithReason_settledAgainOnceResent(api, wallet, make_project,
                                                                               chain, token):
    w, client = _labelled(api, wallet, make_project)
    owed = 2 * REWARD
    before = chain.snapshot()
    epoch_id = api.settler.run_once(force=True)
    _assert_settled(_wait_for(client, epoch_id, "settled"), owed)
    assert token.balanceOf(w.address) == owed

    chain.restore(before)  # the chain forgets the settlement; the worker has not run since
    assert token.balanceOf(w.address) == 0
    _assert_not_settled(_wait_for(client, epoch_id, "resending"), owed, "resending",
                        "the ledger no longer holds it")

    api.settler.run_once()  # the worker's next pass sends the settlement again
    _assert_settled(_wait_for(client, epoch_id, "settled"), owed)
    assert token.balanceOf(w.address) == owed


def test_confirmations_settledOnlyWhenHeldThatDeep(api, wallet, make_project, chain, token):
    w, client = _labelled(api, wallet, make_project)
    # From here on (the project's registration would wait for blocks anvil never mines by itself).
    api.app.state.settings.confirmations = 2
    owed = 2 * REWARD
    epoch_id = api.settler.run_once(force=True)  # mined, 0 blocks deep: not settled yet
    rewards, one, _ = _answers(client, epoch_id)
    assert (rewards["settled"], rewards["pending"], one["status"]) == ("0", str(owed), "settling"), (rewards, one)
    just_mined = chain.snapshot()
    chain.mine(2)
    api.settler.run_once()  # two blocks deep: the worker confirms it
    _assert_settled(_wait_for(client, epoch_id, "settled"), owed)

    chain.restore(just_mined)  # the chain still holds the settlement, but 0 blocks deep again
    _assert_not_settled(_wait_for(client, epoch_id, "confirming"), owed, "confirming",
                        "fewer than 2 block(s) deep")
    chain.mine(1)  # one block deep: still not settled
    _assert_not_settled(_answers(client, epoch_id), owed, "confirming", "fewer than 2 block(s) deep")

    chain.mine(1)
    _assert_settled(_wait_for(client, epoch_id, "settled"), owed)
    assert token.balanceOf(w.address) == owed


def test_chainUnreachable_answersUnverifiedWithReason_neverSettled(api, proxy, wallet, make_project, token):
    w, client = _labelled(api, wallet, make_project)
    owed = 2 * REWARD
    epoch_id = api.settler.run_once(force=True)
    _assert_settled(_wait_for(client, epoch_id, "settled"), owed)

    proxy.fail("refuse")
    answers = _wait_for(client, epoch_id, "unverified")
    _assert_not_settled(answers, owed, "unverified", "the chain could not be asked")
    assert "connection refused" in answers[0]["reason"], answers[0]

    proxy.heal()
    _assert_settled(_wait_for(client, epoch_id, "settled"), owed)
    assert token.balanceOf(w.address) == owed
