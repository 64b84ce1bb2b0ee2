"""A backup's rows back into an empty database; the dump and its format are
:mod:`certdesk.store.backup`.

The schema is built with the migrations up to the backup's revision, the rows are loaded in
an order that satisfies their foreign keys (a key on a cycle between tables is filled in once
every row is there), PostgreSQL's sequences continue after the largest id, and the migrations
then run on to the newest revision, all in the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, ForeignKeyConstraint, Table, func, select, text
from sqlalchemy.exc import DataError, IntegrityError

from certdesk.errors import Conflict, InvalidInput
from certdesk.store.backup import VERSION_TABLE, decoder, reflect, revision
from certdesk.store.db import alembic_config

BATCH = 500

# Rows the migrations themselves write into a new database (0002 seeds the audit chain's
# genesis head, R15). A database holding only these is still empty; restore replaces them.
SEEDED: dict[str, list[dict[str, Any]]] = {"audit_head": [{"id": 1, "seq": 0, "hash": "0" * 64}]}


def refuse_unless_empty(conn: Connection, backup_revision: str | None) -> None:
    """Raise unless the database holds no rows (beyond :data:`SEEDED`) and no schema newer
    than the backup's (checked when ``backup_revision`` is given)."""
    tables = reflect(conn)
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
    target = reflect(conn)
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
        decode = [decoder(k, dialect) for _n, k in head["columns"]]
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
