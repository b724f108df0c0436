"""Request dependencies, as ``Annotated`` aliases so route signatures read like sentences."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from labelshare.auth import authenticate
from labelshare.chain import Chain
from labelshare.config import Settings
from labelshare.errors import Forbidden
from labelshare.manifests import ManifestStore


def _db(request: Request) -> Iterator[Session]:
    """One transaction per request: committed on success, rolled back on any error, and closed
    before the response is sent (scope="function"), so a client's next request sees it."""
    with request.app.state.sessions.begin() as session:
        yield session


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _chain(request: Request) -> Chain:
    return request.app.state.chain


def _manifests(request: Request) -> ManifestStore:
    return request.app.state.manifests


SessionDep = Annotated[Session, Depends(_db, scope="function")]
SettingsDep = Annotated[Settings, Depends(_settings)]
ChainDep = Annotated[Chain, Depends(_chain)]
ManifestsDep = Annotated[ManifestStore, Depends(_manifests)]


def _bearer(authorization: Annotated[str | None, Header()] = None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def _current_address(request: Request, token: Annotated[str | None, Depends(_bearer)]) -> str:
    # A short read-only transaction of its own, so the session check never holds the write lock.
    with request.app.state.sessions() as session:
        return authenticate(session, token)


def _current_requester(address: Annotated[str, Depends(_current_address)], settings: SettingsDep) -> str:
    if address.lower() not in settings.requester_addresses:
        raise Forbidden(f"{address} is not a requester")
    return address


def _current_admin(address: Annotated[str, Depends(_current_address)], settings: SettingsDep) -> str:
    if address.lower() not in settings.admin_addresses:
        raise Forbidden(f"{address} is not an admin")
    return address


CurrentAnnotator = Annotated[str, Depends(_current_address)]
CurrentAdmin = Annotated[str, Depends(_current_admin)]
CurrentRequester = Annotated[str, Depends(_current_requester)]
