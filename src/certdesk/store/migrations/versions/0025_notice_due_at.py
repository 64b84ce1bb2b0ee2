"""certificates.notice_due_at: the earliest instant an R9 expiry notice of the certificate
can be due, so that a worker pass reads what is due instead of the inventory; an index on
(status, not_after) for the dashboard's forecast (issue 16)

Revision ID: 0025
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import certdesk.store.types

revision = "0025"
down_revision = "0023"
branch_labels = None
depends_on = None

_UTC = certdesk.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    # NULL everywhere: the first pass after the upgrade plans every certificate once.
    op.add_column("certificates", sa.Column("notice_due_at", _UTC, nullable=True))
    op.create_index("ix_certificates_notice_due", "certificates", ["status", "notice_due_at", "id"])
    # The dashboard's forecast counts (and lists the soonest) active certificates by
    # notAfter from this index alone; the expiry job's "active and past notAfter" too.
    op.create_index("ix_certificates_status_not_after", "certificates", ["status", "not_after"])


def downgrade() -> None:
    op.drop_index("ix_certificates_status_not_after", table_name="certificates")
    op.drop_index("ix_certificates_notice_due", table_name="certificates")
    op.drop_column("certificates", "notice_due_at")
