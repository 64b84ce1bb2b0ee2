"""The schema's revision and the installation-wide set-up lock (store/schema.py), on SQLite
and PostgreSQL: what a process is told about a schema that is not its own, and that the lock
excludes every other holder — another connection, another open file — until released."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from certdesk.errors import Unavailable
from certdesk.store.db import make_engine, migrate
from certdesk.store.schema import (
    SETUP_LOCK,
    current_revision,
    head_revision,
    require_current,
    setup_lock,
    upgrade,
    upgrade_held,
)
from conftest import scratch_database


@contextmanager
def engine_on(backend: str, tmp_path: Path) -> Iterator[Engine]:
    with scratch_database(backend, tmp_path, "schema") as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def set_revision(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})


@pytest.mark.parametrize(
    ("revision", "code", "message"),
    [
        pytest.param(None, "schema.uninitialized",
                     "the database is not initialized: run 'cdk init'", id="schema/empty"),
        pytest.param("0004", "schema.outdated",
                     "the database schema is at 0004, this certdesk needs {head}:"
                     " run 'cdk db upgrade'", id="schema/outdated"),
        pytest.param("9999", "schema.newer",
                     "the database schema is at 9999, newer than this certdesk knows ({head}):"
                     " install the certdesk release that upgraded it", id="schema/newer"),
    ],
)  # fmt: skip
def test_a_schema_not_this_codes_own_is_refused_with_what_to_run(
    backend: str, tmp_path: Path, revision: str | None, code: str, message: str
) -> None:
    with engine_on(backend, tmp_path) as engine:
        if revision is not None:
            migrate(engine)
            set_revision(engine, revision)
        with pytest.raises(Unavailable) as caught:
            require_current(engine, program="cdk")
        assert caught.value.code == code
        assert caught.value.detail == message.format(head=head_revision())


def test_the_current_schema_passes(backend: str, tmp_path: Path) -> None:
    with engine_on(backend, tmp_path) as engine:
        assert current_revision(engine) is None
        assert upgrade(engine) == (None, head_revision())
        assert require_current(engine) == head_revision()
        assert upgrade(engine) == (head_revision(), head_revision())  # a second run: nothing


def test_a_newer_schema_is_never_migrated(backend: str, tmp_path: Path) -> None:
    with engine_on(backend, tmp_path) as engine:
        migrate(engine)
        set_revision(engine, "9999")
        with pytest.raises(Unavailable) as caught:
            upgrade_held(engine)
        assert caught.value.code == "schema.newer"
        assert current_revision(engine) == "9999"


def other_holder_gets_the_lock(engine: Engine) -> bool:
    """Whether another process could take the set-up lock right now (without waiting)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            got = bool(conn.scalar(select(func.pg_try_advisory_lock(SETUP_LOCK))))
            if got:
                conn.scalar(select(func.pg_advisory_unlock(SETUP_LOCK)))
            conn.commit()
            return got
    fd = os.open(f"{engine.url.database}.setup-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # releases it, if taken
    return True


def test_the_setup_lock_excludes_others_until_released(backend: str, tmp_path: Path) -> None:
    with engine_on(backend, tmp_path) as engine:
        assert other_holder_gets_the_lock(engine)
        with setup_lock(engine):
            assert not other_holder_gets_the_lock(engine)
        assert other_holder_gets_the_lock(engine)
        with pytest.raises(RuntimeError), setup_lock(engine):  # released on an error too
            assert not other_holder_gets_the_lock(engine)
            raise RuntimeError("set-up failed")
        assert other_holder_gets_the_lock(engine)
