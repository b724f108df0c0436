"""The SDK's endpoints for clients (ABIs, owner listings, task lists, quality summary, inclusion
proofs) and its pure helpers (amounts, terminal span entry)."""

from __future__ import annotations

import json
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labelshare.cli.terminal_labels import _find, _offsets
from labelshare.client import ApiError, LabelShareClient, format_amount, parse_amount
from labelshare.deployment import Deployment


def test_chainAbi_isTheApeBuildsAbi_andChainNamesDomainAndRpc(api, settings):
    with api.client() as c:
        abis = c.get("/chain/abi").json()
        info = c.get("/chain").json()
    deployment = Deployment.load(settings.deployment_file)
    assert abis == {name: deployment.abi(name) for name in ("ledger", "token", "licences")}
    assert info["siwe_domain"] == settings.siwe_domain and info["rpc_url"] == settings.rpc_url
    assert (info["licences"], info["stablecoin"]) == (deployment.address("licences"), deployment.address("stablecoin"))
    assert info["deployment_block"] == deployment.block_number


def test_requesterEndpoints_listTasksAndQuality_onlyForTheOwner(api, wallet, make_project, requester_client,
                                                             requester_account):
    project = make_project(tasks=2, overlap=1)
    annotator = wallet()
    client = annotator.sign_in(api)
    offer = client.get("/tasks/next", params={"project_id": project["id"]}).json()
    assert client.post("/submissions", json=annotator.sign_submission(offer, {"label": "dog"})).status_code == 201
    api.review()

    tasks = requester_client.get(f"/projects/{project['id']}/tasks").json()
    assert [t["task_id"] for t in tasks] == ["t0", "t1"]
    verified = requester_client.get(f"/projects/{project['id']}/tasks", params={"status": "verified"}).json()
    assert [t["verified_label"] for t in verified] == [{"label": "dog"}]
    assert len(requester_client.get(f"/projects/{project['id']}/tasks", params={"status": "open"}).json()) == 1
    bad = requester_client.get(f"/projects/{project['id']}/tasks", params={"status": "weird"})
    assert bad.status_code == 400 and bad.json()["field"] == "status"

    quality = requester_client.get(f"/projects/{project['id']}/quality").json()
    assert quality["verified_tasks"] == 1 and quality["mean_confidence"] is not None
    assert [(a["address"], a["accepted"], a["acceptance_rate"]) for a in quality["annotators"]] == \
        [(annotator.address, 1, 1.0)]
    assert client.get(f"/projects/{project['id']}/quality").status_code == 403
    assert client.get(f"/projects/{project['id']}/tasks").status_code == 403

    with api.client() as anyone:
        mine = anyone.get("/projects", params={"owner": requester_account.address}).json()
        assert [p["id"] for p in mine] == [project["id"]]
        assert anyone.get("/projects", params={"owner": annotator.address}).json() == []
        wrong = anyone.get("/projects", params={"owner": "0x123"})
        assert wrong.status_code == 400 and wrong.json()["field"] == "owner"


def test_inclusionProof_servedPerSubmission_andVerifiedByTheClientAndTheLedger(api, wallet, make_project, settings):
    project = make_project(tasks=3, overlap=1)
    annotator = wallet()
    annotator.sign_in(api)
    sdk = LabelShareClient(api.url, annotator.account)
    sdk.sign_in()
    for label in ("cat", "dog", "cat"):
        sdk.submit(sdk.next_task(project["id"]), {"label": label})
    api.review()
    epoch_id = api.settler.run_once(force=True)
    submissions = sdk.submissions()
    check = sdk.verify_inclusion(submissions[0]["id"])
    assert check.ok and check.epoch_id == epoch_id and check.onchain_root == check.root

    served = sdk.inclusion_proof(epoch_id, submissions[0]["id"])
    assert served["submission_id"] == submissions[0]["id"] and served["proof"]
    with api.client() as anyone:
        missing = anyone.get(f"/epochs/{epoch_id}/proof/999999")
        assert missing.status_code == 404 and missing.json()["field"] == "submission_id"
        assert anyone.get("/epochs/999/proof/1").status_code == 404

    # A server that serves another annotation's leaf and proof as mine is caught: the client
    # rebuilds the leaf from my own submission record.
    path = settings.manifests_dir / f"epoch-{epoch_id}.json"
    manifest = json.loads(path.read_text())
    entries = {leaf["submission_id"]: leaf for leaf in manifest["leaves"]}
    mine, other = entries[submissions[0]["id"]], entries[submissions[1]["id"]]
    mine.update(label_hash=other["label_hash"], leaf=other["leaf"], proof=other["proof"])
    path.write_text(json.dumps(manifest))
    forged = sdk.verify_inclusion(submissions[0]["id"])
    assert not forged.ok and not forged.matches_submission and not forged.leaf_recomputed
    assert forged.proof_valid is False and forged.verified_on_chain is False
    sdk.close()


def test_verifyInclusion_refusesWorkNotYetSettled(api, wallet, make_project):
    project = make_project(tasks=1, overlap=2)
    annotator = wallet()
    sdk = LabelShareClient(api.url, annotator.account)
    sdk.sign_in()
    sdk.submit(sdk.next_task(project["id"]), {"label": "cat"})
    with pytest.raises(ApiError) as err:
        sdk.verify_inclusion(sdk.submissions()[0]["id"])
    assert err.value.status == 409 and "pending" in err.value.detail
    with pytest.raises(ApiError):
        sdk.verify_inclusion(424242)
    sdk.close()


@given(st.integers(min_value=0, max_value=2**128))
def test_amounts_roundTripExactly(units):
    assert parse_amount(format_amount(units)) == units
    whole, _, fraction = format_amount(units).partition(".")
    assert int(whole) == units // 10**18 and int(fraction.ljust(18, "0") or 0) == units % 10**18


@pytest.mark.parametrize("text", ["-1", "abc", "0.0000000000000000001", "1e-19", "nan"])
def test_parseAmount_refusesWhatIsNotAnExactAmount(text):
    with pytest.raises(ValueError):
        parse_amount(text)


def test_terminalSpans_findsTheNthFreeOccurrence_andOffsetsAreCodePoints():
    text = "Paris, not Paris, Texas 🤠 Paris"
    assert _find(text, "Paris", []) == (0, 5)
    assert _find(text, "Paris#2", []) == (11, 16)
    assert _find(text, "Paris", [{"start": 0, "end": 5, "label": "LOC"}]) == (11, 16)  # skips a labelled one
    assert _find(text, "Paris#3", []) == (26, 31)  # the emoji is one code point, as the server counts
    assert _find(text, "Lyon", []) is None
    assert _offsets("0-5", len(text)) == (0, 5) and _offsets("5-0", len(text)) is None
    assert _offsets("0-99", len(text)) is None
    assert json.dumps(text[26:31]) == '"Paris"'


def test_growingLists_arePagedNewestFirst(api, wallet, make_project):
    """/me/submissions and /epochs answer a page at a time (their size used to grow with the data)."""
    project = make_project(tasks=5, overlap=1)
    sdk = LabelShareClient(api.url, wallet().account)
    sdk.sign_in()
    for _ in range(5):
        sdk.submit(sdk.next_task(project["id"]), {"label": "cat"})
    newest_first = [s["id"] for s in sdk.submissions(limit=1000)]
    assert newest_first == sorted(newest_first, reverse=True) and len(newest_first) == 5
    assert [s["id"] for s in sdk.submissions(limit=2)] == newest_first[:2]
    assert [s["id"] for s in sdk.submissions(limit=2, before=newest_first[1])] == newest_first[2:4]
    assert [s["id"] for s in sdk.all_submissions()] == newest_first
    api.review()
    epoch_id = api.settler.run_once(force=True)
    assert [e["id"] for e in sdk.epochs(limit=1)] == [epoch_id] and sdk.epochs(before=epoch_id) == []
    assert [e["epoch_id"] for e in sdk.rewards(limit=1)["epochs"]] == [epoch_id]
    assert sdk.verify_inclusion(newest_first[-1]).ok  # found by id, whatever page it is on
    for path, params in (("/me/submissions", {"limit": 0}), ("/epochs", {"limit": 1001}), ("/epochs", {"before": 0})):
        with pytest.raises(ApiError) as refused:
            sdk._call("GET", path, params=params)
        assert refused.value.status == 400 and refused.value.field in ("limit", "before")
    sdk.close()
