"""Request bodies the backend can parse, store and echo, checked as they are read.

Refused with ``400 {"error": "invalid_input", "detail": ..., "field": null}`` before any parser
sees them (FastAPI's for JSON bodies, the task import's for files):

- a body that is not UTF-8 text, or holds a NUL byte (JSON must be UTF-8; PostgreSQL's text and
  JSON columns cannot hold NUL);
- in JSON (every body but a CSV task import): an escaped NUL (``\\u0000``) or lone UTF-16
  surrogate (``\\ud800`` without its pair). Python's JSON parser accepts these, but no UTF-8
  encoder does: stored or echoed, they would fail later, on every read of the row;
- JSON nested deeper than ``LABELSHARE_MAX_JSON_DEPTH`` levels (64): deep enough for any label or
  task, far from the parsers' and serialisers' recursion limits, so nothing deep is stored that
  could not be read back;
- an integer literal of more than ``sys.get_int_max_str_digits()`` (4300) digits, which Python
  refuses to parse.

Everything else (bidi controls, zero-width characters, any normalisation form) is valid text and
passes: labels are compared code point for code point (see ``tests/backend/test_hostile_inputs``).

The checks run when the application reads the body's last chunk, so they cost nothing on requests
that are refused earlier (rate limits, size limits, or, for the task import, authentication). On a
small JSON body (a submission, a sign-in) they take a few microseconds; the depth check of a body
with more than 64 brackets strips its strings first (linear, ~40 ms a MiB of short strings), so
bodies over 64 KiB are checked on a worker thread.
"""

from __future__ import annotations

import re
import sys
from itertools import accumulate
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_DIGITS", "InputGuardMiddleware", "body_problem"]

# A JSON string, escapes included; an unterminated one runs to the end (so a scan stays linear).
_STRING = re.compile(rb'"[^"\\]*+(?:\\[\s\S][^"\\]*+)*+(?:"|\\?\Z)')
# Escapes that are fine: a surrogate pair, any other \uXXXX but \u0000, and one-character escapes
# (\\ among them, so "\\ud800", an escaped backslash before "ud800", is not mistaken for one).
_GOOD_ESCAPES = re.compile(rb"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
                           rb"|u(?!0000|[dD][89a-fA-F])[0-9a-fA-F]{4}|[^u])")
_BAD_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_MAYBE_BAD_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = [0] * 256
for _b in b"[{":
    _DEPTH_STEP[_b] = 1
for _b in b"]}":
    _DEPTH_STEP[_b] = -1
MAX_DIGITS = sys.get_int_max_str_digits() or 4300
_LONG_NUMBER = re.compile(rb"[0-9]{%d}" % (MAX_DIGITS + 1))
_INLINE_BYTES = 64 * 1024


def body_problem(body: bytes, json: bool, max_depth: int) -> str | None:
    """Why ``body`` is refused, or None. ``json``: the body will be parsed as JSON (or JSONL)."""
    if b"\0" in body:
        return "request body holds a NUL byte"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as err:
        return f"request body is not UTF-8 text (byte {err.start})"
    if not json:
        return None
    if _MAYBE_BAD_ESCAPE.search(body) and (bad := _BAD_ESCAPE.search(_GOOD_ESCAPES.sub(b"", body))):
        escape = bad.group().decode()
        what = "an escaped NUL character" if escape == "\\u0000" else "a lone UTF-16 surrogate"
        return f"request body holds {what} ({escape}): text must be valid Unicode without NUL"
    long_number = _LONG_NUMBER.search(body) is not None
    if body.count(b"[") + body.count(b"{") <= max_depth and not long_number:
        return None  # cannot be too deep
    structure = _STRING.sub(b"", body)  # what is left is numbers, literals and brackets
    if long_number and _LONG_NUMBER.search(structure):
        return f"request body holds a number of more than {MAX_DIGITS} digits"
    brackets = structure.translate(None, _NOT_BRACKETS)
    if len(brackets) > max_depth and max(accumulate(map(_DEPTH_STEP.__getitem__, brackets))) > max_depth:
        return f"request body is JSON nested deeper than {max_depth} levels"
    return None


def _is_csv_import(scope: Scope) -> bool:
    if scope["method"] != "POST" or not scope["path"].endswith("/tasks"):
        return False
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return query.get("format", ["jsonl"])[-1] == "csv"


class InputGuardMiddleware:
    def __init__(self, app: ASGIApp, max_depth: int) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def guarded_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                if chunk := message.get("body", b""):
                    chunks.append(chunk)
                if not message.get("more_body", False) and chunks:
                    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                    chunks.clear()
                    check = (body, not _is_csv_import(scope), self.max_depth)
                    # A large body (a task import) is checked on a worker thread: ~40 ms a MiB
                    # of JSON with many strings, which must not stall the event loop.
                    problem = (body_problem(*check) if len(body) <= _INLINE_BYTES
                               else await run_in_threadpool(body_problem, *check))
                    if problem is not None:  # FastAPI re-raises HTTPException from body parsing as is
                        raise HTTPException(400, problem)
            return message

        await self.app(scope, guarded_receive, send)
