"""What every long-lived process checks before it serves: the schema is the one this code
knows, and its secret-box key is this installation's.

``serve``, ``worker`` and every CLI command but ``init`` and ``db`` run these checks; a
failure is :class:`Unavailable` (exit code 4) with one line saying what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from certdesk.config import Settings
from certdesk.errors import Unavailable
from certdesk.store import installation
from certdesk.store.db import ping, sqlite_file
from certdesk.store.schema import (
    current_revision,
    head_revision,
    known_revisions,
    require_current,
    setup_lock,
    uninitialized,
    upgrade,
)

if TYPE_CHECKING:
    from certdesk.services.registry import Services


def ping_database(engine: Engine) -> None:
    """One round trip to the database (``/readyz``); raises the driver's error if none."""
    ping(engine)


def require_current_schema(svc: Services) -> None:
    """Raise unless the database's schema is the one this code was built for (``/readyz``)."""
    require_current(svc.rt.engine)


def known_head() -> str:
    """The newest schema revision this code knows (read from the packaged migrations once)."""
    return head_revision()


def refuse_before_init(settings: Settings, *, program: str = "certdesk") -> None:
    """Raise :class:`Unavailable` when the SQLite database file does not exist (the default
    one under the data directory, or the file ``CERTDESK_DATABASE_URL`` names): nobody has
    run ``init`` there. Refused before anything is opened, since opening would make the data
    directory, its secrets folder and an empty database for a command that changes nothing.
    A server database (PostgreSQL) is asked once opened (``check_ready_to_start``)."""
    database = sqlite_file(settings.sqlalchemy_url)
    if database is not None and not database.exists():
        raise uninitialized(program)


def check_ready_to_start(svc: Services, *, program: str = "certdesk") -> None:
    """Raise :class:`Unavailable` when this process must not start on this database."""
    require_current(svc.rt.engine, program=program)
    check_secret_key(svc, program=program)
    if svc.audit.chain_key() is None:
        # The first start of a release with a keyed audit log keys the existing one (R15).
        with setup_lock(svc.rt.engine):
            svc.audit.ensure_keyed()


@dataclass(frozen=True)
class SchemaState:
    current: str | None  # None: never migrated
    head: str  # what this certdesk needs

    @property
    def state(self) -> str:
        """``current``, ``empty`` (run init), ``upgrade needed`` (run db upgrade) or
        ``newer`` (a later certdesk upgraded it; this one must not run on it)."""
        if self.current == self.head:
            return "current"
        if self.current is None:
            return "empty"
        return "upgrade needed" if self.current in known_revisions() else "newer"


def schema_state(svc: Services) -> SchemaState:
    return SchemaState(current_revision(svc.rt.engine), head_revision())


def upgrade_schema(svc: Services) -> tuple[SchemaState, SchemaState]:
    """Migrate under the set-up lock (one process migrates, the others wait and see it
    done); returns the state before and after."""
    before, after = upgrade(svc.rt.engine, wrapper=svc.secretbox)
    return SchemaState(before, after), SchemaState(after, after)


def check_secret_key(svc: Services, *, first_run: bool = False, program: str = "certdesk") -> str:
    """Compare the secret-box key with the fingerprint the database recorded.

    The first process records its key's fingerprint: ``init`` (``first_run``, which makes
    the key if there is none), or the first start, with a key file, after an upgrade from a
    release that recorded none. Afterwards a process whose key file is missing or different
    refuses: making a fresh key would silently split the installation (CSRF tokens, TOTP
    seeds and sealed keys that other hosts cannot open).
    """
    rt = svc.rt
    box = svc.secretbox
    with rt.reads() as s:
        recorded = installation.read(s, installation.SECRETBOX_FINGERPRINT)
    if recorded is None:
        if not first_run and not box.exists():
            # Upgraded from a release that recorded no fingerprint, on a host without a
            # key: the key may well live on another host, so only `init` may make one.
            raise Unavailable(
                "secretbox.unrecorded",
                f"no secret key in {box.path} and none recorded for this installation:"
                " copy secretbox.key from the host that has one (or set CERTDESK_SECRETS_DIR"
                f" to its directory), or run '{program} init' to make one",
            )
        mine = box.fingerprint(create=True)
        recorded = installation.record_once(
            rt.sessions, installation.SECRETBOX_FINGERPRINT, mine, rt.clock()
        )
        if recorded == mine:
            return mine
    if not box.exists():
        raise Unavailable(
            "secretbox.missing",
            f"this installation's secret key (fingerprint {recorded[:12]}…) is not in"
            f" {box.path}: copy secretbox.key from a host of this installation there, or set"
            " CERTDESK_SECRETS_DIR to the directory that holds it",
        )
    mine = box.fingerprint(create=False)
    if mine != recorded:
        raise Unavailable(
            "secretbox.other_key",
            f"{box.path} is not this installation's secret key (fingerprint {mine[:12]}…,"
            f" the database expects {recorded[:12]}…): use the key file of the other hosts",
        )
    return mine
