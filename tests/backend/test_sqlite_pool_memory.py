"""Every SQLite connection keeps a private page cache (up to 2 MB by default) after its
transaction ends. The API's pool keeps 40 of them, so idle connections held up to ~80 MB of
native memory, filled further as the tables grew: the soak's steady RSS growth (found with
memray: pages allocated under sqlite3BtreeTableMoveto, alive while the server ran and freed at
its shutdown). labelshare.db.engine frees a connection's cache when it goes back to the pool."""

from __future__ import annotations

import _sqlite3
import ctypes
from pathlib import Path

from labelshare.db.engine import make_engine

CONNECTIONS = 20  # pooled connections that each read the whole table once
TABLE_MB = 4  # more than one connection's default cache (2 MB): each fills its cache to the cap


def _sqlite_heap_bytes() -> int:
    """Heap the SQLite library in use has allocated, all connections together
    (``sqlite3_memory_used``; dlsym on the module finds it in the library the module links)."""
    memory_used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    memory_used.restype = ctypes.c_int64
    return memory_used()


def test_connectionsBackInThePool_holdNoPageCache(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
            connection.exec_driver_sql(
                f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {TABLE_MB * 1024}) "
                "INSERT INTO t (v) SELECT hex(randomblob(500)) FROM n")  # ~1 kB a row
        before = _sqlite_heap_bytes()
        held = [engine.connect() for _ in range(CONNECTIONS)]  # distinct pooled connections
        for connection in held:
            with connection.begin():
                assert connection.exec_driver_sql("SELECT count(*), sum(length(v)) FROM t").one()[0] == TABLE_MB * 1024
        for connection in held:
            connection.close()  # back to the pool, kept open
        assert engine.pool.checkedin() == CONNECTIONS
        # Kept caches: about 2 MB a connection, 40 MB here; released: what the open connections
        # need without a cache (schema, prepared statements), well under 0.5 MB each.
        grown = _sqlite_heap_bytes() - before
        assert grown < CONNECTIONS * 512 * 1024, f"idle pooled connections hold {grown / 2**20:.1f} MB"
    finally:
        engine.dispose()
