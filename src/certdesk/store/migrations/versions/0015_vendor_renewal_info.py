"""vendor renewal information: when a vendor CA asks a certificate to be renewed (RFC 9773)
and when to ask it again (issue 12)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import certdesk.store.types

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_UTC = certdesk.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.add_column("certificates", sa.Column("vendor_renew_at", _UTC, nullable=True))
    op.add_column("certificates", sa.Column("vendor_info_at", _UTC, nullable=True))


def downgrade() -> None:
    op.drop_column("certificates", "vendor_info_at")
    op.drop_column("certificates", "vendor_renew_at")
