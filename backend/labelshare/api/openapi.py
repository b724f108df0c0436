"""The OpenAPI document, completed with what the routes do not declare themselves:

- the error responses each operation can give, all with the one body ``ErrorOut``
  (``{"error", "detail", "field"}``), in place of FastAPI's default 422 (this API answers invalid
  input with 400);
- the task import's request body, which the route reads raw (JSON, JSONL or CSV; its rows are
  ``task_formats.TaskRow``/``GoldTaskRow``), and the export's response (JSONL or CSV);
- the label payload (``LabelPayload``: one of ``labels``' payload models), which
  ``SubmissionIn.payload`` and a gold row's ``gold`` refer to;
- the input guard's and the body limit's rules, on every request body and in ``info``.

The bearer token is the ``bearer`` security scheme (``api.deps``): FastAPI marks every operation
that depends on it.

The statuses follow from what an operation takes (below) plus ``OPERATION_ERRORS`` for what only
its code knows; ``tests/backend/test_schemathesis.py`` checks the result against the live API.

=======  ==================================================================================
status   documented on
=======  ==================================================================================
400      every operation with parameters or a body
401/403  every operation that takes a bearer token (``security``)
404      every operation with a path parameter
413      every operation with a request body (``LABELSHARE_MAX_BODY_BYTES``)
429      every operation (rate limits, unless disabled), but /health
503      every operation but /health (the database, the chain or a manifest cannot be reached)
=======  ==================================================================================
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import TypeAdapter

from labelshare.api.errors import ErrorOut
from labelshare.api.input_guard import MAX_DIGITS
from labelshare.config import Settings
from labelshare.labels import LabelPayload
from labelshare.task_formats import GoldTaskRow, TaskRow

__all__ = ["OPERATION_ERRORS", "document_openapi"]

_DESCRIPTIONS = {
    400: "invalid input: invalid_input, invalid_signature, schema_violation, deadline_expired, invalid_rows",
    401: "unauthenticated: no bearer token, or the session is unknown or expired",
    403: "forbidden: not a requester or admin, signer_mismatch, wrong_domain, task_not_offered, "
         "annotator_suspended, a sign-in nonce unknown, expired or used",
    404: "not_found: no such project, task, epoch, attempt or domain",
    409: "conflict: already_submitted, nonce_reused, the task or project is closed, a concurrent change, "
         "too many open offers, an offer already ended",
    413: "payload_too_large: the request body or the label payload is over its limit",
    429: "rate_limited: too many requests; retry after Retry-After seconds",
    503: "unavailable: the database (database_unavailable, with Retry-After), the chain (chain_error) or an "
         "epoch manifest cannot be reached now",
}

# What only the operation's code knows, on top of the rules of the module docstring.
OPERATION_ERRORS: Mapping[tuple[str, str], frozenset[int]] = {
    ("POST", "/auth/verify"): frozenset({403}),  # wrong domain or chain, nonce unknown/used
    ("GET", "/tasks/next"): frozenset({404, 409}),  # unknown project; offered concurrently, too many open offers
    ("DELETE", "/tasks/{task_id}/offer"): frozenset({409}),  # submitted, expired or released already
    ("POST", "/projects/{project_id}/versions"): frozenset({409}),  # nothing settled since the last version
    ("POST", "/submissions"): frozenset({404, 409}),  # unknown task; duplicate, nonce, closed
    ("POST", "/projects/{project_id}/tasks"): frozenset({409, 413}),  # body read raw
    ("PUT", "/qualifications/{domain}"): frozenset({409}),
    ("POST", "/qualifications/{domain}/attempts"): frozenset({409}),
    ("POST", "/qualifications/attempts/{attempt_id}"): frozenset({409}),
}

# anyOf: a gold row is a TaskRow too (other keys are allowed)
_ROWS = {"anyOf": [{"$ref": "#/components/schemas/TaskRow"}, {"$ref": "#/components/schemas/GoldTaskRow"}]}
_RAW_BODIES: Mapping[tuple[str, str], dict[str, Any]] = {
    ("POST", "/projects/{project_id}/tasks"): {
        "description": "the file, in the format ?format= names: a JSON list of rows (or {\"tasks\": [rows]}), JSONL "
                       "(one row a line) or CSV (a header row with an id column; every other column but gold is a "
                       "key of data, gold holds the answer as JSON); each row a TaskRow, or a GoldTaskRow with "
                       "?gold=true",
        "required": True,
        "content": {
            "application/json": {"schema": {"oneOf": [
                {"type": "array", "items": _ROWS},
                {"type": "object", "properties": {"tasks": {"type": "array", "items": _ROWS}}, "required": ["tasks"]},
            ]}},
            "application/x-ndjson": {"schema": {"type": "string", "description": "one TaskRow (GoldTaskRow) a line"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    },
}

_RAW_RESPONSES: Mapping[tuple[str, str], dict[str, Any]] = {
    ("GET", "/projects/{project_id}/export"): {
        "description": "the verified labels: JSONL (format=jsonl) or CSV (format=csv)",
        "content": {"application/x-ndjson": {"schema": {"type": "string"}},
                    "text/csv": {"schema": {"type": "string"}}},
    },
}

_REF = "#/components/schemas/ErrorOut"
_PAYLOAD_FIELDS = (("SubmissionIn", "payload"), ("GoldTaskRow", "gold"))
_STATIC = frozenset({"/health"})  # answers without the database, the chain or a rate limit


def document_openapi(app: FastAPI, settings: Settings, exempt_paths: Iterable[str] = ()) -> None:
    """Makes ``app.openapi()`` document every operation's error responses (and raw bodies)."""
    generate = app.openapi
    exempt = frozenset(exempt_paths)
    completed: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI's, cached: completed once, in place
        if not any(schema is done for done in completed):
            _complete(schema, settings, exempt)
            completed[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _body_rules(settings: Settings, limit: int) -> str:
    """What the input guard (``api.input_guard``) and the body limit refuse, with 400 or 413."""
    return (f"At most {limit} bytes (else 413). UTF-8 text without NUL; JSON without \\u0000 or lone UTF-16 "
            f"surrogate escapes, nested at most {settings.max_json_depth} levels, integers of at most {MAX_DIGITS} "
            f"digits (else 400 invalid_input). A label payload is at most {settings.max_payload_bytes} bytes "
            "as canonical JSON (else 413).")


_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _integer_bounds(node: Any) -> None:
    """Integer bounds back to integers: FastAPI's OpenAPI model types them float, so an integer's
    ``le=5`` was written 5.0 (and 2^256 as 1.157920892373162e+77, rounded past the bound). Every
    bound is at most 2^53 - 1 (``labelshare.wire``), which a float holds exactly."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for key in _BOUNDS:
                if isinstance(node.get(key), float):
                    node[key] = int(node[key])
        for value in node.values():
            _integer_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _integer_bounds(value)


def _complete(schema: dict[str, Any], settings: Settings, exempt: frozenset[str]) -> None:
    _integer_bounds(schema)
    schema["info"]["description"] += (
        "\n\nRequest bodies: " + _body_rules(settings, settings.max_body_bytes)
        + f" Task uploads: at most {settings.max_import_bytes} bytes. Integers are JSON numbers only below 2^53; "
          "token amounts and other uint256 values are decimal strings.")
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            key = (method.upper(), path)
            if key in _RAW_BODIES:
                operation.setdefault("requestBody", _RAW_BODIES[key])
            if key in _RAW_RESPONSES:
                operation["responses"]["200"] = _RAW_RESPONSES[key]
            params = operation.get("parameters", [])
            statuses = set(OPERATION_ERRORS.get(key, ()))
            responses = operation["responses"]
            if responses.pop("422", None) is not None or params or "requestBody" in operation:
                statuses.add(400)
            if operation.get("security"):
                statuses |= {401, 403}
            if any(p["in"] == "path" for p in params):
                statuses.add(404)
            if "requestBody" in operation:
                statuses.add(413)
                limit = settings.max_import_bytes if path.endswith("/tasks") else settings.max_body_bytes
                body = operation["requestBody"]
                body["description"] = " ".join(filter(None, (body.get("description"), _body_rules(settings, limit))))
            if settings.rate_limit_enabled and path not in exempt:
                statuses.add(429)
            if path not in _STATIC:
                statuses.add(503)
            for status in sorted(statuses):
                response: dict[str, Any] = {"description": _DESCRIPTIONS[status],
                                            "content": {"application/json": {"schema": {"$ref": _REF}}}}
                if status == 429:
                    response["headers"] = {"Retry-After": {"description": "seconds to wait before retrying",
                                                           "schema": {"type": "integer", "minimum": 1}}}
                responses.setdefault(str(status), response)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _add_component(components, "ErrorOut", ErrorOut)
    _add_component(components, "TaskRow", TaskRow)
    _add_component(components, "GoldTaskRow", GoldTaskRow)
    _add_component(components, "LabelPayload", LabelPayload)
    for model, field in _PAYLOAD_FIELDS:  # typed Any in the model: which shape depends on the project
        prop = components[model]["properties"][field]
        components[model]["properties"][field] = {"description": prop.get("description", ""),
                                                  "allOf": [{"$ref": "#/components/schemas/LabelPayload"}]}
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, never sent here
        if f"#/components/schemas/{unused}" not in json.dumps(schema):
            components.pop(unused, None)


def _add_component(components: dict[str, Any], name: str, model: Any) -> None:
    json_schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
    components.update(json_schema.pop("$defs", {}))
    components[name] = json_schema
