"""The PostgreSQL pool without pool_pre_ping: a connection that sat idle is pinged at
checkout and replaced if the server closed it; one in steady use is not pinged at all."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError

from certdesk.store import db
from certdesk.store.compiled import end_read, raw_execute
from conftest import PG_ADMIN


@pytest.fixture
def pg_engine(pg_database: str) -> Iterator[Engine]:
    engine = db.make_engine(pg_database, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        pid: int = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        return pid


def _kill(pid: int) -> None:
    """Close a backend from the server side, as a restart or an idle timeout would."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def _count_statements(engine: Engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_an_idle_connection_closed_by_the_server_is_replaced_at_checkout(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend_pid(pg_engine)
    _kill(first)
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # every pooled connection counts as idle
    assert _backend_pid(pg_engine) != first  # no error: the dead connection failed its ping


def test_a_connection_in_steady_use_is_not_pinged(pg_engine: Engine) -> None:
    _backend_pid(pg_engine)  # the pool now holds a connection returned moments ago
    seen = _count_statements(pg_engine)
    for _ in range(3):
        with pg_engine.begin() as conn:
            conn.execute(text("SELECT 1"))
    assert seen == ["SELECT 1"] * 3  # pool_pre_ping would have added a round trip to each


def test_a_connection_broken_in_use_fails_once_then_the_pool_reconnects(
    pg_engine: Engine,
) -> None:
    first = _backend_pid(pg_engine)
    _kill(first)  # within the idle window: checkout does not ping
    with pytest.raises(DBAPIError) as err, pg_engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert err.value.connection_invalidated
    assert _backend_pid(pg_engine) != first


def test_a_read_on_the_cursor_ended_after_the_server_went_away_fails_as_its_callers_own(
    pg_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """DESIGN §7 (a 503, never a 500): a read run on the DBAPI cursor outside any transaction
    of SQLAlchemy's (the bearer token check) ends its implicit transaction itself, so a server
    gone between the read and the end is this caller's DBAPIError, the connection invalidated,
    and the pool never logs a failed rollback of its own with a traceback."""
    with pg_engine.connect() as conn:
        cursor = raw_execute(conn, "SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
        cursor.close()
        _kill(pid)
        with pytest.raises(DBAPIError) as err:
            end_read(conn)
        assert err.value.connection_invalidated
    assert not [r for r in caplog.records if r.name.startswith("sqlalchemy.pool")]
    assert _backend_pid(pg_engine) != pid  # the pool reconnects for the next caller
