"""Engine and session factory. SQLite (the default) runs in WAL mode with a busy timeout so the
API and the settlement worker can share the file; PostgreSQL is used when DATABASE_URL names one
(``postgresql+psycopg://...``).

SQLite has one writer at a time, and every transaction here takes the write lock up front (BEGIN
IMMEDIATE). A writer that finds the lock taken is left to SQLite's busy handler, which polls with
sleeps growing to 100 ms: under concurrent requests (threads of one API process, or API workers
sharing the file) most of a request's time went into those sleeps. So writers queue instead on a
``WriterGate``: a lock among the threads of a process and an ``flock`` on ``<database>-writer.lock``
among processes, taken before BEGIN IMMEDIATE and released when the transaction ends, so the next
writer starts the moment the lock is free. The gate only orders writers that cooperate (every
engine made here); SQLite's own locking and busy timeout still guard the file against anyone else.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["WriterGate", "make_engine", "make_session_factory", "upgrade_database"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_SECONDS = 30
# Connections a SQLite engine keeps open: the API runs sync routes on up to 40 threads (AnyIO's
# default), and each holds a connection while it waits for the write lock; a smaller pool opened
# and closed an overflow connection (file open + pragmas) for most requests under load.
SQLITE_POOL_SIZE = 40
PG_POOL_SIZE = 32
PG_MAX_OVERFLOW = 8


class WriterGate:
    """Orders SQLite writers: a thread lock, then an exclusive ``flock`` on ``path``.

    ``acquire`` waits at most ``timeout`` seconds and returns whether it holds the gate; on a
    timeout the caller goes on to SQLite's own busy handling, exactly as without a gate.
    """

    def __init__(self, path: Path, timeout: float = SQLITE_BUSY_TIMEOUT_SECONDS) -> None:
        self.path = path
        self.timeout = timeout
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # flock is per open file: one per process
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> bool:
        deadline = time.monotonic() + self.timeout
        if not self._threads.acquire(timeout=self.timeout):
            return False
        try:
            fd = self._file()
            delay = 0.0001
            while True:  # another process's writer: poll briefly (flock cannot time out)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(delay)
                    delay = min(delay * 2, 0.001)
        except BaseException:
            self._threads.release()
            raise
        self._threads.release()
        return False

    def release(self) -> None:
        try:
            if self._fd is not None and self._pid == os.getpid():
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


def _install_writer_gate(engine: Engine, gate: WriterGate) -> None:
    """Takes ``gate`` before each BEGIN IMMEDIATE and gives it back once the transaction is over:
    after COMMIT or ROLLBACK has run (also the pool's rollback on check-in), or when the
    connection is closed."""
    holders: set[int] = set()  # id() of the DBAPI connections whose transaction holds the gate
    dialect = engine.dialect

    def _released(connection: Any) -> None:
        # SQLAlchemy passes the pool's proxy (commit, rollback) or the DBAPI connection (close).
        key = id(getattr(connection, "dbapi_connection", connection))
        if key in holders:
            holders.discard(key)
            gate.release()

    def _wrap(method: Any) -> Any:
        def wrapped(dbapi_connection: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(dbapi_connection, *args, **kwargs)
            finally:
                _released(dbapi_connection)
        return wrapped

    dialect.do_commit = _wrap(dialect.do_commit)  # type: ignore[method-assign]
    dialect.do_rollback = _wrap(dialect.do_rollback)  # type: ignore[method-assign]
    dialect.do_close = _wrap(dialect.do_close)  # type: ignore[method-assign]

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        # Take the write lock up front, so concurrent writers queue instead of failing when a
        # read snapshot cannot be upgraded; behind the gate, so they queue without polling.
        dbapi_connection = connection.connection.dbapi_connection
        if id(dbapi_connection) not in holders and gate.acquire():
            holders.add(id(dbapi_connection))
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _released(dbapi_connection)
            raise


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
                               pool_size=SQLITE_POOL_SIZE, max_overflow=20)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps it consistent
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
            cursor.close()
            # SQLAlchemy's documented recipe: let SQLAlchemy, not pysqlite, start transactions
            # (BEGIN IMMEDIATE, below).
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "checkin")
        def _release_page_cache(dbapi_connection: Any, _record: Any) -> None:
            # Each SQLite connection keeps a private page cache (up to 2 MB by default) after its
            # transaction ends; idle in the pool, 40 connections held up to ~80 MB, filled
            # further as the tables grew (the soak's RSS growth). In WAL mode a connection's cache
            # is thrown away at its next read transaction anyway once another connection has
            # written, so an idle connection's cache is almost never reused: free it on check-in.
            if dbapi_connection is not None:
                dbapi_connection.execute("PRAGMA shrink_memory")

        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            _install_writer_gate(engine, WriterGate(Path(parsed.database + "-writer.lock")))
        else:
            @event.listens_for(engine, "begin")
            def _begin_immediate(connection: Any) -> None:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))
    # As many kept connections as a worker has threads in use under load: above pool_size, each
    # request opened a new PostgreSQL connection (a server process) and closed it after. Two
    # workers stay within PostgreSQL's default max_connections (100) with room to spare.
    return create_engine(url, pool_pre_ping=True, pool_size=PG_POOL_SIZE, max_overflow=PG_MAX_OVERFLOW)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


# Any constant: the PostgreSQL advisory lock that serialises schema upgrades.
_UPGRADE_LOCK_KEY = 0x4C5348_0001


def upgrade_database(engine: Engine) -> None:
    """Brings the schema to the newest Alembic revision. Processes that start together (the
    workers of ``labelshare serve --workers N``) upgrade one after another: on PostgreSQL under
    an advisory lock held to the end of the transaction (two concurrent first upgrades of an
    empty database otherwise collide creating the same tables, and a worker dies); SQLite's
    BEGIN IMMEDIATE already serialises them."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_UPGRADE_LOCK_KEY})")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
