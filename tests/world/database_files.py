"""The raw files a database engine wrote, for tests that look for bytes that must be gone
(issue 10 finding 7: a shredded key leaves nothing behind).

* **SQLite:** the database file and its ``-wal`` and ``-shm`` files, read from disk.
* **PostgreSQL:** every relation file of the database (tables, TOAST tables, indexes; main
  fork and its 1 GB segments), located with ``pg_relation_filepath`` and read through the
  server with ``pg_read_binary_file`` after a ``CHECKPOINT`` (so shared buffers are on
  disk). Both need a superuser (or ``pg_read_server_files`` and ``pg_checkpoint``), which is
  what the test cluster gives; without it the helper fails loudly instead of seeing nothing.

Not a conftest: imported as ``database_files`` (``tests/`` is on the path).
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

CHUNK = 24  # bytes: any 24-byte piece of a secret found in a file counts as a remnant


def raw_files(url: str) -> dict[str, bytes]:
    """Name → content of every file holding the database's rows."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database
        main = Path(parsed.database)
        return {
            p.name: p.read_bytes()
            for p in (main, Path(f"{main}-wal"), Path(f"{main}-shm"))
            if p.exists()
        }
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    files: dict[str, bytes] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        rows = conn.execute(
            "SELECT c.relname, pg_relation_filepath(c.oid) FROM pg_class c"
            " WHERE pg_relation_filepath(c.oid) IS NOT NULL AND c.relpersistence = 'p'"
            " AND NOT c.relisshared"
        ).fetchall()
        for name, path in rows:
            segment, number = path, 0
            while True:
                stat = conn.execute("SELECT pg_stat_file(%s, true)", (segment,)).fetchone()
                if stat is None or stat[0] is None:
                    break
                data = conn.execute("SELECT pg_read_binary_file(%s)", (segment,)).fetchone()
                assert data is not None
                files[f"{name} ({segment})"] = bytes(data[0])
                number += 1
                segment = f"{path}.{number}"
    assert files, "no relation file could be read"
    return files


def remnants(files: dict[str, bytes], secret: bytes) -> list[str]:
    """The files holding any :data:`CHUNK`-byte piece of ``secret`` (split values — TOAST
    chunks, overflow pages — are found piece by piece)."""
    pieces = [secret[i : i + CHUNK] for i in range(0, len(secret) - CHUNK + 1, CHUNK)]
    return sorted(name for name, data in files.items() if any(p in data for p in pieces))


FERNET_TOKEN = re.compile(rb"gAAAAA[A-Za-z0-9_-]{60,}={0,2}")


def fernet_tokens(files: dict[str, bytes]) -> set[bytes]:
    """Every string in the files that may be a secret-box token (Fernet: base64url from the
    version byte 0x80). A token stored beside other bytes can run on into them, so every
    prefix of a whole number of base64 quanta is a candidate."""
    found = set()
    for data in files.values():
        for match in FERNET_TOKEN.finditer(data):
            run = match.group()
            found.update(run[:end] for end in range(64, len(run) + 1, 4))
    return found
