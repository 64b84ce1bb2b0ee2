"""Certificate Transparency (issue 15, part 3; R18): the findings — certificates for state
names that certdesk did not issue, seen in the logs it follows. Cert services and auditors
see every finding and the logs; an agency sees its own organization's findings only. Cert
services add logs here; reading them is the worker's job.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from certdesk.core.access import Action, Actor
from certdesk.errors import CertdeskError
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep

router = APIRouter()

Short = Annotated[str, Form(max_length=500)]
_EMPTY = {"name": "", "url": "", "tiled": "", "start": "head", "entry": ""}


def _ct_page(
    request: Request,
    c: Console,
    who: Actor,
    *,
    cursor: str | None = None,
    form: dict[str, str] | None = None,
    error: CertdeskError | None = None,
) -> Response:
    page = c.services.ct_findings.search(who, cursor=cursor, limit=100)
    context: dict[str, Any] = {
        "findings": page.items,
        "next_cursor": page.next_cursor,
        "logs": c.services.ct_logs.list(who) if who.may(Action.CT_READ) else None,
        "may_manage": who.may(Action.CT_MANAGE),
        "form": form or dict(_EMPTY),
    }
    if error is not None:
        return c.refused(request, "ct.html", error, **context)
    return c.page(request, "ct.html", **context)


@router.get("/ct")
def ct(request: Request, c: ConsoleDep, who: ViewerDep, cursor: str | None = None) -> Response:
    return _ct_page(request, c, who, cursor=(cursor or "")[:20] or None)


@router.post("/ct/logs")
def ct_log_add(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    name: Short,
    url: Short,
    public_key: Annotated[str, Form(max_length=8_000)],
    tiled: Annotated[str, Form(max_length=8)] = "",
    start: Annotated[str, Form(max_length=8)] = "head",
    entry: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    form = {"name": name, "url": url, "tiled": tiled, "start": start, "entry": entry}
    # The form's choice: the head, the first entry, or the entry number written.
    begin = entry.strip() if start == "entry" else ("0" if start == "first" else "head")
    try:
        view = c.services.ct_logs.add(
            who, name, url, public_key.strip().encode(), tiled=tiled == "yes", start=begin
        )
    except CertdeskError as exc:
        return _ct_page(request, c, who, form=form, error=exc)
    where = "its first entry" if view.first_entry == 0 else f"entry {view.first_entry:,}"
    return c.redirect(
        "/ct", flash=f"certdesk follows log {view.name} now; the worker reads it from {where}."
    )
