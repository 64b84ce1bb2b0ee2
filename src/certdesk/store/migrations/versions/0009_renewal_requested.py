"""the customer's requested renewal date becomes a typed column; the payload JSON goes (issue 11)

The R6 renewal date was the last fact ``cases.payload`` carried (0007 moved the lease, the
delegated set-up and the revocation reason out). Existing rows move: a readable
``renewal_requested`` date leaves the payload for ``cases.renewal_requested``, and the
payload column, holding nothing any more, is dropped. Downgrade brings the column back with
the date in it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The payload key that becomes a column.
REQUESTED = "renewal_requested"

_cases = sa.table(
    "cases",
    sa.column("id", sa.Integer()),
    sa.column("payload", sa.Text()),
    sa.column("renewal_requested", sa.Date()),
)


def _payload(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _day(value: object) -> date | None:
    # Unreadable dates were ignored by the code that read them (no earlier renewal).
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def upgrade() -> None:
    # Plain ALTER TABLE on both backends: a batch (copy-and-drop) of ``cases`` on SQLite would
    # fire the ON DELETE actions of every table that refers to it.
    op.add_column("cases", sa.Column("renewal_requested", sa.Date(), nullable=True))
    op.create_index("ix_cases_renewal_requested", "cases", ["renewal_requested"])
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_cases.c.id, _cases.c.payload).where(_cases.c.payload.like(f'%"{REQUESTED}"%'))
    ).all()
    for case_id, text in rows:
        day = _day(_payload(text).get(REQUESTED))
        if day is not None:
            conn.execute(
                sa.update(_cases).where(_cases.c.id == case_id).values(renewal_requested=day)
            )
    # SQLite 3.35+ drops a column in place (ALTER TABLE … DROP COLUMN), like PostgreSQL.
    op.drop_column("cases", "payload")


def downgrade() -> None:
    # The server default fills the existing rows (the old models wrote "{}" themselves).
    op.add_column("cases", sa.Column("payload", sa.Text(), nullable=False, server_default="{}"))
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_cases.c.id, _cases.c.renewal_requested).where(
            _cases.c.renewal_requested.is_not(None)
        )
    ).all()
    for case_id, day in rows:
        conn.execute(
            sa.update(_cases)
            .where(_cases.c.id == case_id)
            .values(payload=json.dumps({REQUESTED: day.isoformat()}, sort_keys=True))
        )
    op.drop_index("ix_cases_renewal_requested", table_name="cases")
    op.drop_column("cases", "renewal_requested")
