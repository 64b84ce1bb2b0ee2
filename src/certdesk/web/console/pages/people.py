"""People and their accounts (R10): the list, a new person, and one person's page.

A new account, and a password reset, answer with a single-use link shown once, right in the
POST response (the person also gets it by mail through the outbox); no page shows it again.
Cert services manage everyone; a delegated administrator the people of its organization
(the account service decides, and another organization's person is not found).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from certdesk.core.access import Action, Actor, Role
from certdesk.core.accounts import ordered_roles
from certdesk.errors import CertdeskError
from certdesk.services.people.accounts import PasswordLink, UserView
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep
from certdesk.web.console.pages.orgs import org_options, own_org, visible_orgs

router = APIRouter()

Short = Annotated[str, Form(max_length=300)]
Roles = Annotated[list[str], Form(max_length=8)]

ROLE_LABELS = {
    Role.REQUESTER: "requester: opens cases",
    Role.APPROVER: "approver: approves the agency's cases",
    Role.DELEGATED_ADMIN: "delegated administrator: issues directly, manages people",
    Role.OPERATOR: "operator: cert services staff (no organization)",
    Role.AUDITOR: "auditor: reads everything (no organization)",
}


def _role_choices(who: Actor) -> list[tuple[str, str]]:
    return [(str(r), ROLE_LABELS[r]) for r in ordered_roles(who.grantable())]


def _list_page(
    request: Request,
    c: Console,
    who: Actor,
    org: str,
    *,
    form: dict[str, Any] | None = None,
    error: CertdeskError | None = None,
) -> Response:
    orgs = visible_orgs(c, who) if who.is_global else []
    context: dict[str, Any] = {
        "people": c.services.accounts.list_users(who, org or None),
        "org": org,
        "org_filter": org_options(orgs, "All organizations") if who.is_global else [],
        "org_choices": org_options(orgs, "None (cert services staff)") if who.is_global else [],
        "own_org": own_org(c, who),
        "may_manage": who.may(Action.USER_MANAGE),
        "role_choices": _role_choices(who),
        "form": form
        or {
            "login_id": "",
            "name": "",
            "email": "",
            "org_code": org,
            "roles": [],  # picked explicitly: nothing is pre-ticked
        },
    }
    if error is not None:
        return c.refused(request, "users.html", error, **context)
    return c.page(request, "users.html", **context)


@router.get("/users")
def people(request: Request, c: ConsoleDep, who: ViewerDep, org: str = "") -> Response:
    return _list_page(request, c, who, org[:64])


@router.post("/users")
def person_create(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    login_id: Short,
    name: Short,
    email: Short,
    org_code: Short = "",
    roles: Roles = [],  # noqa: B006 - FastAPI copies the default for each request
) -> Response:
    # An agency's administrator adds people to its own organization only; cert services pick.
    org = org_code.strip() if who.is_global else own_org(c, who)
    try:
        made = c.services.accounts.create(
            who, login_id, name=name, email=email, org_code=org or None, roles=roles
        )
    except CertdeskError as exc:
        form = {
            "login_id": login_id,
            "name": name,
            "email": email,
            "org_code": org_code,
            "roles": roles,
        }
        return _list_page(request, c, who, "", form=form, error=exc)
    return _person_page(request, c, who, made.user, link=made, created=True)


def _person_page(
    request: Request,
    c: Console,
    who: Actor,
    person: UserView,
    *,
    link: PasswordLink | None = None,
    created: bool = False,
    error: CertdeskError | None = None,
) -> Response:
    context: dict[str, Any] = {
        "person": person,
        "link": link,
        "created": created,
        "may_manage": who.may(Action.USER_MANAGE),
        "is_me": who.name == f"user:{person.login_id}",
        "role_choices": _role_choices(who),
        "role_labels": {str(k): v for k, v in ROLE_LABELS.items()},
    }
    if error is not None:
        return c.refused(request, "user.html", error, **context)
    return c.page(request, "user.html", **context)


@router.get("/users/{login}")
def person(request: Request, c: ConsoleDep, who: ViewerDep, login: str) -> Response:
    return _person_page(request, c, who, c.services.accounts.get(who, login[:64]))


def _refused(request: Request, c: Console, who: Actor, login: str, exc: CertdeskError) -> Response:
    # The person's page again with the error; the lookup answers 404 for someone out of view.
    return _person_page(request, c, who, c.services.accounts.get(who, login[:64]), error=exc)


@router.post("/users/{login}/disable")
def person_disable(request: Request, c: ConsoleDep, who: ViewerDep, login: str) -> Response:
    try:
        view = c.services.accounts.disable(who, login[:64])
    except CertdeskError as exc:
        return _refused(request, c, who, login, exc)
    return c.redirect(
        f"/users/{view.login_id}",
        flash=f"{view.login_id} is disabled; their sessions have ended.",
    )


@router.post("/users/{login}/enable")
def person_enable(request: Request, c: ConsoleDep, who: ViewerDep, login: str) -> Response:
    try:
        view = c.services.accounts.enable(who, login[:64])
    except CertdeskError as exc:
        return _refused(request, c, who, login, exc)
    return c.redirect(f"/users/{view.login_id}", flash=f"{view.login_id} may sign in again.")


@router.post("/users/{login}/reset")
def person_reset(request: Request, c: ConsoleDep, who: ViewerDep, login: str) -> Response:
    try:
        made = c.services.accounts.reset(who, login[:64])
    except CertdeskError as exc:
        return _refused(request, c, who, login, exc)
    return _person_page(request, c, who, made.user, link=made)


@router.post("/users/{login}/roles")
def person_roles(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    login: str,
    roles: Roles = [],  # noqa: B006 - FastAPI copies the default for each request
) -> Response:
    try:
        view = c.services.accounts.set_roles(who, login[:64], roles)
    except CertdeskError as exc:
        return _refused(request, c, who, login, exc)
    return c.redirect(
        f"/users/{view.login_id}",
        flash=f"{view.login_id} now holds: {', '.join(str(r) for r in view.roles)}.",
    )
