"""Generated subscriber keys under data keys of their own, and their destruction (R12).

A row of ``data_keys`` holds one generated key sealed under its own data key and that data
key wrapped by the secret box (``core/envelope.py``). :func:`destroy` deletes the row in the
caller's transaction (the one that records the download); after that commit,
:func:`scrub` removes what the storage engine keeps of deleted rows:

* **SQLite:** every connection runs with ``PRAGMA secure_delete=ON`` (``store/db.py``), so a
  deleted row's bytes are overwritten with zeros in its page; ``wal_checkpoint(TRUNCATE)``
  then copies those pages into the database file and empties the ``-wal`` file, which
  still held the page images written while the key was stored.
* **PostgreSQL:** a delete leaves a dead tuple, and plain ``VACUUM`` only marks its space
  free (the bytes stay in the page until reused). ``VACUUM FULL data_keys`` writes the live
  rows to new files and truncates the old ones at commit. The table holds one small row per
  key not yet downloaded, so the rewrite is brief; it takes the table's exclusive lock for
  that moment, bounded by a lock timeout.

What no statement here can reach is named in docs/security.md: PostgreSQL's WAL segments
(``pg_wal``, archives, replicas), backups taken while the key was stored, and the file
system's own free blocks. Those copies hold only the sealed key and the wrapped data key;
once the row is gone, nothing stored anywhere opens them without the data key — and for a
copy made before the download, only together with the secret box key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from certdesk.store.models import DataKey

# A scrub waits this long for the table's lock before giving up (the next one catches up).
SCRUB_LOCK_TIMEOUT = "5s"


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
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"SET lock_timeout = '{SCRUB_LOCK_TIMEOUT}'")
        conn.exec_driver_sql("VACUUM FULL data_keys")
        conn.exec_driver_sql("RESET lock_timeout")
    return Scrub("postgresql", True)


def scrub_after_upgrade(engine: Engine) -> Scrub:
    """Once, after the upgrade to data keys (migration 0006): keys downloaded before it were
    only "erased" by a NULL, and their old ciphertext (sealed with the secret box alone)
    may sit in free pages (SQLite) or dead tuples (PostgreSQL). Rebuild the affected storage
    from live rows: ``VACUUM`` the SQLite file, ``VACUUM FULL`` the two tables."""
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
        conn.exec_driver_sql("VACUUM FULL submittals")
        conn.exec_driver_sql("VACUUM FULL data_keys")
    return Scrub("postgresql", True)


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
