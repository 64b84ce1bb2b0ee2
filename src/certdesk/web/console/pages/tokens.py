"""API tokens: the organization's tokens for scripts (not login sessions), a new one whose
secret is shown once in the POST response, and revocation.

Cert services see and revoke every token; a delegated administrator its own organization's
(the token service decides; another organization's token is not found).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from certdesk.core.access import GLOBAL_ROLES, Actor, Role
from certdesk.core.accounts import ordered_roles
from certdesk.errors import CertdeskError
from certdesk.services.people.tokens import NewToken, parse_role
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep
from certdesk.web.console.pages.orgs import org_options, own_org, visible_orgs

router = APIRouter()

Short = Annotated[str, Form(max_length=200)]


def _tokens_page(
    request: Request,
    c: Console,
    who: Actor,
    org: str,
    *,
    new: NewToken | None = None,
    form: dict[str, str] | None = None,
    error: CertdeskError | None = None,
) -> Response:
    orgs = visible_orgs(c, who) if who.is_global else []
    roles = ordered_roles(who.grantable())
    context: dict[str, Any] = {
        "tokens": c.services.tokens.list(who, org or None),
        "org": org,
        "org_filter": org_options(orgs, "All organizations") if who.is_global else [],
        "org_choices": org_options(orgs, "None (operator and auditor tokens)")
        if who.is_global
        else [],
        "own_org": own_org(c, who),
        "role_choices": [(str(r), str(r)) for r in roles],
        "global_roles": ", ".join(str(r) for r in ordered_roles(GLOBAL_ROLES & set(roles))),
        "new": new,
        "form": form or {"role": str(Role.REQUESTER), "org_code": org, "label": ""},
    }
    if error is not None:
        return c.refused(request, "tokens.html", error, **context)
    return c.page(request, "tokens.html", **context)


@router.get("/tokens")
def tokens(request: Request, c: ConsoleDep, who: ViewerDep, org: str = "") -> Response:
    return _tokens_page(request, c, who, org[:64])


@router.post("/tokens")
def token_create(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    role: Short,
    org_code: Short = "",
    label: Short = "",
) -> Response:
    # An agency's administrator makes tokens for its own organization only; cert services pick.
    org = org_code.strip() if who.is_global else own_org(c, who)
    try:
        new = c.services.tokens.create(
            who, role=parse_role(role), org_code=org or None, label=label.strip()
        )
    except CertdeskError as exc:
        form = {"role": role, "org_code": org_code, "label": label}
        return _tokens_page(request, c, who, "", form=form, error=exc)
    return _tokens_page(request, c, who, "", new=new)


@router.post("/tokens/{prefix}/revoke")
def token_revoke(request: Request, c: ConsoleDep, who: ViewerDep, prefix: str) -> Response:
    try:
        view = c.services.tokens.revoke(who, prefix[:16])
    except CertdeskError as exc:
        return _tokens_page(request, c, who, "", error=exc)
    return c.redirect("/tokens", flash=f"API token {view.prefix} is revoked; it no longer works.")
