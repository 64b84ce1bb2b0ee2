"""Stepping a test database's schema to one revision, as an operator's alembic would."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine

from certdesk.store.db import alembic_config


def alembic_step(engine: Engine, verb: str, target: str) -> None:
    """``alembic VERB TARGET`` (``upgrade`` or ``downgrade``) on ``engine``'s database, in
    one transaction on its own connection."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, verb)(cfg, target)
