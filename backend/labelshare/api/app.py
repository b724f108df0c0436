"""The FastAPI application: ``create_app(settings)`` wires the database, the chain, the manifest
store and the settlement worker; ``uvicorn labelshare.api.app:app`` serves the default."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from labelshare.api.body_limit import BodyLimitMiddleware
from labelshare.api.errors import install_error_handlers
from labelshare.api.input_guard import InputGuardMiddleware
from labelshare.api.openapi import document_openapi
from labelshare.api.rate_limit import EXEMPT_PATHS, RateLimitMiddleware
from labelshare.api.routes import auth, chain, epochs, licences, me, projects, qualifications, submissions, tasks
from labelshare.chain import Chain
from labelshare.config import Settings, get_settings
from labelshare.db.engine import make_engine, make_session_factory, upgrade_database
from labelshare.errors import LabelShareError
from labelshare.leader import SenderLocks, leadership_for, replica_identity
from labelshare.licences import LicenceBook
from labelshare.manifests import ManifestStore
from labelshare.quality import Reviewer
from labelshare.settled import SettledView
from labelshare.settlement import Settler, SettlementWorker
from labelshare.web import STATIC_DIR, bundle_missing

__all__ = ["create_app"]  # `app` is built lazily by __getattr__ below

log = logging.getLogger(__name__)
SWAGGER_UI_URL = "/app/dist/swagger-ui"  # web.SWAGGER_UI_DIR under the /app mount


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        upgrade_database(engine)
        app.state.settings = settings
        app.state.sessions = make_session_factory(engine)
        try:
            app.state.chain = Chain(settings)
            if settings.settlement_enabled:
                app.state.chain.account("verifier")  # a missing or unreadable key stops the start, not a pass
        except LabelShareError as err:
            log.error("refusing to start: %s", err.detail)
            engine.dispose()
            raise
        app.state.chain.send_lock = SenderLocks(app.state.sessions, settings.database_url)
        app.state.manifests = ManifestStore(settings.manifests_dir)
        app.state.licence_book = LicenceBook(app.state.chain)
        app.state.settled_view = SettledView(app.state.chain)
        # Every replica runs a worker; the leadership lets one of them settle at a time.
        leadership = leadership_for(settings.database_url) if settings.settlement_enabled else None
        app.state.settler = Settler(app.state.sessions, app.state.chain, settings, app.state.manifests, leadership)
        app.state.reviewer = Reviewer(app.state.sessions, app.state.chain, settings)
        worker = app.state.worker = SettlementWorker(app.state.settler, settings.settlement_poll_seconds,
                                                     app.state.reviewer, leadership)
        if settings.settlement_enabled:
            worker.start()
        log.info("LabelShare API on chain %s, ledger %s (%s)", app.state.chain.chain_id,
                 app.state.chain.ledger.address, replica_identity())
        try:
            yield
        finally:
            if settings.settlement_enabled:
                worker.stop()
            engine.dispose()

    # /docs is served below from local assets (FastAPI's loads Swagger UI from a CDN); no /redoc.
    app = FastAPI(title="LabelShare", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Wallet-signed annotations, verified and rewarded on-chain.")
    install_error_handlers(app)
    # Innermost: bodies that are not valid text or are nested too deeply are refused as they are read.
    app.add_middleware(InputGuardMiddleware, max_depth=settings.max_json_depth)
    # Task imports stream their own, larger limit; every other body is capped at max_body_bytes.
    app.add_middleware(BodyLimitMiddleware, limit_for=lambda path: (
        settings.max_import_bytes if path.endswith("/tasks") else settings.max_body_bytes))
    # Outermost: a request over a rate limit is refused before anything else reads it.
    app.add_middleware(RateLimitMiddleware, settings=settings)

    for module in (chain, auth, projects, tasks, submissions, me, qualifications, epochs, licences):
        app.include_router(module.router)
    # Error responses (ErrorOut), the import's raw body and the export's formats in the OpenAPI document.
    document_openapi(app, settings, exempt_paths=EXEMPT_PATHS)

    # The annotator/requester/audit web page: static files, its script bundled at install time.
    if bundle_missing():
        log.warning("the web page's bundle or Swagger UI is missing (%s): run `make setup`", STATIC_DIR / "dist")
    app.mount("/app", StaticFiles(directory=STATIC_DIR, html=True), name="web")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        # validatorUrl None: Swagger UI would otherwise send the document to an online validator.
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} API",
                                   swagger_js_url=f"{SWAGGER_UI_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{SWAGGER_UI_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{SWAGGER_UI_URL}/favicon-32x32.png",
                                   swagger_ui_parameters={"validatorUrl": None})

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/app/")

    return app


def __getattr__(name: str) -> FastAPI:  # `uvicorn labelshare.api.app:app` builds the default app lazily
    if name == "app":
        return create_app()
    raise AttributeError(name)
