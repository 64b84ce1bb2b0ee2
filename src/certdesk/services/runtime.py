"""The running system's parts, built once by the adapter that starts and passed down."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from certdesk.clock import Clock, system_clock
from certdesk.config import Settings
from certdesk.links import Linker
from certdesk.metrics import Metrics
from certdesk.store import lifecycle as lifecycle_store
from certdesk.store import vendors as vendor_store
from certdesk.store.datadir import make_private
from certdesk.store.db import NO_FLUSH, READ_ONLY, make_engine, session_factory

log = structlog.get_logger("certdesk")


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]  # read-write transactions (BEGIN IMMEDIATE on SQLite)
    reads: sessionmaker[Session]  # read-only work; never blocks writers on SQLite
    clock: Clock
    linker: Linker
    metrics: Metrics = field(init=False)
    unforced: sessionmaker[Session] = field(init=False)  # read-write, commit not forced

    def __post_init__(self) -> None:
        self.metrics = Metrics(self._inventory_counts)
        self._read_engine = self.engine.execution_options(**{READ_ONLY: True})
        self._no_flush_engine = self.engine.execution_options(**{NO_FLUSH: True})
        # ORM transactions whose commit is not forced to disk by itself (see ``transaction``):
        # for state a later forced commit depends on, or that a client re-derives when lost.
        self.unforced = sessionmaker(self._no_flush_engine, expire_on_commit=False)

    @classmethod
    def open(cls, settings: Settings, clock: Clock = system_clock) -> Runtime:
        # The data and secrets directories are private whatever the umask (store/datadir.py).
        repaired = make_private(settings.data_dir, settings.secrets_dir)
        if repaired:
            log.warning(
                "made the data directory private: it was readable by others",
                repaired=repaired[:20],
                count=len(repaired),
            )
        engine = make_engine(
            settings.sqlalchemy_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        return cls(
            settings,
            engine,
            session_factory(engine),
            session_factory(engine, read_only=True),
            clock,
            Linker(settings.pki_url),
        )

    def reading(self) -> AbstractContextManager[Connection]:
        """A read-only transaction on a Core connection (rolled back when the block ends).

        The Core counterpart of ``reads``: a deferred BEGIN on SQLite, never blocking writers.
        """
        return self._read_engine.connect()

    def transaction(self, *, flush: bool = True) -> AbstractContextManager[Connection]:
        """A read-write transaction on a Core connection, committed at the end of the block.

        For hot paths that run only Core statements (the issuance pipeline): it starts like a
        ``sessions`` transaction (BEGIN IMMEDIATE on SQLite) without an ORM session's costs.
        ``flush=False``: the commit is not forced to disk by itself; it becomes durable with
        the next forced commit (only for writes that are worthless until a later one, such
        as an issuance intent before its certificate is stored: docs/performance.md).
        """
        return (self.engine if flush else self._no_flush_engine).begin()

    def waits_are_local(self, *, vendors: bool) -> bool:
        """Whether a request's work waits only on this machine, so that a server may run it
        on its event loop rather than pay for a worker thread's hop (web/offload.py): the
        database is SQLite (a file's lock and ``fsync``, never a network database's round
        trips) and, for work that may reach a vendor CA (``vendors``: an issuance or a
        revocation), none is configured, since a vendor's order is driven over the network
        for seconds (one read)."""
        if self.engine.dialect.name != "sqlite":
            return False
        if not vendors:
            return True
        with self.reading() as conn:
            return not vendor_store.any_vendor(conn)

    def close(self) -> None:
        self.metrics.close()
        self.engine.dispose()

    def _inventory_counts(self) -> dict[str, int]:
        with self.reads() as s:
            return lifecycle_store.status_counts(s)
