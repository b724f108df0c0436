"""The web page the API serves at ``/app/``: ``static/`` holds the HTML and CSS, ``src/`` the
JavaScript that ``make setup`` bundles (esbuild, with viem and OpenZeppelin's merkle-tree from the
npm registry) into ``static/dist/``; ``make setup`` also copies Swagger UI's assets (npm
``swagger-ui-dist``) into ``static/dist/swagger-ui/`` for the API's ``/docs``. Nothing is fetched
from a CDN at run time."""

from __future__ import annotations

from pathlib import Path

__all__ = ["BUNDLE", "STATIC_DIR", "SWAGGER_UI_DIR", "bundle_missing"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
BUNDLE = STATIC_DIR / "dist" / "app.js"
SWAGGER_UI_DIR = STATIC_DIR / "dist" / "swagger-ui"  # served under /app/dist/swagger-ui/


def bundle_missing() -> bool:
    return not BUNDLE.is_file() or not (SWAGGER_UI_DIR / "swagger-ui-bundle.js").is_file()
