"""ACME keyChange vs dns-persist-01 (issue 13): a standing record whose hashed account URI
changed with the account's key, to be republished since that moment

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import certdesk.store.types

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_UTC = certdesk.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("acme_persist_records") as batch:
        batch.add_column(sa.Column("republish_since", _UTC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("acme_persist_records") as batch:
        batch.drop_column("republish_since")
