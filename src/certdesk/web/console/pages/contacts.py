"""Certificate contacts (R9): who hears about an organization's certificates, each kept once
per organization and named on its submittals. Add, change, replace everywhere, remove; every
change is audited old → new by the contact service. Cert services pick the organization; an
agency works on its own.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from certdesk.core.access import Action, Actor
from certdesk.errors import CertdeskError, InvalidInput
from certdesk.services.casework.contacts import (
    ContactChange,
    ContactInput,
    ContactKind,
)
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep
from certdesk.web.console.pages.orgs import org_options, own_org, visible_orgs

router = APIRouter()

Short = Annotated[str, Form(max_length=300)]
ContactId = Annotated[int, Path(ge=1, le=2**31 - 1)]
KINDS = [(str(k), str(k)) for k in ContactKind]
BLANK = {"kind": str(ContactKind.TECHNICAL), "name": "", "email": "", "phone": ""}


def _org_of(c: Console, who: Actor, org: str) -> str:
    """The organization a page works on: the one named, else the caller's own (none for cert
    services, who choose). Another agency's organization is then not found by the service."""
    code = org.strip().lower()[:64]
    if code or who.is_global:
        return code
    return own_org(c, who) or ""


def _list_page(
    request: Request,
    c: Console,
    who: Actor,
    org: str,
    *,
    form: dict[str, str] | None = None,
    error: CertdeskError | None = None,
) -> Response:
    code = _org_of(c, who, org)
    listed = c.services.contacts.list(who, code, with_submittals=True) if code else []
    named: dict[int, list[str]] = {}
    for row in listed:
        if row.case_number and row.case_number not in named.setdefault(row.id, []):
            named[row.id].append(row.case_number)
    context: dict[str, Any] = {
        "org": code,
        "contacts": [row for row in listed if row.submittal_id is None],
        "named": named,
        "org_filter": org_options(visible_orgs(c, who), "Choose an organization")
        if who.is_global
        else [],
        "may_manage": who.may(Action.CONTACT_MANAGE),
        "kinds": KINDS,
        "form": form or dict(BLANK),
    }
    if error is not None:
        return c.refused(request, "contacts.html", error, **context)
    return c.page(request, "contacts.html", **context)


@router.get("/contacts")
def contacts(request: Request, c: ConsoleDep, who: ViewerDep, org: str = "") -> Response:
    return _list_page(request, c, who, org)


@router.post("/contacts/{org}")
def contact_add(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    org: str,
    kind: Short,
    name: Short,
    email: Short,
    phone: Short = "",
) -> Response:
    code = _org_of(c, who, org)
    try:
        added = c.services.contacts.add(who, code, ContactInput(kind, name, email, phone))
    except CertdeskError as exc:
        form = {"kind": kind, "name": name, "email": email, "phone": phone}
        return _list_page(request, c, who, code, form=form, error=exc)
    return c.redirect(f"/contacts?org={code}", flash=f"{added.name} <{added.email}> is added.")


def _edit_page(
    request: Request,
    c: Console,
    who: Actor,
    org: str,
    contact_id: int,
    *,
    form: dict[str, str] | None = None,
    error: CertdeskError | None = None,
) -> Response:
    contact, uses = c.services.contacts.show(who, org, str(contact_id))
    others = [
        (str(o.id), f"{o.name} <{o.email}>")
        for o in c.services.contacts.list(who, org)
        if o.id != contact.id
    ]
    context: dict[str, Any] = {
        "org": org,
        "contact": contact,
        "uses": uses,
        "others": [("", "Choose a contact"), *others] if others else [],
        "may_manage": who.may(Action.CONTACT_MANAGE),
        "kinds": KINDS,
        "form": form or {**contact.fields(), "org_wide": contact.org_wide},
    }
    if error is not None:
        return c.refused(request, "contact.html", error, **context)
    return c.page(request, "contact.html", **context)


@router.get("/contacts/{org}/{contact_id}")
def contact(
    request: Request, c: ConsoleDep, who: ViewerDep, org: str, contact_id: ContactId
) -> Response:
    return _edit_page(request, c, who, _org_of(c, who, org), contact_id)


@router.post("/contacts/{org}/{contact_id}")
def contact_change(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    org: str,
    contact_id: ContactId,
    kind: Short,
    name: Short,
    email: Short,
    phone: Short = "",
    org_wide: Short = "",
) -> Response:
    code = _org_of(c, who, org)
    wide = bool(org_wide)
    try:
        view = c.services.contacts.change(
            who,
            code,
            contact_id,
            ContactChange(kind=kind, name=name, email=email, phone=phone, org_wide=wide),
        )
    except CertdeskError as exc:
        form: dict[str, Any] = {
            "kind": kind,
            "name": name,
            "email": email,
            "phone": phone,
            "org_wide": wide,
        }
        return _edit_page(request, c, who, code, contact_id, form=form, error=exc)
    return c.redirect(f"/contacts?org={code}", flash=f"Contact {view.name} is saved.")


@router.post("/contacts/{org}/{contact_id}/remove")
def contact_remove(
    request: Request, c: ConsoleDep, who: ViewerDep, org: str, contact_id: ContactId
) -> Response:
    code = _org_of(c, who, org)
    try:
        view = c.services.contacts.remove(who, code, contact_id)
    except CertdeskError as exc:
        return _edit_page(request, c, who, code, contact_id, error=exc)
    return c.redirect(f"/contacts?org={code}", flash=f"Contact {view.name} is removed.")


@router.post("/contacts/{org}/{contact_id}/replace")
def contact_replace(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    org: str,
    contact_id: ContactId,
    new: Short = "",
) -> Response:
    code = _org_of(c, who, org)
    try:
        if not new.strip():
            raise InvalidInput("contact.replacement", "choose the contact who takes over")
        done = c.services.contact_replacing.replace(who, code, str(contact_id), new)
    except CertdeskError as exc:
        return _edit_page(request, c, who, code, contact_id, error=exc)
    return c.redirect(
        f"/contacts?org={code}",
        flash=f"{done.new.name} replaces {done.old.name} on {len(done.cases)} case(s)"
        f" and {len(done.certificates)} certificate(s).",
    )
