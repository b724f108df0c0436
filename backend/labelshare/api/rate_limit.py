"""Rate limits per client IP and per signed-in wallet, answered with LabelShare's JSON 429.

An ASGI middleware over the ``limits`` library (sliding-window counters; its async storages):

=========================  ==========================  =========================================
what                       counted per                 setting (``LABELSHARE_RATE_LIMIT_...``)
=========================  ==========================  =========================================
every request but /health  client IP                   ``PER_IP``
``POST /auth/verify``      client IP                   ``SIGN_IN_PER_IP``
``GET /auth/nonce``        client IP                   ``NONCE_PER_IP``
``POST /submissions``      signed-in wallet            ``SUBMISSIONS_PER_ADDRESS``
``GET /tasks/next``        signed-in wallet            ``TASKS_PER_ADDRESS``
``GET /tasks/next``        client IP                   ``TASKS_PER_IP`` (wallets are free: this
                                                       bounds the offers asked from one IP)
=========================  ==========================  =========================================

Over a limit the request is refused before it reaches the application (nothing is read, stored
or verified): ``429 {"error": "rate_limited", "detail": ..., "field": null}`` with a
``Retry-After`` header (seconds). ``LABELSHARE_RATE_LIMIT_ENABLED=false`` turns it all off.

*The client IP* is the ASGI client address. Behind a reverse proxy that is the proxy's, unless
uvicorn rewrites it from ``X-Forwarded-For``: it does for peers in ``--forwarded-allow-ips``
(``FORWARDED_ALLOW_IPS``; by default 127.0.0.1 and ::1), so set that to the proxy's address and
no wider.

*The wallet* of a request is found without the database: the address of its bearer token in the
per-process session cache (``app.state.session_cache``, filled by the authentication dependency
of ``labelshare.api.deps``), so every session of a wallet shares its limit. A token the cache
does not hold — unknown or bogus, or a live session's first authenticated request in this process
(and its first after the cache's TTL) — is not counted per wallet: the request is authenticated
(or refused with 401) as usual, and the per-IP limit applies; bogus tokens thus create no
counters. Without a session cache at all, a token is counted under its sha256 (a token belongs
to one address, so the limit then holds per session). Requests without a token are only counted
per IP (they are refused with 401 anyway).

*Storage.* ``async+memory://`` (the default) counts in each process: with N workers or replicas a
client may send up to N times a limit. (It is the limits library's memory storage with expired
keys swept at most once a second: upstream sweeps every key after every hit, which costs O(keys)
per request — a millisecond a request with 10,000 clients.) A shared storage of the limits library
(``LABELSHARE_RATE_LIMIT_STORAGE_URI=async+redis://host:6379`` and the ``redis`` package, or
memcached, MongoDB) makes the limits global. If the storage fails, the request is let through
and a warning logged: the limits protect capacity, not money (uniqueness of nonces and labels is
enforced by the database).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Receive, Scope, Send

from labelshare.api.errors import error_body
from labelshare.config import Settings
from labelshare.errors import RateLimited

__all__ = ["EXEMPT_PATHS", "RateLimitMiddleware", "RateRule", "make_storage", "rules_from_settings"]

log = logging.getLogger(__name__)

EXEMPT_PATHS = frozenset({"/health"})  # load balancers' health checks


@dataclass(frozen=True)
class RateRule:
    name: str  # a key prefix, and what the 429 says was too frequent
    per: Literal["ip", "address"]
    limits: tuple[RateLimitItem, ...]


def rules_from_settings(settings: Settings) -> tuple[RateRule, dict[tuple[str, str], tuple[RateRule, ...]]]:
    """The global per-IP rule, and each operation's own rules by (method, path)."""
    def rule(name: str, per: Literal["ip", "address"], value: str) -> RateRule:
        return RateRule(name, per, tuple(parse_many(value)))

    return rule("request", "ip", settings.rate_limit_per_ip), {
        ("POST", "/auth/verify"): (rule("sign-in", "ip", settings.rate_limit_sign_in_per_ip),),
        ("GET", "/auth/nonce"): (rule("nonce", "ip", settings.rate_limit_nonce_per_ip),),
        ("POST", "/submissions"): (rule("submission", "address", settings.rate_limit_submissions_per_address),),
        ("GET", "/tasks/next"): (rule("task", "address", settings.rate_limit_tasks_per_address),
                                 rule("task", "ip", settings.rate_limit_tasks_per_ip)),
    }


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip() or None
            return None
    return None


def _wallet_key(scope: Scope, token: str) -> str | None:
    """The counter of the token's wallet: its address if this process's session cache holds the
    token (no I/O), None if the cache does not, its sha256 if there is no session cache."""
    app = scope.get("app")
    cache = getattr(getattr(app, "state", None), "session_cache", None)
    lookup: Callable[[str], str | None] | None = getattr(cache, "address", None)
    if lookup is None:
        return "t:" + hashlib.sha256(token.encode()).hexdigest()
    try:
        address = lookup(token)
    except Exception:  # noqa: BLE001 - a lookup that fails counts nothing per wallet
        return None
    return f"a:{address.lower()}" if address else None


class _MemoryStorage(MemoryStorage):
    """limits' async memory storage, sweeping expired keys at most once a second (upstream
    starts a sweep of every key after every hit once the previous one is done)."""

    SWEEP_SECONDS = 1.0

    def __init__(self, uri: str | None = None, **options: Any) -> None:
        super().__init__(uri, **options)
        self._next_sweep = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:  # overrides the name-mangled upstream method
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_SECONDS
            await MemoryStorage._MemoryStorage__schedule_expiry(self)  # type: ignore[attr-defined]


def make_storage(uri: str) -> AsyncStorage:
    """The limits library's async storage for ``uri`` (``async+memory://``: the one above)."""
    if uri.split("://", 1)[0] == "async+memory":
        return _MemoryStorage(uri)
    storage = storage_from_string(uri)
    if not isinstance(storage, AsyncStorage):
        raise ValueError(f"rate_limit_storage_uri must name an async storage (async+...), not {uri!r}")
    return storage


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.enabled = settings.rate_limit_enabled
        self.global_rule, self.rules = rules_from_settings(settings)
        self.limiter = SlidingWindowCounterRateLimiter(make_storage(settings.rate_limit_storage_uri))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        checks: list[tuple[RateRule, str]] = []  # the operation's own limits first, then the global one
        for own in self.rules.get((scope["method"], scope["path"]), ()):
            if own.per == "ip":
                checks.append((own, ip))
            elif (token := _bearer(scope)) is not None and (wallet := _wallet_key(scope, token)) is not None:
                checks.append((own, wallet))
        checks.append((self.global_rule, ip))
        for rule, key in checks:
            for item in rule.limits:
                refused = await self._refused(item, rule, key)
                if refused is not None:
                    await _reject(send, rule, item, refused)
                    return
        await self.app(scope, receive, send)

    async def _refused(self, item: RateLimitItem, rule: RateRule, key: str) -> int | None:
        """None if the hit is within ``item``; else the seconds to wait (Retry-After)."""
        try:
            if await self.limiter.hit(item, rule.name, key):
                return None
            reset_at = (await self.limiter.get_window_stats(item, rule.name, key)).reset_time
        except Exception:  # noqa: BLE001 - a failing storage must not take the API down with it
            log.warning("rate-limit storage failed; letting the request through", exc_info=True)
            return None
        return max(1, math.ceil(reset_at - time.time()))


async def _reject(send: Send, rule: RateRule, item: RateLimitItem, retry_after: int) -> None:
    who = "from your IP address" if rule.per == "ip" else "by your address"
    detail = (f"too many {rule.name} requests {who}: the limit is {item.amount} per "
              f"{_window(item)}; retry in {retry_after} s")
    body = json.dumps(error_body(RateLimited.code, detail)).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after).encode()),
    ]
    await send({"type": "http.response.start", "status": RateLimited.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _window(item: RateLimitItem) -> str:
    unit: Any = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"
