"""What each sign-in leaves in the API process's memory (both found by the soak).

siwe parses with abnf, whose memo caches are keyed by the message parsed: kept, every sign-in grew
them (about 80 KB a message, to ~66 MB); labelshare.auth.parse_siwe leaves them empty. The session
cache kept every session it had read until its size cap (100,000), though each is trusted for a
minute only; it now drops them once stale."""

from __future__ import annotations

import gc
import secrets
import time
import tracemalloc
from datetime import timedelta

from abnf.parser import ParseCache
from eth_account import Account

from labelshare.auth import SessionCache, parse_siwe
from labelshare.client import siwe_message
from labelshare.db.models import utcnow


def _messages(count: int) -> list[str]:
    address = Account.create().address
    return [siwe_message(address, secrets.token_hex(8), 31337, "localhost:8000", "http://localhost:8000")
            for _ in range(count)]


def test_parsingSignInMessages_leavesNoAbnfCacheEntryBehind():
    for message in _messages(20):
        assert parse_siwe(message).domain == "localhost:8000"
    assert sum(len(cache) for cache in ParseCache.objects) == 0


def test_parsingManySignInMessages_keepsMemoryFlat():
    messages = _messages(300)
    parse_siwe(messages[0])  # grammar rules built lazily on a first parse are not growth
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for message in messages[1:]:
            parse_siwe(message)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # With the caches kept, 300 messages held ~25 MB.
    assert grown < 1_000_000, f"{grown} bytes kept after parsing 300 sign-in messages"


def test_sessionCache_dropsSessionsNotPresentedWithinItsTtl():
    cache = SessionCache(ttl=0.2)
    expires = utcnow() + timedelta(hours=1)
    for n in range(50):  # sign-ins whose tokens are never presented again
        cache.put(f"old-{n}", "0xA", expires)
    time.sleep(0.3)
    cache.put("new", "0xB", expires)
    assert len(cache._entries) == 1
    assert cache.address("new") == "0xB" and cache.address("old-0") is None


def test_sessionCache_keepsAtMostSizeEntries_droppingTheLeastRecentlyRead():
    cache = SessionCache(ttl=60, size=3)
    expires = utcnow() + timedelta(hours=1)
    for token in ("a", "b", "c"):
        cache.put(token, token, expires)
    cache.put("a", "a", expires)  # read again: now the most recent
    cache.put("d", "d", expires)
    assert [cache.address(t) for t in ("a", "b", "c", "d")] == ["a", None, "c", "d"]
