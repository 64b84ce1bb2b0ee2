"""ACME: the organization's EAB keys, ACME accounts and standing DNS validation records
(dns-persist-01) (R17).

Cert services see every organization's and create keys for any self-managed one; a delegated
administrator sees and creates its own organization's (the services decide: another
organization's key or account is not found). A new key's HMAC key is shown once, in the POST
response, never again. The auditor reads; requesters and approvers have no such page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from certdesk.core.access import Action, Actor
from certdesk.errors import CertdeskError, InvalidInput
from certdesk.services.acme.eab import NewEabKey
from certdesk.services.acme.persist import PersistRecordView
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep
from certdesk.web.console.pages.orgs import org_options, own_org, visible_orgs

router = APIRouter()

Short = Annotated[str, Form(max_length=64)]


def _acme_page(
    request: Request,
    c: Console,
    who: Actor,
    org: str,
    *,
    new: NewEabKey | None = None,
    record: PersistRecordView | None = None,
    form: dict[str, str] | None = None,
    persist_form: dict[str, str] | None = None,
    error: CertdeskError | None = None,
) -> Response:
    svc = c.services
    scope = org or None
    try:
        keys = svc.acme_eab.list(who, scope)
        accounts = svc.acme_accounts.list(who, scope)
        records = svc.acme_persist.records(who, scope)
    except CertdeskError as exc:  # an unknown (or another agency's) organization in ?org=
        keys, accounts, records, error = [], [], [], error or exc
    orgs = [o for o in visible_orgs(c, who) if o.self_managed] if who.is_global else []
    context: dict[str, Any] = {
        "keys": keys,
        "accounts": accounts,
        "now": svc.rt.clock(),
        "org": org,
        "org_filter": org_options(orgs, "All organizations") if who.is_global else [],
        "org_choices": org_options(orgs) if who.is_global else [],
        "own_org": own_org(c, who),
        "may_manage": who.may(Action.ACME_MANAGE),
        "directory": svc.rt.settings.base_url.rstrip("/") + "/acme/directory",
        "default_days": svc.rt.settings.acme_eab_days,
        "new": new,
        "form": form or {"org_code": org, "days": ""},
        "records": records,
        "record": record,
        "persist_form": persist_form or {"account": "", "domain": "", "until": "", "wildcard": ""},
        "account_options": [
            (str(a.id), f"Account {a.id} ({a.org_code})")
            for a in accounts
            if str(a.status) == "valid"
        ],
    }
    if error is not None:
        return c.refused(request, "acme.html", error, **context)
    return c.page(request, "acme.html", **context)


@router.get("/acme")
def acme(request: Request, c: ConsoleDep, who: ViewerDep, org: str = "") -> Response:
    return _acme_page(request, c, who, org.strip()[:64])


@router.post("/acme/eab")
def eab_create(
    request: Request, c: ConsoleDep, who: ViewerDep, org_code: Short = "", days: Short = ""
) -> Response:
    # A delegated administrator makes keys for its own organization only; cert services pick.
    org = org_code.strip() if who.is_global else (own_org(c, who) or "")
    form = {"org_code": org_code, "days": days}
    try:
        text = days.strip()
        if text and not (text.isascii() and text.isdigit() and len(text) <= 3):
            raise InvalidInput("acme.eab_days", "enter how many days the key is usable, as digits")
        new = c.services.acme_eab.create(who, org, days=int(text) if text else None)
    except CertdeskError as exc:
        return _acme_page(request, c, who, "", form=form, error=exc)
    return _acme_page(request, c, who, "", new=new)


@router.post("/acme/eab/{kid}/revoke")
def eab_revoke(request: Request, c: ConsoleDep, who: ViewerDep, kid: str) -> Response:
    try:
        view = c.services.acme_eab.revoke(who, kid[:64])
    except CertdeskError as exc:
        return _acme_page(request, c, who, "", error=exc)
    return c.redirect("/acme", flash=f"Key {view.kid} is revoked; it can no longer register.")


@router.post("/acme/accounts/{number}/deactivate")
def account_deactivate(request: Request, c: ConsoleDep, who: ViewerDep, number: str) -> Response:
    account_id = int(number) if number.isascii() and number.isdigit() and len(number) < 10 else 0
    try:
        view = c.services.acme_accounts.deactivate(who, account_id)
    except CertdeskError as exc:
        return _acme_page(request, c, who, "", error=exc)
    return c.redirect(
        "/acme", flash=f"ACME account {view.id} is deactivated; its client can no longer order."
    )


@router.post("/acme/persist")
def persist_record(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    account: Short = "",
    domain: Annotated[str, Form(max_length=255)] = "",
    wildcard: Short = "",
    until: Short = "",
) -> Response:
    """The standing DNS record (dns-persist-01) for one account and one name."""
    form = {"account": account, "domain": domain, "until": until, "wildcard": wildcard}
    try:
        text = account.strip()
        if not (text.isascii() and text.isdigit() and len(text) < 10):
            raise InvalidInput("acme.persist_account", "choose the ACME account")
        end = until.strip()
        try:
            when = datetime.fromisoformat(end).replace(tzinfo=UTC) if end else None
        except ValueError:
            raise InvalidInput(
                "acme.persist_until", "enter the end as a date, for example 2027-06-30"
            ) from None
        record = c.services.acme_persist.show(
            who, int(text), domain, wildcard=bool(wildcard), persist_until=when
        )
    except CertdeskError as exc:
        return _acme_page(request, c, who, "", persist_form=form, error=exc)
    return _acme_page(request, c, who, "", record=record)
