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

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    ForeignKeyConstraint,
    MetaData,
    Table,
    create_engine,
    func,
    select,
    text,
)
from sqlalchemy.exc import DataError, IntegrityError

from certdesk.errors import Conflict, InvalidInput
from certdesk.store.db import alembic_config

VERSION_TABLE = "alembic_version"
BATCH = 500

# Rows the migrations themselves write into a new database (0002 seeds the audit chain's
# genesis head, R15). A database holding only these is still empty; restore replaces them.
SEEDED: dict[str, list[dict[str, Any]]] = {"audit_head": [{"id": 1, "seq": 0, "hash": "0" * 64}]}

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


def _decoder(kind: str, dialect: str) -> Callable[[Any], Any]:
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
    tables = _reflect(conn)
    if VERSION_TABLE not in tables:
        return None
    return conn.scalar(select(tables[VERSION_TABLE].c.version_num))


def dump(conn: Connection, into: Path) -> list[TableDump]:
    """Write ``<table>.jsonl`` for every table of the snapshot ``conn`` into ``into``."""
    out = []
    tables = _reflect(conn)
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
    tables = _reflect(conn)
    if "issuers" not in tables:
        return []
    return [Path(f).name for f in conn.scalars(select(tables["issuers"].c.key_file))]


# --------------------------------------------------------------------------- restore


def refuse_unless_empty(conn: Connection, backup_revision: str | None) -> None:
    """Raise unless the database holds no rows (beyond :data:`SEEDED`) and no schema newer
    than the backup's (checked when ``backup_revision`` is given)."""
    tables = _reflect(conn)
    busy = []
    for name, table in sorted(tables.items()):
        if name == VERSION_TABLE:
            continue
        count = conn.scalar(select(func.count()).select_from(table)) or 0
        if count and not (
            name in SEEDED
            and count == len(SEEDED[name])
            and [dict(r._mapping) for r in conn.execute(select(table))] == SEEDED[name]
        ):
            busy.append(name)
    if busy:
        raise Conflict(
            "restore.database_not_empty",
            f"the database is not empty ({', '.join(busy[:3])}{' …' if len(busy) > 3 else ''}"
            " hold rows); restore only into a new, empty database",
        )
    current = revision(conn) if VERSION_TABLE in tables else None
    if backup_revision is not None and current is not None and current != backup_revision:
        url = conn.engine.url.render_as_string(hide_password=False)
        script = ScriptDirectory.from_config(alembic_config(url))
        below = {r.revision for r in script.iterate_revisions(backup_revision, "base")}
        if current not in below:
            raise Conflict(
                "restore.schema_newer",
                f"the database's schema ({current}) is newer than the backup's"
                f" ({backup_revision}); restore into a database without tables",
            )


def load(conn: Connection, backup_revision: str, source: Path, tables: list[str]) -> None:
    """In the caller's transaction: schema up to ``backup_revision``, every table's rows from
    ``source/<table>.jsonl``, then the schema up to the newest revision."""
    refuse_unless_empty(conn, backup_revision)
    _upgrade(conn, backup_revision)
    target = _reflect(conn)
    missing = sorted(set(tables) - set(target))
    if missing:
        raise InvalidInput(
            "backup.schema_mismatch",
            f"the backup has tables the schema of its revision lacks: {', '.join(missing)}",
        )
    for name in SEEDED:
        if name in target:
            conn.execute(target[name].delete())
    order, cycles = _load_order(target)
    wanted = set(tables)
    # Foreign keys that cannot be satisfied row by row (a cycle between tables, or a row
    # pointing at a later row of its own table) are filled in once every row is there.
    deferred: dict[str, list[str]] = {}
    for table in order:
        later = [
            fk for fk in table.foreign_key_constraints if fk in cycles or fk.referred_table is table
        ]
        deferred[table.name] = [
            c.name for fk in later for c in fk.columns if c.nullable and not c.primary_key
        ]
    for table in order:
        if table.name in wanted:
            with _refused(table):
                _insert(conn, table, source / f"{table.name}.jsonl", deferred[table.name])
    for table in order:
        if table.name in wanted and deferred[table.name]:
            with _refused(table):
                _fill_deferred(conn, table, source / f"{table.name}.jsonl", deferred[table.name])
    _check_foreign_keys(conn)
    _reset_sequences(conn, [target[n] for n in sorted(wanted)])
    _upgrade(conn, "head")


@contextmanager
def _refused(table: Table) -> Iterator[None]:
    """A row the database will not take is a one-line error (the transaction rolls back)."""
    try:
        yield
    except (IntegrityError, DataError) as exc:
        why = str(exc.orig).splitlines()[0] if exc.orig else exc.__class__.__name__
        raise InvalidInput(
            "backup.row_refused", f"the database refused a row of {table.name}: {why}"
        ) from None


def _upgrade(conn: Connection, rev: str) -> None:
    cfg = alembic_config(conn.engine.url.render_as_string(hide_password=False))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, rev)


def _load_order(tables: dict[str, Table]) -> tuple[list[Table], set[ForeignKeyConstraint]]:
    """Tables in an order that satisfies their foreign keys, and the keys that cannot be
    (each breaks a cycle between tables: filled in after every row is there).

    A topological sort of the reflected tables; when only cycles are left, one nullable
    foreign key on a cycle is set aside at a time (certificates.case_id ↔ cases …).
    """

    def edges(table: Table) -> list[ForeignKeyConstraint]:
        return [
            fk
            for fk in sorted(table.foreign_key_constraints, key=lambda f: str(f.column_keys))
            if fk.referred_table is not table and fk not in cycles
        ]

    def reaches(start: Table, goal: Table, within: set[Table]) -> bool:
        seen, todo = set(), [start]
        while todo:
            here = todo.pop()
            if here is goal:
                return True
            if here in seen:
                continue
            seen.add(here)
            todo += [fk.referred_table for fk in edges(here) if fk.referred_table in within]
        return False

    order: list[Table] = []
    cycles: set[ForeignKeyConstraint] = set()
    remaining = {t for n, t in tables.items() if n != VERSION_TABLE}
    while remaining:
        ready = sorted(
            (t for t in remaining if all(fk.referred_table not in remaining for fk in edges(t))),
            key=lambda t: t.name,
        )
        if ready:
            order += ready
            remaining -= set(ready)
            continue
        breakable = [
            fk
            for t in sorted(remaining, key=lambda t: t.name)
            for fk in edges(t)
            if fk.referred_table in remaining
            and all(c.nullable for c in fk.columns)
            and reaches(fk.referred_table, t, remaining)
        ]
        if not breakable:
            names = ", ".join(sorted(t.name for t in remaining))
            raise Conflict("backup.cycle", f"the tables {names} refer to each other in a cycle")
        cycles.add(breakable[0])
    return order, cycles


def _rows(path: Path, dialect: str) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        head = json.loads(f.readline())
        names = [n for n, _k in head["columns"]]
        decode = [_decoder(k, dialect) for _n, k in head["columns"]]
        for line in f:
            values = json.loads(line)
            cells = zip(names, decode, values, strict=True)
            yield {n: (None if v is None else d(v)) for n, d, v in cells}


def _insert(conn: Connection, table: Table, path: Path, deferred: list[str]) -> None:
    batch: list[dict[str, Any]] = []
    for row in _rows(path, conn.dialect.name):
        for name in deferred:
            row[name] = None
        batch.append(row)
        if len(batch) >= BATCH:
            conn.execute(table.insert(), batch)
            batch = []
    if batch:
        conn.execute(table.insert(), batch)


def _fill_deferred(conn: Connection, table: Table, path: Path, deferred: list[str]) -> None:
    pk = list(table.primary_key.columns)
    for row in _rows(path, conn.dialect.name):
        values = {n: row[n] for n in deferred}
        if any(v is not None for v in values.values()):
            where = [c == row[c.name] for c in pk]
            conn.execute(table.update().where(*where).values(values))


def _check_foreign_keys(conn: Connection) -> None:
    # PostgreSQL checks every row as it is written; SQLite is asked once, at the end.
    if conn.dialect.name != "sqlite":
        return
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        table, rowid, parent, _fk = broken[0]
        raise InvalidInput(
            "backup.dangling_reference",
            f"the backup's {table} row {rowid} refers to a missing {parent} row",
        )


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    # Rows came with their ids; PostgreSQL's sequences must continue after the largest one.
    if conn.dialect.name != "postgresql":
        return
    quote = conn.dialect.identifier_preparer.quote
    for table in tables:
        for column in table.primary_key.columns:
            seq = conn.scalar(
                text("SELECT pg_get_serial_sequence(:t, :c)"),
                {"t": quote(table.name), "c": column.name},
            )
            if seq is None:
                continue
            top = conn.scalar(select(func.max(column)))
            conn.execute(
                text("SELECT setval(CAST(:s AS regclass), :v, :called)"),
                {"s": seq, "v": top or 1, "called": top is not None},
            )


def _reflect(conn: Connection) -> dict[str, Table]:
    meta = MetaData()
    meta.reflect(conn)
    return dict(meta.tables)
