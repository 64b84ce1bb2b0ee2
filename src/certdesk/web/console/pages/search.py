"""The global search box: one text, looked for in certificates (names, serials), cases
(numbers, titles, names) and, for cert services, organizations — whatever the viewer may
see, through the same searches as the lists."""

from __future__ import annotations

import urllib.parse
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from certdesk.core.access import Action
from certdesk.errors import CertdeskError
from certdesk.services.casework.case_search import CaseFilter
from certdesk.web.console.frame import ConsoleDep, ViewerDep
from certdesk.web.console.pages.orgs import visible_orgs

router = APIRouter()

SHOWN = 20


@router.get("/search")
def search(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    q: Annotated[str, Query(max_length=253)] = "",
) -> Response:
    text = q.strip()
    context: dict[str, Any] = {
        "title": "Search",
        "q": text,
        "certs": None,
        "cases": None,
        "orgs": None,
        "more_query": urllib.parse.urlencode({"q": text}),
    }
    if not text:
        return c.page(request, "search.html", **context)
    try:
        if who.may(Action.CERT_READ):
            context["certs"] = c.services.inventory.search(who, text=text, limit=SHOWN).items
        if who.may(Action.CASE_READ):
            context["cases"] = c.services.cases.search(
                who, CaseFilter(text=text, limit=SHOWN)
            ).items
    except CertdeskError as exc:
        return c.refused(request, "search.html", exc, **context)
    if who.is_global and who.may(Action.ORG_READ):
        needle = text.lower()
        context["orgs"] = [
            o for o in visible_orgs(c, who) if needle in o.code or needle in o.name.lower()
        ][:SHOWN]
    return c.page(request, "search.html", **context)
