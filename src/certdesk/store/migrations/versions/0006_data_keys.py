"""generated keys under data keys of their own (crypto-shredding at download, R12)

Until 0005 a generated key was sealed with the secret box alone in
``submittals.generated_key`` and "erased" at download by a NULL, which left the ciphertext in
free pages, the WAL and dead tuples, readable with ``secretbox.key``. From 0006 each key sits
in ``data_keys`` under a data key of its own, and the download deletes that row
(``store/data_keys.py``).

The upgrade re-seals every stored key under a fresh data key, so it needs the secret box
(``migrate(engine, wrapper=box)``; ``certdesk db upgrade`` and ``init`` pass it); without
one, a database holding keys is refused and left as it was. The column is emptied before it
is dropped: PostgreSQL keeps a dropped column's bytes in every live row otherwise.
``scrub_after_upgrade`` then rebuilds the storage from live rows (store/schema.py).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

import certdesk.store.types
from certdesk.core.envelope import Wrapper, open_subscriber_key, seal_subscriber_key
from certdesk.errors import Unavailable

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Tables as this revision knows them (the models may change later; this file may not).
submittals = sa.table(
    "submittals", sa.column("id", sa.Integer), sa.column("generated_key", sa.LargeBinary)
)
data_keys = sa.table(
    "data_keys",
    sa.column("submittal_id", sa.Integer),
    sa.column("wrapped_data_key", sa.LargeBinary),
    sa.column("sealed_key", sa.LargeBinary),
    sa.column("created_at", certdesk.store.types.UTCDateTime(timezone=True)),
)


def _wrapper(count: int, direction: str) -> Wrapper:
    wrapper: Wrapper | None = context.config.attributes.get("wrapper")
    if wrapper is None:
        raise Unavailable(
            "schema.needs_secret_key",
            f"the database holds {count} generated key(s) that this {direction} re-seals, and"
            " no secret key was given: run 'certdesk db upgrade' on a host with this"
            " installation's secretbox.key",
        )
    return wrapper


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("submittal_id", sa.Integer(), nullable=False),
        sa.Column("wrapped_data_key", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", certdesk.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["submittal_id"], ["submittals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("submittal_id"),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(submittals.c.id, submittals.c.generated_key).where(
            submittals.c.generated_key.is_not(None)
        )
    ).all()
    if rows:
        wrapper = _wrapper(len(rows), "upgrade")
        now = datetime.now(UTC)
        for submittal_id, old in rows:
            key_der = wrapper.open(old)  # the secret box refuses a foreign key clearly
            wrapped, sealed = seal_subscriber_key(wrapper, submittal_id, key_der)
            conn.execute(
                data_keys.insert().values(
                    submittal_id=submittal_id,
                    wrapped_data_key=wrapped,
                    sealed_key=sealed,
                    created_at=now,
                )
            )
        conn.execute(submittals.update().values(generated_key=None))
    # Not a batch (copy-and-rename) on SQLite: dropping the populated submittals table with
    # foreign keys on would fail. SQLite 3.35+ drops a column in place.
    op.drop_column("submittals", "generated_key")


def downgrade() -> None:
    op.add_column("submittals", sa.Column("generated_key", sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(data_keys.c.submittal_id, data_keys.c.wrapped_data_key, data_keys.c.sealed_key)
    ).all()
    if rows:
        wrapper = _wrapper(len(rows), "downgrade")
        for submittal_id, wrapped, sealed in rows:
            key_der = open_subscriber_key(wrapper, submittal_id, wrapped, sealed)
            conn.execute(
                submittals.update()
                .where(submittals.c.id == submittal_id)
                .values(generated_key=wrapper.seal(key_der))
            )
    op.drop_table("data_keys")
