"""Issuance through a vendor CA (R16): the order is the write-ahead record.

The issuance pipeline (services/pki/issuance.py) judges the request exactly as for the
built-in CA — R12, R1, R13 on the request, then the organization, the actor's rights and R2
in one transaction — and, when the chosen issuer is a vendor, commits a ``vendor_orders``
row in state ``ordering`` in that transaction, leased to the caller. Only then does anything
reach the vendor. From there :meth:`VendorIssuance.drive` carries the order on, in this
process or in a worker's:

1. take the order's lease (one conditional UPDATE: two drivers never hold one order);
2. build the request from the row and ask the vendor's backend: ``issue`` when no order is
   placed yet (or it was placed under an account the vendor has since forgotten — placed
   again, once, under the new one), otherwise ``resume`` with the stored order URL;
   the journal records ``ordering`` and the order URL (``pending``) in short transactions
   of their own, each only while the lease is still ours;
3. a chain that passed the arrival checks (ca/arrival.py) is stored in one transaction: the
   certificate row ``active`` with its names, the order ``issued`` pointing at it, the R15
   audit event. Only after that commit is the certificate returned;
4. still pending: the vendor's status, problem and Retry-After are stored and the lease let
   go; a refusal for good marks the order ``failed`` with the vendor's problem document.

Invariant: a crash at any point leaves the order open with its order URL (if the vendor had
named one), so the next driver resumes that very order; nothing is delivered before its row
is ``active``. ACME has no idempotency key, so a crash between ``ordering`` and the vendor's
answer may leave an order at the vendor that certdesk never saw; certdesk places its own
once more and finalizes only that one, so one certificate results.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certdesk.ca.issuer import IssuedChain, IssueRequest, Pending
from certdesk.core.issuers import ACCOUNT_GONE, UNREACHABLE, OrderState
from certdesk.errors import CertdeskError, NotFound, Unavailable
from certdesk.metrics import OrderCount
from certdesk.services.audit import AuditService
from certdesk.services.pki.issued import Issued, Ordered, serial_hex
from certdesk.services.pki.vendor_backends import VendorBackends
from certdesk.services.pki.vendor_leases import (
    LEASE_MARGIN,
    LeaseLost,
    OrderJournal,
    holder_id,
    holder_is_dead,
)
from certdesk.services.pki.vendor_problems import TroubleNotices, backoff, problem_of
from certdesk.services.pki.vendor_renewal_info import refresh_renewal_info
from certdesk.services.runtime import Runtime
from certdesk.store import issuance as issuance_store
from certdesk.store import vendor_order_labels as label_store
from certdesk.store import vendor_orders as order_store
from certdesk.store.vendor_orders import Order

__all__ = ["OrderRun", "VendorIssuance", "backoff", "holder_id"]


@dataclass
class OrderRun:
    """What one worker pass did with the open vendor orders."""

    due: int = 0
    driven: int = 0
    issued: int = 0
    pending: int = 0
    failed: int = 0
    busy: int = 0  # another driver held the lease
    errors: list[str] = field(default_factory=list)


class VendorIssuance:
    """Drives vendor orders to a stored certificate, or to a recorded pending/failed state."""

    def __init__(self, rt: Runtime, audit: AuditService, backends: VendorBackends) -> None:
        self._rt = rt
        self._audit = audit
        self.backends = backends
        self._troubles = TroubleNotices(rt)

    def lease_until(self, now: datetime) -> datetime:
        return now + self.backends.tuning.wait + LEASE_MARGIN

    # --- reading ----------------------------------------------------------------------------

    def status(self, order_id: int) -> Ordered:
        with self._rt.reading() as conn:
            order = order_store.order(conn, order_id)
            if order is None:
                raise NotFound("order.unknown", f"no vendor order {order_id}")
            return self._ordered(conn, order)

    def _ordered(self, conn: Any, order: Order) -> Ordered:
        labels = label_store.labels(conn, order)
        return Ordered(
            order_id=order.id,
            issuer=labels.issuer_slug,
            org_code=labels.org_code,
            names=order.names,
            state=str(order.state),
            vendor_status=order.vendor_status,
            order_url=order.order_url,
            problem=order.problem,
            retry_after=order.retry_after,
            serial=labels.serial,
        )

    def delivered(self, order_id: int) -> Issued:
        """The certificate an ``issued`` order stored (a second request for a submittal
        whose order is over gets the same certificate, never a second order)."""
        with self._rt.reading() as conn:
            order = order_store.order(conn, order_id)
            if order is None or order.certificate_id is None:
                raise NotFound("order.unknown", f"no issued vendor order {order_id}")
            labels = label_store.labels(conn, order)
            der, chain_pem = label_store.certificate_of(conn, order.certificate_id)
        leaf = x509.load_der_x509_certificate(der)
        chain = x509.load_pem_x509_certificates(chain_pem.encode()) if chain_pem else []
        return Issued(
            serial=serial_hex(leaf.serial_number),
            org_code=labels.org_code,
            names=order.names,
            certificate=leaf,
            chain=tuple(chain),
            not_before=leaf.not_valid_before_utc,
            not_after=leaf.not_valid_after_utc,
            issuer=labels.issuer_slug,
        )

    # --- driving ----------------------------------------------------------------------------

    def follow(
        self, order_id: int, *, timeout: timedelta, holder: str | None = None
    ) -> Issued | Ordered:
        """Drive the order until it is issued or failed, or ``timeout`` has passed (the
        caller of ``cert issue`` waiting for the chain). ``holder``: the lease is ours."""
        deadline = time.monotonic() + timeout.total_seconds()
        while True:
            result = self.drive(order_id, holder=holder)
            holder = None  # drive() let the lease go; take it again next round
            if isinstance(result, Issued) or result.state == OrderState.FAILED:
                return result
            if result.state == OrderState.ISSUED:
                return self.delivered(order_id)  # another driver stored it meanwhile
            left = deadline - time.monotonic()
            if left <= 0:
                return result
            wait = self.backends.tuning.poll_interval.total_seconds()
            if result.retry_after is not None:
                # The store's retry_after is on this runtime's clock (see _pending).
                wait = max(wait, (result.retry_after - self._rt.clock()).total_seconds())
            time.sleep(max(0.0, min(wait, left)))

    def drive(self, order_id: int, *, holder: str | None = None) -> Issued | Ordered:
        """One drive of one order (steps 1-4 of the module docstring).

        ``holder`` is given when the caller already holds the lease (it wrote the order);
        otherwise the lease is taken here, and an order someone else is driving is reported
        as it stands.
        """
        now = self._rt.clock()
        if holder is None:
            holder = holder_id()
            with self._rt.transaction() as conn:
                order = order_store.order(conn, order_id)
                if order is None:
                    raise NotFound("order.unknown", f"no vendor order {order_id}")
                dead = order.lease_holder if holder_is_dead(order.lease_holder) else None
                if not order_store.claim(
                    conn,
                    order_id,
                    holder=holder,
                    until=self.lease_until(now),
                    now=now,
                    take_from=dead,
                ):
                    return self._ordered(conn, order)
        with self._rt.reading() as conn:
            order = order_store.order(conn, order_id)
            assert order is not None
            labels = label_store.labels(conn, order)
        try:
            return self._drive(order, labels, holder)
        finally:
            with self._rt.transaction() as conn:
                order_store.release(conn, order_id, holder)

    def _request(self, order: Order, labels: label_store.OrderLabels) -> IssueRequest:
        return IssueRequest(
            csr=x509.load_der_x509_csr(order.csr_der),
            names=order.names,
            not_before=order.not_before,
            not_after=order.not_after,
            max_days=order.max_days,
            profile=order.profile,
            replaces=(
                x509.load_der_x509_certificate(labels.replaces_der)
                if labels.replaces_der is not None
                else None
            ),
        )

    def _drive(
        self, order: Order, labels: label_store.OrderLabels, holder: str
    ) -> Issued | Ordered:
        request = self._request(order, labels)
        journal = OrderJournal(self._rt, order.id, holder)
        try:
            backend = self.backends.backend(order.issuer_id)
            if order.order_url is None or order.account_url != backend.account_url:
                # Not placed yet, or placed under an account the vendor no longer knows
                # (the issuer was bound again): place it now, once, under this account.
                result = backend.issue(request, journal)
            else:
                pending = Pending(
                    backend="acme",
                    handle={"account_url": order.account_url, "order_url": order.order_url},
                    state=order.vendor_status or "pending",
                )
                result = backend.resume(request, pending, journal)
        except LeaseLost:
            return self.status(order.id)
        except (Unavailable, NotFound) as err:
            # The vendor is down or busy, or has forgotten the account: keep the order and
            # ask again later (a forgotten account needs `certdesk issuer rebind`), never
            # sooner than a busy vendor's Retry-After (RFC 8555 §6.6) the session gave up on.
            asked = err.extra.get("retry_after")
            return self._pending(
                order,
                holder,
                state=ACCOUNT_GONE if err.code == "acme.account_gone" else UNREACHABLE,
                problem=problem_of(err),
                retry_after=asked if isinstance(asked, datetime) else None,
            )
        except CertdeskError as err:
            return self._failed(order, labels, holder, err)
        if isinstance(result, Pending):
            return self._pending(
                order,
                holder,
                state=result.state,
                problem=dict(result.problem) if result.problem is not None else None,
                retry_after=result.retry_after,
            )
        return self._store(order, labels, holder, result)

    def _pending(
        self,
        order: Order,
        holder: str,
        *,
        state: str,
        problem: dict[str, Any] | None,
        retry_after: datetime | None,
    ) -> Ordered:
        now = self._rt.clock()
        delay = timedelta(0)
        if retry_after is not None:
            # The backend speaks the wall clock (Retry-After is an instant on it); the store
            # speaks this runtime's clock: keep the delay the vendor asked for, not the instant.
            delay = max(retry_after - datetime.now(UTC), timedelta(0))
        if problem is not None or retry_after is None:
            # Something went wrong (vendor down or busy, DNS primary unreachable): back off
            # further with every attempt, and never sooner than the vendor asked.
            delay = max(delay, backoff(order.attempts))
        with self._rt.transaction() as conn:
            order_store.still_pending(
                conn,
                order.id,
                holder,
                vendor_status=state,
                problem=problem,
                retry_after=now + delay,
                now=now,
            )
            self._troubles.report(conn, order.id)
        return self.status(order.id)

    def _failed(
        self, order: Order, labels: label_store.OrderLabels, holder: str, err: CertdeskError
    ) -> Ordered:
        problem = problem_of(err)
        with self._rt.transaction() as conn:
            order_store.failed(conn, order.id, holder, problem=problem, now=self._rt.clock())
            self._audit.record(
                conn,
                "system:vendor",
                "vendor.order_failed",
                "vendor_order",
                order.id,
                issuer=labels.issuer_slug,
                organization=labels.org_code,
                names=list(order.names),
                code=err.code,
                detail=err.detail,
            )
            self._troubles.report(conn, order.id)
        return self.status(order.id)

    def _store(
        self,
        order: Order,
        labels: label_store.OrderLabels,
        holder: str,
        chain: IssuedChain,
    ) -> Issued:
        leaf = chain.leaf
        der = leaf.public_bytes(serialization.Encoding.DER)
        serial = serial_hex(leaf.serial_number)
        now = self._rt.clock()
        with self._rt.transaction() as conn:
            cert_id = issuance_store.add_arrived(
                conn,
                issuance_store.Arrived(
                    serial=serial,
                    issuer_id=order.issuer_id,
                    org_id=order.org_id,
                    names=order.names,
                    key_type=order.key_type,
                    platform=order.platform,
                    not_before=leaf.not_valid_before_utc,
                    not_after=leaf.not_valid_after_utc,
                    tbs_sha256=hashlib.sha256(leaf.tbs_certificate_bytes).hexdigest(),
                    der=der,
                    chain_pem="".join(
                        c.public_bytes(serialization.Encoding.PEM).decode() for c in chain.chain
                    ),
                    fingerprint=hashlib.sha256(der).hexdigest(),
                    requested_by=order.requested_by,
                    signer=holder.split("#", 1)[0],
                    ordered_at=order.created_at,
                    issued_at=now,
                    renewal_of=order.renewal_of,
                ),
            )
            if not order_store.issued(conn, order.id, holder, certificate_id=cert_id, now=now):
                raise LeaseLost  # rolls the certificate row back with it
            self._audit.record(
                conn,
                order.requested_by,
                "cert.issue",
                "certificate",
                serial,
                organization=labels.org_code,
                names=list(order.names),
                not_after=leaf.not_valid_after_utc.isoformat(),
                platform=order.platform,
                issuer=labels.issuer_slug,
                order_url=order.order_url,
            )
        return Issued(
            serial=serial,
            org_code=labels.org_code,
            names=order.names,
            certificate=leaf,
            chain=chain.chain,
            not_before=leaf.not_valid_before_utc,
            not_after=leaf.not_valid_after_utc,
            issuer=labels.issuer_slug,
        )

    def counts(self) -> list[OrderCount]:
        """Every vendor issuer's orders by state, for ``/metrics``."""
        with self._rt.reading() as conn:
            return [OrderCount(*row) for row in order_store.counts_by_issuer_state(conn)]

    def refresh_renewal_info(self, *, limit: int = 50) -> int:
        """Renewal windows of the vendors' certificates (services/pki/vendor_renewal_info)."""
        return refresh_renewal_info(self._rt, self.backends, limit=limit)

    # --- the worker's job -------------------------------------------------------------------

    def run_due(self, *, limit: int = 20) -> OrderRun:
        """Drive every open order that is due (R16), each under its own lease."""
        run = OrderRun()
        now = self._rt.clock()
        with self._rt.reading() as conn:
            due = order_store.due_orders(conn, now, limit)
        run.due = len(due)
        for order_id in due:
            try:
                result = self.drive(order_id)
            except Exception as exc:  # one order's failure does not stop the others
                run.errors.append(f"order {order_id}: {exc}")
                continue
            if isinstance(result, Issued):
                run.driven += 1
                run.issued += 1
            elif result.state == OrderState.FAILED:
                run.driven += 1
                run.failed += 1
            elif result.state in (OrderState.ORDERING, OrderState.PENDING):
                run.pending += 1
        return run
