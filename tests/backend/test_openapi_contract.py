"""``/openapi.json`` as a contract a generated client can trust (issue 16, point 5).

A client generated from the live document (pydantic models by datamodel-code-generator, the
bearer scheme read from ``securitySchemes``) signs in, takes a task, submits a signed label and
reads its rewards against the real API; and the document itself is walked: integer bounds are
exact integers a JSON parser holds, every address, hash and signature states its pattern, every
operation that takes the token declares the bearer scheme and the errors that come with it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import pkgutil
import subprocess
import sys
import time
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.routing import APIRoute

from labelshare.api import deps
from labelshare.api import routes as routes_package
from labelshare.client import siwe_message
from labelshare.labels import label_hash
from labelshare.task_formats import ROW_RULES
from labelshare.wire import ADDRESS, BYTES32, DECIMAL, MAX_SAFE_INTEGER, SIGNATURE

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the HTTP layer is the same

REWARD = 10**18


def _walk(node: Any, where: str = "#"):
    """Every (location, schema object) of the document."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}/{i}")


@pytest.fixture
def document(api) -> dict[str, Any]:
    with api.client() as client:
        return client.get("/openapi.json").json()


@pytest.fixture
def generated(document, tmp_path) -> Any:
    """The client's models, generated from the served document as any client's would be."""
    source, module = tmp_path / "openapi.json", tmp_path / "labelshare_client_models.py"
    source.write_text(json.dumps(document))
    subprocess.run([sys.executable, "-m", "datamodel_code_generator", "--input", str(source),
                    "--input-file-type", "openapi", "--output-model-type", "pydantic_v2.BaseModel",
                    "--field-constraints", "--formatters", "builtin", "--output", str(module)],
                   check=True, capture_output=True)
    spec = importlib.util.spec_from_file_location(module.stem, module)
    assert spec is not None and spec.loader is not None
    models = importlib.util.module_from_spec(spec)
    sys.modules[module.stem] = models  # pydantic resolves forward references through the module
    spec.loader.exec_module(models)
    return models


def _auth_header(document: dict[str, Any], method: str, path: str, token: str) -> dict[str, str]:
    """The credentials the document says ``method path`` takes: only an HTTP bearer scheme is known."""
    [requirement] = document["paths"][path][method]["security"]
    [name] = requirement
    scheme = document["components"]["securitySchemes"][name]
    assert (scheme["type"], scheme["scheme"].lower()) == ("http", "bearer")
    return {"Authorization": f"Bearer {token}"}


@SQLITE
def test_generatedClient_signsIn_submits_andReadsRewards(api, document, generated, make_project):
    project = make_project(tasks=1, overlap=1)
    account = Account.create()
    with api.client() as http:
        nonce = generated.NonceOut.model_validate(http.get("/auth/nonce").json())
        chain = generated.ChainOut.model_validate(http.get("/chain").json())
        message = siwe_message(account.address, nonce.nonce, chain.chain_id, chain.siwe_domain,
                               f"http://{chain.siwe_domain}")
        signature = "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()
        sign_in = generated.SignInIn(message=message, signature=signature)
        verified = http.post("/auth/verify", json=sign_in.model_dump(mode="json"))
        assert verified.status_code == 200, verified.text
        session = generated.SessionOut.model_validate(verified.json())
        assert session.address == account.address

        auth = _auth_header(document, "get", "/tasks/next", session.token)
        offered = http.get("/tasks/next", params={"project_id": project["id"]}, headers=auth)
        assert offered.status_code == 200, offered.text
        offer = generated.TaskOffer.model_validate(offered.json())

        payload = {"label": "cat"}
        deadline = int(time.time()) + 600
        message_fields = {"annotator": account.address, "projectId": offer.project_id, "taskId": offer.task_id,
                          "labelHash": "0x" + label_hash(payload).hex(), "nonce": 7, "deadline": deadline}
        typed = {"types": offer.eip712_types, "primaryType": "Submission", "domain": offer.eip712_domain,
                 "message": message_fields}
        submission = generated.SubmissionIn(
            project_id=offer.project_id, task_id=offer.task_id, payload=payload,
            label_hash="0x" + label_hash(payload).hex(), nonce=7, deadline=deadline,
            chain_id=offer.eip712_domain["chainId"], verifying_contract=offer.eip712_domain["verifyingContract"],
            signature="0x" + bytes(account.sign_typed_data(full_message=typed).signature).hex())
        submitted = http.post("/submissions", json=submission.model_dump(mode="json"),
                              headers=_auth_header(document, "post", "/submissions", session.token))
        assert submitted.status_code == 201, submitted.text
        assert generated.SubmissionOut.model_validate(submitted.json()).status == "pending"

        api.review()  # overlap 1: the label is the verified one, accepted
        read = http.get("/me/rewards", headers=_auth_header(document, "get", "/me/rewards", session.token))
        assert read.status_code == 200, read.text
        rewards = generated.RewardsOut.model_validate(read.json())
    assert int(rewards.pending) + int(rewards.settled) == REWARD


# Fields that hold an address, a bytes32 or a signature, by (schema, property); None: every schema.
# TaskOut.task_id is the requester's own id, SessionOut.token the bearer token, ContractAbis' the ABIs.
_PATTERNED = {
    ADDRESS: {"address", "owner", "buyer", "annotator", "currency", "verifying_contract", "stablecoin",
              ("ChainOut", "ledger"), ("ChainOut", "token"), ("ChainOut", "licences")},
    BYTES32: {"task_key", "label_hash", "spec_hash", "registered_tx", "tx_hash", "grant_tx", "root", "leaf",
              "shares_root", "tx_hashes", "proof", ("TaskOffer", "task_id"), ("SubmissionIn", "task_id"),
              ("SubmissionOut", "task_id"), ("InclusionProofOut", "task_id")},
    SIGNATURE: {"signature"},
}
_AMOUNTS = {"reward", "pending", "settled", "amount", "total_reward", "total_shares", "shares", "price", "fee",
            "requester_amount", "contributors_amount", "revenue_per_share", "contributed", "claimed", "claimable",
            "dust", "reward_per_label"}


def _patterns(schema: dict[str, Any]) -> set[str]:
    """The patterns a property's schema states (through Optional and list items)."""
    found = {schema["pattern"]} if "pattern" in schema else set()
    for option in schema.get("anyOf", []) + ([schema["items"]] if "items" in schema else []):
        found |= _patterns(option)
    return found


@SQLITE
def test_document_integerBoundsAreExactSafeIntegers(document):
    for where, node in _walk(document):
        if node.get("type") != "integer":
            continue
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if key in node:
                assert type(node[key]) is int, f"{where}: {key} {node[key]!r} is not an integer"
                assert abs(node[key]) <= MAX_SAFE_INTEGER, f"{where}: {key} {node[key]} is not exact in JSON"


@SQLITE
def test_document_everyAddressHashSignatureAndAmountStatesItsPattern(document):
    checked = 0
    for name, model in document["components"]["schemas"].items():
        for prop, schema in model.get("properties", {}).items():
            for pattern, fields in _PATTERNED.items():
                if prop in fields or (name, prop) in fields:
                    assert _patterns(schema) == {pattern}, f"{name}.{prop}: {schema}"
                    checked += 1
            if prop in _AMOUNTS and (name, prop) != ("AnnotatorQuality", "pending"):  # that one counts labels
                assert _patterns(schema) == {DECIMAL} and schema["type"] == "string", f"{name}.{prop}"
                checked += 1
    assert checked > 50
    params = {(p["name"], p["in"]): p["schema"] for ops in document["paths"].values() for op in ops.values()
              for p in op.get("parameters", [])}
    assert _patterns(params[("owner", "query")]) == {ADDRESS}
    assert _patterns(params[("address", "path")]) == {ADDRESS}


def _takes_bearer(dependant: Any) -> bool:
    return any(d.call is deps._bearer or _takes_bearer(d) for d in dependant.dependencies)


@SQLITE
def test_document_everyRouteTakingTheTokenDeclaresBearer_andItsErrors(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes == {"bearer": {"type": "http", "scheme": "bearer", "description": schemes["bearer"]["description"]}}
    secured = 0
    routes = [r for m in pkgutil.iter_modules(routes_package.__path__)
              for r in importlib.import_module(f"{routes_package.__name__}.{m.name}").router.routes]
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods:
            operation = document["paths"][route.path_format][method.lower()]
            if _takes_bearer(route.dependant):
                secured += 1
                assert operation["security"] == [{"bearer": []}], f"{method} {route.path}"
                assert {"401", "403"} <= set(operation["responses"]), f"{method} {route.path}"
            else:
                assert "security" not in operation, f"{method} {route.path}"
            assert not any(p["in"] == "header" and p["name"].lower() == "authorization"
                           for p in operation.get("parameters", [])), f"{method} {route.path}: token as a header"
    assert secured > 10
    for status in ("400", "401", "403", "404", "409", "413", "429", "503"):  # every error carries ErrorOut
        for ops in document["paths"].values():
            for op in ops.values():
                if status in op["responses"]:
                    body = op["responses"][status]["content"]["application/json"]["schema"]
                    assert body == {"$ref": "#/components/schemas/ErrorOut"}


@SQLITE
def test_publishVersion_nothingSettled_answers409_whichTheDocumentDeclares(api, document, make_project,
                                                                            requester_client):
    project = make_project(tasks=1, overlap=1)
    response = requester_client.post(f"/projects/{project['id']}/versions")
    assert response.status_code == 409, response.text
    declared = document["paths"]["/projects/{project_id}/versions"]["post"]["responses"]
    assert "409" in declared and set(response.json()) >= {"error", "detail", "field"}


@SQLITE
@pytest.mark.parametrize("max_spans, status", [(278.0, 201), (278, 201), (278.5, 400), ("278", 400), (True, 400)])
def test_spansSchema_integerValuedFloatIsAnInteger_asTheDocumentSays(requester_client, document, max_spans, status):
    declared = document["components"]["schemas"]["SpansSchema"]["properties"]["max_spans"]
    assert declared["type"] == "integer"
    response = requester_client.post("/projects", json={
        "name": "Spans", "label_schema": {"type": "spans", "labels": ["PER"], "max_spans": max_spans},
        "reward_per_label": str(REWARD), "overlap": 1})
    assert response.status_code == status, response.text
    if status == 201:
        assert response.json()["label_schema"]["max_spans"] == 278
    else:
        assert response.json()["field"] == "label_schema.spans.max_spans"


@SQLITE
def test_document_statesTheInputGuardsRules(document, settings):
    body = document["paths"]["/submissions"]["post"]["requestBody"]["description"]
    for rule in (f"At most {settings.max_body_bytes} bytes", f"nested at most {settings.max_json_depth} levels",
                 "without NUL", "lone UTF-16 surrogate", f"at most {settings.max_payload_bytes} bytes"):
        assert rule in body
    upload = document["paths"]["/projects/{project_id}/tasks"]["post"]["requestBody"]
    assert f"At most {settings.max_import_bytes} bytes" in upload["description"]
    assert "TaskRow" in json.dumps(upload["content"]["application/json"])
    gold = document["components"]["schemas"]["GoldTaskRow"]["properties"]["gold"]
    assert gold["allOf"] == [{"$ref": "#/components/schemas/LabelPayload"}]


@SQLITE
def test_taskUpload_rowsAreCheckedAgainstTheDocumentedTaskRow(api, document, make_project, requester_client):
    declared = document["components"]["schemas"]["TaskRow"]
    assert declared["required"] == ["id", "data"] and declared["properties"]["data"]["type"] == "object"
    [text_id, integer_id] = declared["properties"]["id"]["anyOf"]
    assert (text_id["minLength"], text_id["maxLength"], integer_id["type"]) == (1, 200, "integer")
    project = make_project(tasks=0, overlap=1)
    rows = [{"id": " ", "data": {}}, {"id": True, "data": {}}, {"id": "x" * 201, "data": {}}, {"id": 1.5, "data": {}},
            {"id": "ok", "data": []}, {"id": 7, "data": {"text": "fine"}}]
    response = requester_client.post(f"/projects/{project['id']}/tasks?format=jsonl",
                                     content="".join(json.dumps(r) + "\n" for r in rows))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_rows"
    assert [(r["row"], r["field"]) for r in body["rows"]] == [(1, "id"), (2, "id"), (3, "id"), (4, "id"), (5, "data")]
    assert body["rows"][0]["message"] == f"id must be {ROW_RULES['id']}"
