"""Property-based API testing with schemathesis against the live OpenAPI document of a running
test server (the ``api`` fixture: uvicorn in a thread, anvil, a fresh database).

Every operation of ``/openapi.json`` is called with generated inputs — valid ones, and ones that
break the schema — each example as one of four callers drawn with it: anonymous (with whatever
``Authorization`` header schemathesis generates) or with the real bearer token of a signed-in
annotator, requester or admin (so the authenticated paths are reached, not only the 401s). A
project with tasks exists, so small generated ids name real rows. Each response is checked:

- ``not_a_server_error``: no 5xx, whatever the input;
- ``response_schema_conformance``: the body matches the documented schema, errors included
  (``ErrorOut``: ``{"error", "detail", "field"}``);
- ``status_code_conformance``: the status is one the operation documents;
- ``content_type_conformance``: the content type is the documented one.

Ten examples per operation (derandomised, so a run is repeatable) keep it near 15 s on two
cores; ``LABELSHARE_SCHEMATHESIS_EXAMPLES=200`` runs deeper (about 90 s). SQLite only: what this
checks is the HTTP layer — parsing, validation, status codes, error rendering, documented
schemas — which is the same code whatever the database; the PostgreSQL-specific behaviour
(row locks, constraint violations, NUL in text) is covered by the database-parametrised tests
(test_rejections, test_hostile_inputs), and a second run would double the time for no new path.

What it found when first run, and what was changed: no operation documented any error status
(FastAPI's default 422, which this API never sends, instead of its 400/401/403/404/409/413),
and the export's JSONL/CSV response was documented as JSON. ``labelshare.api.openapi`` now
documents each operation's errors with ``ErrorOut`` (and 429, 503) and the raw import body and
export formats. It found no 5xx: the crashes (lone surrogates, NUL, deep nesting, huge integers)
were found by hand and are in test_hostile_inputs — schemathesis does not generate lone
surrogates.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from eth_account import Account
from hypothesis import HealthCheck, Phase, settings, strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

EXAMPLES = int(os.environ.get("LABELSHARE_SCHEMATHESIS_EXAMPLES", "10"))
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
_ADMIN = Account.create()

# SQLite only (see the module docstring); the admin is a wallet of this module.
pytestmark = [pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
              pytest.mark.settings(admins=_ADMIN.address.lower())]


@pytest.fixture
def tokens(api, wallet, make_project, requester_account) -> dict[str, str | None]:
    """Bearer tokens of a signed-in annotator, the requester and an admin, and a project with
    tasks, so generated ids sometimes name real rows."""
    make_project(tasks=3, overlap=1)
    out: dict[str, str | None] = {"anonymous": None}
    for who, account in (("annotator", None), ("requester", requester_account), ("admin", _ADMIN)):
        w = wallet(account)
        w.sign_in(api).close()
        out[who] = w.token
    return out


@pytest.fixture
def api_schema(api, tokens):
    return schemathesis.openapi.from_url(api.url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@schema.given(who=st.sampled_from(["anonymous", "annotator", "requester", "admin"]))
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
def test_api_conformsToItsOpenApi(case, who, tokens):
    headers = {"Authorization": f"Bearer {tokens[who]}"} if tokens[who] else None
    case.call_and_validate(headers=headers, checks=CHECKS)
