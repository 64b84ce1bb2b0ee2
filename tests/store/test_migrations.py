"""STYLE habit 12: the migrations build exactly the models' schema, up and down, on both
backends (tests never use create_all)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from certdesk.store.db import alembic_config, make_engine, migrate
from certdesk.store.models import Base
from certdesk.store.schema import current_revision, head_revision
from conftest import scratch_database


def test_migrations_match_models_and_round_trip(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    cfg = alembic_config(database_url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    migrate(engine)  # idempotent
    engine.dispose()


# What each revision adds, checked step by step (a revision's downgrade must undo exactly
# its upgrade, so that `certdesk db upgrade` from any release lands on the same schema).
ADDED_TABLES = [
    pytest.param("0005", {"installation"}, id="0005/installation-facts"),
]


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def _alembic(engine: Engine, verb: str, target: str) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, verb)(cfg, target)


def test_every_revision_steps_up_and_down_alone(backend: str, tmp_path: Path) -> None:
    with scratch_database(backend, tmp_path, "steps") as url:
        engine = make_engine(url)
        try:
            tables_at = {"base": _tables(engine)}
            for revision in _revisions():
                _alembic(engine, "upgrade", revision)
                tables_at[revision] = _tables(engine)
            assert tables_at[head_revision()] == set(Base.metadata.tables)
            steps = ["base", *_revisions()]
            for below, revision in reversed(list(itertools.pairwise(steps))):
                assert current_revision(engine) == revision
                _alembic(engine, "downgrade", "-1")
                assert _tables(engine) == tables_at[below], f"{revision} down"
                _alembic(engine, "upgrade", "+1")
                assert _tables(engine) == tables_at[revision], f"{revision} up again"
                _alembic(engine, "downgrade", "-1")
            assert current_revision(engine) is None
        finally:
            engine.dispose()


@pytest.mark.parametrize(("revision", "added"), ADDED_TABLES)
def test_revision_adds_its_tables(
    backend: str, tmp_path: Path, revision: str, added: set[str]
) -> None:
    with scratch_database(backend, tmp_path, "adds") as url:
        engine = make_engine(url)
        try:
            steps = _revisions()
            below = steps[steps.index(revision) - 1]
            _alembic(engine, "upgrade", below)
            before = _tables(engine)
            _alembic(engine, "upgrade", revision)
            assert _tables(engine) - before == added
            assert before - _tables(engine) == set()
        finally:
            engine.dispose()
