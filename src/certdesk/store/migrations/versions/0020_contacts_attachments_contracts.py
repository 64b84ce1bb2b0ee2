"""organization contacts named by submittals, case attachments, vendor contracts (issue 14)

Contacts were copied onto every submittal (the same person listed once per submittal). From
here a contact is kept once per organization and address (``contacts.address``, the email
lower-cased) and a submittal names it in a role (``submittal_contacts``). The upgrade folds
every submittal's copy into the organization's contact with the same address (the oldest
organization-level one, else the oldest copy) and links it in the role the copy had; the
R9 notices keep going to the same addresses: ``contacts.org_wide`` tells a contact the
organization listed (hears about everything) from one only submittals named. The downgrade
copies each link back onto its submittal.

Revision ID: 0020
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

import certdesk.store.types

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_UTC = certdesk.store.types.UTCDateTime(timezone=True)

_CONTACTS = sa.table(
    "contacts",
    sa.column("id", sa.Integer()),
    sa.column("org_id", sa.Integer()),
    sa.column("submittal_id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("name", sa.String()),
    sa.column("email", sa.String()),
    sa.column("address", sa.String()),
    sa.column("phone", sa.String()),
    sa.column("org_wide", sa.Boolean()),
    sa.column("created_at", _UTC),
    sa.column("updated_at", _UTC),
)
_LINKS = sa.table(
    "submittal_contacts",
    sa.column("submittal_id", sa.Integer()),
    sa.column("contact_id", sa.Integer()),
    sa.column("kind", sa.String()),
)


def upgrade() -> None:
    # SQLite rebuilds ``contacts`` below: nothing may refer to it while it does, so the
    # links are worked out first and stored once the table is rebuilt.
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("address", sa.String(length=254), nullable=True))
        batch.add_column(
            sa.Column("org_wide", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    links = _fold_copies(op.get_bind())
    with op.batch_alter_table("contacts") as batch:
        batch.drop_index("ix_contacts_submittal")
        batch.drop_column("submittal_id")
        batch.alter_column("address", existing_type=sa.String(length=254), nullable=False)
        batch.create_unique_constraint("uq_contacts_org_address", ["org_id", "address"])
    op.create_table(
        "submittal_contacts",
        sa.Column("submittal_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["submittal_id"], ["submittals.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"]),
        sa.PrimaryKeyConstraint("submittal_id", "contact_id", "kind"),
    )
    op.create_index("ix_submittal_contacts_contact", "submittal_contacts", ["contact_id"])
    if links:
        op.get_bind().execute(
            sa.insert(_LINKS),
            [{"submittal_id": s, "contact_id": k, "kind": kind} for s, k, kind in sorted(links)],
        )

    op.create_table(
        "case_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_attachments_case", "case_attachments", ["case_id"])

    op.create_table(
        "vendor_contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vendor", sa.String(length=200), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=True),
        sa.Column("licences_total", sa.Integer(), nullable=False),
        sa.Column("licences_used", sa.Integer(), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["issuer_id"], ["issuers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index("ix_vendor_contracts_ends_on", "vendor_contracts", ["ends_on"])


def _fold_copies(conn: sa.Connection) -> set[tuple[int, int, str]]:
    """Every contact row gets its address; each submittal's copy becomes a link (returned:
    submittal, contact, kind) to the organization's one contact with that address (the copy
    itself is deleted unless it is that contact)."""
    c = _CONTACTS.c
    rows = conn.execute(
        sa.select(c.id, c.org_id, c.submittal_id, c.kind, c.email).order_by(
            c.org_id, c.submittal_id.is_not(None), c.id
        )
    ).all()
    keeper: dict[tuple[int, str], int] = {}
    links: set[tuple[int, int, str]] = set()
    dropped: list[int] = []
    for row in rows:
        address = row.email.strip().lower()
        kept = keeper.setdefault((row.org_id, address), row.id)
        if kept == row.id:
            # Organization-level rows come first: an address the organization listed keeps
            # hearing about everything; one only on submittals hears about those.
            conn.execute(
                sa.update(_CONTACTS)
                .where(c.id == row.id)
                .values(address=address, org_wide=row.submittal_id is None)
            )
        else:
            dropped.append(row.id)
        if row.submittal_id is not None:
            links.add((row.submittal_id, kept, row.kind))
    for start in range(0, len(dropped), 500):
        conn.execute(sa.delete(_CONTACTS).where(c.id.in_(dropped[start : start + 500])))
    return links


def downgrade() -> None:
    op.drop_index("ix_vendor_contracts_ends_on", table_name="vendor_contracts")
    op.drop_table("vendor_contracts")
    op.drop_index("ix_case_attachments_case", table_name="case_attachments")
    op.drop_table("case_attachments")

    copies = _copies(op.get_bind())
    op.drop_index("ix_submittal_contacts_contact", table_name="submittal_contacts")
    op.drop_table("submittal_contacts")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_constraint("uq_contacts_org_address", type_="unique")
        batch.add_column(sa.Column("submittal_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_contacts_submittal", "submittals", ["submittal_id"], ["id"])
        batch.create_index("ix_contacts_submittal", ["submittal_id"], unique=False)
    conn = op.get_bind()
    c = _CONTACTS.c
    if copies:
        conn.execute(sa.insert(_CONTACTS), copies)
    # A contact only submittals named was not the organization's before 0020.
    conn.execute(sa.delete(_CONTACTS).where(c.submittal_id.is_(None), sa.not_(c.org_wide)))
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("org_wide")
        batch.drop_column("address")


def _copies(conn: sa.Connection) -> list[dict[str, Any]]:
    """Each link as a copy of its contact on the submittal, as before 0020."""
    c, link = _CONTACTS.c, _LINKS.c
    rows = conn.execute(
        sa.select(
            link.submittal_id,
            link.kind,
            c.org_id,
            c.name,
            c.email,
            c.phone,
            c.created_at,
            c.updated_at,
        )
        .join(_CONTACTS, c.id == link.contact_id)
        .order_by(link.submittal_id, link.contact_id, link.kind)
    ).all()
    copies: list[dict[str, Any]] = [
        {
            "org_id": r.org_id,
            "submittal_id": r.submittal_id,
            "kind": r.kind,
            "name": r.name,
            "email": r.email,
            "address": r.email.strip().lower(),
            "phone": r.phone,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
        }
        for r in rows
    ]
    return copies
