"""The ``labelshare`` CLI against the live API and anvil, with real encrypted keystores: a
requester creates and fills a project, an annotator labels in the terminal and from a file, the
epoch settles on-chain, the annotator proves inclusion and the audit runs from the API alone.
Every API rejection reaches the user as the server's message, never a traceback.

The commands run in-process through Typer's CliRunner (stdin answers the prompts). These tests
run on SQLite only: they exercise the client, and the API's database paths are covered on both
engines by the other backend tests."""

from __future__ import annotations

import json
import os
import stat

import pytest
from eth_account import Account
from typer.testing import CliRunner

from labelshare.cli import app
from labelshare.client import format_amount

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PASSWORD = "correct horse battery staple"
SPANS = {"type": "spans", "labels": ["PER", "LOC"]}


@pytest.fixture
def cli(api, tmp_path, chain, monkeypatch):
    """Runs ``labelshare ...`` as a user whose home is ``tmp_path``; returns the Result."""
    monkeypatch.setenv("LABELSHARE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LABELSHARE_API", api.url)
    monkeypatch.setenv("LABELSHARE_WALLET_PASSWORD", PASSWORD)
    monkeypatch.setenv("COLUMNS", "220")  # rich tables: no folding of hashes in the captured output
    runner = CliRunner()

    def run(*args: str, input: str | None = None, keystore: str | None = None, ok: bool = True):
        prefix = ["--keystore", keystore] if keystore else []
        result = runner.invoke(app, [*prefix, *args], input=input, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run


def test_wallet_createsAndImportsEncryptedKeystores_neverShowingTheKey(cli, tmp_path):
    created = cli("wallet", "create")
    keystore = tmp_path / "home" / "keystore.json"
    address = cli("wallet", "address").output.strip()
    assert address in created.output and json.loads(keystore.read_text())["address"].lower() == address[2:].lower()
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600

    again = cli("wallet", "create", ok=False)
    assert again.exit_code == 1 and "already exists" in again.output and "Traceback" not in again.output
    assert cli("wallet", "address").output.strip() == address  # untouched

    key = Account.create()
    os.environ["LABELSHARE_IMPORT_KEY"] = key.key.hex()
    try:
        imported = cli("wallet", "import", keystore=str(tmp_path / "imported.json"))
    finally:
        del os.environ["LABELSHARE_IMPORT_KEY"]
    assert key.address in imported.output and key.key.hex()[2:] not in imported.output
    assert key.key.hex()[2:] not in (tmp_path / "imported.json").read_text()  # encrypted, not plain

    os.environ["LABELSHARE_WALLET_PASSWORD"] = "wrong"
    wrong = cli("login", ok=False)
    assert wrong.exit_code == 1 and "wrong password" in wrong.output and "Traceback" not in wrong.output


def _answers(path, payload_for):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r | {"payload": payload_for(r)}) + "\n" for r in rows))
    return rows


@pytest.mark.settings(max_open_offers_per_project=5)  # `fetch` takes a batch of offers
def test_cli_requesterAndAnnotator_labelSettleProveAndAudit(cli, api, token, requester_account, tmp_path):
    requester = str(tmp_path / "requester.json")
    os.environ["LABELSHARE_IMPORT_KEY"] = requester_account.key.hex()
    try:
        cli("wallet", "import", keystore=requester)
    finally:
        del os.environ["LABELSHARE_IMPORT_KEY"]
    assert "(requester)" in cli("login", keystore=requester).output

    # Requester: two projects with one annotator each, tasks from files.
    pets = cli("project", "create", "--name", "Pets", "--labels", "cat,dog", "--reward", "1.5", "--overlap", "1",
               keystore=requester)
    assert "registered on-chain in 0x" in pets.output
    (tmp_path / "pets.jsonl").write_text("".join(json.dumps({"id": f"p{i}", "data": {"text": f"pet {i}"}}) + "\n"
                                                 for i in range(4)))
    assert "4 task(s) uploaded" in cli("project", "upload", "1", str(tmp_path / "pets.jsonl"), keystore=requester).output
    (tmp_path / "schema.json").write_text(json.dumps(SPANS))
    cli("project", "create", "--name", "People", "--schema", str(tmp_path / "schema.json"), "--reward", "2",
        "--overlap", "1", keystore=requester)
    (tmp_path / "people.json").write_text(json.dumps([{"id": "s1", "data": {"text": "Ada Lovelace met Babbage in London"}}]))
    cli("project", "upload", "2", str(tmp_path / "people.json"), keystore=requester)
    listing = cli("projects").output
    assert "Pets" in listing and "People" in listing and "0/4" in listing

    # Annotator: a new wallet; label two pets and the span task in the terminal...
    cli("wallet", "create")
    annotator = cli("wallet", "address").output.strip()
    cli("login")
    labelled = cli("label", "1", "--count", "2", input="1\ndog\n")
    assert "2 label(s) submitted" in labelled.output and "submission 1: pending" in labelled.output
    spans = cli("label", "2", input="PER: Ada Lovelace\nPER: Babbage\nLOC: 28-34\n\n")
    assert "1 label(s) submitted" in spans.output
    # ...and the remaining two pets from a file.
    cli("fetch", "1", "-n", "5", "-o", str(tmp_path / "todo.jsonl"))
    todo = _answers(tmp_path / "todo.jsonl", lambda r: {"label": "cat"})
    assert len(todo) == 2
    assert "2 submitted" in cli("submit", str(tmp_path / "todo.jsonl")).output
    assert "no task left" in cli("label", "1").output

    api.review()
    assert api.settler.run_once(force=True) is not None
    rewards = cli("rewards").output
    balance = token.balanceOf(annotator)
    assert balance == int(1.5 * 4 * 10**18) + 2 * 10**18  # every label was the only one: all accepted, paid in full
    assert f"balance  {format_amount(balance)} LSR on-chain" in rewards and "settled" in rewards and "0x" in rewards
    assert format_amount(balance) in cli("balance").output

    mine = api.client(_session_token(tmp_path, api.url, annotator)).get("/me/submissions").json()
    spans_submission = next(s for s in mine if s["project_id"] == 2)
    proof = cli("prove", str(spans_submission["id"]))
    assert "proven" in proof.output and "FAILED" not in proof.output

    export = cli("project", "export", "2", keystore=requester).output
    assert json.loads(export)["label"] == {"spans": [{"start": 0, "end": 12, "label": "PER"},
                                                     {"start": 17, "end": 24, "label": "PER"},
                                                     {"start": 28, "end": 34, "label": "LOC"}]}
    watch = cli("project", "watch", "1", "--interval", "0.2", keystore=requester).output
    assert "tasks complete" in watch
    quality = cli("project", "quality", "1", keystore=requester).output
    assert annotator in quality and "4 verified labels" in quality
    assert "audit clean" in cli("audit", "--remote").output


def _session_token(tmp_path, api_url: str, address: str) -> str:
    sessions = json.loads((tmp_path / "home" / "sessions.json").read_text())
    return sessions[f"{api_url}|{address.lower()}"]["token"]


@pytest.mark.settings(max_open_offers_per_project=5)  # `fetch` takes a batch of offers
def test_cli_showsTheServersMessage_forEveryRejection(cli, api, make_project, tmp_path):
    project = make_project(tasks=2, overlap=1)
    cli("wallet", "create")
    cli("login")
    cli("fetch", str(project["id"]), "-n", "2", "-o", str(tmp_path / "todo.jsonl"))
    _answers(tmp_path / "todo.jsonl", lambda r: {"label": "wolf"})
    refused = cli("submit", str(tmp_path / "todo.jsonl"), ok=False)
    assert refused.exit_code == 1 and "2 refused" in refused.output
    assert "schema_violation" in refused.output and "payload.label" in refused.output and "Traceback" not in refused.output

    (tmp_path / "bad.jsonl").write_text('{"project_id": 1, "task_id": "0x01", "payload": {"label": "cat"}}\nnot json\n')
    bad = cli("submit", str(tmp_path / "bad.jsonl"), ok=False)
    assert bad.exit_code == 1 and "line 2: not JSON" in bad.output and "nothing was submitted" in bad.output

    forbidden = cli("project", "create", "--name", "X", "--labels", "a,b", "--reward", "1", ok=False)
    assert forbidden.exit_code == 1 and "is not a requester" in forbidden.output and "[403 forbidden]" in forbidden.output

    missing = cli("project", "export", "999", ok=False)
    assert missing.exit_code == 1 and "Traceback" not in missing.output

    negative = cli("project", "create", "--name", "X", "--labels", "a,b", "--reward", "-1", ok=False)
    assert "--reward" in negative.output

    os.environ["LABELSHARE_API"] = "http://127.0.0.1:9"  # nothing listens on the discard port
    unreachable = cli("projects", ok=False)
    assert unreachable.exit_code == 1 and "cannot reach http://127.0.0.1:9" in unreachable.output


def test_cli_skipAndQuitRelease_releaseCommand_fetchStopsAtTheOfferCap(cli, api, make_project, wallet, tmp_path):
    project = make_project(tasks=4, overlap=1)
    pid = str(project["id"])
    other = wallet().sign_in(api)
    cli("wallet", "create")
    cli("login")
    # Skipping one task and quitting on the next gives both back at once: the other wallet gets them.
    assert "0 label(s) submitted" in cli("label", pid, input="s\nq\n").output
    freed = [other.get("/tasks/next", params={"project_id": project["id"]}).json()["task_id"]]
    assert other.delete(f"/tasks/{freed[0]}/offer").status_code == 204
    freed.append(other.get("/tasks/next", params={"project_id": project["id"]}).json()["task_id"])
    assert len(set(freed)) == 2
    # fetch takes what one wallet may hold (one a project), not the same offer again and again.
    cli("fetch", pid, "-n", "5", "-o", str(tmp_path / "todo.jsonl"))
    todo = [json.loads(line) for line in (tmp_path / "todo.jsonl").read_text().splitlines()]
    assert len(todo) == 1 and todo[0]["expires_at"]
    with wallet().sign_in(api) as third:  # the fourth task was not hoarded by the fetch
        assert third.get("/tasks/next", params={"project_id": project["id"]}).status_code == 200
    assert f"released task {todo[0]['task_id']}" in cli("release", todo[0]["task_id"]).output
    again = cli("release", todo[0]["task_id"], ok=False)
    assert again.exit_code == 1 and "expired or released" in again.output and "Traceback" not in again.output
    other.close()
