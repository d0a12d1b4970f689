"""Engine settings: URL handling, SQLite pragmas (WAL, synchronous=FULL, foreign keys, busy timeout),
BEGIN IMMEDIATE for writes, and UTC timestamps (SQLite docs "PRAGMA"; ICH E6(R3) 4.2.2(d))."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError

from trialtwin.store import Database, StoreError
from trialtwin.store.db import SQLITE_BUSY_TIMEOUT_S, FifoLock, normalise_url
from trialtwin.store.tables import Subject, User


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        pytest.param("sqlite:///x.db", "sqlite", id="sqlite-file"),
        pytest.param("postgresql://u@h/db", "postgresql+psycopg", id="postgresql-gets-psycopg3"),
        pytest.param("postgres://u@h/db", "postgresql+psycopg", id="postgres-alias"),
        pytest.param("postgresql+psycopg://u@h/db", "postgresql+psycopg", id="explicit-driver-kept"),
    ],
)
def test_urls_are_normalised(url: str, driver: str) -> None:
    assert normalise_url(url).drivername == driver


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("not a url", "is not valid", id="malformed"),
        pytest.param("mysql://u@h/db", "only sqlite and postgresql", id="other-database"),
    ],
)
def test_unsupported_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        normalise_url(url)


def test_sqlite_connections_are_durable_and_checked(db: Database) -> None:
    """WAL journal, synchronous=FULL (2), foreign keys on, busy timeout set, on every connection."""
    with db.session() as session:
        values = {
            pragma: session.execute(text(f"PRAGMA {pragma}")).scalar_one()
            for pragma in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert values == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": int(SQLITE_BUSY_TIMEOUT_S * 1000),
    }


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError), db.session() as session, session.begin():
        session.add(
            Subject(
                study_id="nope",
                site_id=99,
                screening_id="X",
                status="registered",
                registered_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                registered_by=1,
            )
        )


def test_write_sessions_take_the_write_lock_at_begin(db: Database) -> None:
    """BEGIN IMMEDIATE: while a write session has only *read*, another writer is already locked out; a
    read session does not take the lock."""
    path = db.url.database
    assert path is not None
    with db.session() as session, session.begin():
        session.execute(text("SELECT count(*) FROM users")).scalar_one()
        other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    with db.read_session() as session, session.begin():
        session.execute(text("SELECT count(*) FROM users")).scalar_one()
        other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        other.close()


def test_timestamps_are_stored_and_read_as_utc(db: Database) -> None:
    """A4/G21: an aware time in any offset is stored in UTC and read back aware; a naive time is refused."""
    cest = dt.timezone(dt.timedelta(hours=2))
    with db.session() as session, session.begin():
        session.add(
            User(
                username="bob",
                display_name="Bob",
                password_hash="x",
                created_at=dt.datetime(2025, 6, 1, 12, tzinfo=cest),
            )
        )
    with db.read_session() as session:
        stored = session.execute(text("SELECT id FROM users WHERE username = 'bob'")).scalar_one()
        user = session.get(User, stored)
        assert user is not None
        assert user.created_at == dt.datetime(2025, 6, 1, 10, tzinfo=dt.UTC)
        assert user.created_at.tzinfo is dt.UTC
    with pytest.raises(StatementError, match="timezone-aware"), db.session() as session, session.begin():
        session.add(User(username="carl", display_name="Carl", password_hash="x", created_at=dt.datetime(2025, 6, 1)))


def test_sqlite_writers_of_one_process_are_served_in_arrival_order() -> None:
    """The in-process writer lock hands over to the longest waiter (no starvation under many clients)."""
    lock = FifoLock()
    order: list[int] = []
    lock.acquire()
    threads = []
    for i in range(6):
        t = threading.Thread(target=lambda i=i: (lock.acquire(), order.append(i), lock.release()))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 5
        while len(lock._waiters) < i + 1 and time.monotonic() < deadline:
            time.sleep(0.001)
    lock.release()
    for t in threads:
        t.join(5)
    assert order == [0, 1, 2, 3, 4, 5]
    with lock:
        assert lock._held
    assert not lock._held


#: A child process that holds the write lock from "held" until it reads a line.
_HOLDER = """
import sys
from trialtwin.store import Database
database = Database(sys.argv[1])
with database.write_lock:
    print("held", flush=True)
    sys.stdin.readline()
database.dispose()
"""


def test_sqlite_writers_of_other_processes_wait_on_the_lock_file_not_the_busy_handler(db: Database) -> None:
    """Another process's writer (a second uvicorn worker, a CLI command) holds ``<db>-writelock``; this
    process's writer blocks on it and goes on as soon as it is released, instead of polling SQLite's busy
    handler (sleeps of up to 100 ms)."""
    path = db.url.database
    assert path is not None
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(db.url)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "held"
        assert Path(f"{path}-writelock").exists()
        acquired = threading.Event()
        waiter = threading.Thread(target=lambda: (db.write_lock.__enter__(), acquired.set()))
        waiter.start()
        assert not acquired.wait(0.3), "took the write lock while another process held it"
        released_at = time.monotonic()
        child.stdin.write("go\n")
        child.stdin.flush()
        assert acquired.wait(10)
        assert time.monotonic() - released_at < 1.0
        waiter.join(5)
        db.write_lock.__exit__(None, None, None)
    finally:
        child.stdin.close()
        child.wait(30)
    assert child.returncode == 0


def test_databases_of_one_process_share_the_lock_file(db: Database, tmp_path: Path) -> None:
    """Two ``Database`` objects on one file in one process use one descriptor, so they never wait on each other
    there (a write nested in another meets SQLite's busy timeout, as before, not a lock that never opens);
    the descriptor is closed with the last of them."""
    other = Database(str(db.url))
    assert other._file_lock is db._file_lock is not None
    lock = other._file_lock
    assert lock.users == 2
    other.dispose()
    assert lock.users == 1
    with db.write_lock, Database(str(db.url)).write_lock:
        pass  # would block forever with a descriptor per Database


def test_a_lock_file_that_cannot_be_opened_leaves_sqlite_s_own_lock(tmp_path: Path, db: Database) -> None:
    """Where ``<db>-writelock`` cannot be made (a read-only folder; here a folder in its place, which even root
    cannot open for writing) the database still works: SQLite's ``BEGIN IMMEDIATE`` alone, as before."""
    target = tmp_path / "copy.db"
    shutil.copyfile(str(db.url.database), target)
    (tmp_path / "copy.db-writelock").mkdir()
    copy = Database(f"sqlite:///{target}")
    assert copy._file_lock is None
    with copy.session() as session, session.begin():
        session.execute(text("UPDATE users SET display_name = 'A' WHERE id = 1"))
    with copy.read_session() as session:
        assert session.execute(text("SELECT display_name FROM users")).scalar_one() == "A"
    copy.dispose()
