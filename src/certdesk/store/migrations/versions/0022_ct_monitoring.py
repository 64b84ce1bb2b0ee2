"""Certificate Transparency monitoring (issue 15, part 3): the logs certdesk follows, with
their saved position, and the findings (certificates for state names nobody told certdesk of)

Revision ID: 0022
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import certdesk.store.types

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_UTC = certdesk.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ct_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("tiled", sa.Boolean(), nullable=False),
        sa.Column("public_key_der", sa.LargeBinary(), nullable=False),
        sa.Column("log_id", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("compact_range", sa.JSON(), nullable=False),
        sa.Column("verified_size", sa.BigInteger(), nullable=False),
        sa.Column("verified_root", sa.String(length=64), nullable=False),
        sa.Column("head_size", sa.BigInteger(), nullable=True),
        sa.Column("head_at", _UTC, nullable=True),
        sa.Column("checked_at", _UTC, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "ct_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cert_key", sa.String(length=110), nullable=False),
        sa.Column("scope", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("precert", sa.Boolean(), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("serial", sa.String(length=80), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("not_before", _UTC, nullable=False),
        sa.Column("not_after", _UTC, nullable=False),
        sa.Column("log_id", sa.Integer(), nullable=False),
        sa.Column("entry_index", sa.BigInteger(), nullable=False),
        sa.Column("logged_at", _UTC, nullable=False),
        sa.Column("found_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"]),
        sa.ForeignKeyConstraint(["log_id"], ["ct_logs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cert_key", "scope"),
    )
    op.create_index("ix_ct_findings_org_found", "ct_findings", ["org_id", "found_at"])


def downgrade() -> None:
    op.drop_index("ix_ct_findings_org_found", table_name="ct_findings")
    op.drop_table("ct_findings")
    op.drop_table("ct_logs")
