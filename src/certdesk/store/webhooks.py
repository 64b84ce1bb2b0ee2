"""Outbound webhooks and their delivery queue (issue 14).

``webhook_deliveries`` is a durable queue like the mail queue: a row per (webhook, event),
inserted with ``ON CONFLICT DO NOTHING`` in the transaction that records the event's notices,
claimed under a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), and settled only where the
claim is still the caller's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from certdesk.store.models import Case, CertificateRow, Organization, Webhook, WebhookDelivery

PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"
DELIVERY_STATES = (PENDING, SENDING, DELIVERED, FAILED)


def add(s: Session, row: Webhook) -> Webhook:
    s.add(row)
    s.flush()
    return row


def listed(s: Session, org_id: int | None, *, everything: bool) -> list[Webhook]:
    """Active webhooks: all (``everything``), or those of ``org_id`` (None: cert services')."""
    q = select(Webhook).where(Webhook.removed_at.is_(None))
    if not everything:
        q = q.where(Webhook.org_id.is_(None) if org_id is None else Webhook.org_id == org_id)
    return list(s.scalars(q.order_by(Webhook.id)))


def get(s: Session, webhook_id: int) -> Webhook | None:
    return s.get(Webhook, webhook_id)


def org_codes(s: Session, org_ids: Sequence[int]) -> dict[int, str]:
    if not org_ids:
        return {}
    rows = s.execute(
        select(Organization.id, Organization.code).where(Organization.id.in_(list(org_ids)))
    )
    return {i: code for i, code in rows}


def any_active(s: Session) -> bool:
    """Whether any webhook is registered (and not removed)."""
    return s.scalar(select(Webhook.id).where(Webhook.removed_at.is_(None)).limit(1)) is not None


def subscribers(s: Session, org_id: int) -> list[Webhook]:
    """The active webhooks that hear of ``org_id``'s events: its own and cert services'."""
    return list(
        s.scalars(
            select(Webhook)
            .where(
                Webhook.removed_at.is_(None),
                or_(Webhook.org_id.is_(None), Webhook.org_id == org_id),
            )
            .order_by(Webhook.id)
        )
    )


def case_facts(s: Session, case_id: int) -> tuple[Case, Organization] | None:
    row = s.execute(
        select(Case, Organization)
        .join(Organization, Organization.id == Case.org_id)
        .where(Case.id == case_id)
    ).first()
    return None if row is None else (row[0], row[1])


def cert_facts(s: Session, cert_id: int) -> tuple[CertificateRow, Organization] | None:
    row = s.execute(
        select(CertificateRow, Organization)
        .join(Organization, Organization.id == CertificateRow.org_id)
        .where(CertificateRow.id == cert_id)
    ).first()
    return None if row is None else (row[0], row[1])


def enqueue(s: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert deliveries unless their (webhook, event) exists; how many were new."""
    if not rows:
        return 0
    ordered = sorted(rows, key=lambda r: (r["webhook_id"], r["event_key"]))
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(WebhookDelivery)
        .on_conflict_do_nothing(index_elements=["webhook_id", "event_key"])
        .returning(WebhookDelivery.id)
    )
    return len(list(s.connection().execute(stmt, ordered)))


def claim_due(
    s: Session, now: datetime, worker_id: str, lease_until: datetime, limit: int
) -> list[int]:
    """Claim deliveries due for an attempt and those whose sender's claim ran out."""
    waiting = and_(
        WebhookDelivery.status == PENDING,
        or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now),
    )
    stale = and_(WebhookDelivery.status == SENDING, WebhookDelivery.claim_expires_at < now)
    ids = list(
        s.scalars(
            select(WebhookDelivery.id)
            .where(or_(waiting, stale))
            .order_by(WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return []
    result = s.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(ids), or_(waiting, stale))
        .values(status=SENDING, claimed_by=worker_id, claim_expires_at=lease_until)
        .returning(WebhookDelivery.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.scalars())


def claimed(s: Session, ids: Sequence[int]) -> list[tuple[WebhookDelivery, Webhook]]:
    rows = s.execute(
        select(WebhookDelivery, Webhook)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.id.in_(list(ids)))
        .order_by(WebhookDelivery.id)
    )
    return [(d, w) for d, w in rows]


def settle(s: Session, delivery_id: int, worker_id: str, values: dict[str, Any]) -> bool:
    """Record an outcome where this worker still holds the claim; whether it did."""
    result = s.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == SENDING,
            WebhookDelivery.claimed_by == worker_id,
        )
        .values(claimed_by=None, claim_expires_at=None, **values)
        .returning(WebhookDelivery.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


def deliveries(
    s: Session, webhook_id: int, status: str | None, limit: int
) -> list[WebhookDelivery]:
    q = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if status is not None:
        q = q.where(WebhookDelivery.status == status)
    return list(s.scalars(q.order_by(WebhookDelivery.id.desc()).limit(limit)))
