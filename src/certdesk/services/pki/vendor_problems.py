"""A vendor's refusals and silences: the problem kept on the order, the back-off before the
next attempt, and the notice to cert services (R16, R9).

A drive that ends in trouble — the vendor refused the order for good, forgot certdesk's
account, or has not answered for :data:`~certdesk.core.issuers.VENDOR_SILENCE` — queues a
stored message for every cert services account in the one mail queue
(:mod:`certdesk.store.mail_queue`, subject type ``vendor``), in the transaction that records
the order's new state. The queue's once-only key (the order, the address, the trouble) makes
it one notice per order and trouble, however many worker passes see the same state.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import Connection

from certdesk.core.issuers import VendorTrouble, trouble_to_report
from certdesk.errors import CertdeskError
from certdesk.notify.messages import vendor_trouble
from certdesk.services.runtime import Runtime
from certdesk.store import mail_queue as queue
from certdesk.store import users as user_store
from certdesk.store import vendor_order_labels as label_store
from certdesk.store import vendor_orders as order_store
from certdesk.store.notices import VENDOR
from certdesk.store.vendor_orders import Order

MAX_BACKOFF = timedelta(hours=1)
FIRST_BACKOFF = timedelta(seconds=5)

log = structlog.get_logger("certdesk.vendor")


def backoff(attempts: int) -> timedelta:
    """RFC 8555 §6.6 asks clients to back off: 5 s, 10 s, 20 s … at most an hour."""
    grown: timedelta = FIRST_BACKOFF * (2 ** min(attempts, 20))
    return grown if grown < MAX_BACKOFF else MAX_BACKOFF


def problem_of(err: CertdeskError) -> dict[str, Any]:
    """The vendor's problem document when there is one, else certdesk's own (RFC 9457)."""
    doc = err.extra.get("problem")
    if isinstance(doc, dict):
        return dict(doc)
    return {"type": f"urn:certdesk:problem:{err.code}", "detail": err.detail}


class TroubleNotices:
    """Queues the notice about an order's trouble, once per order and trouble."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def report(self, conn: Connection, order_id: int) -> VendorTrouble | None:
        """Judge the order as just recorded in ``conn``'s transaction and, if it is in
        trouble, queue the notice there; returns the trouble (None: nothing to tell)."""
        order = order_store.order(conn, order_id)
        assert order is not None
        now = self._rt.clock()
        trouble = trouble_to_report(order.state, order.vendor_status, now - order.created_at)
        if trouble is None:
            return None
        to = user_store.operator_emails(conn)
        if not to:
            log.warning("no cert services address for a vendor notice", order=order.id)
            return trouble
        mail = self._mail(conn, order, trouble)
        queued = queue.queue_once(
            conn,
            [
                {
                    "subject_type": VENDOR,
                    "subject_id": order.id,
                    "contact_email": address,
                    "reason": str(trouble),
                    "subject": mail.subject,
                    "body_text": mail.text,
                    "body_html": mail.html,
                    "created_at": now,
                }
                for address in to
            ],
        )
        if queued:
            log.info("vendor trouble notice queued", order=order.id, trouble=str(trouble))
        return trouble

    def _mail(self, conn: Connection, order: Order, trouble: VendorTrouble) -> Any:
        facts = label_store.trouble_facts(conn, order)
        base = self._rt.settings.base_url.rstrip("/")
        path = (
            f"/cases/{facts.case_number}" if facts.case_number else f"/issuers/{facts.issuer_slug}"
        )
        problem = order.problem or {}
        said = problem.get("detail") or problem.get("title") or problem.get("type")
        return vendor_trouble(
            trouble=trouble.value,
            vendor=facts.issuer_name,
            organization=facts.org_name,
            names=order.names,
            case_number=facts.case_number,
            said=str(said) if said else None,
            ordered_at=order.created_at,
            link=base + path if base else None,
        )
