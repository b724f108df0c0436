"""End to end: annotators with their own keys sign in, take tasks, sign and submit; epochs settle
through web3 on the running settlement worker; each annotator's on-chain balance equals what the
API reports; the audit is clean."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

REWARD = 10**18


def _label_all(client, wallet, project_id: int, label: str) -> int:
    submitted = 0
    while (offer := client.get("/tasks/next", params={"project_id": project_id})).status_code != 204:
        assert offer.status_code == 200, offer.text
        response = client.post("/submissions", json=wallet.sign_submission(offer.json(), {"label": label}))
        assert response.status_code == 201, response.text
        submitted += 1
    return submitted


def _wait_until(predicate, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for settlement"
        time.sleep(0.2)


@pytest.mark.settings(settlement_enabled=True)
def test_annotators_labelAndGetPaidOnChain(api, wallet, token, make_project, requester_client):
    project = make_project(tasks=4, overlap=3, reward=REWARD)
    annotators = [wallet() for _ in range(4)]
    clients = [a.sign_in(api) for a in annotators]
    # Three annotators agree on "cat" for every task; the fourth finds every task already full.
    for annotator, client in zip(annotators[:3], clients[:3], strict=True):
        assert _label_all(client, annotator, project["id"], "cat") == 4
    assert _label_all(clients[3], annotators[3], project["id"], "dog") == 0

    def settled() -> bool:
        return all(c.get("/me/rewards").json()["settled"] == str(4 * REWARD) for c in clients[:3]) and \
            all(e["status"] == "settled" for e in clients[0].get("/epochs").json())

    _wait_until(settled)
    for annotator, client in zip(annotators, clients, strict=True):
        rewards = client.get("/me/rewards").json()
        assert token.balanceOf(annotator.address) == int(rewards["settled"])
        assert all(e["status"] == "settled" and e["tx_hashes"] for e in rewards["epochs"])
    assert [token.balanceOf(a.address) for a in annotators] == [4 * REWARD] * 3 + [0]
    assert token.totalSupply() == 12 * REWARD

    epochs = clients[0].get("/epochs").json()
    manifest = clients[0].get(f"/epochs/{epochs[0]['id']}/manifest").json()
    assert manifest["root"] == epochs[0]["root"]
    stats = requester_client.get(f"/projects/{project['id']}/stats").json()
    assert (stats["accepted"], stats["tasks_complete"], stats["annotators"]) == (12, 4, 3)
    export = requester_client.get(f"/projects/{project['id']}/export", params={"format": "jsonl"})
    assert export.status_code == 200 and export.text.count('"label": {"label": "cat"}') == 4
    # As anyone could: the deployment, the chain and the manifests all named by the API.
    audit = subprocess.run(["labelshare", "--api", api.url, "audit", "--remote"], capture_output=True, text=True,
                           timeout=300, env={k: v for k, v in os.environ.items() if not k.startswith("LABELSHARE_")})
    assert audit.returncode == 0, audit.stdout + audit.stderr


def _audit_cli(settings, *args: str):
    env = {**os.environ, "LABELSHARE_RPC_URL": settings.rpc_url,
           "LABELSHARE_DEPLOYMENT_FILE": str(settings.deployment_file),
           "LABELSHARE_MANIFESTS_DIR": str(settings.manifests_dir)}
    return subprocess.run(["labelshare", "audit", *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.settings(epoch_max_annotations=4)
def test_audit_cleanAfterSettlement_failsOnTamperedManifest(api, wallet, make_project, settings):
    project = make_project(tasks=3, overlap=2, reward=REWARD)
    annotators = [wallet() for _ in range(2)]
    for annotator in annotators:
        assert _label_all(annotator.sign_in(api), annotator, project["id"], "dog") == 3
    # 6 accepted annotations with at most 4 per epoch: two epochs.
    api.review()
    assert api.settler.run_once(force=True) == 1
    assert api.settler.run_once(force=True) == 2

    clean = _audit_cli(settings)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "audit clean" in clean.stdout
    assert "epochs 2, annotations 6" in clean.stdout

    path = settings.manifests_dir / "epoch-2.json"
    manifest = json.loads(path.read_text())
    manifest["leaves"][0]["reward"] = str(int(manifest["leaves"][0]["reward"]) + 1)
    path.write_text(json.dumps(manifest))
    tampered = _audit_cli(settings)
    assert tampered.returncode == 1
    assert "MISMATCH" in tampered.stdout and "audit FAILED" in tampered.stdout
