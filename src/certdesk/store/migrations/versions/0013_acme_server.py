"""ACME server (issue 13, R17): EAB keys, accounts, nonces, orders, authorizations and the
server's challenges (``acme_server_challenges``, apart from the vendor client's tables).

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import certdesk.store.types

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

_UTC = certdesk.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "acme_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("thumbprint", sa.String(length=64), nullable=False),
        sa.Column("jwk", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("contacts", sa.JSON(), nullable=False),
        sa.Column("eab_kid", sa.String(length=64), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("deactivated_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("thumbprint"),
    )
    op.create_table(
        "acme_eab_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("hmac_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("expires_at", _UTC, nullable=True),
        sa.Column("revoked_at", _UTC, nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("bound_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"]),
        sa.ForeignKeyConstraint(["account_id"], ["acme_accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kid"),
        sa.UniqueConstraint("account_id"),
    )
    op.create_table(
        "acme_nonces",
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("value"),
    )
    op.create_index("ix_acme_nonces_expires_at", "acme_nonces", ["expires_at"])
    op.create_table(
        "acme_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["acme_accounts.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"]),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_acme_orders_account", "acme_orders", ["account_id", "id"])
    op.create_table(
        "acme_authorizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("wildcard", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["acme_orders.id"]),
        sa.ForeignKeyConstraint(["account_id"], ["acme_accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_acme_authorizations_order_id", "acme_authorizations", ["order_id"])
    op.create_table(
        "acme_server_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authz_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("validated_at", _UTC, nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["authz_id"], ["acme_authorizations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_acme_server_challenges_authz_id", "acme_server_challenges", ["authz_id"])


def downgrade() -> None:
    op.drop_index("ix_acme_server_challenges_authz_id", table_name="acme_server_challenges")
    op.drop_table("acme_server_challenges")
    op.drop_index("ix_acme_authorizations_order_id", table_name="acme_authorizations")
    op.drop_table("acme_authorizations")
    op.drop_index("ix_acme_orders_account", table_name="acme_orders")
    op.drop_table("acme_orders")
    op.drop_index("ix_acme_nonces_expires_at", table_name="acme_nonces")
    op.drop_table("acme_nonces")
    op.drop_table("acme_eab_keys")
    op.drop_table("acme_accounts")
