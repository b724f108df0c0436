"""One rendering for every error: ``{"error": code, "detail": message, "field": field}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from labelshare.errors import LabelShareError

log = logging.getLogger(__name__)


def error_body(code: str, detail: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": code, "detail": detail, "field": field, **extra}


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
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(err.status_code, "http_error")
        return JSONResponse(error_body(code, str(err.detail)), status_code=err.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "internal error; it has been logged"), status_code=500)
