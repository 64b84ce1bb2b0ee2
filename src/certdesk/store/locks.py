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

SQLite's writers themselves take turns on a lock file too (:class:`WriterTurns`), so that a
waiting writer starts the moment the previous one commits instead of after a busy sleep.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
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


class WriterTurns(sqlite3.Connection):
    """A SQLite connection whose write transactions take turns on an ``flock``.

    SQLite lets one writer in at a time; a second one waits in its busy handler, which
    sleeps in steps of 1 to 100 ms, so it often starts well after the first has committed:
    under 64 ACME clients a write waited up to 0.7 s, and p99 57 ms, for a lock held ~2 ms
    at a time (docs/performance.md). A writer that first holds an exclusive ``flock`` on a
    file beside the database is woken by the kernel the moment the previous one lets go,
    in this process or another. :func:`certdesk.store.db.make_engine` makes every SQLite
    connection of a file database one of these and takes the turn just before ``BEGIN
    IMMEDIATE``; read transactions take none (WAL: readers never wait for the writer).

    The turn ends when the transaction does: after its commit or rollback has returned, or
    the connection closes, and when the process dies (the kernel closes its descriptors), so
    a killed writer never holds up the others. Each turn opens a description of its own, so
    threads of one process exclude each other too.
    """

    turn: int | None = None  # the descriptor holding the lock during a write transaction

    def take_turn(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self.turn = fd

    def end_turn(self) -> None:
        fd, self.turn = self.turn, None
        if fd is not None:
            os.close(fd)  # closing the description releases the lock

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_turn()


def file_database(database: str | None) -> str | None:
    """``database`` (a SQLite URL's) when it names a file; None for an in-memory database or
    a ``file:`` URI (whose own options say where it lives and whether it may be made)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def writer_turns_path(database: str | None) -> str | None:
    """The lock file writers of ``database`` take turns on; None for an in-memory one."""
    file = file_database(database)
    return None if file is None else f"{file}.writer-lock"
