"""The inventory in the console: the list with filters, one certificate (chain, timeline,
audit trail), downloads, and revocation (RFC 5280 reasons)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from certdesk.core.access import Action, Actor
from certdesk.core.certificates import LISTED, CertStatus
from certdesk.core.messages import state_label
from certdesk.errors import CertdeskError, Forbidden
from certdesk.services.pki.inventory import CertView, ExportFormat, parse_format
from certdesk.services.pki.revocation import Reason, parse_reason
from certdesk.web.api.certificates import MEDIA
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep
from certdesk.web.console.list_filters import CertificateFiltersDep
from certdesk.web.console.pages.orgs import org_options, visible_orgs

router = APIRouter()

PAGE_SIZE = 50
# RFC 5280 reasons, each with what it means for the person choosing (shown as radio buttons
# on the confirmation page, so that no label is cut off).
REASONS = (
    (Reason.UNSPECIFIED, "No particular reason", "None of the reasons below applies."),
    (
        Reason.KEY_COMPROMISE,
        "The private key was exposed",
        "Someone else may have the key (lost laptop, leaked file). Replace the certificate"
        " with one on a new key first.",
    ),
    (
        Reason.AFFILIATION_CHANGED,
        "The names or organization changed",
        "The certificate's names no longer belong to this organization.",
    ),
    (
        Reason.SUPERSEDED,
        "A replacement is installed",
        "A newer certificate for the same names is already in use.",
    ),
    (
        Reason.CESSATION_OF_OPERATION,
        "The site is shut down",
        "The names are no longer in use.",
    ),
)
DOWNLOADS = (
    (ExportFormat.PEM, "Certificate (PEM)"),
    (ExportFormat.CHAIN, "Full chain (PEM)"),
    (ExportFormat.DER, "Certificate (DER)"),
    (ExportFormat.P7B, "PKCS#7 bundle (.p7b)"),
)
AUDIT_SHOWN = 100

Filter = Annotated[str, Query(max_length=256)]


@dataclass(frozen=True)
class ChainLink:
    """One certificate of the chain as the page shows it."""

    role: str  # "Leaf" or "Issuing CA"
    subject: str
    issuer: str
    not_after: datetime
    pem: str


@dataclass(frozen=True)
class Moment:
    """One line of the timeline."""

    at: datetime
    what: str
    serial: str | None = None  # a related certificate, linked
    case: str | None = None  # the case that delivered it, linked


@router.get("/certificates")
def certificates(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    filters: CertificateFiltersDep,
    cursor: Annotated[str, Query(max_length=32)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
) -> Response:
    context: dict[str, Any] = {
        "title": "Certificates",
        "filters": filters.shown(),
        "show_org": who.is_global,
        "org_filter": org_options(visible_orgs(c, who), "All organizations")
        if who.is_global and who.may(Action.ORG_READ)
        else [],
        "export_query": filters.query(),
        "statuses": [("", "Any status"), *((s, state_label(s)) for s in LISTED)],
        "items": [],
        "next_url": None,
        "filtered": filters.filtered,
    }
    try:
        query = filters.to_filter()
        page = query.page(c.services.inventory, who, cursor=cursor or None, limit=limit)
    except CertdeskError as exc:
        # The list again with the filter form, so the problem can be corrected in place.
        return c.refused(request, "certificates.html", exc, **context)
    if page.next_cursor:
        extra = {"cursor": page.next_cursor}
        if limit != PAGE_SIZE:
            extra["limit"] = str(limit)
        context["next_url"] = "/certificates?" + filters.query(**extra)
    context["items"] = page.items
    return c.page(request, "certificates.html", **context)


def _chain(certs: list[x509.Certificate]) -> list[ChainLink]:
    return [
        ChainLink(
            role="Leaf" if i == 0 else "Issuing CA",
            subject=cert.subject.rfc4514_string() or "(empty subject)",
            issuer=cert.issuer.rfc4514_string(),
            not_after=cert.not_valid_after_utc,
            pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        )
        for i, cert in enumerate(certs)
    ]


def _timeline(
    cert: CertView, successors: list[CertView], case: str | None, now: datetime
) -> list[Moment]:
    """The lifecycle facts of the inventory, in time order (issue, renewals, revocation,
    expiry); the audit trail is shown apart, to those who may read it (R15)."""
    issued = cert.issued_at or cert.not_before
    moments = [
        Moment(issued, "Issued as the replacement of", cert.renewal_of)
        if cert.renewal_of
        else Moment(issued, "Issued")
    ]
    if case:
        moments.append(Moment(issued, "Delivered through case", case=case))
    moments.extend(
        Moment(s.issued_at or s.not_before, "Replaced by (renewal or reissue)", s.serial)
        for s in successors
    )
    if cert.revoked_at:
        moments.append(Moment(cert.revoked_at, f"Revoked, reason {cert.revocation_reason}"))
    moments.append(Moment(cert.not_after, "Expired" if cert.not_after <= now else "Expires"))
    return sorted(moments, key=lambda m: m.at)


def _detail(c: Console, who: Actor, serial: str) -> dict[str, Any]:
    """Everything the certificate page shows; raises NotFound for another agency's serial."""
    svc = c.services
    dossier = svc.inventory.dossier(who, serial)
    cert = dossier.cert
    audit = (
        svc.audit.search(who, object_type="certificate", object_id=cert.serial, limit=AUDIT_SHOWN)[
            0
        ]
        if who.may(Action.AUDIT_READ)
        else None
    )
    may_revoke = (
        who.may(Action.CERT_REVOKE)
        and cert.status != CertStatus.REVOKED
        # R11: a managed organization's certificates are revoked by cert services (within
        # the R8 window the requester asks through the case).
        and (who.is_global or dossier.org_self_managed)
    )
    return {
        "title": f"Certificate {cert.serial}",
        "cert": cert,
        "org_name": dossier.org_name,
        "org_self_managed": dossier.org_self_managed,
        "chain": _chain(dossier.chain),
        "timeline": _timeline(cert, dossier.successors, dossier.case, svc.rt.clock()),
        "checks": svc.verification.checks(who, cert.serial),
        "audit": audit,
        "may_revoke": may_revoke,
        "revoke_managed_note": who.may(Action.CERT_REVOKE)
        and not who.is_global
        and not dossier.org_self_managed
        and cert.status != CertStatus.REVOKED,
        "reasons": [(str(r), label, hint) for r, label, hint in REASONS],
        # Self-managed agencies renew themselves (R6 is theirs): a new certificate for the
        # same names through direct issuance, or their ACME client (R17).
        "may_renew": who.may(Action.CERT_ISSUE)
        and dossier.org_self_managed
        and cert.status in (CertStatus.ACTIVE, CertStatus.SUPERSEDED, CertStatus.EXPIRED),
        "downloads": [(str(f), label) for f, label in DOWNLOADS],
        "chosen_reason": str(Reason.UNSPECIFIED),
    }


@router.get("/certificates/{serial}")
def certificate(request: Request, c: ConsoleDep, who: ViewerDep, serial: str) -> Response:
    return c.page(request, "certificate.html", **_detail(c, who, serial[:80]))


@router.get("/certificates/{serial}/download")
def download(
    c: ConsoleDep,
    who: ViewerDep,
    serial: str,
    format: Annotated[str, Query(max_length=16)] = "pem",
) -> Response:
    fmt = parse_format(format.strip().lower())
    data = c.services.inventory.export(who, serial[:80], fmt)
    media, ext = MEDIA[fmt]
    name = c.services.inventory.show(who, serial[:80]).serial
    return Response(
        data,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{ext}"'},
    )


@router.get("/certificates/{serial}/revoke")
def revoke_confirm(request: Request, c: ConsoleDep, who: ViewerDep, serial: str) -> Response:
    """Revocation on its own page, stating what it does, before anything is done."""
    context = _detail(c, who, serial[:80])
    if not context["may_revoke"]:
        raise Forbidden("auth.forbidden", "you may not revoke this certificate")
    context["title"] = "Revoke a certificate"
    return c.page(request, "revoke.html", **context)


@router.post("/certificates/{serial}/revoke")
def revoke(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    serial: str,
    reason: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    serial = serial[:80]
    try:
        done = c.services.revocation.revoke(who, serial, parse_reason(reason.strip()))
    except CertdeskError as exc:
        # The page again with the refusal; another agency's serial stays a 404 (raised here).
        context = _detail(c, who, serial)
        context["chosen_reason"] = reason.strip()
        context["title"] = "Revoke a certificate"
        template = "revoke.html" if context["may_revoke"] else "certificate.html"
        return c.refused(request, template, exc, **context)
    said = dict((str(r), label) for r, label, _ in REASONS)
    return c.redirect(
        f"/certificates/{done.serial}",
        flash=f"Certificate {done.serial} is revoked"
        f" ({said.get(done.revocation_reason or '', 'no particular reason').lower()}).",
    )
