"""The OpenAPI document, completed with what the routes do not declare themselves:

- the error responses each operation can give, all with the one body ``ErrorOut``
  (``{"error", "detail", "field"}``), in place of FastAPI's default 422 (this API answers invalid
  input with 400);
- the task import's request body, which the route reads raw (JSON, JSONL or CSV), and the
  export's response (JSONL or CSV).

The statuses follow from what an operation takes (below) plus ``OPERATION_ERRORS`` for what only
its code knows; ``tests/backend/test_schemathesis.py`` checks the result against the live API.

=======  ==================================================================================
status   documented on
=======  ==================================================================================
400      every operation with parameters or a body
401/403  every operation that takes a bearer token (``Authorization`` header)
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

from labelshare.api.errors import ErrorOut

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
    ("POST", "/submissions"): frozenset({404, 409}),  # unknown task; duplicate, nonce, closed
    ("POST", "/projects/{project_id}/tasks"): frozenset({409, 413}),  # body read raw
    ("PUT", "/qualifications/{domain}"): frozenset({409}),
    ("POST", "/qualifications/{domain}/attempts"): frozenset({409}),
    ("POST", "/qualifications/attempts/{attempt_id}"): frozenset({409}),
}

_RAW_BODIES: Mapping[tuple[str, str], dict[str, Any]] = {
    ("POST", "/projects/{project_id}/tasks"): {
        "description": "the file, in the format ?format= names: a JSON list, JSONL (one object a line) or CSV "
                       "with an id column; each row {id, data[, gold]}",
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            "application/x-ndjson": {"schema": {"type": "string"}},
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
_STATIC = frozenset({"/health"})  # answers without the database, the chain or a rate limit


def document_openapi(app: FastAPI, *, rate_limited: bool, exempt_paths: Iterable[str] = ()) -> None:
    """Makes ``app.openapi()`` document every operation's error responses (and raw bodies)."""
    generate = app.openapi
    exempt = frozenset(exempt_paths)
    completed: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI's, cached: completed once, in place
        if not any(schema is done for done in completed):
            _complete(schema, rate_limited, exempt)
            completed[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(schema: dict[str, Any], rate_limited: bool, exempt: frozenset[str]) -> None:
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
            if any(p["in"] == "header" and p["name"].lower() == "authorization" for p in params):
                statuses |= {401, 403}
            if any(p["in"] == "path" for p in params):
                statuses.add(404)
            if "requestBody" in operation:
                statuses.add(413)
            if rate_limited and path not in exempt:
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
    error_schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["ErrorOut"] = error_schema
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, never sent here
        if f"#/components/schemas/{unused}" not in json.dumps(schema):
            components.pop(unused, None)
