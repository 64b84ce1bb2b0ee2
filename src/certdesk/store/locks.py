"""Mutual exclusion between worker processes for work that spans several transactions.

Most of the worker's changes are a single conditional ``UPDATE`` and need no lock. Opening a
renewal case is not: the case is opened by the cases service in transactions of its own and
then linked to the certificate in another (services/renewals.py). Two workers doing that for
the same certificate at once would both open a case. So that step runs under an exclusive
claim on the certificate, taken *without waiting* — a claim held elsewhere means another
worker is doing the item right now, and this one moves on (``SKIP LOCKED`` semantics):

* **PostgreSQL:** a transaction-scoped advisory lock (``pg_try_advisory_xact_lock``) on a
  connection of its own, held while the work runs on other connections. It is released when
  that transaction ends — on success, on an exception, and when the process dies (the server
  ends the session), so a killed worker never leaves a claim behind.
* **SQLite:** every process shares the database file on one host, so an ``flock`` on a file
  next to it excludes other processes and, because each claim opens its own file
  description, other threads. The kernel drops it when the process dies. SQLite serializes
  writers anyway, so one lock for every item costs no parallelism.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, func, select

# Advisory lock namespaces (the first key of the two-int form), one per kind of claim.
RENEWAL_OPEN = 6_0001  # R6: opening the renewal case of one certificate


@contextmanager
def exclusive(engine: Engine, namespace: int, item: int) -> Iterator[bool]:
    """Claim ``(namespace, item)`` for the duration of the block; yields False, at once, when
    another process or thread holds it."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn, conn.begin():
            held = bool(conn.scalar(select(func.pg_try_advisory_xact_lock(namespace, item))))
            yield held
        return
    with _file_lock(_lock_path(engine)) as held:
        yield held


def _lock_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise ValueError("worker claims on SQLite need a database file")
    return Path(f"{database}.worker-lock")


@contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # Blocking: the holder keeps it for one item (milliseconds), and SQLite would make
        # the two writers take turns anyway.
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)  # closing the description releases the lock


class WriterLock:
    """Takes turns between processes' group-commit writers on one SQLite file.

    SQLite lets one writer in at a time; a second one waits in its busy handler, which
    sleeps in steps of 1 to 100 ms, so it often starts well after the first has committed.
    Writers that hold this ``flock`` first are woken by the kernel the moment the previous
    one lets go. Only the group-commit writers take it (the rest still rely on the busy
    timeout); on PostgreSQL, or an in-memory SQLite, it does nothing.
    """

    def __init__(self, engine: Engine) -> None:
        database = engine.url.database
        self._path = (
            Path(f"{database}.writer-lock")
            if engine.dialect.name == "sqlite" and database and database != ":memory:"
            else None
        )

    @contextmanager
    def held(self) -> Iterator[None]:
        if self._path is None:
            yield
            return
        # A description of its own per holder: flock excludes other descriptions, threads
        # of this process included; closing it releases the lock, also when the process dies.
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
