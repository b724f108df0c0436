"""The web page the API serves at ``/app/``: ``static/`` holds the HTML and CSS, ``src/`` the
JavaScript that ``make setup`` bundles (esbuild, with viem and OpenZeppelin's merkle-tree from the
npm registry) into ``static/dist/``. Nothing is fetched from a CDN at run time."""

from __future__ import annotations

from pathlib import Path

__all__ = ["BUNDLE", "STATIC_DIR", "bundle_missing"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
BUNDLE = STATIC_DIR / "dist" / "app.js"


def bundle_missing() -> bool:
    return not BUNDLE.is_file()
