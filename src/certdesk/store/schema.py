"""The schema's revision, and upgrades that run once however many processes ask at once.

Several hosts may run ``certdesk init`` or ``certdesk db upgrade`` at the same moment (a
deployment that starts every node together). Alembic alone would race: two processes both
see an empty ``alembic_version`` and one dies on its primary key. So every upgrade, and the
first-run set-up that follows it, runs under one installation-wide lock:

* **PostgreSQL:** a session advisory lock (``pg_advisory_lock``) held on a connection of its
  own for the whole block; the server releases it if the process dies.
* **SQLite:** an ``flock`` on a file beside the database (every process shares that file on
  one host); the kernel releases it if the process dies.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from certdesk.core.envelope import Wrapper
from certdesk.errors import Unavailable
from certdesk.store import data_keys
from certdesk.store.db import alembic_config, migrate

# Advisory lock key of schema upgrades and first-run set-up ("certdesk" in ASCII, truncated).
SETUP_LOCK = 0x6365_7274_6465_736B & 0x7FFF_FFFF_FFFF_FFFF

# R12: the revision that put generated keys under data keys; an upgrade across it rebuilds
# the storage once, so that keys "erased" before it leave no ciphertext behind.
DATA_KEYS_REVISION = "0006"


@cache
def head_revision() -> str:
    """The newest revision of the migrations this certdesk carries."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None, "the packaged migrations have a head"
    return head


@cache
def known_revisions() -> frozenset[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(rev.revision for rev in script.walk_revisions())


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None when it has never been migrated."""
    try:
        with engine.connect() as conn:
            revision: str | None = conn.scalar(text("SELECT version_num FROM alembic_version"))
            return revision
    except (OperationalError, ProgrammingError) as exc:
        # No alembic_version table: a database nobody initialized. Anything else (a server
        # that does not answer) is not ours to hide.
        message = str(exc.orig).lower()
        if "alembic_version" in message and ("no such table" in message or "exist" in message):
            return None
        raise


def uninitialized(program: str = "certdesk") -> Unavailable:
    """The refusal of a command run before ``init``."""
    return Unavailable(
        "schema.uninitialized", f"the database is not initialized: run '{program} init'"
    )


def require_current(engine: Engine, *, program: str = "certdesk") -> str:
    """Raise :class:`Unavailable` unless the schema is exactly the one this code expects."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return current
    if current is None:
        raise uninitialized(program)
    if current not in known_revisions():
        raise Unavailable(
            "schema.newer",
            f"the database schema is at {current}, newer than this certdesk knows ({head}):"
            " install the certdesk release that upgraded it",
            current=current,
            head=head,
        )
    raise Unavailable(
        "schema.outdated",
        f"the database schema is at {current}, this certdesk needs {head}:"
        f" run '{program} db upgrade'",
        current=current,
        head=head,
    )


@contextmanager
def setup_lock(engine: Engine) -> Iterator[None]:
    """Hold the installation-wide set-up lock for the block (waits for another holder)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(select(func.pg_advisory_lock(SETUP_LOCK)))
            conn.commit()  # the lock is the session's, not the transaction's
            try:
                yield
            finally:
                conn.execute(select(func.pg_advisory_unlock(SETUP_LOCK)))
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield  # one process owns an in-memory database
        return
    fd = os.open(Path(f"{database}.setup-lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def upgrade(engine: Engine, *, wrapper: Wrapper | None = None) -> tuple[str | None, str]:
    """Migrate to the newest revision under the set-up lock; returns (before, after)."""
    with setup_lock(engine):
        return upgrade_held(engine, wrapper=wrapper)


def upgrade_held(engine: Engine, *, wrapper: Wrapper | None = None) -> tuple[str | None, str]:
    """Migrate to the newest revision; the caller holds :func:`setup_lock` (``init`` runs
    its whole set-up under it). A schema newer than this code is refused, never touched:
    Alembic would fail on the unknown revision with a traceback, and a downgrade loses data.
    ``wrapper`` (the secret box) re-seals stored generated keys (0006).
    """
    before = current_revision(engine)
    if before == head_revision():
        # Nothing to apply: Alembic would load every migration file to find that out (about
        # 0.3 s here, at every `init` of an initialized installation and every test set-up).
        return before, before
    if before is not None and before not in known_revisions():
        require_current(engine)  # raises "newer"
    migrate(engine, wrapper=wrapper)
    if before is not None and crossed(before, DATA_KEYS_REVISION):
        data_keys.scrub_after_upgrade(engine)
    return before, head_revision()


def crossed(before: str, revision: str) -> bool:
    """Whether upgrading from ``before`` to the head applied ``revision``."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    below_before = {rev.revision for rev in script.iterate_revisions(before, "base")}
    return revision not in below_before
