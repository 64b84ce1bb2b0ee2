"""Step 3 of the issuance pipeline: the checks that need stored state, then the ``signing``
row (or, for a vendor, the ``ordering`` row), all on the caller's connection.

The caller owns the transaction: :class:`~certdesk.services.pki.issuance.IssuanceService`
runs one per intent, its group-commit writer (services/pki/issuance_writer.py) several
intents in one. Every check raises before anything is written, so a refused intent leaves
nothing behind in a shared transaction either.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection

from certdesk.ca.issuer import Prepared
from certdesk.core.access import Action, Actor, authorize, sees_org
from certdesk.core.calendar import max_validity_days
from certdesk.core.grants import Grant, GrantKind, require_allowed
from certdesk.core.issuers import choose_issuer
from certdesk.errors import Conflict, Forbidden, NotFound, Unavailable
from certdesk.services.audit import AuditService
from certdesk.services.pki import signer_identity
from certdesk.services.pki.authority import LoadedCA
from certdesk.services.pki.issue_request import IssueRequest
from certdesk.services.pki.issued import serial_hex
from certdesk.services.pki.vendor_issuance import VendorIssuance, holder_id
from certdesk.services.runtime import Runtime
from certdesk.store import certificates as cert_store
from certdesk.store import issuance as issuance_store
from certdesk.store import orgs as org_store
from certdesk.store import vendor_orders as order_store
from certdesk.store import vendors as vendor_store


class IssuerChanged(Exception):
    """Another intermediate became active after step 2 prepared with the previous one."""


@dataclass(frozen=True)
class VendorOrder:
    """Step 3 chose a vendor: its ``ordering`` row is committed (leased to ``holder``, or
    another request's order for the same submittal when ``holder`` is None)."""

    order_id: int
    holder: str | None


@dataclass(frozen=True)
class Recorded:
    """Step 3 for the built-in CA: the ``signing`` row's id and the organization's code."""

    cert_id: int
    org_code: str


@dataclass(frozen=True)
class IntentSteps:
    """What step 3 needs besides the request (shared by every intent of a service)."""

    rt: Runtime
    audit: AuditService
    vendors: VendorIssuance | None

    def record(
        self,
        conn: Connection,
        actor: Actor,
        req: IssueRequest,
        loaded: LoadedCA,
        prepared: Prepared,
    ) -> Recorded | VendorOrder:
        """The checks, then the row, on ``conn`` (not committed here).

        Raises before writing anything if a check fails, and :class:`IssuerChanged` if
        ``loaded`` is no longer the active CA.
        """
        ctx = issuance_store.intent_context(conn, req.org_code)
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
            settings = self.rt.settings
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
        renewal_id = _renewal_target(conn, req.cmd.renewal_of, ctx.org_id)
        # R16: which issuer. The built-in CA unless a submittal, grant or the organization
        # names a vendor.
        chosen = choose_issuer(
            req.names, submittal=req.cmd.issuer_id, grants=held, organization=ctx.org_issuer_id
        )
        vendor = vendor_store.is_vendor(conn, chosen) if chosen is not None else None
        if vendor is not None:
            assert chosen is not None
            return self._add_order(conn, actor, req, ctx.org_id, chosen, vendor, renewal_id)
        if ctx.issuer_id is None:
            raise Unavailable("ca.not_initialized", "no issuing CA: run 'certdesk init'")
        if ctx.issuer_id != loaded.issuer_id:
            raise IssuerChanged
        cert_id = issuance_store.add_intent(
            conn,
            issuance_store.Intent(
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
        return Recorded(cert_id, ctx.org_code)

    def _add_order(
        self,
        conn: Connection,
        actor: Actor,
        req: IssueRequest,
        org_id: int,
        issuer_id: int,
        vendor: tuple[str, bool, str],
        renewal_id: int | None,
    ) -> VendorOrder:
        """Step 3 for a vendor: the ``ordering`` row, with the checks (R16)."""
        slug, active, account_url = vendor
        if self.vendors is None:
            raise Unavailable("vendor.unavailable", "vendor issuance is not set up here")
        if req.cmd.submittal_id is not None:
            existing = order_store.order_of_submittal(conn, req.cmd.submittal_id)
            if existing is not None:
                return VendorOrder(existing.id, None)  # never a second order per submittal
        if not active:
            raise Conflict(
                "issuer.disabled", f"the issuer {slug} is disabled: it takes no new orders"
            )
        holder = holder_id()
        order_id = order_store.add_order(
            conn,
            order_store.NewOrder(
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
                lease_until=self.vendors.lease_until(req.now),
                now=req.now,
            ),
        )
        self.audit.record(
            conn,
            actor,
            "vendor.order",
            "vendor_order",
            order_id,
            issuer=slug,
            names=list(req.names),
            submittal=req.cmd.submittal_id,
        )
        return VendorOrder(order_id, holder)


def _renewal_target(conn: Connection, serial: str | None, org_id: int) -> int | None:
    if serial is None:
        return None
    old = cert_store.owner_of(conn, serial.lower())
    if old is None or old[1] != org_id:
        raise NotFound("cert.unknown", f"no certificate with serial {serial}")
    return old[0]
