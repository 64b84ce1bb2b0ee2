"""who may delete a case's file, where a CT log is read from, discovery as a background job

``case_attachments.uploaded_by_org_id``: the uploader's organization (NULL: cert services),
whose case editors may delete the file. Existing files are attributed from ``uploaded_by``
(``user:<login>`` or ``token:<prefix>``); anything else stays cert services'.
``ct_logs.first_entry``: the entry reading started at (0 for the logs followed so far).
``discovery_jobs``: discoveries started through the API or console, run in the background.

Revision ID: 0027
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import certdesk.store.types

revision = "0027"
down_revision = "0025"
branch_labels = None
depends_on = None

_UTC = certdesk.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("case_attachments") as batch:
        batch.add_column(sa.Column("uploaded_by_org_id", sa.Integer(), nullable=True))
    # The uploader's organization, from the actor name the file was attached under.
    op.execute(
        "UPDATE case_attachments SET uploaded_by_org_id = (SELECT users.org_id FROM users"
        " WHERE 'user:' || users.login_id = case_attachments.uploaded_by)"
        " WHERE uploaded_by LIKE 'user:%'"
    )
    op.execute(
        "UPDATE case_attachments SET uploaded_by_org_id = (SELECT api_tokens.org_id FROM"
        " api_tokens WHERE 'token:' || api_tokens.prefix = case_attachments.uploaded_by)"
        " WHERE uploaded_by LIKE 'token:%'"
    )
    with op.batch_alter_table("ct_logs") as batch:
        batch.add_column(
            sa.Column("first_entry", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.create_table(
        "discovery_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("roles", sa.String(length=100), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("tried", sa.Integer(), nullable=False),
        sa.Column("found", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("runner", sa.String(length=200), nullable=False),
        sa.Column("lease_until", _UTC, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("started_at", _UTC, nullable=True),
        sa.Column("finished_at", _UTC, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_discovery_jobs_state", "discovery_jobs", ["state"])


def downgrade() -> None:
    op.drop_index("ix_discovery_jobs_state", table_name="discovery_jobs")
    op.drop_table("discovery_jobs")
    with op.batch_alter_table("ct_logs") as batch:
        batch.drop_column("first_entry")
    with op.batch_alter_table("case_attachments") as batch:
        batch.drop_column("uploaded_by_org_id")
