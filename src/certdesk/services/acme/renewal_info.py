"""ACME Renewal Information (RFC 9773, R17): the suggested renewal window of a certificate,
following R6 (core/acme_renewal.py), and cert services' lever to have every certificate of
an issuer or an organization renewed early (a mass reissue).

The window is public (RFC 9773 §4.2: an unauthenticated GET): it tells no more than the
certificate, the CRL and OCSP already do.
"""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.acme_renewal import CertId, Window, parse_cert_id, suggested_window
from certdesk.core.calendar import BusinessCalendar
from certdesk.core.lifecycle import LifecyclePolicy
from certdesk.errors import Conflict, InvalidInput, NotFound
from certdesk.services.acme.accounts import AccountView
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_org
from certdesk.store import acme_limits
from certdesk.store import certificates as cert_store
from certdesk.store import issuers as issuer_store
from certdesk.store.models import CertificateRow


def key_identifier(der: bytes) -> bytes | None:
    """The AuthorityKeyIdentifier's keyIdentifier of a certificate (RFC 5280 §4.2.1.1)."""
    try:
        cert = x509.load_der_x509_certificate(der)
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    return aki.key_identifier


def find_certificate(s: Session, text: str) -> CertificateRow | None:
    """The certificate an RFC 9773 certID names: its serial, and its issuer's key identifier
    (a serial alone is not enough: two issuers could share one)."""
    try:
        cert_id = parse_cert_id(text)
    except ValueError:
        return None
    row = cert_store.by_serial(s, format(cert_id.serial, "x"))
    if row is None or row.der is None or row.status in ("signing", "void"):
        return None
    return row if key_identifier(row.der) == cert_id.key_identifier else None


def cert_id_of(der: bytes) -> str:
    """The certID of a certificate (RFC 9773 §4.1), for tests and the console."""
    aki = key_identifier(der)
    if aki is None:
        raise InvalidInput("acme.malformed", "the certificate has no authority key identifier")
    return str(CertId(aki, x509.load_der_x509_certificate(der).serial_number))


def replacement_target(
    s: Session,
    account: AccountView,
    cert_id: str | None,
    names: list[str],
    now: datetime,
) -> int | None:
    """RFC 9773 §5: the certificate ``replaces`` names must be the organization's (another
    organization's answers like an unknown one), share a name with the order, and not be
    replaced already."""
    if cert_id is None:
        return None
    row = find_certificate(s, cert_id)
    if row is None or row.org_id != account.org_id:
        raise InvalidInput("acme.malformed", "replaces names no certificate of this organization")
    if not set(row.names.split(",")) & set(names):
        raise InvalidInput(
            "acme.malformed", "the order shares no name with the certificate it replaces"
        )
    if acme_limits.replaced(s, row.id, now):
        raise Conflict(
            "acme.already_replaced", f"certificate {row.serial} has already been replaced"
        )
    return row.id


class RenewalInfo:
    def __init__(self, rt: Runtime, audit: AuditService) -> None:
        self._rt = rt
        self._audit = audit
        settings = rt.settings
        # The worker's R6 settings (services/lifecycle/renewals.py reads the same ones).
        self._policy = LifecyclePolicy(
            renewal_margin_days=settings.renewal_margin_days,
            due_business_days=settings.due_business_days,
            lifetime_fraction=settings.renewal_lifetime_fraction,
        )
        configured = settings.holidays
        self._calendar = BusinessCalendar(frozenset(configured) if configured else None)

    def window(self, cert_id: str) -> Window:
        """RFC 9773 §4.2: the suggested window of the certificate ``cert_id`` names. A certID
        that is not one (§4.1: two unpadded base64url parts, the serial's DER INTEGER) is
        malformed (400, as Boulder and pebble answer); a well-formed one that names no
        certificate of this installation is not found (404)."""
        try:
            parse_cert_id(cert_id)
        except ValueError as exc:
            raise InvalidInput("acme.malformed", f"this is not an RFC 9773 certID: {exc}") from None
        now = self._rt.clock()
        with self._rt.reads() as s:
            row = find_certificate(s, cert_id)
            if row is None:
                raise NotFound("acme.not_found", "certdesk issued no certificate with this certID")
            return suggested_window(
                row.not_before,
                row.not_after,
                now,
                self._calendar,
                self._policy,
                revoked=row.status == "revoked",
                replace_requested=row.replace_requested_at is not None,
            )

    def renew_early(
        self, actor: Actor, *, issuer_slug: str | None = None, org_code: str | None = None
    ) -> int:
        """Ask ACME clients to replace every active certificate of an issuer or an
        organization now (their renewal window becomes "now"); the number marked."""
        if (issuer_slug is None) == (org_code is None):
            raise InvalidInput("acme.renew_early", "name exactly one issuer or one organization")
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            if org_code is not None:
                org = visible_org(s, actor, org_code)
                authorize(actor, Action.ACME_REPLACE, org.id)
                marked = acme_limits.request_replacement(s, at=now, org_id=org.id)
                target = {"organization": org.code}
            else:
                authorize(actor, Action.ACME_REPLACE, None)
                by_slug = {slug: i for i, slug in issuer_store.slugs(s).items()}
                slug = (issuer_slug or "").strip().lower()
                if slug not in by_slug:
                    raise NotFound("issuer.unknown", f"no issuer {issuer_slug!r}")
                marked = acme_limits.request_replacement(s, at=now, issuer_id=by_slug[slug])
                target = {"issuer": slug}
            self._audit.record(
                s, actor, "acme.renew_early", "certificates", marked, marked=marked, **target
            )
            return marked
