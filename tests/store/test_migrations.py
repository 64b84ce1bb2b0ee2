"""STYLE habit 12: the migrations build exactly the models' schema, up and down, on both
backends (tests never use create_all)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Engine, String, Text, column, inspect, select, table, text

from certdesk.store.db import alembic_config, make_engine, migrate
from certdesk.store.models import Base
from certdesk.store.schema import current_revision, head_revision
from certdesk.store.types import UTCDateTime
from conftest import scratch_database
from world.migrations import alembic_step


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


def test_every_revision_steps_up_and_down_alone(backend: str, tmp_path: Path) -> None:
    with scratch_database(backend, tmp_path, "steps") as url:
        engine = make_engine(url)
        try:
            tables_at = {"base": _tables(engine)}
            for revision in _revisions():
                alembic_step(engine, "upgrade", revision)
                tables_at[revision] = _tables(engine)
            assert tables_at[head_revision()] == set(Base.metadata.tables)
            steps = ["base", *_revisions()]
            for below, revision in reversed(list(itertools.pairwise(steps))):
                assert current_revision(engine) == revision
                alembic_step(engine, "downgrade", "-1")
                assert _tables(engine) == tables_at[below], f"{revision} down"
                alembic_step(engine, "upgrade", "+1")
                assert _tables(engine) == tables_at[revision], f"{revision} up again"
                alembic_step(engine, "downgrade", "-1")
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
            alembic_step(engine, "upgrade", below)
            before = _tables(engine)
            alembic_step(engine, "upgrade", revision)
            assert _tables(engine) - before == added
            assert before - _tables(engine) == set()
        finally:
            engine.dispose()


# --- 0007: the payload's facts move to typed columns, with the rows that hold them ----------

_LEASE_UNTIL = "2026-11-26T18:05:00+00:00"
_SETUP = {
    "grants": ["zone:apps.dmv.ca.gov"],
    "admins": [{"name": "Dee Admin", "email": "dee@dmv.ca.gov", "login_id": "dee.admin"}],
}
# Case number → the payload a release before 0007 wrote.
_PAYLOADS: dict[str, dict[str, object]] = {
    "CS-2026-000001": {
        "fulfilment": {"holder": "host:123:456", "actor": "opal", "until": _LEASE_UNTIL}
    },
    "CS-2026-000002": {"delegated_admin": _SETUP},
    "CS-2026-000003": {"revocation_reason": "keyCompromise", "renewal_requested": "2027-01-04"},
    "CS-2026-000004": {},
}


def _old_cases(engine: Engine, payloads: dict[str, dict[str, object]] = _PAYLOADS) -> None:
    """Rows as a schema with ``cases.payload`` held them (SQL, not the current models)."""
    at = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organizations (id, code, name, self_managed, created_at,"
                " auto_approve_renewals) VALUES (1, 'dmv', 'DMV', false, :at, false)"
            ),
            {"at": at.replace(tzinfo=None)},
        )
        for i, (number, payload) in enumerate(payloads.items(), start=1):
            conn.execute(
                text(
                    "INSERT INTO cases (id, number, org_id, type, state, title, description,"
                    " opened_by, expedite, approval_steps, approval_round, payload, created_at,"
                    " updated_at) VALUES (:id, :number, 1, 'new', 'in_progress', 't', '', 'ana',"
                    " false, '', 1, :payload, :at, :at)"
                ),
                {"id": i, "number": number, "payload": json.dumps(payload), "at": at},
            )


_CASES = table(
    "cases",
    column("number", String()),
    column("payload", Text()),
    column("lease_holder", String()),
    column("lease_actor", String()),
    column("lease_until", UTCDateTime()),
    column("delegated_setup", JSON()),
    column("revocation_reason", String()),
)


def _case_columns(engine: Engine) -> dict[str, tuple[Any, ...]]:
    c = _CASES.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                c.number,
                c.payload,
                c.lease_holder,
                c.lease_actor,
                c.lease_until,
                c.delegated_setup,
                c.revocation_reason,
            ).order_by(c.number)
        )
        return {r[0]: (json.loads(r[1]), *r[2:]) for r in rows}


def _payloads(engine: Engine) -> dict[str, dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT number, payload FROM cases ORDER BY number"))
        return {r.number: json.loads(r.payload) for r in rows}


def test_0007_moves_the_payload_facts_to_columns_and_back(backend: str, tmp_path: Path) -> None:
    with scratch_database(backend, tmp_path, "m0007") as url:
        engine = make_engine(url)
        try:
            steps = _revisions()
            alembic_step(engine, "upgrade", steps[steps.index("0007") - 1])
            _old_cases(engine)
            alembic_step(engine, "upgrade", "0007")
            until = datetime.fromisoformat(_LEASE_UNTIL)
            assert _case_columns(engine) == {
                "CS-2026-000001": ({}, "host:123:456", "opal", until, None, None),
                "CS-2026-000002": ({}, None, None, None, _SETUP, None),
                "CS-2026-000003": (
                    {"renewal_requested": "2027-01-04"},  # not one of 0007's facts: stays
                    None,
                    None,
                    None,
                    None,
                    "keyCompromise",
                ),
                "CS-2026-000004": ({}, None, None, None, None, None),
            }
            alembic_step(engine, "downgrade", "-1")
            assert _payloads(engine) == _PAYLOADS
        finally:
            engine.dispose()


# --- 0009: the requested renewal date, the payload's last fact, becomes a column ------------

# Case number → the payload a release before 0009 wrote (after 0007 moved the other facts).
_PAYLOADS_0008: dict[str, dict[str, object]] = {
    "CS-2026-000001": {"renewal_requested": "2027-01-04"},
    "CS-2026-000002": {},
    "CS-2026-000003": {"renewal_requested": "not a date"},  # ignored by the old reader too
}


def test_0009_moves_the_renewal_date_to_a_column_and_back(backend: str, tmp_path: Path) -> None:
    with scratch_database(backend, tmp_path, "m0009") as url:
        engine = make_engine(url)
        try:
            steps = _revisions()
            alembic_step(engine, "upgrade", steps[steps.index("0009") - 1])
            _old_cases(engine, _PAYLOADS_0008)
            alembic_step(engine, "upgrade", "0009")
            columns = {c["name"] for c in inspect(engine).get_columns("cases")}
            assert "payload" not in columns
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT number, renewal_requested FROM cases ORDER BY number")
                )
                moved = {r[0]: r[1] for r in rows}
            assert {k: v and date.fromisoformat(str(v)) for k, v in moved.items()} == {
                "CS-2026-000001": date(2027, 1, 4),
                "CS-2026-000002": None,
                "CS-2026-000003": None,
            }
            alembic_step(engine, "downgrade", "-1")
            assert _payloads(engine) == {
                "CS-2026-000001": {"renewal_requested": "2027-01-04"},
                "CS-2026-000002": {},
                "CS-2026-000003": {},  # an unreadable date was never a date
            }
        finally:
            engine.dispose()
