"""Outbound webhooks (issue 14): the list, a new one whose signing secret is shown once in
the POST response, removal, and each webhook's delivery log.

Cert services see every webhook and may add one for every organization's events; a
delegated administrator sees and manages its organization's (another's answers as unknown).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from certdesk.core.access import Action, Actor
from certdesk.core.mail_kinds import WEBHOOK_EVENTS
from certdesk.errors import CertdeskError
from certdesk.services.lifecycle.webhooks import NewWebhook
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep
from certdesk.web.console.pages.orgs import org_options, own_org, visible_orgs

router = APIRouter()

Short = Annotated[str, Form(max_length=2000)]
# A number past the database's integers is no webhook (it once reached SQLite: a 500).
WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _page(
    request: Request,
    c: Console,
    who: Actor,
    *,
    new: NewWebhook | None = None,
    form: dict[str, Any] | None = None,
    error: CertdeskError | None = None,
) -> Response:
    orgs = visible_orgs(c, who) if who.is_global else []
    context: dict[str, Any] = {
        "hooks": c.services.webhooks.listing(who),
        "may_manage": who.may(Action.WEBHOOK_MANAGE),
        "org_choices": org_options(orgs, "Every organization (Certificate Services)")
        if who.is_global
        else [],
        "own_org": own_org(c, who),
        "event_choices": WEBHOOK_EVENTS,
        "new": new,
        "form": form or {"url": "", "org_code": "", "label": "", "events": []},
    }
    if error is not None:
        return c.refused(request, "webhooks.html", error, **context)
    return c.page(request, "webhooks.html", **context)


@router.get("/webhooks")
def webhooks(request: Request, c: ConsoleDep, who: ViewerDep) -> Response:
    return _page(request, c, who)


@router.post("/webhooks")
async def webhook_add(request: Request, c: ConsoleDep, who: ViewerDep) -> Response:
    form = await request.form()
    url = str(form.get("url", ""))[:2000]
    org_code = str(form.get("org_code", ""))[:64].strip()
    label = str(form.get("label", ""))[:200]
    events = [str(e)[:40] for e in form.getlist("events")][: len(WEBHOOK_EVENTS)]
    org = org_code if who.is_global else own_org(c, who)
    try:
        new = c.services.webhooks.add(
            who, url, org_code=org or None, events=events, label=label.strip()
        )
    except CertdeskError as exc:
        kept = {"url": url, "org_code": org_code, "label": label, "events": events}
        return _page(request, c, who, form=kept, error=exc)
    return _page(request, c, who, new=new)


@router.post("/webhooks/{webhook_id}/remove")
def webhook_remove(
    request: Request, c: ConsoleDep, who: ViewerDep, webhook_id: WebhookId
) -> Response:
    try:
        gone = c.services.webhooks.remove(who, webhook_id)
    except CertdeskError as exc:
        return _page(request, c, who, error=exc)
    return c.redirect("/webhooks", flash=f"Webhook {gone.id} is removed; it gets nothing more.")


@router.get("/webhooks/{webhook_id}")
def webhook_log(
    request: Request, c: ConsoleDep, who: ViewerDep, webhook_id: WebhookId, status: str = ""
) -> Response:
    # The log first: it answers another organization's webhook exactly like a made-up one.
    found = c.services.webhooks.deliveries(who, webhook_id, status=status[:20] or None)
    hook = next((h for h in c.services.webhooks.listing(who) if h.id == webhook_id), None)
    return c.page(request, "webhook.html", hook=hook, deliveries=found, shown=status[:20])
