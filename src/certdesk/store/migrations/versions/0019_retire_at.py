"""certificates.retire_at: when a certificate replaced by an in-window reissue is revoked
(issue 14: the old certificate stays valid for an overlap instead of being revoked at once)

Revision ID: 0019
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import certdesk.store.types

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_UTC = certdesk.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.add_column("certificates", sa.Column("retire_at", _UTC, nullable=True))
    op.create_index("ix_certificates_retire_at", "certificates", ["retire_at"])


def downgrade() -> None:
    op.drop_index("ix_certificates_retire_at", table_name="certificates")
    op.drop_column("certificates", "retire_at")
