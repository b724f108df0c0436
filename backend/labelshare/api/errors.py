"""One rendering for every error: ``{"error": code, "detail": message, "field": field}``
(``ErrorOut`` in the OpenAPI document)."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from labelshare.errors import LabelShareError

log = logging.getLogger(__name__)


class RowErrorOut(BaseModel):
    row: int = Field(description="1-based row: the line of a JSONL or CSV file, the item of a JSON list")
    field: str
    message: str


class ErrorOut(BaseModel):
    """Every error response."""

    error: str = Field(description="machine-readable code, e.g. invalid_input, invalid_signature, "
                                   "unauthenticated, signer_mismatch, not_found, nonce_reused, rate_limited")
    detail: str = Field(description="what went wrong, for a person")
    field: str | None = Field(description="the input at fault (a dotted path), when one input is")
    rows: list[RowErrorOut] | None = Field(default=None, description="invalid_rows only: every bad row of a file")


_SURROGATES = re.compile("[\ud800-\udfff]")


def _printable(value: Any) -> Any:
    """``value`` with every lone UTF-16 surrogate (which JSON input can carry as an escape but
    UTF-8 cannot encode) replaced by U+FFFD, so echoing bad input never breaks the rendering."""
    if isinstance(value, str):
        return _SURROGATES.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


MAX_DETAIL = 1000  # characters: a detail that quotes a huge input is cut


def error_body(code: str, detail: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 1] + "…"
    return _printable({"error": code, "detail": detail, "field": field, **extra})


def _unparsable(err: StarletteHTTPException) -> str | None:
    """Why FastAPI could not parse a request body (it answers "There was an error parsing the
    body" for anything but a JSON syntax error), or None."""
    cause = err.__cause__
    if err.status_code != 400 or cause is None:
        return None
    if isinstance(cause, RecursionError):
        return "request body is nested too deeply to parse"
    if isinstance(cause, UnicodeDecodeError):
        return "request body is not valid UTF-8"
    if isinstance(cause, ValueError):  # e.g. an integer literal over Python's 4300-digit limit
        return f"request body cannot be parsed: {str(cause).splitlines()[0][:200]}"
    return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LabelShareError)
    async def _domain(_: Request, err: LabelShareError) -> JSONResponse:
        extra = {"rows": [vars(r) for r in err.rows]} if hasattr(err, "rows") else {}
        return JSONResponse(error_body(err.code, err.detail, err.field, **extra), status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0]
        if first.get("type") == "json_invalid":  # its loc is a character offset, not a field
            return JSONResponse(error_body("invalid_input", f"request body is not valid JSON: {first.get('msg')}"),
                                status_code=400)
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or None
        return JSONResponse(error_body("invalid_input", f"{first.get('msg', 'invalid input')}", field),
                            status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, err: StarletteHTTPException) -> JSONResponse:
        code = {400: "invalid_input", 404: "not_found", 405: "method_not_allowed",
                413: "payload_too_large"}.get(err.status_code, "http_error")
        return JSONResponse(error_body(code, _unparsable(err) or str(err.detail)), status_code=err.status_code,
                            headers=err.headers)

    @app.exception_handler(OperationalError)
    async def _database(request: Request, err: OperationalError) -> JSONResponse:
        # The database is locked past its busy timeout, or unreachable: nothing was stored (the
        # transaction rolled back), and the client may try again. The SQL stays in the log.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                    (str(err.orig) if err.orig is not None else str(err)).splitlines()[0][:200])
        busy = "locked" in str(err.orig).lower() or "busy" in str(err.orig).lower()
        detail = ("the database is busy (locked by another writer); nothing was stored, try again shortly" if busy
                  else "the database is unavailable; nothing was stored, try again shortly")
        return JSONResponse(error_body("database_unavailable", detail), status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "internal error; it has been logged"), status_code=500)
