"""The FastAPI application: ``create_app(settings)`` wires the database, the chain, the manifest
store and the settlement worker; ``uvicorn labelshare.api.app:app`` serves the default."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from labelshare.api.errors import error_body, install_error_handlers
from labelshare.api.routes import auth, chain, epochs, me, projects, submissions, tasks
from labelshare.chain import Chain
from labelshare.config import Settings, get_settings
from labelshare.db.engine import make_engine, make_session_factory, upgrade_database
from labelshare.manifests import ManifestStore
from labelshare.settlement import Settler, SettlementWorker

__all__ = ["create_app"]  # `app` is built lazily by __getattr__ below

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        upgrade_database(engine)
        app.state.settings = settings
        app.state.sessions = make_session_factory(engine)
        app.state.chain = Chain(settings)
        app.state.manifests = ManifestStore(settings.manifests_dir)
        app.state.settler = Settler(app.state.sessions, app.state.chain, settings, app.state.manifests)
        worker = SettlementWorker(app.state.settler, settings.settlement_poll_seconds)
        if settings.settlement_enabled:
            worker.start()
        log.info("LabelShare API on chain %s, ledger %s", app.state.chain.chain_id, app.state.chain.ledger.address)
        try:
            yield
        finally:
            if settings.settlement_enabled:
                worker.stop()
            engine.dispose()

    app = FastAPI(title="LabelShare", version="0.1.0", lifespan=lifespan,
                  description="Wallet-signed annotations, verified and rewarded on-chain.")
    install_error_handlers(app)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):  # type: ignore[no-untyped-def]
        # Task imports stream their own (larger) limit; everything else is capped here.
        limit = settings.max_import_bytes if request.url.path.endswith("/tasks") else settings.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return JSONResponse(error_body("payload_too_large", f"request body is over {limit} bytes"), status_code=413)
        return await call_next(request)

    for module in (chain, auth, projects, tasks, submissions, me, epochs):
        app.include_router(module.router)
    return app


def __getattr__(name: str) -> FastAPI:  # `uvicorn labelshare.api.app:app` builds the default app lazily
    if name == "app":
        return create_app()
    raise AttributeError(name)
