"""ACME dns-persist-01 (issue 13, R17): the standing ``_validation-persist`` records certdesk
knows of — shown to an administrator or proved by the VA — so that new orders can be proved
by them and the organization's administrators are warned before their persistUntil.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import certdesk.store.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_UTC = certdesk.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "acme_persist_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("wildcard", sa.Boolean(), nullable=False),
        sa.Column("persist_until", _UTC, nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("last_valid_at", _UTC, nullable=True),
        sa.Column("warned_days", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["acme_accounts.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "name", name="uq_acme_persist_records_account_name"),
    )
    op.create_index("ix_acme_persist_records_until", "acme_persist_records", ["persist_until"])


def downgrade() -> None:
    op.drop_index("ix_acme_persist_records_until", table_name="acme_persist_records")
    op.drop_table("acme_persist_records")
