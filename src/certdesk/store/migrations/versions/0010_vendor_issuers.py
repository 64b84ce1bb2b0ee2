"""vendor issuers: the issuer seam's backend column, vendor CAs over ACME and their orders
(issue 12)

``issuers`` gains ``backend`` (every existing row is the built-in CA, ``local``); the columns
a vendor row has no value for (its key file, certificate, key type and validity) become
nullable. ``acme_issuers`` holds a vendor's directory and certdesk's sealed account there;
``vendor_orders`` is the write-ahead record of each order (R16). Organizations, grants and
submittals may name an issuer (NULL: the default chain of choice, ending at the built-in CA).

On SQLite a NOT NULL constraint is removed by editing the table's stored definition, the
procedure SQLite documents for changes that leave the stored rows as they are (ALTER TABLE,
"making other kinds of table schema changes"): a copy-and-drop of ``issuers`` would have to
drop a table that every certificate refers to.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

import certdesk.store.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_UTC = certdesk.store.types.UTCDateTime(timezone=True)
# The issuers columns a vendor row leaves empty.
_VENDORLESS = ("key_type", "key_file", "cert_der", "not_before", "not_after")
# Tables that may name an issuer.
_CHOOSERS = ("organizations", "grants", "submittals")


def _sqlite_nullability(table: str, columns: tuple[str, ...], *, nullable: bool) -> None:
    """Add or remove NOT NULL on ``columns`` in SQLite's stored CREATE TABLE text."""
    conn = op.get_bind()
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    for column in columns:
        pattern = re.compile(rf"(\n\s*{column} [A-Z]+(?:\(\d+\))?)( NOT NULL)?,")
        if pattern.search(sql) is None:
            raise RuntimeError(f"column {table}.{column} not found in its definition")
        sql = pattern.sub(lambda m: m.group(1) + ("" if nullable else " NOT NULL") + ",", sql)
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    conn.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (sql, table)
    )
    conn.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema = OFF")
    check = conn.exec_driver_sql(f"PRAGMA integrity_check({table})").scalar_one()
    if check != "ok":
        raise RuntimeError(f"integrity check after changing {table}: {check}")


def _set_nullable(table: str, columns: tuple[str, ...], *, nullable: bool) -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_nullability(table, columns, nullable=nullable)
        return
    for column in columns:
        op.alter_column(table, column, nullable=nullable)


def upgrade() -> None:
    op.add_column(
        "issuers",
        sa.Column("backend", sa.String(length=16), nullable=False, server_default="local"),
    )
    _set_nullable("issuers", _VENDORLESS, nullable=True)
    op.add_column("certificates", sa.Column("chain_pem", sa.Text(), nullable=True))
    op.create_table(
        "acme_issuers",
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        sa.Column("directory_url", sa.String(length=500), nullable=False),
        sa.Column("ca_bundle_pem", sa.Text(), nullable=True),
        sa.Column("anchors_pem", sa.Text(), nullable=False),
        sa.Column("eab_kid", sa.String(length=200), nullable=False),
        sa.Column("account_url", sa.String(length=500), nullable=False),
        sa.Column("account_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("solver", sa.String(length=16), nullable=False),
        sa.Column("solver_config", sa.JSON(), nullable=True),
        sa.Column("solver_secret_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("profiles", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["issuer_id"], ["issuers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("issuer_id"),
    )
    op.create_table(
        "vendor_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("submittal_id", sa.Integer(), nullable=True),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("key_type", sa.String(length=16), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("csr_der", sa.LargeBinary(), nullable=False),
        sa.Column("not_before", _UTC, nullable=False),
        sa.Column("not_after", _UTC, nullable=False),
        sa.Column("max_days", sa.Integer(), nullable=False),
        sa.Column("renewal_of", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("account_url", sa.String(length=500), nullable=False),
        sa.Column("order_url", sa.String(length=500), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("vendor_status", sa.String(length=16), nullable=True),
        sa.Column("problem", sa.JSON(), nullable=True),
        sa.Column("retry_after", _UTC, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_holder", sa.String(length=200), nullable=True),
        sa.Column("lease_until", _UTC, nullable=True),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["issuer_id"], ["issuers.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"]),
        sa.ForeignKeyConstraint(["submittal_id"], ["submittals.id"]),
        sa.ForeignKeyConstraint(["renewal_of"], ["certificates.id"]),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_vendor_orders_state_retry", "vendor_orders", ["state", "retry_after"])
    op.create_index("ix_vendor_orders_submittal", "vendor_orders", ["submittal_id"])
    # Plain ALTER TABLE … ADD COLUMN … REFERENCES on both backends (a NULL default is allowed
    # on SQLite), not a copy-and-drop of tables others refer to.
    for table in _CHOOSERS:
        if op.get_bind().dialect.name == "sqlite":
            op.execute(
                sa.text(f"ALTER TABLE {table} ADD COLUMN issuer_id INTEGER REFERENCES issuers (id)")
            )
        else:
            op.add_column(table, sa.Column("issuer_id", sa.Integer(), nullable=True))
            op.create_foreign_key(
                f"{table}_issuer_id_fkey", table, "issuers", ["issuer_id"], ["id"]
            )


def downgrade() -> None:
    for table in _CHOOSERS:
        if op.get_bind().dialect.name == "sqlite":
            op.drop_column(table, "issuer_id")
        else:
            op.drop_constraint(f"{table}_issuer_id_fkey", table, type_="foreignkey")
            op.drop_column(table, "issuer_id")
    op.drop_index("ix_vendor_orders_submittal", table_name="vendor_orders")
    op.drop_index("ix_vendor_orders_state_retry", table_name="vendor_orders")
    op.drop_table("vendor_orders")
    op.drop_table("acme_issuers")
    # Vendor rows cannot live in the older schema; certificates they issued keep their rows,
    # so a downgrade with vendor certificates on record refuses here (a foreign key).
    op.execute(sa.text("DELETE FROM issuers WHERE backend <> 'local'"))
    op.drop_column("certificates", "chain_pem")
    _set_nullable("issuers", _VENDORLESS, nullable=False)
    op.drop_column("issuers", "backend")
