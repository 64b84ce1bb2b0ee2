"""Who drives a vendor order, and the journal that records its intents (R16 write-ahead).

An order is driven under a lease (``vendor_orders.lease_holder``/``lease_until``) held by
one process and thread; a holder whose process died is known by its signer identity and its
lease may be taken at once. While it drives, the backend reports each intent — ``ordering``
before the first request, the order URL once the vendor named it — and the journal commits
each in a short transaction of its own, only while the lease is still the driver's.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from certdesk.ca.issuer import Intent, OrderingIntent, OrderPlaced
from certdesk.errors import Conflict
from certdesk.services.pki import signer_identity
from certdesk.services.runtime import Runtime
from certdesk.store import vendor_orders as order_store

# How long past the backend's own wait a lease lasts (a slow last request still fits).
LEASE_MARGIN = timedelta(seconds=60)


def holder_id() -> str:
    """This process and thread, as a lease holder (the process part tells a dead holder)."""
    return f"{signer_identity.current()}#{threading.get_ident()}"


def holder_is_dead(holder: str | None) -> bool:
    return holder is not None and signer_identity.is_dead(holder.split("#", 1)[0])


class LeaseLost(Conflict):
    def __init__(self) -> None:
        super().__init__("vendor.lease_lost", "another process took over this order")


class OrderJournal:
    """R16 write-ahead for one order: each intent committed before the backend acts on it."""

    def __init__(self, rt: Runtime, order_id: int, holder: str) -> None:
        self._rt = rt
        self._order_id = order_id
        self._holder = holder

    def record(self, intent: Intent) -> None:
        now = self._rt.clock()
        with self._rt.transaction() as conn:
            if isinstance(intent, OrderingIntent):
                ok = order_store.ordering(
                    conn, self._order_id, self._holder, account_url=intent.account_url, now=now
                )
            elif isinstance(intent, OrderPlaced):
                ok = order_store.placed(
                    conn,
                    self._order_id,
                    self._holder,
                    account_url=intent.account_url,
                    order_url=intent.order_url,
                    now=now,
                )
            else:
                raise Conflict("vendor.intent", "a vendor order records no signing intent")
            if not ok:
                raise LeaseLost
