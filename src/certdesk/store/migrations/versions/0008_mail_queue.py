"""one mail queue: account mail moves from the outbox into the notices queue (issue 11, part 4)

Account mail (R10 enrollment and reset) was sent from its own ``outbox`` table, five attempts
without backoff; it now goes through the ``notices`` queue with its claims, leases, backoff
and once-only record. Every outbox row becomes a queue row of subject type ``account``
(reason ``account.mail#<outbox id>``), its attempts, errors and dates kept. A waiting mail's
single-use link stays sealed: the sealed token moves from the body into ``sealed_link`` and
the body keeps a mark in its place, as new account mail is stored.

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-20
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

import certdesk.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ENROLL_PATH = "/enroll/"  # certdesk.links.ENROLL_PATH, as of this revision
LINK_MARK = ENROLL_PATH + "[single-use link]"  # certdesk.services.people.account_mail
_SEALED = re.compile(re.escape(ENROLL_PATH) + r"sealed\.([A-Za-z0-9_=-]+)")
_MIGRATED = "account.mail#"

_UTC = certdesk.store.types.UTCDateTime(timezone=True)

_outbox = sa.table(
    "outbox",
    sa.column("id", sa.Integer),
    sa.column("to_addr", sa.String),
    sa.column("subject", sa.String),
    sa.column("body_text", sa.Text),
    sa.column("body_html", sa.Text),
    sa.column("status", sa.String),
    sa.column("attempts", sa.Integer),
    sa.column("last_error", sa.Text),
    sa.column("created_at", _UTC),
    sa.column("sent_at", _UTC),
)

_notices = sa.table(
    "notices",
    sa.column("id", sa.Integer),
    sa.column("subject_type", sa.String),
    sa.column("subject_id", sa.Integer),
    sa.column("contact_email", sa.String),
    sa.column("reason", sa.String),
    sa.column("due_at", _UTC),
    sa.column("late", sa.Boolean),
    sa.column("status", sa.String),
    sa.column("attempts", sa.Integer),
    sa.column("next_attempt_at", _UTC),
    sa.column("last_error", sa.Text),
    sa.column("claimed_by", sa.String),
    sa.column("claim_expires_at", _UTC),
    sa.column("subject", sa.String),
    sa.column("created_at", _UTC),
    sa.column("sent_at", _UTC),
    sa.column("body_text", sa.Text),
    sa.column("body_html", sa.Text),
    sa.column("sealed_link", sa.Text),
)


def _split_link(text: str, html: str) -> tuple[str, str, str | None]:
    """(text, html, sealed token): the sealed link of a waiting mail moved out of its body."""
    found = _SEALED.search(text) or _SEALED.search(html)
    if found is None:
        return text, html, None
    return _SEALED.sub(LINK_MARK, text), _SEALED.sub(LINK_MARK, html), found.group(1)


def upgrade() -> None:
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_text", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("body_html", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("sealed_link", sa.Text(), nullable=True))
    # The models set the defaults; the server defaults only filled the existing rows.
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.alter_column("body_text", server_default=None)
        batch_op.alter_column("body_html", server_default=None)

    conn = op.get_bind()
    rows = conn.execute(sa.select(_outbox).order_by(_outbox.c.id)).mappings().all()
    moved = []
    for r in rows:
        waiting = r["status"] == "pending"
        text, html = r["body_text"], r["body_html"] or ""
        sealed = None
        if waiting:
            text, html, sealed = _split_link(text, html)
        moved.append(
            {
                "subject_type": "account",
                "subject_id": 0,
                "contact_email": r["to_addr"],
                "reason": f"{_MIGRATED}{r['id']}",
                "due_at": r["created_at"],
                "late": False,
                "status": r["status"] if r["status"] in ("sent", "failed") else "pending",
                "attempts": r["attempts"],
                "next_attempt_at": r["created_at"] if waiting else None,
                "last_error": r["last_error"],
                "claimed_by": None,
                "claim_expires_at": None,
                "subject": r["subject"],
                "created_at": r["created_at"],
                "sent_at": r["sent_at"],
                "body_text": text,
                "body_html": html,
                "sealed_link": sealed,
            }
        )
    if moved:
        conn.execute(sa.insert(_notices), moved)

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_status")
    op.drop_table("outbox")


def downgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("to_addr", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("sent_at", _UTC, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_status", ["status"], unique=False)

    conn = op.get_bind()
    account = _notices.c.subject_type == "account"
    rows = conn.execute(sa.select(_notices).where(account).order_by(_notices.c.id)).mappings()
    back = []
    for r in rows:
        text, html = r["body_text"], r["body_html"]
        if r["sealed_link"]:
            sealed = ENROLL_PATH + "sealed." + r["sealed_link"]
            text, html = text.replace(LINK_MARK, sealed), html.replace(LINK_MARK, sealed)
        back.append(
            {
                "to_addr": r["contact_email"],
                "subject": r["subject"],
                "body_text": text,
                "body_html": html,
                "status": r["status"] if r["status"] in ("sent", "failed") else "pending",
                "attempts": r["attempts"],
                "last_error": r["last_error"],
                "created_at": r["created_at"],
                "sent_at": r["sent_at"],
            }
        )
    if back:
        conn.execute(sa.insert(_outbox), back)
    conn.execute(sa.delete(_notices).where(account))

    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_column("sealed_link")
        batch_op.drop_column("body_html")
        batch_op.drop_column("body_text")
