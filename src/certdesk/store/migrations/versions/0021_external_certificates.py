"""external certificates (imported, discovered), endpoint checks and sightings (issue 15)

Revision ID: 0021
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import certdesk.store.types

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_UTC = certdesk.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "external_certificates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("fingerprint_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("issuer_dn", sa.Text(), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("not_before", _UTC, nullable=False),
        sa.Column("not_after", _UTC, nullable=False),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organizations.id"), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("last_seen_at", _UTC, nullable=True),
        sa.Column("gone_at", _UTC, nullable=True),
        sa.Column("adopted_case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=True),
    )
    op.create_index("ix_external_certificates_org", "external_certificates", ["org_id"])
    op.create_index("ix_external_certificates_not_after", "external_certificates", ["not_after"])
    op.create_table(
        "external_contacts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "external_id",
            sa.Integer(),
            sa.ForeignKey("external_certificates.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.UniqueConstraint("external_id", "email"),
    )
    op.create_table(
        "endpoint_sightings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("fingerprint_sha256", sa.String(64), nullable=False),
        sa.Column("first_seen_at", _UTC, nullable=False),
        sa.Column("last_seen_at", _UTC, nullable=False),
        sa.Column("gone_at", _UTC, nullable=True),
        sa.UniqueConstraint("host", "port", "fingerprint_sha256"),
    )
    op.create_index(
        "ix_endpoint_sightings_fingerprint_sha256", "endpoint_sightings", ["fingerprint_sha256"]
    )
    op.create_table(
        "endpoint_checks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("sni", sa.String(253), nullable=True),
        sa.Column("checked_at", _UTC, nullable=False),
        sa.Column("certificate_id", sa.Integer(), sa.ForeignKey("certificates.id"), nullable=True),
        sa.Column(
            "external_id", sa.Integer(), sa.ForeignKey("external_certificates.id"), nullable=True
        ),
        sa.Column("served_sha256", sa.String(64), nullable=True),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_endpoint_checks_cert", "endpoint_checks", ["certificate_id", "checked_at"])
    op.create_index("ix_endpoint_checks_external", "endpoint_checks", ["external_id", "checked_at"])
    op.create_table(
        "endpoint_findings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("served_sha256", sa.String(64), nullable=False),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.UniqueConstraint("subject_type", "subject_id", "code", "served_sha256"),
    )


def downgrade() -> None:
    op.drop_table("endpoint_findings")
    op.drop_table("endpoint_checks")
    op.drop_table("endpoint_sightings")
    op.drop_table("external_contacts")
    op.drop_table("external_certificates")
