"""ACME server, second slice (issue 13): renewal information and ``replaces`` (RFC 9773),
profiles, and the indexes the rate limits count with.

- ``certificates.replace_requested_at``: cert services asked for this certificate to be
  replaced early (its renewal window is "now").
- ``acme_orders.replaces_id``: the certificate an order replaces (RFC 9773 §5);
  ``acme_orders.profile``: the ACME profile the order asked for (None: the default).
- Indexes for counting an account's and an organization's recent orders and an account's
  pending authorizations.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import certdesk.store.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_UTC = certdesk.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.add_column("certificates", sa.Column("replace_requested_at", _UTC, nullable=True))
    op.add_column("acme_orders", sa.Column("profile", sa.String(length=32), nullable=True))
    # Plain ALTER TABLE … ADD COLUMN … REFERENCES on both backends (as in 0010).
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            sa.text(
                "ALTER TABLE acme_orders"
                " ADD COLUMN replaces_id INTEGER REFERENCES certificates (id)"
            )
        )
    else:
        op.add_column("acme_orders", sa.Column("replaces_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "acme_orders_replaces_id_fkey", "acme_orders", "certificates", ["replaces_id"], ["id"]
        )
    op.create_index("ix_acme_orders_replaces", "acme_orders", ["replaces_id"])
    op.create_index("ix_acme_orders_org_created", "acme_orders", ["org_id", "created_at"])
    op.create_index("ix_acme_orders_account_created", "acme_orders", ["account_id", "created_at"])
    op.create_index(
        "ix_acme_authorizations_account_status", "acme_authorizations", ["account_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_acme_authorizations_account_status", table_name="acme_authorizations")
    op.drop_index("ix_acme_orders_account_created", table_name="acme_orders")
    op.drop_index("ix_acme_orders_org_created", table_name="acme_orders")
    op.drop_index("ix_acme_orders_replaces", table_name="acme_orders")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("acme_orders_replaces_id_fkey", "acme_orders", type_="foreignkey")
    op.drop_column("acme_orders", "replaces_id")
    op.drop_column("acme_orders", "profile")
    op.drop_column("certificates", "replace_requested_at")
