"""Core statements compiled once per dialect and run on the DBAPI cursor (the issuance hot
path only; everything else goes through SQLAlchemy's execution as usual).

SQLAlchemy caches a statement's compiled SQL, but every ``Connection.execute`` still builds
an execution context, processes each parameter, fires events and wraps the result: about
60-80 µs a statement, most of the database cost of an issuance. A :class:`Compiled`
statement does that work once: the SQL text, the parameters' order and their bind
processors (so values are stored exactly as SQLAlchemy stores them: UTC datetimes, enums)
are computed at first use for the connection's dialect; each call then converts its
parameters and calls the cursor.

It runs on the caller's :class:`~sqlalchemy.Connection`, inside the transaction that
connection holds (the cursor belongs to the same DBAPI connection). SQLAlchemy's
``before_cursor_execute`` events do not see these statements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, cast

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Plan:
    sql: str
    names: tuple[str, ...]  # parameter names, in the order the SQL takes them
    processors: tuple[Processor, ...]
    defaults: tuple[Any, ...]  # the values bound in the statement itself (literals, LIMIT)
    positional: bool


class Compiled:
    def __init__(self, stmt: ClauseElement, *, keys: Sequence[str] | None = None) -> None:
        self._stmt = stmt
        self._keys = list(keys) if keys is not None else None
        self._plans: dict[str, _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            compiled = cast(
                "SQLCompiler", self._stmt.compile(dialect=dialect, column_keys=self._keys)
            )
            positional = bool(compiled.positional)
            names = tuple(compiled.positiontup or ()) if positional else tuple(compiled.binds)
            processors = tuple(
                compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names
            )
            defaults = tuple(compiled.binds[n].effective_value for n in names)
            plan = _Plan(compiled.string, names, processors, defaults, positional)
            self._plans[dialect.name] = plan
        return plan

    def _args(self, plan: _Plan, params: Mapping[str, Any]) -> Any:
        values = []
        for n, p, default in zip(plan.names, plan.processors, plan.defaults, strict=True):
            v = params.get(n, default)
            values.append(p(v) if p is not None else v)
        return values if plan.positional else dict(zip(plan.names, values, strict=True))

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Run once; returns the DBAPI cursor (``fetchone``, ``rowcount``)."""
        plan = self._plan(conn.dialect)
        args = self._args(plan, params)
        return raw_execute(conn, plan.sql, args)

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        plan = self._plan(conn.dialect)
        args = [self._args(plan, r) for r in rows]
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(plan.sql, args)
        except Exception as exc:
            _reraise(conn, exc, plan.sql, args, cursor)
        cursor.close()


def raw_execute(conn: Connection, sql: str, args: Any = None, *, keep: bool = True) -> Any:
    """``sql`` on the DBAPI cursor of ``conn``'s transaction; the cursor is returned open
    (``keep``) or closed. A driver error is raised as SQLAlchemy raises it from its own
    execution (a :class:`sqlalchemy.exc.DBAPIError`, the connection invalidated when the
    server went away), so a dropped database answers 503 like everywhere else, not 500."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if args is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, args)
    except Exception as exc:
        _reraise(conn, exc, sql, args, cursor)
    if not keep:
        cursor.close()
    return cursor


def end_read(conn: Connection) -> None:
    """End the transaction a statement run on the DBAPI cursor of a connection with no
    transaction of SQLAlchemy's may have opened (PostgreSQL opens one at the first statement;
    SQLite's reads run in autocommit). Ending it here, through SQLAlchemy's error handling,
    makes a server that went away after the read an ordinary DBAPIError of this caller (the
    connection invalidated, a 503 up the stack) instead of a failed rollback the pool logs
    when the connection comes back to it; the pool's own rollback then finds nothing to do."""
    dbapi = conn.connection.dbapi_connection
    try:
        dbapi.rollback()  # type: ignore[union-attr]
    except Exception as exc:
        _reraise(conn, exc, "ROLLBACK", None, None)


def _reraise(conn: Connection, exc: Exception, sql: str, args: Any, cursor: Any) -> NoReturn:
    # SQLAlchemy's own translation: wraps the driver's error, runs the dialect's disconnect
    # check and invalidates the connection (and the pool) as a statement it ran would.
    conn._handle_dbapi_exception(exc, sql, args, cursor, None)
