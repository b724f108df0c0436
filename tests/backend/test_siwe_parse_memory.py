"""siwe parses with abnf, whose memo caches were unbounded and keyed by the message: every sign-in
grew them for the life of the API process (found by the soak). labelshare.auth bounds them."""

from __future__ import annotations

import secrets

import siwe
from abnf.parser import ParseCache
from eth_account import Account

from labelshare.auth import ABNF_CACHE_ENTRIES
from labelshare.client import siwe_message


def test_parsingManySignInMessages_keepsTheAbnfCachesItFillsBounded():
    address = Account.create().address
    before = {id(cache): len(cache) for cache in ParseCache.objects}
    for _ in range(150):  # unbounded, the busiest cache gains about 20 entries a message: 3,000 here
        siwe.SiweMessage.from_message(siwe_message(address, secrets.token_hex(8), 31337, "localhost:8000",
                                                   "http://localhost:8000"))
    # Caches the grammar filled when it was built (at import) are left as they were; every cache
    # that message parsing fills stays within the bound.
    filled = [len(cache) for cache in ParseCache.objects if len(cache) != before.get(id(cache), 0)]
    assert filled and max(filled) <= ABNF_CACHE_ENTRIES
