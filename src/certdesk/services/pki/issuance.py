"""The issuance pipeline (DESIGN §3.2), modelled on Boulder's RA → CA → SA.

1. policy on the request itself: parse and check the CSR (R12), the names against R1, the
   validity against R13 with the R7 expiry hour;
2. profile and pre-signing lint (``Issuer.prepare``) with the issuing CA this process last
   found active;
3. record the intent, in one transaction that first checks what depends on stored state:
   the organization and the actor's rights on it, R2 against its grants (read under a lock
   that grant changes respect), the renewal target, and that the CA of step 2 is still the
   active one; then the serial is reserved in a committed ``signing`` row;
4. sign exactly the linted bytes once;
5. store, in a second transaction: the row becomes ``active`` with the DER, only if it is
   still ``signing``, and the R15 audit event is appended;
6. deliver the PEM chain — never before step 5 has committed.

Steps 1, 2 and 4 touch no database, so the write transactions hold their locks only for
their own statements. Nothing is recorded unless every check passed. A request that breaks
R12, R1 or R13, or fails the lint, is refused before its organization is looked up, whoever
sends it: those rules do not depend on stored state, so the refusal tells nothing about any
organization.

Invariant: a certificate leaves this module only after its row is ``active``; a crash at any
step leaves at most a ``signing`` row, which :meth:`IssuanceService.recover` voids (the serial
is never reused: the row and its unique serial stay).

Steps 1 and 2 live in services/pki/issue_request.py, step 3's checks in services/pki/intent.py.
"""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection

from certdesk.ca.issuer import Prepared
from certdesk.core.access import Actor
from certdesk.core.issuers import OrderState
from certdesk.errors import Conflict, Unavailable
from certdesk.services.audit import AuditService
from certdesk.services.pki import signer_identity
from certdesk.services.pki.authority import Authority, LoadedCA
from certdesk.services.pki.group_commit import GroupCommit
from certdesk.services.pki.intent import IntentSteps, IssuerChanged, Recorded, VendorOrder
from certdesk.services.pki.issue_request import (
    IssueCommand,
    IssueRequest,
    Platform,
    judge,
    parse_platform,
    prepare,
)
from certdesk.services.pki.issued import Issued, Ordered, serial_hex
from certdesk.services.pki.vendor_issuance import VendorIssuance
from certdesk.services.runtime import Runtime
from certdesk.store import issuance as issuance_store
from certdesk.store import vendor_orders as order_store

__all__ = ["IssuanceService", "IssueCommand", "Issued", "Ordered", "Platform", "parse_platform"]

# How long ``cert issue`` waits for a vendor's chain by default.
VENDOR_WAIT = timedelta(minutes=5)


class IssuanceService:
    def __init__(
        self,
        rt: Runtime,
        authority: Authority,
        audit: AuditService,
        vendors: VendorIssuance | None = None,
    ) -> None:
        self._rt = rt
        self._authority = authority
        self._audit = audit
        self._vendors = vendors
        self._intents = IntentSteps(rt, audit, vendors)
        # Steps 3 and 5 of concurrent issuances share transactions (services/pki/group_commit.py).
        self._commits = GroupCommit(rt, refusals=(IssuerChanged,))

    def issue(self, actor: Actor, cmd: IssueCommand) -> Issued:
        """Issue through whichever issuer R16 chooses; a vendor's chain is waited for.

        A vendor order still open after the wait is kept (the worker completes it) and
        reported as ``vendor.pending``; use :meth:`request` to get the order instead.
        """
        result = self.request(actor, cmd)
        if isinstance(result, Ordered):
            if result.state == OrderState.FAILED:
                raise _order_failed(result)
            raise Unavailable(
                "vendor.pending",
                f"the order at {result.issuer} is still {result.vendor_status or result.state};"
                " the worker will complete it",
                order=result.order_id,
            )
        return result

    def request(
        self, actor: Actor, cmd: IssueCommand, *, wait: timedelta | None = VENDOR_WAIT
    ) -> Issued | Ordered:
        """Like :meth:`issue`, but a vendor's order may be handed back while it is open.

        ``wait``: how long to drive a vendor order here (None: not at all, the order is
        only recorded and the worker places it). The built-in CA ignores it.
        """
        started = time.perf_counter()

        # 1. Policy on the request (services/pki/issue_request.py).
        req = judge(self._rt.settings, cmd, self._rt.clock())

        # 2 and 3. Profile and lint, then record the intent durably before any signature
        # exists. If the CA changed in between, prepare again with the new one (once).
        loaded = self._authority.last_issuing()
        prepared = prepare(loaded, req)
        try:
            recorded = self._record_intent(actor, req, loaded, prepared)
        except IssuerChanged:
            loaded = self._authority.issuing()
            prepared = prepare(loaded, req)
            try:
                recorded = self._record_intent(actor, req, loaded, prepared)
            except IssuerChanged:
                raise Unavailable(
                    "ca.changing", "the issuing CA is being replaced; try again"
                ) from None
        if isinstance(recorded, VendorOrder):
            return self._through_vendor(recorded, wait)

        # 4. Sign exactly the linted bytes, once.
        cert = loaded.ca.sign(prepared)
        der = cert.public_bytes(serialization.Encoding.DER)
        serial = serial_hex(prepared.request.serial)

        # 5. Store. If recovery voided the intent meanwhile, the certificate is never handed out.
        issued_at = self._rt.clock()
        fingerprint = hashlib.sha256(der).hexdigest()

        def store(conn: Connection) -> None:
            if not issuance_store.mark_active(
                conn, recorded.cert_id, der=der, fingerprint=fingerprint, issued_at=issued_at
            ):
                raise Conflict("issuance.voided", "the issuance was voided before it was stored")
            self._audit.record(
                conn,
                actor,
                "cert.issue",
                "certificate",
                serial,
                organization=recorded.org_code,
                names=list(req.names),
                not_after=req.validity.not_after.isoformat(),
                platform=str(cmd.platform),
                renewal_of=cmd.renewal_of,
            )
            if cmd.on_stored is not None:
                cmd.on_stored(conn, recorded.cert_id)

        self._commits.run(store)

        # 6. Deliver.
        self._rt.metrics.issuance_seconds.observe(time.perf_counter() - started)
        return Issued(
            serial=serial,
            org_code=recorded.org_code,
            names=req.names,
            certificate=cert,
            chain=loaded.chain,
            chain_text=loaded.chain_pem,
            not_before=req.validity.not_before,
            not_after=req.validity.not_after,
        )

    def _record_intent(
        self, actor: Actor, req: IssueRequest, loaded: LoadedCA, prepared: Prepared
    ) -> Recorded | VendorOrder:
        """Step 3, committed (services/pki/intent.py), perhaps with other issuances' steps."""
        # Not forced to disk by itself: the store step's forced commit makes it durable,
        # and nothing leaves before that (docs/performance.md, "one flush per certificate").
        return self._commits.run(
            lambda conn: self._intents.record(conn, actor, req, loaded, prepared), flush=False
        )

    def _through_vendor(self, recorded: VendorOrder, wait: timedelta | None) -> Issued | Ordered:
        """Steps 4-6 for a vendor (services/pki/vendor_issuance.py)."""
        assert self._vendors is not None
        vendors = self._vendors
        if wait is None:
            # Recorded only: the worker places the order (its lease is let go at once).
            if recorded.holder is not None:
                with self._rt.transaction() as conn:
                    order_store.release(conn, recorded.order_id, recorded.holder)
            return vendors.status(recorded.order_id)
        return vendors.follow(recorded.order_id, timeout=wait, holder=recorded.holder)

    def recover(self, *, all_dead: bool = False) -> list[str]:
        """Void ``signing`` intents left by processes that died (run at every start).

        An intent is voided when its signer is known dead (same host, pid gone or recycled)
        or its lease expired (``CERTDESK_SIGNING_LEASE_SECONDS``), whichever comes first. The
        row, and so the serial, stays: a serial is never reused. Nothing was delivered for a
        voided intent, because delivery follows the commit that makes the row ``active``.
        """
        now = self._rt.clock()
        lease = timedelta(seconds=self._rt.settings.signing_lease_seconds)
        voided: list[str] = []
        with self._rt.sessions.begin() as s:
            for row in issuance_store.stale_intents(s, started_before=now + timedelta(seconds=1)):
                expired = row.signing_started_at < now - lease
                if all_dead or expired or signer_identity.is_dead(row.signer):
                    why = (
                        f"signing interrupted ({'lease expired' if expired else 'signer died'});"
                        " never delivered"
                    )
                    issuance_store.mark_void(row, why)
                    voided.append(row.serial)
                    self._audit.record(
                        s,
                        "system:recovery",
                        "cert.void",
                        "certificate",
                        row.serial,
                        reason=why,
                    )
        return voided


def _order_failed(result: Ordered) -> Conflict:
    detail = (result.problem or {}).get("detail") or "no reason given"
    return Conflict(
        "vendor.refused",
        f"the vendor {result.issuer} refused the order: {detail}",
        order=result.order_id,
        problem=dict(result.problem) if result.problem is not None else None,
    )
