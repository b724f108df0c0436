"""``labelshare``: the command line, built on the SDK (``labelshare.client``).

Annotators: ``wallet``, ``login``, ``projects``, ``label``, ``fetch``/``submit``, ``submissions``,
``rewards``, ``balance``, ``quality``, ``prove``, ``revenue``, ``claim``. Requesters: ``project ...``.
Dataset licences: ``licence ...`` (publish, terms, buy, list, withdraw). Anyone: ``audit``.
Operators: ``serve``, ``settle``, ``evaluate``, ``simulate``."""

from __future__ import annotations

from labelshare.cli import annotator, licences, requester, service, wallet  # noqa: F401 - they register commands
from labelshare.cli.common import app

__all__ = ["app"]
