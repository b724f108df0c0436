"""The web page in a real browser (Debian's chromium, driven by Playwright): an annotator connects
an EIP-6963 wallet, signs in with EIP-4361, labels a classification, a text-span and an
image-box task, each signed with eth_signTypedData_v4; the settlement worker pays them on-chain;
the page's "My work" shows the settled rewards with their transactions and the token balance it
reads from the chain, equal to what the token contract says; the page's audit rebuilds every
epoch root in the browser and finds it clean; the requester sees their projects' stats and
quality summary. Everything the page shows is compared with the API and the chain."""

from __future__ import annotations

import json

import httpx
import pytest
from eth_account.messages import encode_defunct
from eth_utils import to_checksum_address
from playwright.sync_api import Page, expect
from web_support.images import data_url, png_with_rectangle
from web_support.page import (  # noqa: F401 - browser, database_url and settings are fixtures
    ANNOTATOR, Screenshots, browser, connect_and_sign_in, database_url, open_page, settings, wallet_context,
)

from labelshare.labels import label_hash

SETTLE_TIMEOUT_MS = 90_000

# "𝔼" is outside the Basic Multilingual Plane: one code point (what the API counts) but two UTF-16
# units (what the browser counts), so the offsets of the spans after it test the conversion.
TEXT = "Ada wrote 𝔼[X] = μ on a napkin in Paris, then flew to Zürich for a café."
SPANS = [("Zürich", "LOC"), ("Ada", "PER"), ("Paris", "LOC")]  # added out of order: the page sorts them
IMAGE_SIZE = (240, 160)
OBJECT = (90, 50, 60, 40)  # x, y, w, h of the rectangle drawn in the image


def _create_project(client: httpx.Client, name: str, instructions: str, schema: dict, reward: int,
                    tasks: list[dict]) -> dict:
    response = client.post("/projects", json={
        "name": name, "instructions": instructions, "domain": "general", "label_schema": schema,
        "reward_per_label": str(reward), "overlap": 1, "gold_rate": 0.0})
    assert response.status_code == 201, response.text
    project = response.json()
    body = "".join(json.dumps(task) + "\n" for task in tasks)
    upload = client.post(f"/projects/{project['id']}/tasks?format=jsonl", content=body)
    assert upload.status_code == 201, upload.text
    return project


def _take_task(page: Page, project: dict) -> None:
    page.get_by_test_id("tab-annotate").click()
    page.get_by_test_id("project-select").select_option(str(project["id"]))
    expect(page.get_by_test_id("project-instructions")).to_have_text(project["instructions"])
    page.get_by_test_id("next-task").click()
    expect(page.get_by_test_id("task-form")).to_be_visible()


def _submit(page: Page, me: httpx.Client, expected_payload: dict | None = None) -> dict:
    """Signs and submits the label on the page; checks the page's result against the API's record."""
    with page.expect_response(lambda r: r.url.endswith("/submissions") and r.request.method == "POST") as answer:
        page.get_by_test_id("submit-label").click()
    created = answer.value.json()
    assert answer.value.status == 201, created
    result = page.get_by_test_id("submission-result")
    expect(result).to_be_visible()
    expect(page.get_by_test_id("task-error")).to_be_hidden()
    assert result.get_attribute("data-submission-id") == str(created["id"])
    assert page.get_by_test_id("result-status").text_content() == created["status"]
    payload = json.loads(page.get_by_test_id("submitted-payload").text_content())
    if expected_payload is not None:
        assert payload == expected_payload
    record = next(s for s in me.get("/me/submissions").json() if s["id"] == created["id"])
    # The server hashed the payload the page showed the same way Python's RFC 8785 does.
    assert record["label_hash"] == "0x" + label_hash(payload).hex() == result.get_attribute("data-label-hash")
    return record


def _select_word(page: Page, word: str) -> None:
    """Double-clicks `word` in the span text, as a person selects a word."""
    box = page.evaluate("""(word) => {
        const root = document.querySelector('[data-testid=span-text]');
        const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const at = node.data.indexOf(word);
            if (at < 0) continue;
            const range = document.createRange();
            range.setStart(node, at);
            range.setEnd(node, at + word.length);
            const r = range.getBoundingClientRect();
            return {x: r.x + r.width / 2, y: r.y + r.height / 2};
        }
        return null;
    }""", word)
    assert box, f"{word!r} is not in the text"
    page.mouse.dblclick(box["x"], box["y"])
    expect(page.get_by_test_id("span-hint")).to_contain_text(f"Selected “{word}”")


def _audit_all(page: Page, epochs: list[dict], source: str) -> None:
    page.get_by_test_id("tab-audit").click()
    expect(page.get_by_test_id("epoch-select").locator("option")).to_have_count(len(epochs))
    for epoch in epochs:
        page.get_by_test_id("epoch-select").select_option(str(epoch["id"]))
        page.get_by_test_id("run-audit").click()
        verdict = page.get_by_test_id("audit-verdict")
        expect(verdict).to_have_attribute("data-epoch-id", str(epoch["id"]))
        checks = page.get_by_test_id("audit-check")
        details = "\n".join(checks.all_inner_texts())
        assert verdict.get_attribute("data-clean") == "true", details
        assert "audit clean" in verdict.text_content()
        ids = [c.get_attribute("data-check") for c in checks.all()]
        assert {"root-manifest", "root-onchain", "reward-onchain", "count-onchain", "proofs",
                "settled-onchain"} <= set(ids)
        assert all(c.get_attribute("data-ok") == "true" for c in checks.all())
        assert epoch["root"] in page.locator("[data-check=root-onchain]").text_content()
        assert source in page.get_by_test_id("audit-source").text_content()


@pytest.mark.settings(settlement_enabled=True)
def test_webPage_annotatorLabelsIsPaidOnChain_auditClean_requesterSeesQuality(
        api, browser, chain, token, requester_client, requester_account, tmp_path):
    rpc_url = chain.provider.uri
    shot = Screenshots(tmp_path)
    width, height = IMAGE_SIZE
    image = data_url(png_with_rectangle(width, height, OBJECT, colour=(40, 120, 70)))
    projects = {
        "classification": _create_project(
            requester_client, "Pets", "What animal is in the text?",
            {"type": "classification", "labels": ["cat", "dog", "bird"]}, 10**18,
            [{"id": "pet-1", "data": {"text": "A small dog barks at the postman."}}]),
        "spans": _create_project(
            requester_client, "Names and places", "Mark every person (PER) and place (LOC).",
            {"type": "spans", "labels": ["PER", "LOC"]}, 2 * 10**18,
            [{"id": "ner-1", "data": {"text": TEXT}}]),
        "boxes": _create_project(
            requester_client, "Find the box", "Draw a box around the green rectangle.",
            {"type": "boxes", "labels": ["rectangle", "other"]}, 3 * 10**18,
            [{"id": "img-1", "data": {"image": image, "width": width, "height": height}}]),
    }

    context = wallet_context(browser, rpc_url, ANNOTATOR, "Test wallet (anvil #9)", "anvil")
    page = context.new_page()
    watch = open_page(page, api.url)
    token_value = connect_and_sign_in(page, ANNOTATOR)
    expect(page.get_by_test_id("wallet-chain")).to_have_attribute("data-chain-id", str(chain.chain_id))
    me = api.client(token_value)
    shot(page, "01-signed-in")

    # Classification.
    _take_task(page, projects["classification"])
    page.get_by_test_id("choice-dog").check()
    shot(page, "02-label-classification")
    # A label changed after signing (here, on its way to the server) is refused: the page shows the
    # server's reason and field, and keeps the task so the annotator can sign again.
    refusals: list[dict] = []

    def tamper(route) -> None:
        body = route.request.post_data_json
        response = route.fetch(post_data=json.dumps({**body, "payload": {"label": "cat"}}))
        refusals.append({"status": response.status, **response.json()})
        route.fulfill(response=response)

    page.route("**/submissions", tamper)
    page.get_by_test_id("submit-label").click()
    expect(page.get_by_test_id("task-error")).to_be_visible()
    page.unroute("**/submissions")
    (refusal,) = refusals
    assert 400 <= refusal["status"] < 500 and refusal["field"], refusal
    assert page.get_by_test_id("task-error").text_content() == \
        f"Not accepted: {refusal['detail']} (field: {refusal['field']})"
    assert me.get("/me/submissions").json() == []
    first = _submit(page, me, {"label": "dog"})
    # overlap 1: the one task is complete, so the page has nothing more to offer, as the API says.
    page.get_by_test_id("result-next-task").click()
    expect(page.get_by_test_id("no-task")).to_be_visible()
    assert me.get("/tasks/next", params={"project_id": projects["classification"]["id"]}).status_code == 204

    # Text spans, selected by double-clicking words after an emoji: offsets are code points.
    _take_task(page, projects["spans"])
    for word, label in SPANS:
        page.get_by_test_id("span-label").select_option(label)
        _select_word(page, word)
        page.get_by_test_id("add-span").click()
    expect(page.get_by_test_id("span-item")).to_have_count(len(SPANS))
    expected_spans = sorted(({"start": TEXT.index(w), "end": TEXT.index(w) + len(w), "label": lab} for w, lab in SPANS),
                            key=lambda s: s["start"])
    shot(page, "03-label-spans")
    _submit(page, me, {"spans": expected_spans})

    # Image boxes: drag a rectangle a little outside the object, in screen pixels.
    _take_task(page, projects["boxes"])
    page.get_by_test_id("box-label").select_option("rectangle")
    image = page.get_by_test_id("box-image")
    expect(image).to_be_visible()
    page.wait_for_function("document.querySelector('[data-testid=box-image]').complete")
    frame = image.bounding_box()
    scale = frame["width"] / width
    x, y, w, h = OBJECT
    start = (frame["x"] + (x - 2) * scale, frame["y"] + (y - 2) * scale)
    end = (frame["x"] + (x + w + 2) * scale, frame["y"] + (y + h + 2) * scale)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()
    expect(page.get_by_test_id("box-item")).to_have_count(1)
    shot(page, "04-label-boxes")
    record = _submit(page, me)
    (box,) = json.loads(page.get_by_test_id("submitted-payload").text_content())["boxes"]
    assert box["label"] == "rectangle" and all(isinstance(box[k], int) for k in "xywh")
    corners = (box["x"], box["y"], box["x"] + box["w"], box["y"] + box["h"])
    assert all(abs(got - want) <= 1 for got, want in zip(corners, (x - 2, y - 2, x + w + 2, y + h + 2))), box
    assert record["project_id"] == projects["boxes"]["id"]

    # My work: the page polls until every submission is accepted and its epoch settled on-chain.
    page.get_by_test_id("tab-work").click()
    page.wait_for_function("""() => {
        const rows = [...document.querySelectorAll('[data-testid=submission-row]')];
        const epochs = [...document.querySelectorAll('[data-testid=epoch-reward-row]')];
        const balance = document.getElementById('token-balance').dataset.raw;
        return rows.length === 3 && rows.every((r) => r.dataset.status === 'accepted' && r.dataset.epochId)
            && epochs.length > 0 && epochs.every((e) => e.dataset.status === 'settled' && e.dataset.txHashes)
            && balance !== undefined && balance === document.getElementById('rewards-settled').dataset.raw
            && document.getElementById('work-polling').hidden;
    }""", timeout=SETTLE_TIMEOUT_MS)
    rewards = me.get("/me/rewards").json()
    submissions = me.get("/me/submissions").json()
    balance = token.balanceOf(ANNOTATOR)
    assert page.get_by_test_id("token-balance").get_attribute("data-raw") == str(balance) == rewards["settled"]
    assert balance == sum(int(s["reward"]) for s in submissions) > 0
    assert page.get_by_test_id("rewards-pending").get_attribute("data-raw") == rewards["pending"] == "0"
    symbol = token.symbol()
    assert symbol in page.get_by_test_id("token-balance").text_content()
    rows = page.get_by_test_id("submission-row")
    assert [(r.get_attribute("data-submission-id"), r.get_attribute("data-status"), r.get_attribute("data-reward"),
             r.get_attribute("data-epoch-id")) for r in rows.all()] == \
        [(str(s["id"]), s["status"], s["reward"], str(s["epoch_id"])) for s in submissions]
    epoch_rows = page.get_by_test_id("epoch-reward-row")
    assert [(r.get_attribute("data-epoch-id"), r.get_attribute("data-amount"), r.get_attribute("data-tx-hashes"))
            for r in epoch_rows.all()] == \
        [(str(e["epoch_id"]), e["amount"], ",".join(e["tx_hashes"])) for e in rewards["epochs"]]
    assert first["id"] in {s["id"] for s in submissions}
    shot(page, "05-my-work")

    # Audit every epoch from the browser, reading the chain through the wallet.
    epochs = me.get("/epochs").json()
    assert epochs and all(e["status"] == "settled" for e in epochs)
    _audit_all(page, epochs, "your wallet")
    shot(page, "06-audit")
    watch.check(api.url, rpc_url)
    context.close()

    # The requester: before connecting, the audit reads the chain through the service's public
    # RPC; then the requester signs in (personal_sign with their key, in Python) and sees stats
    # and the quality summary of each project.
    requester = to_checksum_address(requester_account.address)

    def sign_as_requester(message_hex: str, address: str) -> str:
        assert address.lower() == requester.lower()
        return "0x" + bytes(requester_account.sign_message(encode_defunct(hexstr=message_hex)).signature).hex()

    context = wallet_context(browser, rpc_url, requester, "Test wallet (requester)", "python")
    context.expose_function("labelshareTestSign", sign_as_requester)
    page = context.new_page()
    # Opened under another host name than the service's SIWE domain, the page says where to go.
    other_host = api.url.replace("127.0.0.1", "localhost")
    open_page(page, other_host)
    expect(page.get_by_test_id("boot-error")).to_contain_text(f"only for {api.app.state.settings.siwe_domain}")
    watch = open_page(page, api.url)
    _audit_all(page, epochs, "public RPC")
    connect_and_sign_in(page, requester)
    expect(page.get_by_test_id("session-role")).to_have_text("(requester)")
    page.get_by_test_id("tab-requester").click()
    cards = page.get_by_test_id("requester-project")
    expect(cards).to_have_count(len(projects))
    for project in projects.values():
        card = page.locator(f"[data-testid=requester-project][data-project-id='{project['id']}']")
        stats = requester_client.get(f"/projects/{project['id']}/stats").json()
        shown = card.get_by_test_id("project-stats")
        assert (shown.get_attribute("data-tasks"), shown.get_attribute("data-tasks-complete"),
                shown.get_attribute("data-accepted"), shown.get_attribute("data-annotators")) == \
            (str(stats["tasks"]), str(stats["tasks_complete"]), str(stats["accepted"]), str(stats["annotators"]))
        quality = requester_client.get(f"/projects/{project['id']}/quality")
        assert quality.status_code == 200, quality.text
        expect(card.get_by_test_id("quality-table")).to_be_visible()
        rows = card.get_by_test_id("quality-row").all()
        assert [(r.get_attribute("data-address"), r.get_attribute("data-accepted")) for r in rows] == \
            [(a["address"], str(a["accepted"])) for a in quality.json()["annotators"]]
    assert ANNOTATOR in {r.get_attribute("data-address") for r in page.get_by_test_id("quality-row").all()}
    shot(page, "07-requester")
    watch.check(api.url, rpc_url)
    context.close()
