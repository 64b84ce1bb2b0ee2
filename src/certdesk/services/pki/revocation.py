"""Revocation, CRLs and OCSP for the built-in CA (RFC 5280 §5, RFC 6960)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certdesk.ca.issuer import OcspStatus, RevokedEntry
from certdesk.core.access import Action, Actor, authorize
from certdesk.core.certificates import DELIVERED, CertStatus
from certdesk.errors import Conflict, Forbidden, InvalidInput, NotFound
from certdesk.metrics import CaDates
from certdesk.services.audit import AuditService
from certdesk.services.pki.authority import Authority, LoadedCA
from certdesk.services.pki.inventory import CertView, InventoryService
from certdesk.services.pki.vendor_backends import VendorBackends
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_cert
from certdesk.store import certificates as cert_store
from certdesk.store import crls as crl_store
from certdesk.store import issuers as issuer_store
from certdesk.store import orgs as org_store
from certdesk.store import vendors as vendor_store
from certdesk.store.models import CertificateRow, CrlRow


class Reason(StrEnum):
    """The revocation reasons a subscriber may give (BR §7.2.2; RFC 5280 names)."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "keyCompromise"
    AFFILIATION_CHANGED = "affiliationChanged"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessationOfOperation"

    @property
    def flag(self) -> x509.ReasonFlags:
        return {
            Reason.UNSPECIFIED: x509.ReasonFlags.unspecified,
            Reason.KEY_COMPROMISE: x509.ReasonFlags.key_compromise,
            Reason.AFFILIATION_CHANGED: x509.ReasonFlags.affiliation_changed,
            Reason.SUPERSEDED: x509.ReasonFlags.superseded,
            Reason.CESSATION_OF_OPERATION: x509.ReasonFlags.cessation_of_operation,
        }[self]


def parse_reason(value: str) -> Reason:
    try:
        return Reason(value)
    except ValueError:
        choices = ", ".join(r.value for r in Reason)
        raise InvalidInput(
            "revoke.reason", f"unknown reason {value!r}; use one of {choices}"
        ) from None


# How long before a CRL's thisUpdate a revocation may be stamped and still be missing from it.
RECENT_REVOCATION = timedelta(minutes=5)


@dataclass(frozen=True)
class PublishedCrl:
    number: int
    der: bytes


class RevocationService:
    def __init__(
        self,
        rt: Runtime,
        authority: Authority,
        inventory: InventoryService,
        audit: AuditService,
        vendors: VendorBackends | None = None,
    ) -> None:
        self._rt = rt
        self._authority = authority
        self._inventory = inventory
        self._audit = audit
        self._vendors = vendors

    def revoke(
        self, actor: Actor, serial: str, reason: Reason, *, because: str | None = None
    ) -> CertView:
        """Revoke ``serial``; ``because`` (the worker's early retirement, issue 14) is
        recorded on the audit event as why."""
        why = {"because": because} if because else {}
        now = self._rt.clock()
        der: bytes | None = None
        with self._rt.sessions.begin() as s:
            row = visible_cert(s, actor, serial, for_update=True)
            authorize(actor, Action.CERT_READ, row.org_id, hide=True)
            authorize(actor, Action.CERT_REVOKE, row.org_id)
            org = org_store.by_id(s, row.org_id)
            if not actor.is_global and org is not None and not org.self_managed:
                # R11: a managed organization's certificates are revoked by cert services.
                raise Forbidden(
                    "org.managed",
                    f"organization {org.code} is managed: cert services revokes its certificates",
                )
            if row.status == CertStatus.REVOKED:
                raise Conflict("cert.revoked", f"certificate {row.serial} is already revoked")
            issuer_id = row.issuer_id
            vendor = vendor_store.is_vendor(s.connection(), issuer_id)
            if vendor is None:
                cert_store.mark_revoked(row, at=now.replace(microsecond=0), reason=str(reason))
                self._audit.record(
                    s, actor, "cert.revoke", "certificate", row.serial, reason=str(reason), **why
                )
            else:
                der = row.der
        if vendor is not None:
            # R16: a vendor's certificate is revoked at the vendor (RFC 8555 §7.6) first,
            # outside any transaction; only what the vendor accepted is recorded.
            return self._revoke_at_vendor(actor, serial, issuer_id, vendor[0], der, reason, why)
        # The CRL is rebuilt at once; should this process die first, the next CRL request
        # sees a revocation newer than the CRL and rebuilds it then (crl()).
        slug = self._slug(issuer_id)
        self.publish_crl(slug)
        return self._inventory.show(actor, serial)

    def _revoke_at_vendor(
        self,
        actor: Actor,
        serial: str,
        issuer_id: int,
        vendor: str,
        der: bytes | None,
        reason: Reason,
        why: dict[str, str],
    ) -> CertView:
        if self._vendors is None or der is None:
            raise Conflict("vendor.unavailable", "vendor revocation is not set up here")
        self._vendors.backend(issuer_id).revoke(x509.load_der_x509_certificate(der), reason.flag)
        with self._rt.sessions.begin() as s:
            row = visible_cert(s, actor, serial, for_update=True)
            if row.status != CertStatus.REVOKED:
                now = self._rt.clock().replace(microsecond=0)
                cert_store.mark_revoked(row, at=now, reason=str(reason))
                self._audit.record(
                    s,
                    actor,
                    "cert.revoke",
                    "certificate",
                    row.serial,
                    reason=str(reason),
                    issuer=vendor,
                    **why,
                )
        return self._inventory.show(actor, serial)

    def _slug(self, issuer_id: int) -> str:
        with self._rt.reads() as s:
            issuer = issuer_store.by_id(s, issuer_id)
            assert issuer is not None
            return issuer.slug

    def publish_crl(self, slug: str) -> PublishedCrl:
        """Sign and store a new CRL for CA ``slug`` with the next CRL number."""
        loaded = self._authority.by_slug(slug)
        for _attempt in range(5):
            now = self._rt.clock().replace(microsecond=0)
            with self._rt.reads() as s:
                latest = crl_store.latest(s, loaded.issuer_id)
                number = (latest.number + 1) if latest else 1
                revoked = [
                    RevokedEntry(
                        int(r.serial, 16),
                        r.revoked_at or now,
                        Reason(r.revocation_reason or "unspecified").flag,
                    )
                    for r in self._revoked_under(s, loaded)
                ]
            next_update = now + timedelta(hours=self._rt.settings.crl_validity_hours)
            der = loaded.ca.sign_crl(
                revoked, number=number, this_update=now, next_update=next_update
            )
            try:
                with self._rt.sessions.begin() as s:
                    s.add(
                        CrlRow(
                            issuer_id=loaded.issuer_id,
                            number=number,
                            this_update=now,
                            next_update=next_update,
                            der=der,
                        )
                    )
                return PublishedCrl(number, der)
            except IntegrityError:
                continue  # another process published this number first; build the next one
        raise Conflict("crl.busy", "could not publish a CRL; try again")

    def _revoked_under(self, s: Session, loaded: LoadedCA) -> list[CertificateRow]:
        if loaded.is_root:
            # The root revokes intermediates; none is revoked through certdesk yet.
            return []
        return cert_store.revoked_of(s, loaded.issuer_id)

    def crl(self, slug: str) -> bytes:
        """The current CRL of ``slug``: republished when missing, past half its life
        (so ``nextUpdate`` is never reached), or missing a recent revocation."""
        now = self._rt.clock()
        with self._rt.reads() as s:
            issuer = issuer_store.by_slug(s, slug)
            if issuer is None:
                raise NotFound("ca.unknown", f"no CA with id {slug}")
            latest = crl_store.latest(s, issuer.id)
            # Revocation times are whole seconds taken before the revocation commits, so a
            # CRL can have a thisUpdate at or after a revocation it lacks (the revoking
            # process died before republishing). Recent revocations are looked up in the CRL.
            recent = (
                cert_store.revoked_since(s, issuer.id, latest.this_update - RECENT_REVOCATION)
                if latest is not None
                else []
            )
        if latest is not None:
            half_life = (latest.next_update - latest.this_update) / 2
            fresh = now < latest.this_update + half_life
            if fresh and _lists_all(latest.der, recent):
                return latest.der
        return self.publish_crl(slug).der

    def ca_dates(self) -> list[CaDates]:
        """Every built-in CA's ``notAfter`` and its current CRL's ``nextUpdate`` (/metrics)."""
        with self._rt.reads() as s:
            next_updates = crl_store.current_next_updates(s)
            return [
                CaDates(issuer.slug, issuer.not_after, next_updates.get(issuer.id))
                for issuer in issuer_store.all_issuers(s)
            ]

    def ocsp(self, request_der: bytes) -> bytes:
        """Answer an OCSP request for any certificate of the built-in issuing CAs."""
        try:
            req = ocsp.load_der_ocsp_request(request_der)
        except ValueError:
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        for issuer, _cert in self._authority.all_certificates():
            if issuer.is_root:
                continue
            loaded = self._authority.by_slug(issuer.slug)
            if not loaded.ca.answers_for(req):
                continue

            def lookup(serial: int, issuer_id: int = issuer.id) -> OcspStatus | None:
                with self._rt.reads() as s:
                    row = cert_store.by_serial(s, format(serial, "x"))
                if (
                    row is None
                    or row.issuer_id != issuer_id
                    or row.der is None
                    or row.status not in DELIVERED
                ):
                    return None
                revoked = row.status == CertStatus.REVOKED
                return OcspStatus(
                    certificate=x509.load_der_x509_certificate(row.der),
                    revoked_at=row.revoked_at if revoked else None,
                    reason=Reason(row.revocation_reason or "unspecified").flag if revoked else None,
                )

            return loaded.ca.sign_ocsp(
                request_der,
                lookup,
                now=self._rt.clock(),
                validity_hours=self._rt.settings.ocsp_validity_hours,
            )
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)


def _lists_all(crl_der: bytes, serials: list[str]) -> bool:
    if not serials:
        return True
    listed = {format(r.serial_number, "x") for r in x509.load_der_x509_crl(crl_der)}
    return listed.issuperset(serials)


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )
