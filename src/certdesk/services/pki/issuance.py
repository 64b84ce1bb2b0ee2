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
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection

from certdesk.ca.issuer import Prepared
from certdesk.ca.profile import LeafRequest, new_serial
from certdesk.core.access import Action, Actor, authorize, sees_org
from certdesk.core.calendar import Validity, max_validity_days, validity_for
from certdesk.core.grants import Grant, GrantKind, require_allowed
from certdesk.core.issuers import OrderState, choose_issuer
from certdesk.core.keys import CsrFacts, check_csr, parse_csr
from certdesk.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from certdesk.services.audit import AuditService
from certdesk.services.pki import signer_identity
from certdesk.services.pki.authority import Authority, LoadedCA
from certdesk.services.pki.issued import Issued, Ordered, serial_hex
from certdesk.services.pki.vendor_issuance import VendorIssuance, holder_id
from certdesk.services.runtime import Runtime
from certdesk.store import certificates as cert_store
from certdesk.store import orgs as org_store
from certdesk.store import vendors as vendor_store


class Platform(StrEnum):
    """R11: the server platform a certificate is for."""

    DEDICATED = "dedicated"
    VIRTUAL = "virtual"


def parse_platform(value: str) -> Platform:
    try:
        return Platform(value)
    except ValueError:
        raise InvalidInput(
            "cert.platform", f"platform must be 'dedicated' or 'virtual', not {value!r}"
        ) from None


@dataclass(frozen=True)
class IssueCommand:
    org_code: str
    csr: bytes
    platform: Platform = Platform.VIRTUAL
    days: int | None = None
    renewal_of: str | None = None  # serial of the certificate this one replaces
    # R16: cert services' choice of issuer for this certificate (a submittal's issuer id);
    # None: the grant's covering the names, else the organization's, else the built-in CA.
    issuer_id: int | None = None
    # The submittal this certificate is for: a vendor order is placed once per submittal.
    submittal_id: int | None = None


@dataclass(frozen=True)
class _Request:
    """Step 1's result: the request judged on its own, before any stored state is read."""

    cmd: IssueCommand
    org_code: str
    csr: x509.CertificateSigningRequest
    facts: CsrFacts
    names: tuple[str, ...]  # normalized (R1), deduplicated, in request order
    validity: Validity
    now: datetime


class _IssuerChanged(Exception):
    """Another intermediate became active after step 2 prepared with the previous one."""


@dataclass(frozen=True)
class _VendorOrder:
    """Step 3 chose a vendor: its ``ordering`` row is committed (leased to ``holder``, or
    another request's order for the same submittal when ``holder`` is None)."""

    order_id: int
    holder: str | None


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
        settings = self._rt.settings

        # 1. Policy on the request. The CSR is judged before anything touches the database
        # (R12), and so are R1 (any name, whoever asks) and R13; R2 needs the grants: step 3.
        csr = parse_csr(cmd.csr)
        facts = check_csr(csr)
        now = self._rt.clock()
        req = _Request(
            cmd=cmd,
            org_code=cmd.org_code.strip().lower(),
            csr=csr,
            facts=facts,
            names=tuple(
                require_allowed(
                    facts.names, settings.allowed_suffixes, max_names=settings.max_names_per_cert
                )
            ),
            validity=validity_for(now, cmd.days, settings.max_validity_days),  # R13 + R7
            now=now,
        )

        # 2 and 3. Profile and lint, then record the intent durably before any signature
        # exists. If the CA changed in between, prepare again with the new one (once).
        loaded = self._authority.last_issuing()
        prepared = self._prepare(loaded, req)
        try:
            recorded = self._record_intent(actor, req, loaded, prepared)
        except _IssuerChanged:
            loaded = self._authority.issuing()
            prepared = self._prepare(loaded, req)
            try:
                recorded = self._record_intent(actor, req, loaded, prepared)
            except _IssuerChanged:
                raise Unavailable(
                    "ca.changing", "the issuing CA is being replaced; try again"
                ) from None
        if isinstance(recorded, _VendorOrder):
            return self._through_vendor(recorded, wait)
        cert_id, org_code = recorded

        # 4. Sign exactly the linted bytes, once.
        cert = loaded.ca.sign(prepared)
        der = cert.public_bytes(serialization.Encoding.DER)
        serial = serial_hex(prepared.request.serial)

        # 5. Store. If recovery voided the intent meanwhile, the certificate is never handed out.
        with self._rt.transaction() as conn:
            if not cert_store.mark_active(
                conn,
                cert_id,
                der=der,
                fingerprint=hashlib.sha256(der).hexdigest(),
                issued_at=self._rt.clock(),
            ):
                raise Conflict("issuance.voided", "the issuance was voided before it was stored")
            self._audit.record(
                conn,
                actor,
                "cert.issue",
                "certificate",
                serial,
                organization=org_code,
                names=list(req.names),
                not_after=req.validity.not_after.isoformat(),
                platform=str(cmd.platform),
                renewal_of=cmd.renewal_of,
            )

        # 6. Deliver.
        self._rt.metrics.issuance_seconds.observe(time.perf_counter() - started)
        return Issued(
            serial=serial,
            org_code=org_code,
            names=req.names,
            certificate=cert,
            chain=tuple(loaded.ca.chain()),
            not_before=req.validity.not_before,
            not_after=req.validity.not_after,
        )

    def _through_vendor(self, recorded: _VendorOrder, wait: timedelta | None) -> Issued | Ordered:
        """Steps 4-6 for a vendor (services/pki/vendor_issuance.py)."""
        assert self._vendors is not None
        vendors = self._vendors
        if wait is None:
            # Recorded only: the worker places the order (its lease is let go at once).
            if recorded.holder is not None:
                with self._rt.transaction() as conn:
                    vendor_store.release(conn, recorded.order_id, recorded.holder)
            return vendors.status(recorded.order_id)
        return vendors.follow(recorded.order_id, timeout=wait, holder=recorded.holder)

    def _prepare(self, loaded: LoadedCA, req: _Request) -> Prepared:
        """Step 2: build the leaf and lint it (signed only with the lint key)."""
        return loaded.ca.prepare(
            LeafRequest(
                serial=new_serial(),
                public_key=req.csr.public_key(),
                names=req.names,
                not_before=req.validity.not_before,
                not_after=req.validity.not_after,
            ),
            max_days=max_validity_days(req.now),
        )

    def _record_intent(
        self, actor: Actor, req: _Request, loaded: LoadedCA, prepared: Prepared
    ) -> tuple[int, str] | _VendorOrder:
        """Step 3: the checks that need stored state, then the ``signing`` row, committed.

        Returns the row id and the organization's code; raises before writing anything if a
        check fails, and :class:`_IssuerChanged` if ``loaded`` is no longer the active CA.
        """
        with self._rt.transaction() as conn:
            ctx = cert_store.intent_context(conn, req.org_code)
            # Another agency's organization looks exactly like an unknown one.
            if ctx is None or not sees_org(actor, ctx.org_id):
                raise NotFound("org.unknown", f"no organization with code {req.cmd.org_code!r}")
            authorize(actor, Action.CERT_ISSUE, ctx.org_id)
            if not actor.is_global and not ctx.self_managed:
                raise Forbidden(
                    "org.managed",
                    f"organization {ctx.org_code} is managed: its certificates are issued by"
                    " cert services through a case (R11)",
                )
            # Cert services may issue any R1 name (step 1); everyone else only granted names
            # (R2), judged on grants read after the organization's row was locked.
            held = [
                (Grant(GrantKind(k), n), issuer_id)
                for k, n, issuer_id in org_store.grants_with_issuers(conn, ctx.org_id)
            ]
            if not actor.is_global:
                settings = self._rt.settings
                require_allowed(
                    req.facts.names,
                    settings.allowed_suffixes,
                    [g for g, _ in held],
                    max_names=settings.max_names_per_cert,
                )
                if req.cmd.issuer_id is not None:
                    raise Forbidden(
                        "issuer.choice", "only cert services choose the issuer of a certificate"
                    )
            renewal_id = self._renewal_target(conn, req.cmd.renewal_of, ctx.org_id)
            # R16: which issuer. The built-in CA unless a submittal, grant or the
            # organization names a vendor.
            chosen = choose_issuer(
                req.names, submittal=req.cmd.issuer_id, grants=held, organization=ctx.org_issuer_id
            )
            vendor = vendor_store.is_vendor(conn, chosen) if chosen is not None else None
            if vendor is not None:
                return self._add_order(conn, actor, req, ctx.org_id, chosen, vendor, renewal_id)
            if ctx.issuer_id is None:
                raise Unavailable("ca.not_initialized", "no issuing CA: run 'certdesk init'")
            if ctx.issuer_id != loaded.issuer_id:
                raise _IssuerChanged
            cert_id = cert_store.add_intent(
                conn,
                cert_store.Intent(
                    serial=serial_hex(prepared.request.serial),
                    issuer_id=loaded.issuer_id,
                    org_id=ctx.org_id,
                    names=req.names,
                    key_type=str(req.facts.key_type),
                    platform=str(req.cmd.platform),
                    not_before=req.validity.not_before,
                    not_after=req.validity.not_after,
                    tbs_sha256=prepared.tbs_sha256,
                    requested_by=actor.name,
                    signer=signer_identity.current(),
                    signing_started_at=req.now,
                    renewal_of=renewal_id,
                ),
            )
        return cert_id, ctx.org_code

    def _add_order(
        self,
        conn: Connection,
        actor: Actor,
        req: _Request,
        org_id: int,
        issuer_id: int | None,
        vendor: tuple[str, bool, str],
        renewal_id: int | None,
    ) -> _VendorOrder:
        """Step 3 for a vendor: the ``ordering`` row, committed with the checks (R16)."""
        assert issuer_id is not None
        slug, active, account_url = vendor
        if self._vendors is None:
            raise Unavailable("vendor.unavailable", "vendor issuance is not set up here")
        if req.cmd.submittal_id is not None:
            existing = vendor_store.order_of_submittal(conn, req.cmd.submittal_id)
            if existing is not None:
                return _VendorOrder(existing.id, None)  # never a second order per submittal
        if not active:
            raise Conflict(
                "issuer.disabled", f"the issuer {slug} is disabled: it takes no new orders"
            )
        holder = holder_id()
        order_id = vendor_store.add_order(
            conn,
            vendor_store.NewOrder(
                issuer_id=issuer_id,
                org_id=org_id,
                submittal_id=req.cmd.submittal_id,
                names=req.names,
                key_type=str(req.facts.key_type),
                platform=str(req.cmd.platform),
                profile="tls-server",
                csr_der=req.csr.public_bytes(serialization.Encoding.DER),
                not_before=req.validity.not_before,
                not_after=req.validity.not_after,
                max_days=max_validity_days(req.now),
                renewal_of=renewal_id,
                requested_by=actor.name,
                account_url=account_url,
                lease_holder=holder,
                lease_until=self._vendors.lease_until(req.now),
                now=req.now,
            ),
        )
        self._audit.record(
            conn,
            actor,
            "vendor.order",
            "vendor_order",
            order_id,
            issuer=slug,
            names=list(req.names),
            submittal=req.cmd.submittal_id,
        )
        return _VendorOrder(order_id, holder)

    def _renewal_target(self, conn: Connection, serial: str | None, org_id: int) -> int | None:
        if serial is None:
            return None
        old = cert_store.owner_of(conn, serial.lower())
        if old is None or old[1] != org_id:
            raise NotFound("cert.unknown", f"no certificate with serial {serial}")
        return old[0]

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
            for row in cert_store.stale_intents(s, started_before=now + timedelta(seconds=1)):
                expired = row.signing_started_at < now - lease
                if all_dead or expired or signer_identity.is_dead(row.signer):
                    why = (
                        f"signing interrupted ({'lease expired' if expired else 'signer died'});"
                        " never delivered"
                    )
                    cert_store.mark_void(row, why)
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
