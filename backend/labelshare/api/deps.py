"""Request dependencies, as ``Annotated`` aliases so route signatures read like sentences.

Dependencies that do no I/O are ``async``: FastAPI runs a plain ``def`` dependency on a worker
thread, and each such hop (a queue, a wake-up, a GIL hand-over) cost more than the work itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from labelshare.auth import SessionCache, authenticate, require_token
from labelshare.chain import Chain
from labelshare.config import Settings
from labelshare.errors import Forbidden
from labelshare.licences import LicenceBook
from labelshare.manifests import ManifestStore
from labelshare.settled import SettledView
from labelshare.wire import MAX_SAFE_INTEGER


def _db(request: Request) -> Iterator[Session]:
    """One transaction per request: committed on success, rolled back on any error, and closed
    before the response is sent (scope="function"), so a client's next request sees it."""
    with request.app.state.sessions.begin() as session:
        yield session


async def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _chain(request: Request) -> Chain:
    return request.app.state.chain


async def _manifests(request: Request) -> ManifestStore:
    return request.app.state.manifests


async def _licence_book(request: Request) -> LicenceBook:
    return request.app.state.licence_book


async def _settled_view(request: Request) -> SettledView:
    return request.app.state.settled_view


SessionDep = Annotated[Session, Depends(_db, scope="function")]
# For a route that runs its own transaction (``with sessions.begin() as session:``) and so commits
# on the thread that did the work: a SessionDep commits on a later hop, and on SQLite the write
# lock is held while that hop waits for the event loop.
SessionsDep = Annotated[sessionmaker[Session], Depends(_sessions)]
SettingsDep = Annotated[Settings, Depends(_settings)]
ChainDep = Annotated[Chain, Depends(_chain)]
ManifestsDep = Annotated[ManifestStore, Depends(_manifests)]
LicenceBookDep = Annotated[LicenceBook, Depends(_licence_book)]
SettledViewDep = Annotated[SettledView, Depends(_settled_view)]


# Declares the HTTP bearer scheme in the OpenAPI document (``securitySchemes``) and on every
# operation that depends on it; auto_error=False so a missing token is our 401 (require_token).
_bearer_scheme = HTTPBearer(auto_error=False, scheme_name="bearer",
                            description="the token POST /auth/verify returns: 'Authorization: Bearer <token>'")


async def _bearer(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)]) -> str | None:
    return credentials.credentials.strip() if credentials is not None else None


def _session_cache(app: FastAPI) -> SessionCache:
    cache = getattr(app.state, "session_cache", None)
    if cache is None:
        cache = app.state.session_cache = SessionCache()
    return cache


def _lookup_session(sessions: sessionmaker[Session], token: str, cache: SessionCache) -> str:
    # A short read-only transaction of its own, never the request's.
    with sessions() as session:
        return authenticate(session, token, cache)


async def _current_address(request: Request, token: Annotated[str | None, Depends(_bearer)]) -> str:
    token = require_token(token)
    cache = _session_cache(request.app)
    address = cache.address(token)
    if address is None:
        address = await run_in_threadpool(_lookup_session, request.app.state.sessions, token, cache)
    return address


async def _current_requester(address: Annotated[str, Depends(_current_address)], settings: SettingsDep) -> str:
    if address.lower() not in settings.requester_addresses:
        raise Forbidden(f"{address} is not a requester")
    return address


async def _current_admin(address: Annotated[str, Depends(_current_address)], settings: SettingsDep) -> str:
    if address.lower() not in settings.admin_addresses:
        raise Forbidden(f"{address} is not an admin")
    return address


CurrentAnnotator = Annotated[str, Depends(_current_address)]
CurrentAdmin = Annotated[str, Depends(_current_admin)]
CurrentRequester = Annotated[str, Depends(_current_requester)]


# Paging of the lists that grow without bound (submissions, epochs): newest first, ``limit`` at a
# time, older than the id ``before``. Unbounded answers cost memory and time that grew with the data.
Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many, newest first")]
Before = Annotated[int | None, Query(ge=1, le=MAX_SAFE_INTEGER,
                                     description="only ids below this one (the last id seen)")]
