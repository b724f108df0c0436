"""Sign-In with Ethereum (EIP-4361) through the ``siwe`` library, and short-lived sessions.

A nonce is single-use (consumed by a conditional UPDATE, so two concurrent sign-ins with the same
nonce cannot both succeed, on any number of API processes). A session token is random; only its
sha256 is stored.

A session row is written once, at sign-in, and never changed or deleted before it expires, so a
token already checked against the database is trusted from ``SessionCache`` (per process) until
the sooner of its expiry and ``SessionCache.ttl`` seconds: the hot path (every signed request)
skips a database transaction. Revoking sessions, should it be added, must clear the caches."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import siwe
from eth_keys.exceptions import BadSignature
from pydantic import ValidationError
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from abnf.parser import ParseCache

from labelshare.config import Settings
from labelshare.db.models import AuthNonce, AuthSession, utcnow
from labelshare.errors import Forbidden, InvalidInput, InvalidSignature, Unauthenticated, WrongDomain

__all__ = ["SessionCache", "SignedIn", "authenticate", "issue_nonce", "parse_siwe", "sign_in"]

# siwe parses messages with abnf, whose memo caches (about a hundred, one per rule) are keyed by
# (text parsed, position): entries from one message never serve another, and kept they grew by
# ~80 KB a sign-in (MatchSets, and ParseErrors with their tracebacks), the soak's steady RSS
# growth. ``parse_siwe`` empties them after every parse.


def parse_siwe(message: str) -> siwe.SiweMessage:
    """Parses an EIP-4361 message, leaving abnf's memo caches empty (a clear during another
    thread's parse only costs that parse its memo, never a wrong result)."""
    try:
        return siwe.SiweMessage.from_message(message)
    finally:
        ParseCache.clear_caches()


@dataclass(frozen=True)
class SignedIn:
    token: str
    address: str
    expires_at: datetime


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_nonce(session: Session, settings: Settings) -> AuthNonce:
    now = utcnow()
    session.execute(delete(AuthNonce).where(AuthNonce.expires_at < now))  # housekeeping
    nonce = AuthNonce(nonce=siwe.generate_nonce(), expires_at=now + timedelta(seconds=settings.siwe_nonce_ttl_seconds))
    session.add(nonce)
    return nonce


def sign_in(session: Session, settings: Settings, chain_id: int, message: str, signature: str) -> SignedIn:
    """Verifies a signed EIP-4361 message and opens a session for its address."""
    try:
        parsed = parse_siwe(message)
    except (ValueError, ValidationError, siwe.siwe.VerificationError) as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0][:200] or type(err).__name__
        raise InvalidInput(f"not a valid EIP-4361 message: {reason}", field="message") from None
    if parsed.domain != settings.siwe_domain:
        raise WrongDomain(f"message is for {parsed.domain!r}, this service is {settings.siwe_domain!r}", field="message")
    if int(parsed.chain_id) != chain_id:
        raise WrongDomain(f"message is for chain {parsed.chain_id}, this service is on chain {chain_id}", field="message")
    now = utcnow()
    issued_at = datetime.fromisoformat(str(parsed.issued_at).replace("Z", "+00:00"))
    if issued_at.tzinfo is None:
        issued_at = issued_at.replace(tzinfo=UTC)
    if issued_at > now + timedelta(seconds=60):
        raise InvalidInput("message is issued in the future", field="message")
    if now - issued_at > timedelta(seconds=settings.siwe_max_age_seconds):
        raise InvalidInput(f"message was issued more than {settings.siwe_max_age_seconds}s ago", field="message")
    try:
        parsed.verify(signature, domain=settings.siwe_domain, nonce=parsed.nonce, timestamp=now)
    except siwe.siwe.ExpiredMessage:
        raise InvalidInput("message has expired", field="message") from None
    except siwe.siwe.NotYetValidMessage:
        raise InvalidInput("message is not valid yet", field="message") from None
    except (siwe.siwe.VerificationError, BadSignature, ValueError):
        # eth-keys' BadSignature escapes siwe when a signature recovers no key at all.
        raise InvalidSignature("signature does not match the message's address", field="signature") from None
    consumed = session.execute(
        update(AuthNonce)
        .where(AuthNonce.nonce == parsed.nonce, AuthNonce.used_at.is_(None), AuthNonce.expires_at > now)
        .values(used_at=now)
    ).rowcount
    if consumed != 1:
        raise Forbidden("nonce is unknown, expired or already used: ask for a new one", field="message")
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=settings.session_ttl_seconds)
    if parsed.expiration_time is not None:
        expires_at = min(expires_at, datetime.fromisoformat(str(parsed.expiration_time).replace("Z", "+00:00")))
    session.add(AuthSession(token_hash=_token_hash(token), address=parsed.address, expires_at=expires_at))
    return SignedIn(token, parsed.address, expires_at)


def require_token(token: str | None) -> str:
    if not token:
        raise Unauthenticated("sign in first: send 'Authorization: Bearer <token>'")
    return token


def authenticate(session: Session, token: str | None, cache: SessionCache | None = None) -> str:
    """The address of a live session token; Unauthenticated otherwise. A live session is
    remembered in ``cache``."""
    token = require_token(token)
    record = session.get(AuthSession, _token_hash(token))
    if record is None or record.expires_at <= utcnow():
        raise Unauthenticated("session is unknown or expired: sign in again")
    if cache is not None:
        cache.put(token, record.address, record.expires_at)
    return record.address


class SessionCache:
    """Live sessions this process has checked: token -> address, each kept until the sooner of
    the session's expiry and ``ttl`` seconds after it was read, at most ``size`` of them."""

    def __init__(self, ttl: float = 60.0, size: int = 100_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[str, datetime, float]] = {}  # in the order they were read
        self._lock = threading.Lock()

    def address(self, token: str) -> str | None:
        """The cached address of a live ``token``, or None when it must be read from the database."""
        key = _token_hash(token)  # only hashes are kept, as in the database
        entry = self._entries.get(key)
        if entry is None:
            return None
        address, expires_at, read_at = entry
        if time.monotonic() - read_at > self.ttl or expires_at <= utcnow():
            with self._lock:
                self._entries.pop(key, None)
            return None
        return address

    def put(self, token: str, address: str, expires_at: datetime) -> None:
        key, now = _token_hash(token), time.monotonic()
        with self._lock:
            self._entries.pop(key, None)  # re-read: to the back
            # Drop the stale entries at the front, and the oldest when full: a session never
            # presented again (every sign-in leaves one) otherwise stayed until the size cap.
            while self._entries:
                oldest = next(iter(self._entries))
                if now - self._entries[oldest][2] <= self.ttl and len(self._entries) < self.size:
                    break
                del self._entries[oldest]
            self._entries[key] = (address, expires_at, now)
