"""typed case columns for what the payload JSON carried: the fulfilment lease, the delegated
set-up and the requested revocation reason (issue 11)

Existing rows move: each fact leaves ``cases.payload`` for its own column (and comes back on
downgrade). What else the payload holds (the R6 renewal date) stays there.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-20
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import certdesk.store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The payload keys that become columns.
LEASE, SETUP, REASON = "fulfilment", "delegated_admin", "revocation_reason"

_cases = sa.table(
    "cases",
    sa.column("id", sa.Integer()),
    sa.column("payload", sa.Text()),
    sa.column("lease_holder", sa.String(200)),
    sa.column("lease_actor", sa.String(200)),
    sa.column("lease_until", certdesk.store.types.UTCDateTime(timezone=True)),
    sa.column("delegated_setup", sa.JSON()),
    sa.column("revocation_reason", sa.String(32)),
)


def _payload(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _until(value: object) -> datetime | None:
    try:
        until = datetime.fromisoformat(str(value))
    except ValueError:
        return None  # unreadable: as good as lapsed, which is how the old code read it
    return until if until.tzinfo is not None else until.replace(tzinfo=UTC)


def upgrade() -> None:
    # Plain ALTER TABLE on both backends: a batch (copy-and-drop) of ``cases`` on SQLite would
    # fire the ON DELETE actions of every table that refers to it.
    op.add_column("cases", sa.Column("lease_holder", sa.String(length=200), nullable=True))
    op.add_column("cases", sa.Column("lease_actor", sa.String(length=200), nullable=True))
    op.add_column(
        "cases",
        sa.Column("lease_until", certdesk.store.types.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column("cases", sa.Column("delegated_setup", sa.JSON(), nullable=True))
    op.add_column("cases", sa.Column("revocation_reason", sa.String(length=32), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_cases.c.id, _cases.c.payload).where(
            sa.or_(*(_cases.c.payload.like(f'%"{key}"%') for key in (LEASE, SETUP, REASON)))
        )
    ).all()
    for case_id, text in rows:
        data = _payload(text)
        lease = data.pop(LEASE, None)
        setup = data.pop(SETUP, None)
        reason = data.pop(REASON, None)
        values: dict[str, Any] = {"payload": json.dumps(data, sort_keys=True)}
        if isinstance(lease, dict) and (until := _until(lease.get("until"))) is not None:
            values |= {
                "lease_holder": str(lease.get("holder", ""))[:200],
                "lease_actor": str(lease.get("actor", ""))[:200],
                "lease_until": until,
            }
        if isinstance(setup, dict):
            values["delegated_setup"] = setup
        if reason:
            values["revocation_reason"] = str(reason)[:32]
        conn.execute(sa.update(_cases).where(_cases.c.id == case_id).values(**values))


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_cases).where(
            sa.or_(
                _cases.c.lease_holder.is_not(None),
                _cases.c.delegated_setup.is_not(None),
                _cases.c.revocation_reason.is_not(None),
            )
        )
    ).all()
    for row in rows:
        data = _payload(row.payload)
        if row.lease_holder is not None and row.lease_until is not None:
            data[LEASE] = {
                "holder": row.lease_holder,
                "actor": row.lease_actor or "",
                "until": row.lease_until.isoformat(),
            }
        if row.delegated_setup is not None:
            data[SETUP] = row.delegated_setup
        if row.revocation_reason is not None:
            data[REASON] = row.revocation_reason
        conn.execute(
            sa.update(_cases)
            .where(_cases.c.id == row.id)
            .values(payload=json.dumps(data, sort_keys=True))
        )
    # SQLite 3.35+ drops a column in place (ALTER TABLE … DROP COLUMN), like PostgreSQL.
    for column in (
        "revocation_reason",
        "delegated_setup",
        "lease_until",
        "lease_actor",
        "lease_holder",
    ):
        op.drop_column("cases", column)
