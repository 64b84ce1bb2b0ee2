"""Direct issuance from the console: a delegated administrator of a self-managed agency
(for its granted names, R2) or cert services (any R1 name) sends a CSR and receives the
certificate at once; plus the name check that tells beforehand what R1/R2 allow."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from certdesk.core.access import Action, Actor
from certdesk.errors import CertdeskError, Forbidden, InvalidInput
from certdesk.services.people.orgs import OrgView
from certdesk.services.pki.csrs import MAX_CSR_BYTES
from certdesk.services.pki.issuance import IssueCommand, Platform, parse_platform
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep

router = APIRouter()

PLATFORMS = [
    (str(Platform.VIRTUAL), "Virtual server"),
    (str(Platform.DEDICATED), "Dedicated server"),
]
DOWNLOADS = (
    ("pem", "Certificate (PEM)"),
    ("chain", "Full chain (PEM)"),
    ("der", "Certificate (DER)"),
    ("p7b", "PKCS#7 bundle (.p7b)"),
)
MAX_CHECKED = 100
_SEPARATORS = re.compile(r"[\s,]+")

Small = Annotated[str, Form(max_length=64)]


def _own_org(c: Console, who: Actor) -> OrgView | None:
    """The agency a non-global issuer is fixed to (None for cert services)."""
    if who.is_global:
        return None
    found = c.services.orgs.list_all(who)
    if not found:
        raise Forbidden("org.none", "your account belongs to no organization")
    return found[0]


def _form(
    c: Console,
    who: Actor,
    *,
    org: str = "",
    csr: str = "",
    platform: str = str(Platform.VIRTUAL),
    days: str = "",
    renew: str = "",
) -> dict[str, Any]:
    if not who.may(Action.CERT_ISSUE):
        raise Forbidden(
            "auth.forbidden",
            "only delegated administrators and cert services issue certificates directly;"
            " agencies obtain certificates through a case",
        )
    own = _own_org(c, who)
    # Renewing: the certificate it replaces (another agency's serial is not found).
    renewing = c.services.inventory.show(who, renew.strip()) if renew.strip() else None
    return {
        "title": "Renew a certificate" if renewing else "Issue a certificate",
        "own": own,
        "renewing": renewing,
        "values": {
            "org": own.code if own else (renewing.org_code if renewing else org.strip()),
            "csr": csr,
            "platform": renewing.platform if renewing and not csr else platform,
            "days": days,
        },
        "platforms": PLATFORMS,
        "max_days": c.services.rt.settings.max_validity_days,
    }


def _csr_bytes(pasted: str, upload: UploadFile | None) -> bytes:
    """The CSR from the upload or the text area: exactly one of them."""
    data = b""
    if upload is not None and upload.filename:
        data = upload.file.read(MAX_CSR_BYTES + 1)
        if len(data) > MAX_CSR_BYTES:
            raise InvalidInput("csr.too_large", f"the CSR file is over {MAX_CSR_BYTES} bytes")
        if not data.strip():
            raise InvalidInput("csr.unparseable", f"the file {upload.filename!r} is empty")
    if data and pasted.strip():
        raise InvalidInput("csr.twice", "give the CSR once: paste it or choose its file, not both")
    if not data and not pasted.strip():
        raise InvalidInput("csr.missing", "paste the CSR (PEM) or choose its file")
    return data or pasted.encode()


def _days(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit():
        raise InvalidInput("cert.days", f"validity {text!r} is not a whole number of days")
    return int(text)


@router.get("/issue")
def issue_form(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    renew: Annotated[str, Query(max_length=80)] = "",
) -> Response:
    """The issue form; ``renew=SERIAL`` renews that certificate: the same names, a new CSR."""
    return c.page(request, "issue.html", **_form(c, who, renew=renew))


@router.post("/issue")
def issue(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    org: Small = "",
    csr: Annotated[str, Form(max_length=MAX_CSR_BYTES)] = "",
    csr_file: Annotated[UploadFile | None, File()] = None,
    platform: Small = str(Platform.VIRTUAL),
    days: Small = "",
    renew: Annotated[str, Form(max_length=80)] = "",
) -> Response:
    context = _form(c, who, org=org, csr=csr, platform=platform, days=days, renew=renew)
    renewing = context["renewing"]
    own: OrgView | None = context["own"]
    try:
        org_code = own.code if own else org.strip()
        if not org_code:
            raise InvalidInput("org.required", "give the code of the organization")
        issued = c.services.issuance.issue(
            who,
            IssueCommand(
                org_code=org_code,
                csr=_csr_bytes(csr, csr_file),
                platform=parse_platform(platform.strip()),
                days=_days(days),
                renewal_of=renewing.serial if renewing else None,
            ),
        )
    except CertdeskError as exc:
        # The form again with the reason (and the rule, for R1/R2/R12/R13); nothing issued.
        return c.refused(request, "issue.html", exc, **context)
    # Rendered in this response (not a redirect): the PEMs are also on the certificate page.
    return c.page(
        request,
        "issue_done.html",
        title=f"Certificate {issued.serial} issued",
        issued=issued,
        leaf_pem=issued.pem(),
        fullchain_pem=issued.pem() + issued.chain_pem(),
        downloads=DOWNLOADS,
    )


@router.get("/issue/check")
def check_names(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    names: Annotated[str, Query(max_length=8192)] = "",
    org: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """R1/R2 per name, without issuing: for cert services against R1 (or an organization's
    grants when one is named), for everyone else against their own organization's grants."""
    own = _own_org(c, who)
    given = [n for n in _SEPARATORS.split(names) if n][:MAX_CHECKED]
    org_code = own.code if own else (org.strip() or None)
    context: dict[str, Any] = {
        "title": "Check names",
        "own": own,
        "names": names,
        "org": org.strip(),
        "verdicts": None,
        "max_checked": MAX_CHECKED,
    }
    if given:
        try:
            context["verdicts"] = c.services.policy.check(who, org_code, given)
        except CertdeskError as exc:
            return c.refused(request, "issue_check.html", exc, **context)
    return c.page(request, "issue_check.html", **context)
