"""Sign-In with Ethereum (EIP-4361) through the ``siwe`` library, and short-lived sessions.

A nonce is single-use (consumed by a conditional UPDATE, so two concurrent sign-ins with the same
nonce cannot both succeed, on any number of API processes). A session token is random; only its
sha256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import siwe
from eth_keys.exceptions import BadSignature
from pydantic import ValidationError
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from labelshare.config import Settings
from labelshare.db.models import AuthNonce, AuthSession, utcnow
from labelshare.errors import Forbidden, InvalidInput, InvalidSignature, Unauthenticated, WrongDomain

__all__ = ["SignedIn", "authenticate", "issue_nonce", "sign_in"]


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
        parsed = siwe.SiweMessage.from_message(message)
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


def authenticate(session: Session, token: str | None) -> str:
    """The address of a live session token; Unauthenticated otherwise."""
    if not token:
        raise Unauthenticated("sign in first: send 'Authorization: Bearer <token>'")
    record = session.get(AuthSession, _token_hash(token))
    if record is None or record.expires_at <= utcnow():
        raise Unauthenticated("session is unknown or expired: sign in again")
    return record.address
