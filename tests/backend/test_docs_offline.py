"""The API's /docs works offline: Swagger UI comes from the API itself (``make setup`` copies it
from the npm package), never from a CDN; there is no /redoc (it would need one)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the database plays no part

URL = re.compile(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""")


def test_docs_loadsOnlyLocalAssets(api):
    with api.client() as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert "SwaggerUIBundle" in page.text
        assert not re.search(r"https?://", page.text), "the page names another host"
        assets = URL.findall(page.text)
        assert {a.rsplit("/", 1)[-1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css",
                                                           "favicon-32x32.png", "openapi.json"}
        for asset in assets:
            assert not urlsplit(asset).netloc, asset
            response = client.get(asset)
            assert response.status_code == 200, asset
            assert response.content, asset


def test_redoc_isNotServed(api):
    with api.client() as client:
        assert client.get("/redoc").status_code == 404
