"""Generated subscriber keys under data keys of their own, and their destruction (R12).

A row of ``data_keys`` holds one generated key sealed under its own data key and that data
key wrapped by the secret box (``core/envelope.py``). :func:`destroy` deletes the row in the
caller's transaction (the one that records the download); after that commit,
:func:`scrub` removes what the storage engine keeps of deleted rows:

* **SQLite:** every connection runs with ``PRAGMA secure_delete=ON`` (``store/db.py``), so a
  deleted row's bytes are overwritten with zeros in its page; ``wal_checkpoint(TRUNCATE)``
  then copies those pages into the database file and empties the ``-wal`` file, which
  still held the page images written while the key was stored.
* **PostgreSQL:** a delete leaves a dead tuple. Plain ``VACUUM`` only marks its space free
  (the bytes stay in the page until reused), and ``VACUUM FULL`` copies a dead row into the
  new file while any transaction on the server that is older than the delete still runs
  (its own snapshot counts) — neither is a reliable eraser. So the scrub rewrites the small
  table itself: under its exclusive lock it reads the live rows, ``TRUNCATE``s the table
  (new, empty files; the old ones are truncated to zero length at commit, whoever might
  still have seen the dead row) and writes the live rows back, in one transaction. Readers
  wait for that moment (bounded by a lock timeout); the online backup takes the table's
  share lock before its snapshot so that it never sees the table mid-rewrite
  (``store/backup.py``).

What no statement here can reach is named in docs/security.md: PostgreSQL's WAL segments
(``pg_wal``, archives, replicas), backups taken while the key was stored, and the file
system's own free blocks. Those copies hold only the sealed key and the wrapped data key;
once the row is gone, nothing stored anywhere opens them without the data key — and for a
copy made before the download, only together with the secret box key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.orm import Session

from certdesk.store.models import DataKey

# A scrub waits this long for the table's lock before giving up (the next one catches up).
SCRUB_LOCK_TIMEOUT = "5s"
# Waits for older transactions to end before the upgrade's VACUUM FULL (about 6 s at most).
SETTLE_PAUSES = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)


def of_submittal(s: Session, submittal_id: int) -> DataKey | None:
    """The submittal's stored key record, if it holds a generated key."""
    return s.get(DataKey, submittal_id)


def held(s: Session, submittal_id: int) -> bool:
    return (
        s.scalar(select(DataKey.submittal_id).where(DataKey.submittal_id == submittal_id))
        is not None
    )


def put(
    s: Session, submittal_id: int, wrapped_data_key: bytes, sealed_key: bytes, now: datetime
) -> bool:
    """Store a submittal's key record, destroying the one it replaces; returns whether one
    was replaced (the caller scrubs after its commit)."""
    replaced = destroy(s, submittal_id)
    s.add(
        DataKey(
            submittal_id=submittal_id,
            wrapped_data_key=wrapped_data_key,
            sealed_key=sealed_key,
            created_at=now,
        )
    )
    s.flush()
    return replaced


def destroy(s: Session, submittal_id: int) -> bool:
    """Delete the submittal's key record in the caller's transaction; whether it had one."""
    gone = s.execute(
        delete(DataKey).where(DataKey.submittal_id == submittal_id).returning(DataKey.submittal_id)
    ).all()
    # The session may hold the deleted row from an earlier read; forget it.
    for obj in [o for o in s.identity_map.values() if isinstance(o, DataKey)]:
        if obj.submittal_id == submittal_id:
            s.expunge(obj)
    return bool(gone)


@dataclass(frozen=True)
class Scrub:
    """What a scrub did: ``complete`` is False when SQLite could not empty its WAL (a reader
    still used it) — the next scrub or checkpoint finishes the job."""

    backend: str
    complete: bool


def scrub(engine: Engine) -> Scrub:
    """After a commit that destroyed key records: remove their remains from the files the
    database engine writes (see the module text). Run outside any transaction."""
    if engine.dialect.name == "sqlite":
        return Scrub("sqlite", _checkpoint_truncate(engine))
    with engine.connect() as conn, conn.begin():
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{SCRUB_LOCK_TIMEOUT}'")
        conn.exec_driver_sql("LOCK TABLE data_keys IN ACCESS EXCLUSIVE MODE")
        live = [dict(row) for row in conn.execute(select(DataKey.__table__)).mappings()]
        conn.exec_driver_sql("TRUNCATE data_keys")
        if live:
            conn.execute(insert(DataKey), live)
    return Scrub("postgresql", True)


def scrub_after_upgrade(engine: Engine) -> Scrub:
    """Once, after the upgrade to data keys (migration 0006): keys downloaded before it were
    only "erased" by a NULL, and their old ciphertext (sealed with the secret box alone)
    may sit in free pages (SQLite) or dead tuples (PostgreSQL). Rebuild the affected storage
    from live rows: ``VACUUM`` the SQLite file, ``VACUUM FULL`` the submittals (best effort:
    a transaction older than the upgrade still running makes it keep dead rows)."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("VACUUM")
            cur.close()
        finally:
            raw.close()
        return Scrub("sqlite", _checkpoint_truncate(engine))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        settled = _older_transactions_ended(conn)
        conn.exec_driver_sql("VACUUM FULL submittals")
    return Scrub("postgresql", settled and scrub(engine).complete)


def _older_transactions_ended(conn: Connection) -> bool:
    """Wait (briefly) until every transaction that held an id when this was called ended:
    a VACUUM FULL keeps a dead row that one of them could still see."""
    marker = conn.exec_driver_sql("SELECT pg_current_xact_id()").scalar_one()
    for pause in SETTLE_PAUSES:
        oldest = conn.exec_driver_sql("SELECT pg_snapshot_xmin(pg_current_snapshot())")
        if int(oldest.scalar_one()) > int(marker):
            return True
        time.sleep(pause)
    return False


def _checkpoint_truncate(engine: Engine) -> bool:
    # On the DBAPI connection directly: it runs in autocommit (store/db.py sets
    # isolation_level None), and a checkpoint must not run inside a transaction.
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        row = cur.fetchone()
        cur.close()
    finally:
        raw.close()
    return row is not None and int(row[0]) == 0  # (busy, WAL frames, frames checkpointed)
