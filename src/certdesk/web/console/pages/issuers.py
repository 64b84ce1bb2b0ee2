"""Vendor CAs (issue 12): cert services see each vendor issuer, add one with the vendor's
external account binding (the HMAC key is sent once to the vendor and never shown again),
disable one, or replace its account key. Auditors read; agencies do not see this page (the
vendor service decides).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from certdesk.ca.vendor_lint import FINDINGS
from certdesk.core.access import Action, Actor
from certdesk.core.issuers import Solver
from certdesk.errors import CertdeskError, InvalidInput
from certdesk.services.pki.vendor_settings import SolverSettings
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep

router = APIRouter()

Short = Annotated[str, Form(max_length=500)]
Pem = Annotated[str, Form(max_length=200_000)]
SOLVERS = [
    ("none", "None: the vendor validated the organizations' domains beforehand"),
    ("http-01", "http-01: certdesk answers at /.well-known/acme-challenge/"),
]
_EMPTY = {"name": "", "directory": "", "eab_kid": "", "solver": "none", "webroot": ""}


def _issuers_page(
    request: Request,
    c: Console,
    who: Actor,
    *,
    form: dict[str, str] | None = None,
    error: CertdeskError | None = None,
) -> Response:
    context: dict[str, Any] = {
        "issuers": c.services.vendors.list(who),
        "may_manage": who.may(Action.ISSUER_MANAGE),
        "solvers": SOLVERS,
        "findings": sorted(FINDINGS.items()),
        "form": form or dict(_EMPTY),
    }
    if error is not None:
        return c.refused(request, "issuers.html", error, **context)
    return c.page(request, "issuers.html", **context)


@router.get("/issuers")
def issuers(request: Request, c: ConsoleDep, who: ViewerDep) -> Response:
    return _issuers_page(request, c, who)


@router.post("/issuers")
def issuer_add(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    name: Short,
    directory: Short,
    eab_kid: Short,
    eab_hmac_key: Short,
    solver: Short = "none",
    webroot: Short = "",
    ca_bundle: Pem = "",
    trust_anchors: Pem = "",
    lint_tolerate: Annotated[list[str] | None, Form(max_length=64)] = None,
) -> Response:
    # Everything typed comes back on a refusal except the HMAC key, which is never echoed.
    form = {
        "name": name,
        "directory": directory,
        "eab_kid": eab_kid,
        "solver": solver,
        "webroot": webroot,
    }
    try:
        if solver not in {value for value, _label in SOLVERS}:
            raise InvalidInput("issuer.solver", "choose how the vendor's challenges are answered")
        view = c.services.vendors.add(
            who,
            name.strip(),
            directory_url=directory.strip(),
            eab_kid=eab_kid,
            eab_hmac_key=eab_hmac_key,
            ca_bundle_pem=ca_bundle.strip() or None,
            anchors_pem=trust_anchors.strip() or None,
            solver=SolverSettings(kind=Solver(solver), webroot=webroot.strip() or None),
            lint_tolerate=tuple(lint_tolerate or ()),
        )
    except CertdeskError as exc:
        return _issuers_page(request, c, who, form=form, error=exc)
    return c.redirect(
        "/issuers", flash=f"Vendor {view.name} is added; certdesk's account there is ready."
    )


@router.post("/issuers/{name}/disable")
def issuer_disable(request: Request, c: ConsoleDep, who: ViewerDep, name: str) -> Response:
    try:
        view = c.services.vendors.disable(who, name[:64])
    except CertdeskError as exc:
        return _issuers_page(request, c, who, error=exc)
    return c.redirect(
        "/issuers",
        flash=f"Vendor {view.name} takes no new orders; orders already placed still finish.",
    )


@router.post("/issuers/{name}/rollover")
def issuer_rollover(request: Request, c: ConsoleDep, who: ViewerDep, name: str) -> Response:
    try:
        view = c.services.vendors.rollover(who, name[:64])
    except CertdeskError as exc:
        return _issuers_page(request, c, who, error=exc)
    return c.redirect(
        "/issuers",
        flash=f"The account at {view.name} now uses a new key; the old key no longer works.",
    )
