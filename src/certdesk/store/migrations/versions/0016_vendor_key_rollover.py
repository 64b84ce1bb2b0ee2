"""vendor account key rollover: the new key, sealed, written before the vendor is asked to
switch (RFC 8555 §7.3.5; issue 12), so a crash between the vendor's answer and the swap
loses no key

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "acme_issuers", sa.Column("next_account_key_sealed", sa.LargeBinary(), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("acme_issuers") as batch:
        batch.drop_column("next_account_key_sealed")
