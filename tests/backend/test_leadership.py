"""Settlement leadership through the database engine (``labelshare.leader``): one leader among
contenders, handed over when the leader's session ends, and a fence that stops a deposed leader
from recording (so from sending) anything, even before it notices it was deposed. PostgreSQL's
advisory lock and SQLite's flock, on real databases; sender locks that keep two replicas from
signing one nonce."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from labelshare.db.engine import make_engine, make_session_factory
from labelshare.leader import (
    FileLockLeadership, LeadershipLost, PostgresLeadership, SenderLocks, SoleLeadership, leadership_for,
)

POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _terminate(database_url: str, pid: int) -> None:
    """Ends a session from outside, as a dead network or a restarted server would."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        # pg_terminate_backend only signals the backend: its locks go when it has exited.
        deadline = time.monotonic() + 10
        while conn.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).first():
            assert time.monotonic() < deadline, f"backend {pid} still running 10 s after pg_terminate_backend"
            time.sleep(0.02)
    engine.dispose()


@POSTGRES
def test_postgres_oneLeader_sessionEnds_otherTakesOver_deposedLeaderFenced(database_url):
    sessions = make_session_factory(make_engine(database_url))
    first, second = PostgresLeadership(database_url), PostgresLeadership(database_url)
    try:
        assert first.acquire() and not second.acquire()
        assert first.acquire() and not second.acquire()  # held, checked again
        with sessions.begin() as s:
            first.fence(s)
            assert first.leader(s) == first.identity
            with pytest.raises(LeadershipLost):
                second.fence(s)

        _terminate(database_url, first._backend_pid)  # the leader's connection dies
        assert second.acquire()  # the lock went with the session
        with sessions.begin() as s:
            # The deposed leader has not polled yet and still believes it leads: the fence,
            # asked inside the transaction that would record a signed transaction, refuses.
            assert first.leading
            with pytest.raises(LeadershipLost, match="no longer holds the settlement lock"):
                first.fence(s)
            second.fence(s)
            assert second.leader(s) == second.identity
        assert not first.acquire() and not first.leading  # it notices, and stands by
        second.release()
        assert first.acquire()
    finally:
        first.release()
        second.release()


@POSTGRES
def test_postgres_unreachable_notLeading_noException(database_url):
    gone = PostgresLeadership(database_url.rsplit("/", 1)[0] + "/labelshare_no_such_database")
    assert gone.acquire() is False and not gone.leading


def test_sqlite_flock_oneLeader_releasedOnClose(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    first, second = leadership_for(url), leadership_for(url)
    assert isinstance(first, FileLockLeadership)
    assert first.acquire() and not second.acquire()
    with pytest.raises(LeadershipLost):
        second.fence(None)  # type: ignore[arg-type] - nothing to ask the database on SQLite
    assert second.leader(None) == first.identity  # type: ignore[arg-type]
    first.release()
    assert second.acquire()
    second.release()
    assert isinstance(leadership_for("sqlite://"), SoleLeadership)
    assert isinstance(leadership_for("postgresql://u@h/db"), PostgresLeadership)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_senderLocks_oneHolderAtATime_acrossInstances(database_url, tmp_path: Path):
    """Two SenderLocks on one database (as two replicas have): never both inside at once."""
    sessions = make_session_factory(make_engine(database_url))
    replicas = [SenderLocks(sessions, database_url), SenderLocks(sessions, database_url)]
    inside, overlaps, rounds = [0], [0], 20
    guard = threading.Lock()

    def send(locks: SenderLocks) -> None:
        for _ in range(rounds):
            with locks("registrar"):
                with guard:
                    inside[0] += 1
                    overlaps[0] += inside[0] > 1
                time.sleep(0.002)  # a signature and a broadcast take a moment
                with guard:
                    inside[0] -= 1

    threads = [threading.Thread(target=send, args=(r,)) for r in replicas for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps[0] == 0
