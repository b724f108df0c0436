"""``labelshare``: the command line, built on the SDK (``labelshare.client``).

Annotators: ``wallet``, ``login``, ``projects``, ``label``, ``fetch``/``submit``, ``submissions``,
``rewards``, ``balance``, ``quality``, ``prove``. Requesters: ``project ...``. Anyone: ``audit``.
Operators: ``serve``, ``settle``, ``evaluate``, ``simulate``."""

from __future__ import annotations

from labelshare.cli import annotator, requester, service, wallet  # noqa: F401 - they register commands
from labelshare.cli.common import app

__all__ = ["app"]
