"""vendor lint tolerance: the pre-storage lint findings an issuer's certificates may carry
(issue 12)

A lab or test CA (pebble) signs certificates that fail checks a publicly trusted vendor's
pass; an operator names those findings when adding the issuer, and every other finding still
refuses a certificate. NULL: none tolerated.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("acme_issuers", sa.Column("lint_tolerate", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("acme_issuers", "lint_tolerate")
