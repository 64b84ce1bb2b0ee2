"""acme_challenges: http-01 answers certdesk serves for a vendor's validation (issue 12)

RFC 8555 §8.3: the vendor fetches ``/.well-known/acme-challenge/<token>`` and expects the
key authorization. The process that drives an order (the worker, or the web process for
``cert issue``) is not always the one serving HTTP, so the answers live in the database:
one row per token until the authorization is final, or until it expires.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import certdesk.store.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_UTC = certdesk.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "acme_challenges",
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("key_authorization", sa.String(length=300), nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("token"),
    )
    op.create_index("ix_acme_challenges_expires_at", "acme_challenges", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_acme_challenges_expires_at", table_name="acme_challenges")
    op.drop_table("acme_challenges")
