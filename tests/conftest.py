"""Shared fixtures: real databases (SQLite file and the PostgreSQL on 127.0.0.1:5432),
an injected clock, and a fully initialized certdesk (schema by migrations, built-in CA)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text

from certdesk.config import Settings
from certdesk.core.access import Actor, Role
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import LOCAL_OPERATOR, initialize
from certdesk.store.db import make_engine, migrate
from certdesk.store.models import Base

# Property tests judge what code does, never how fast: on a loaded two-core machine (the suite
# runs in two workers beside PostgreSQL and browsers) Hypothesis' 200 ms deadline fails tests
# that are correct. Timing belongs in bench/, not in a pass/fail test.
hypothesis_settings.register_profile("certdesk", deadline=None)
hypothesis_settings.load_profile("certdesk")

PG_ADMIN = os.environ.get("CERTDESK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]

# The environment here points requests/curl at a system bundle; tests set their own.
for _var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
    os.environ.pop(_var, None)
for _var in [v for v in os.environ if v.startswith("CERTDESK_")]:
    os.environ.pop(_var)


@dataclass
class ManualClock:
    """A clock tests move by hand (STYLE habit 6)."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 18, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def _pg_url(dbname: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{dbname}"


def _create_pg(name: str, template: str | None = None) -> None:
    copying = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copying}')


def _drop_pg(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_pg(tag: str, *, template: str | None = None) -> Iterator[str]:
    """A PostgreSQL database of its own (unique per process), dropped afterwards: empty, or
    a copy of the database ``template``."""
    name = f"certdesk_{tag}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _create_pg(name, template)
    try:
        yield _pg_url(name)
    finally:
        _drop_pg(name)


@contextmanager
def scratch_database(backend: str, tmp: Path, tag: str) -> Iterator[str]:
    """An empty database of ``backend``: a SQLite file under ``tmp`` or :func:`scratch_pg`."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'certdesk.db'}"
        return
    with scratch_pg(tag) as url:
        yield url


# One migrated database per backend and test process, which migrated_database copies.
_MIGRATED: dict[str, str] = {}


_TEMPLATE_PREFIX = "certdesk_schema_"


def _drop_stale_templates() -> None:
    """Drop the migrated databases of test processes that are gone: an xdist worker stopped
    at the end of a run, or a killed run, never runs its atexit drop. The process id in the
    name says whose it is (the PostgreSQL here is on this host)."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s",
                (_TEMPLATE_PREFIX.replace("_", r"\_") + "%",),
            )
        ]
    for name in names:
        pid = name.removeprefix(_TEMPLATE_PREFIX).partition("_")[0]
        if pid.isdigit() and not _alive(int(pid)):
            _drop_pg(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _migrated_template(backend: str) -> str:
    """A SQLite file, or the name of a PostgreSQL database, migrated to the head (made once
    per test process; the PostgreSQL one is dropped when the process ends)."""
    if backend in _MIGRATED:
        return _MIGRATED[backend]
    if backend == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="certdesk-schema-")) / "certdesk.db"
        url = f"sqlite:///{path}"
        made = str(path)
    else:
        _drop_stale_templates()
        made = f"{_TEMPLATE_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:8]}"
        url = _pg_url(made)
        _create_pg(made)
        atexit.register(_drop_pg, made)
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    if backend == "sqlite":
        assert not Path(f"{made}-wal").exists()  # all of it is in the one file
    _MIGRATED[backend] = made
    return made


def _migrated_sqlite(tmp: Path) -> str:
    """The URL of a copy, under ``tmp``, of this process's migrated SQLite database."""
    copy = tmp / "certdesk.db"
    shutil.copyfile(_migrated_template("sqlite"), copy)
    return f"sqlite:///{copy}"


@contextmanager
def migrated_database(backend: str, tmp: Path, tag: str) -> Iterator[str]:
    """Like :func:`scratch_database`, but already migrated to the head: a copy of this
    process's migrated template (the migrations cost 1-1.5 s a database here;
    tests/store/test_migrations.py runs them from scratch)."""
    if backend == "sqlite":
        yield _migrated_sqlite(tmp)
        return
    with scratch_pg(tag, template=_migrated_template(backend)) as url:
        yield url


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throw-away PostgreSQL database for this test session, migrated once."""
    with scratch_pg("test") as url:
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url


TABLES = sorted(Base.metadata.tables)
# Foreign keys are not checked while the tables are emptied (cases and certificates refer to
# each other): every table is emptied in the one transaction.
_EMPTY_TABLES = "SET LOCAL session_replication_role = replica; " + "; ".join(
    f"DELETE FROM {name}" for name in TABLES
)
_SEQUENCES = "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"


def _empty_pg(url: str) -> None:
    """Every row gone and every sequence back at 1, as TRUNCATE ... RESTART IDENTITY would
    leave it: DELETE on these small tables takes ~10 ms where TRUNCATE, which gives each of the
    48 tables new files, took 0.4-0.75 s per test here."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(_EMPTY_TABLES)
        sequences = conn.execute(text(_SEQUENCES)).scalars().all()
        if sequences:
            conn.exec_driver_sql(
                "SELECT " + ", ".join(f"setval('{name}', 1, false)" for name in sequences)
            )
        # The migration seeds the audit chain's genesis head (R15); so does an emptied database.
        conn.execute(
            text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": "0" * 64}
        )
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A migrated, empty database of the requested backend."""
    if backend == "sqlite":
        return _migrated_sqlite(tmp_path)
    url: str = request.getfixturevalue("pg_database")
    _empty_pg(url)
    return url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    from world.desk import settings_for  # world.desk imports this module

    return settings_for(database_url, tmp_path)


@pytest.fixture
def services(settings: Settings, clock: ManualClock) -> Iterator[Services]:
    """certdesk as `certdesk init` leaves it: schema, built-in CA, first CRLs."""
    svc = Services(Runtime.open(settings, clock))
    initialize(svc, with_token=False)
    yield svc
    svc.rt.close()


OPERATOR = LOCAL_OPERATOR
AUDITOR = Actor(name="test:auditor", role=Role.AUDITOR)


def org_actor(services: Services, code: str, role: Role) -> Actor:
    """An actor of organization ``code`` with ``role``."""
    org = services.orgs.get(OPERATOR, code)
    return Actor(name=f"test:{code}:{role}", role=role, org_id=org.id)
