"""lifecycle

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import certdesk.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("due_at", certdesk.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", certdesk.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column(
            "claim_expires_at", certdesk.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("created_at", certdesk.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", certdesk.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject_type", "subject_id", "contact_email", "reason"),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index("ix_notices_status_next", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "worker_beats",
        sa.Column("worker_id", sa.String(length=200), nullable=False),
        sa.Column("started_at", certdesk.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", certdesk.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_pass_at", certdesk.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_pass_seconds", sa.Float(), nullable=True),
        sa.Column("jobs_done", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("worker_id"),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))

    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("renewal_case_id", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint("uq_certificates_renewal_case", ["renewal_case_id"])
        batch_op.create_foreign_key(
            "fk_certificates_renewal_case", "cases", ["renewal_case_id"], ["id"]
        )

    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "auto_approve_renewals", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")

    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("auto_approve_renewals")

    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_constraint("fk_certificates_renewal_case", type_="foreignkey")
        # WARNING: constraint name is None; this directive will fail as
        # rendered.  Add a name, or use a naming convention; see
        # https://alembic.sqlalchemy.org/en/latest/naming.html
        batch_op.drop_constraint("uq_certificates_renewal_case", type_="unique")
        batch_op.drop_column("renewal_case_id")

    op.drop_table("worker_beats")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index("ix_notices_status_next")

    op.drop_table("notices")
