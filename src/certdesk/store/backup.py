"""Every table's rows out of a consistent snapshot, and back into an empty database.

The dump is portable: one JSON-lines file per table, its first line naming the columns and
the kind of value each holds (``int``, ``str``, ``bytes`` as base64, ``datetime`` as UTC
ISO 8601 …), then one JSON array per row. Tables are found by reflecting the database, not
from a list here, so a table added by a later migration is backed up without a change to
this module. The schema is not dumped: restore builds it with the migrations, up to the
backup's revision, loads the rows, then migrates on to the newest revision. Because the rows
are plain values, a SQLite backup restores into PostgreSQL and the other way round.

Snapshots (what makes an online backup consistent):

* **SQLite:** the sqlite3 online-backup API copies the database in one step, under one read
  transaction, into a private file; writers carry on in the WAL meanwhile. The rows are then
  read from the copy, so the live database is held for the time of a page copy only.
* **PostgreSQL:** one ``REPEATABLE READ READ ONLY`` transaction reads every table: all of its
  statements see the snapshot taken at its first one. Every certdesk change commits in one
  transaction (an issuance's row and its audit event together), so the dump holds a change
  entirely or not at all.

Why not ``pg_dump`` and a copy of the SQLite file: two formats and two restore paths, an
external program whose version must be at least the server's (Debian's client and the
server drift apart), a restore that needs ``psql`` and a superuser-free way round the
schema's foreign-key cycle, and no way to move between backends. Rows through SQLAlchemy
need none of that, and restoring them through the migrations keeps the schema exactly the
one the release defines.

Loading a dump back into a database is :mod:`certdesk.store.restore`.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import JSON, Connection, Engine, MetaData, Table, create_engine, select

from certdesk.errors import Conflict

VERSION_TABLE = "alembic_version"

# --------------------------------------------------------------------------- values

_KINDS: list[tuple[type, str]] = [
    (bool, "bool"),  # before int: bool is a subclass of int
    (int, "int"),
    (float, "float"),
    (Decimal, "decimal"),
    (str, "str"),
    (bytes, "bytes"),
    (datetime, "datetime"),  # before date: datetime is a subclass of date
    (date, "date"),
    (dict, "json"),
    (list, "json"),
]


def _kind(table: str, column: Any) -> str:
    if isinstance(column.type, JSON):  # a JSON column has no python_type: a dict or a list
        return "json"
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        python_type = None
    for cls, kind in _KINDS:
        if python_type is not None and issubclass(python_type, cls):
            return kind
    raise Conflict(
        "backup.column_type",
        f"column {table}.{column.name} has type {column.type}, which backup cannot carry",
    )


def _encode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode("ascii")
    if kind == "datetime":
        # Timestamps are UTC throughout certdesk (store/types.py); SQLite keeps them naive.
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if kind in ("date", "decimal"):
        return str(value)
    return value


def decoder(kind: str, dialect: str) -> Callable[[Any], Any]:
    """How a restore reads a value of ``kind`` back for ``dialect``: the inverse of the dump's."""
    if kind == "bytes":
        return base64.b64decode
    if kind == "datetime":
        if dialect == "sqlite":
            return lambda v: datetime.fromisoformat(v).astimezone(UTC).replace(tzinfo=None)
        return datetime.fromisoformat
    if kind == "date":
        return date.fromisoformat
    if kind == "decimal":
        return Decimal
    return lambda v: v


# --------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class TableDump:
    name: str
    rows: int


@contextmanager
def snapshot(engine: Engine, scratch: Path) -> Iterator[Connection]:
    """A read-only connection that sees one consistent state of the whole database."""
    if engine.dialect.name == "sqlite":
        copy = scratch / "snapshot.db"
        raw = engine.raw_connection()
        try:
            target = sqlite3.connect(copy)
            try:
                # pages=-1: the whole database in one step, i.e. under one read transaction.
                raw.driver_connection.backup(target, pages=-1)  # type: ignore[union-attr]
                target.execute("PRAGMA journal_mode=DELETE")
            finally:
                target.close()
        finally:
            raw.close()
        copy_engine = create_engine(f"sqlite:///{copy}")
        try:
            with copy_engine.connect() as conn:
                yield conn
        finally:
            copy_engine.dispose()
        return
    ro = engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with ro.connect() as conn, conn.begin():
        # Before the snapshot (taken by the first query; LOCK is none): a scrub rewrites
        # data_keys with TRUNCATE (store/data_keys.py), which a snapshot older than it would
        # see as an empty table. Holding the share lock, the backup waits for a running scrub
        # or makes the next one wait.
        conn.exec_driver_sql("LOCK TABLE data_keys IN ACCESS SHARE MODE")
        yield conn


def revision(conn: Connection) -> str | None:
    """The schema revision the migrations left (None: no schema)."""
    tables = reflect(conn)
    if VERSION_TABLE not in tables:
        return None
    return conn.scalar(select(tables[VERSION_TABLE].c.version_num))


def dump(conn: Connection, into: Path) -> list[TableDump]:
    """Write ``<table>.jsonl`` for every table of the snapshot ``conn`` into ``into``."""
    out = []
    tables = reflect(conn)
    for name in sorted(tables):
        if name == VERSION_TABLE:
            continue
        table = tables[name]
        columns = list(table.columns)
        kinds = [_kind(name, c) for c in columns]
        order = list(table.primary_key.columns) or columns
        n = 0
        with open(into / f"{name}.jsonl", "w", encoding="utf-8") as f:
            header = [[c.name, k] for c, k in zip(columns, kinds, strict=True)]
            _line(f, {"table": name, "columns": header})
            # Streamed (a server-side cursor on PostgreSQL): a table never sits in memory whole.
            rows = conn.execution_options(stream_results=True, yield_per=1000).execute(
                select(*columns).order_by(*order)
            )
            for row in rows:
                _line(f, [_encode(k, v) for k, v in zip(kinds, row, strict=True)])
                n += 1
        out.append(TableDump(name, n))
    return out


def _line(f: TextIO, value: Any) -> None:
    f.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    f.write("\n")


def referenced_key_files(conn: Connection) -> list[str]:
    """The CA key files the snapshot's issuers use (their names under DATA_DIR/ca)."""
    tables = reflect(conn)
    if "issuers" not in tables:
        return []
    return [Path(f).name for f in conn.scalars(select(tables["issuers"].c.key_file))]


def reflect(conn: Connection) -> dict[str, Table]:
    """Every table of the database, read from the database itself (not from a list here)."""
    meta = MetaData()
    meta.reflect(conn)
    return dict(meta.tables)
