"""Engines, sessions and migrations. Nothing is created at import time (STYLE habit 6)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from certdesk.core.envelope import Wrapper
from certdesk.store.compiled import raw_execute
from certdesk.store.locks import WriterTurns, file_database, writer_turns_path

MIGRATIONS = Path(__file__).parent / "migrations"
READ_ONLY = "certdesk_read_only"
# A write transaction whose commit need not reach the disk by itself: a later flushed commit
# on the same database makes it durable too (SQLite's WAL and PostgreSQL's WAL are both
# written in commit order). The issuance intent uses it; see docs/performance.md.
NO_FLUSH = "certdesk_no_flush"


# A pooled server connection older than this is replaced at checkout, before a server or
# firewall idle timeout can have closed it.
POOL_RECYCLE_SECONDS = 1800
# A pooled connection idle for longer than this is pinged at checkout.
IDLE_PING_SECONDS = 10.0


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for another backend, an in-memory database or a
    ``file:`` URI, and for text that is no URL at all (opening it words that refusal)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.query.get("uri"):
        return None
    file = file_database(parsed.database)
    return None if file is None else Path(file)


def make_engine(url: str, *, sqlite_synchronous: str = "full", **kwargs: Any) -> Engine:
    """An engine with the settings certdesk relies on for each backend."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "factory": WriterTurns}, **kwargs)
        _configure_sqlite(engine, sqlite_synchronous)
        return engine
    pool = {"pool_size": 10, "max_overflow": 10, "pool_recycle": POOL_RECYCLE_SECONDS}
    engine = create_engine(url, **{**pool, **kwargs})
    _ping_idle_connections(engine)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(NO_FLUSH, False):
            # Only this transaction: its commit returns before the WAL is flushed. On the
            # DBAPI cursor, as on SQLite below: SQLAlchemy's execution adds ~60 µs for nothing.
            raw_execute(conn, "SET LOCAL synchronous_commit TO OFF", keep=False)

    return engine


def _ping_idle_connections(engine: Engine) -> None:
    # pool_pre_ping would spend a round trip on every checkout, several per request. Instead
    # only a connection that sat idle in the pool is pinged: one in steady use is known to
    # work. A failed ping discards the connection and the pool checks out another (once); a
    # connection that breaks in use fails its transaction, and SQLAlchemy then invalidates
    # the whole pool, so the next checkout reconnects.
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return  # new, or returned to the pool moments ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError("pooled connection failed its ping") from exc


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    # WAL lets readers proceed while one writer commits; several server and worker processes
    # share one file. Transactions start with BEGIN IMMEDIATE so that two writers queue on the
    # busy timeout instead of failing when a read lock cannot be upgraded; on a database file
    # they first take their turn on its writer lock (store/locks.py WriterTurns), which
    # wakes the next writer as soon as one commits, where the busy timeout would sleep.
    turns = writer_turns_path(engine.url.database)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let us issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL (default): a commit survives power loss, so a delivered certificate is never
        # lost from the inventory. NORMAL survives a killed process only; it is faster.
        cur.execute(
            "PRAGMA synchronous=FULL" if synchronous == "full" else "PRAGMA synchronous=NORMAL"
        )
        cur.execute("PRAGMA foreign_keys=ON")
        # R12: deleted content is overwritten with zeros, not merely unlinked, so that an
        # erased record (a destroyed data key, store/data_keys.py) leaves no bytes behind in
        # the page or on the free list.
        cur.execute("PRAGMA secure_delete=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        read_only = options.get(READ_ONLY, False)
        # On the DBAPI cursor: every transaction starts here, and these two statements need
        # none of SQLAlchemy's execution machinery (about 60 µs each through it).
        if not read_only and synchronous == "full":
            # The level can only change between transactions; a connection remembers its own.
            level = "NORMAL" if options.get(NO_FLUSH, False) else "FULL"
            info = conn.connection.info
            if info.get("synchronous", "FULL") != level:
                raw_execute(conn, f"PRAGMA synchronous={level}", keep=False)
                info["synchronous"] = level
        if read_only or turns is None:
            raw_execute(conn, "BEGIN" if read_only else "BEGIN IMMEDIATE", keep=False)
            return
        dbapi = conn.connection.dbapi_connection
        if not isinstance(dbapi, WriterTurns):  # a connection made by a caller's own creator
            raw_execute(conn, "BEGIN IMMEDIATE", keep=False)
            return
        dbapi.take_turn(turns)
        try:
            raw_execute(conn, "BEGIN IMMEDIATE", keep=False)
        except BaseException:
            dbapi.end_turn()
            raise


def session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions on ``engine``; ``read_only`` ones start deferred transactions on SQLite."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine, *, wrapper: Wrapper | None = None) -> None:
    """Bring the schema to the newest revision (idempotent).

    ``wrapper`` (the secret box) is needed only by revisions that re-seal stored secrets
    (0006: generated keys under data keys); they refuse clearly when it is missing.
    """
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["wrapper"] = wrapper
        command.upgrade(cfg, "head")


def ping(engine: Engine) -> None:
    """Raise if the database cannot be reached."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
