"""SQLite writers take turns on a lock file beside the database (store/locks.py WriterTurns):
a waiting writer starts as soon as the holder's transaction ends, however it ends; readers
never wait; a killed holder lets the next writer in at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from certdesk.store import db
from certdesk.store.locks import WriterTurns, writer_turns_path

WAIT = 10.0  # seconds a test waits for what must happen long before


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
    yield engine
    engine.dispose()


def _ended_by_commit(conn: Connection) -> None:
    conn.commit()


def _ended_by_rollback(conn: Connection) -> None:
    conn.rollback()


def _ended_by_close(conn: Connection) -> None:
    conn.invalidate()  # the DBAPI connection is closed, as after a broken one


@pytest.mark.parametrize(
    "end", [_ended_by_commit, _ended_by_rollback, _ended_by_close], ids=lambda f: f.__name__
)
def test_a_second_writer_waits_for_the_first_and_starts_once_its_transaction_ends(
    engine: Engine, end: Callable[[Connection], None]
) -> None:
    holder = engine.connect()
    holder.begin()
    holder.execute(text("INSERT INTO t VALUES (1)"))
    started = threading.Event()

    def second() -> None:
        with engine.begin() as conn:
            started.set()
            conn.execute(text("INSERT INTO t VALUES (2)"))

    thread = threading.Thread(target=second, daemon=True)
    thread.start()
    assert not started.wait(0.3), "a second writer began while the first held its turn"
    end(holder)
    assert started.wait(WAIT), "the second writer was not let in after the first ended"
    thread.join(WAIT)
    holder.close()
    with engine.connect() as conn:
        values = sorted(conn.execute(text("SELECT v FROM t")).scalars())
    assert values == ([1, 2] if end is _ended_by_commit else [2])


def test_a_reader_does_not_wait_for_a_writer(engine: Engine) -> None:
    reads = engine.execution_options(**{db.READ_ONLY: True})
    with engine.begin() as writer:
        writer.execute(text("INSERT INTO t VALUES (1)"))
        with reads.connect() as reader:
            assert reader.execute(text("SELECT count(*) FROM t")).scalar_one() == 0


def test_the_turn_is_held_only_during_a_write_transaction(engine: Engine) -> None:
    conn = engine.connect()
    dbapi = conn.connection.dbapi_connection
    assert isinstance(dbapi, WriterTurns)
    conn.begin()
    assert dbapi.turn is not None
    conn.rollback()
    assert dbapi.turn is None
    conn.close()


def test_a_killed_writer_does_not_hold_up_the_next(engine: Engine, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from sqlalchemy import text\n"
            "from certdesk.store import db\n"
            "conn = db.make_engine(sys.argv[1]).connect()\n"
            "conn.begin()\n"
            "conn.execute(text('INSERT INTO t VALUES (1)'))\n"
            "print('holding', flush=True)\n"
            "time.sleep(600)\n",
            str(engine.url),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        done = threading.Event()

        def write() -> None:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (2)"))
            done.set()

        threading.Thread(target=write, daemon=True).start()
        assert not done.wait(0.3)
        os.kill(holder.pid, signal.SIGKILL)
        started = time.monotonic()
        assert done.wait(WAIT), "the writer stayed blocked after the holder was killed"
        assert time.monotonic() - started < WAIT
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    with engine.connect() as conn:
        assert list(conn.execute(text("SELECT v FROM t")).scalars()) == [2]


@pytest.mark.parametrize(
    ("database", "path"),
    [
        ("/srv/certdesk/certdesk.db", "/srv/certdesk/certdesk.db.writer-lock"),
        (":memory:", None),
        ("", None),
        (None, None),
        ("file:shared?mode=memory&cache=shared", None),
    ],
)
def test_the_lock_file_sits_beside_a_database_file_only(
    database: str | None, path: str | None
) -> None:
    assert writer_turns_path(database) == path


def test_the_lock_file_is_private(engine: Engine) -> None:
    lock = Path(f"{engine.url.database}.writer-lock")
    assert lock.exists()
    assert lock.stat().st_mode & 0o077 == 0
