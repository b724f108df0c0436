"""Coordination between the processes that serve one database (replicas on several machines,
uvicorn workers, ``labelshare settle``), through the database engine:

- settlement leadership: exactly one process settles at a time. Every replica runs a settlement
  worker; a worker settles only while its process leads, and stands by otherwise;
- sender locks (``SenderLocks``): one sender at a time per service key, so two replicas never
  sign the same nonce for two different transactions.

The lock comes from the database engine, never from this process's memory:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) taken on a connection of
  its own, kept open for as long as the process leads. The lock lives exactly as long as that
  session: a leader that exits, is SIGKILLed or whose connection dies loses it at once (a vanished
  machine within the TCP keepalive settings below), and a standby's next ``acquire`` takes it.
  Advisory locks are per database, so deployments on other databases of one cluster never meet.
- SQLite: an ``flock`` on ``<database>-settlement.lock``, released by the kernel when the holder
  exits; SQLite serves one machine, and this elects one of its processes (``--workers N``).
- An in-memory SQLite database belongs to one process, which always leads.

A lock is not a fence: a leader cut off from the database could still be between a check and a
broadcast when another takes over. So every write that precedes a broadcast (closing an epoch,
recording a signed settle transaction) calls ``fence(session)`` inside its own transaction, which
on PostgreSQL asks ``pg_locks`` whether the lock is still held by this leader's session; a
deposed leader therefore cannot record, and never sends, a freshly signed transaction. What is
left is re-broadcasting an already recorded transaction (the same signed bytes) and the ledger's
per-chunk bitmap, which refuses a second settlement of any chunk whoever sends it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from labelshare.db.models import utcnow
from labelshare.errors import Unavailable

__all__ = ["FileLockLeadership", "Leadership", "LeadershipLost", "PostgresLeadership", "SenderLocks",
           "SoleLeadership", "leadership_for"]

log = logging.getLogger(__name__)

# Any constants (the schema upgrade's lock is 0x4C5348_0001, labelshare.db.engine).
SETTLEMENT_LOCK_KEY = 0x4C5348_0002
SENDER_LOCK_KEYS = {"verifier": 0x4C5348_0010, "qualifier": 0x4C5348_0011, "registrar": 0x4C5348_0012}
# How soon a vanished peer is noticed, on both ends of the leader's connection: the client fails
# its next check, and the server ends the session (releasing the lock) after about
# idle + interval x count seconds without an answer, instead of the kernel's default two hours.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 5, 2, 3
CONNECT_TIMEOUT_SECONDS = 5


class LeadershipLost(Unavailable):
    """This process does not (or no longer) lead settlement."""

    code = "not_leader"


def replica_identity() -> str:
    """``host:pid``: how logs, ``/status`` and the leader's database session name a process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Leadership:
    """Whether this process leads settlement. ``acquire`` is called by the settlement worker
    before each pass (one thread); ``leading`` and ``since`` may be read from any thread."""

    kind = "none"

    def __init__(self) -> None:
        self.identity = replica_identity()
        self.leading = False
        self.since: datetime | None = None
        self._standby_logged = False

    def acquire(self) -> bool:
        """Takes the lock if it is free, or checks that this process still holds it; returns
        whether this process leads now. Never raises: a failure means "not leading"."""
        raise NotImplementedError

    def fence(self, session: Session) -> None:
        """Raises LeadershipLost unless this process leads, checked inside ``session``'s
        transaction where the engine can tell."""
        if not self.leading:
            raise LeadershipLost("this process does not lead settlement")

    def leader(self, session: Session) -> str | None:
        """Who leads, as far as this process can tell (``host:pid``), or None."""
        return self.identity if self.leading else None

    def release(self) -> None:
        if self.leading:
            log.info("settlement leadership released by %s", self.identity)
        self.leading, self.since = False, None

    def _gained(self, how: str) -> None:
        self.leading, self.since, self._standby_logged = True, utcnow(), False
        log.info("gained settlement leadership: %s leads (%s)", self.identity, how)

    def _lost(self, why: str) -> None:
        self.leading, self.since = False, None
        log.warning("lost settlement leadership: %s (%s); standing by", self.identity, why)

    def _standing_by(self) -> None:
        if not self._standby_logged:  # once per change, not on every poll
            self._standby_logged = True
            log.info("settlement: %s stands by, another process leads", self.identity)


class SoleLeadership(Leadership):
    """The only process that can reach its database (in-memory SQLite): always leads."""

    kind = "sole"

    def acquire(self) -> bool:
        if not self.leading:
            self._gained("the only process on an in-memory database")
        return True


class FileLockLeadership(Leadership):
    """An exclusive ``flock`` on ``path``, held while leading (SQLite)."""

    kind = "flock"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self.leading:
            return True
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._standing_by()
            return False
        except OSError as err:
            log.warning("settlement leadership: cannot lock %s (%s)", self.path, err.strerror)
            return False
        # Who leads, for the others' /status; the lock, not this text, is what counts.
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, self.identity.encode(), 0)
        self._gained(f"flock on {self.path.name}")
        return True

    def leader(self, session: Session) -> str | None:
        try:
            return self.path.read_text().strip() or None
        except OSError:
            return None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
        super().release()


class PostgresLeadership(Leadership):
    """A session-level advisory lock on a dedicated connection (see the module's docstring)."""

    kind = "postgresql advisory lock"

    def __init__(self, database_url: str, key: int = SETTLEMENT_LOCK_KEY) -> None:
        super().__init__()
        # libpq's form of the URL (SQLAlchemy's driver suffix removed; query options such as
        # sslmode kept).
        self._conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.key = key
        self._conn: Any = None  # psycopg.Connection, imported lazily (SQLite deployments need no driver)
        self._backend_pid: int | None = None
        self._lock = threading.Lock()  # the worker's acquire and a release at shutdown

    def _connect(self) -> Any:
        import psycopg

        conn = psycopg.connect(
            self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name=f"labelshare-settlement {self.identity}"[:63],
            keepalives=1, keepalives_idle=KEEPALIVE_IDLE, keepalives_interval=KEEPALIVE_INTERVAL,
            keepalives_count=KEEPALIVE_COUNT)
        # The server's side of the same keepalive, and no idle-session timeout: this session
        # is idle by design between checks, and ending it would hand over leadership.
        conn.execute(f"SET tcp_keepalives_idle = {KEEPALIVE_IDLE}")
        conn.execute(f"SET tcp_keepalives_interval = {KEEPALIVE_INTERVAL}")
        conn.execute(f"SET tcp_keepalives_count = {KEEPALIVE_COUNT}")
        if conn.info.server_version >= 140000:  # the setting is new in PostgreSQL 14
            conn.execute("SET idle_session_timeout = 0")
        return conn

    def acquire(self) -> bool:
        import psycopg

        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                if self.leading:
                    if self._held(self._conn):
                        return True
                    self._drop()
                    self._lost("the advisory lock is no longer held by this session")
                    return False
                if self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]:
                    self._backend_pid = self._conn.info.backend_pid
                    self._gained(f"PostgreSQL advisory lock {self.key:#x}, session {self._backend_pid}")
                    return True
                self._standing_by()
                return False
            except psycopg.Error as err:
                self._drop()
                if self.leading:
                    self._lost(f"its database connection failed: {_first_line(err)}")
                else:
                    log.warning("settlement leadership: cannot reach the database (%s)", _first_line(err))
                return False

    def _held(self, conn: Any) -> bool:
        return conn.execute(_HELD, {"hi": self.key >> 32, "lo": self.key & 0xFFFFFFFF,
                                    "pid": self._backend_pid}).fetchone() is not None

    def fence(self, session: Session) -> None:
        super().fence(session)
        held = session.execute(text(_HELD_SQL), {"hi": self.key >> 32, "lo": self.key & 0xFFFFFFFF,
                                                 "pid": self._backend_pid}).first()
        if held is None:
            raise LeadershipLost(f"{self.identity} no longer holds the settlement lock (session "
                                 f"{self._backend_pid} ended); another replica may lead")

    def leader(self, session: Session) -> str | None:
        name = session.execute(text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = "
            "current_database()) AND l.classid = :hi AND l.objid = :lo AND l.objsubid = 1 AND l.granted"),
            {"hi": self.key >> 32, "lo": self.key & 0xFFFFFFFF}).scalar()
        return name.removeprefix("labelshare-settlement ") if name else None

    def release(self) -> None:
        with self._lock:
            self._drop()  # ending the session releases its advisory locks
            super().release()

    def _drop(self) -> None:
        conn, self._conn, self._backend_pid = self._conn, None, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is gone either way
                pass


_HELD_SQL = (
    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database "
    "WHERE datname = current_database()) AND classid = :hi AND objid = :lo AND objsubid = 1 AND pid = :pid "
    "AND granted")
_HELD = _HELD_SQL.replace(":hi", "%(hi)s").replace(":lo", "%(lo)s").replace(":pid", "%(pid)s")


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


def leadership_for(database_url: str) -> Leadership:
    """The leadership that fits the database ``database_url`` names."""
    if make_url(database_url).get_backend_name() == "postgresql":
        return PostgresLeadership(database_url)
    path = _lock_file(database_url, "settlement")
    return FileLockLeadership(path) if path is not None else SoleLeadership()


def _lock_file(database_url: str, name: str) -> Path | None:
    """``<database>-<name>.lock`` beside a SQLite file database; None for any other database."""
    url = make_url(database_url)
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
        return Path(f"{database}-{name}.lock")
    return None


class SenderLocks:
    """``with locks("registrar"):`` — one sender at a time for a service key across every
    process on the database: each takes the node's next nonce and broadcasts before the next
    begins, so no two sign the same nonce (two replicas registering projects at once otherwise
    do: the node keeps one transaction and the other request waits for a receipt that never
    comes, or, when both requests are alike, both report the one project). Held for signing and
    broadcasting only, never while waiting for a block. PostgreSQL: a transaction-level advisory
    lock; SQLite: an ``flock``; both go with their holder if it dies."""

    def __init__(self, sessions: sessionmaker[Session], database_url: str) -> None:
        self.sessions = sessions
        self.postgres = make_url(database_url).get_backend_name() == "postgresql"
        self.database_url = database_url
        self._threads = {role: threading.Lock() for role in SENDER_LOCK_KEYS}

    @contextmanager
    def __call__(self, role: str) -> Iterator[None]:
        with self._threads[role]:  # this process's threads first, then the other processes
            if self.postgres:
                with self.sessions.begin() as session:  # the lock ends with this transaction
                    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SENDER_LOCK_KEYS[role]})
                    yield
                return
            path = _lock_file(self.database_url, f"{role}-sender")
            if path is None:  # an in-memory database: one process
                yield
                return
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)
