"""The audit log (R15): events newest first with filters and keyset paging, and the chain
verification of ``certdesk audit verify`` behind a button.

Verification walks every event of the log and recomputes its hash, so its cost grows with
the log; it runs when asked (POST /audit/verify, CSRF-checked like every console form), not
on every view of the list.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from certdesk.core.access import Actor
from certdesk.core.audit import ChainBreak
from certdesk.core.audit_text import KINDS, describe, kind_of
from certdesk.core.audit_text import who as who_did
from certdesk.errors import CertdeskError, InvalidInput
from certdesk.services.audit import AuditView
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep
from certdesk.web.console.list_filters import AuditFilters, AuditFiltersDep, audit_filters_of

router = APIRouter()

PAGE = 50
LONG_DETAIL = 200  # characters; longer values fold away under a <details>
KIND_OPTIONS = [("", "Every kind"), *((k, k) for k in sorted(set(KINDS.values())))]
FormFilter = Annotated[str, Form(max_length=200)]


@dataclass(frozen=True)
class Verification:
    events: int
    broken: ChainBreak | None
    checked_at: str


@dataclass(frozen=True)
class EventRow:
    """One audit event as the page shows it: who, what (a sentence), and the summary as
    (label, text) pairs."""

    event: AuditView
    who: str
    what: str
    kind: str
    details: tuple[tuple[str, str], ...]
    history_url: str


def _text(value: object) -> str:
    """A summary value in words: lists joined, mappings as "key: value", no JSON braces."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')}: {_text(v)}" for k, v in sorted(value.items()))
    return json.dumps(value, ensure_ascii=False)


def _rows(events: list[AuditView]) -> list[EventRow]:
    return [
        EventRow(
            e,
            who_did(e.actor),
            describe(e.action, e.object_type, e.object_id),
            kind_of(e.action),
            tuple((k.replace("_", " "), _text(v)) for k, v in sorted(e.summary.items())),
            "/audit?" + urllib.parse.urlencode({"type": e.object_type, "object": e.object_id}),
        )
        for e in events
    ]


def _page(
    request: Request,
    c: Console,
    who: Actor,
    filters: AuditFilters,
    cursor: str,
    verification: Verification | None = None,
    limit: int = PAGE,
) -> Response:
    context: dict[str, Any] = {
        "filters": filters.shown(),
        "filtered": filters.filtered,
        "verification": verification,
        "long_detail": LONG_DETAIL,
        "kinds": KIND_OPTIONS,
        "export_query": filters.query(),
        "export_path": "/audit",
    }
    try:
        query = filters.to_filter()
        events, next_cursor = query.page(
            c.services.audit, who, cursor=cursor.strip() or None, limit=limit
        )
    except InvalidInput as exc:
        return c.refused(request, "audit.html", exc, rows=[], next_url=None, **context)
    next_url = None
    if next_cursor:
        more = {"cursor": next_cursor}
        if limit != PAGE:
            more["limit"] = str(limit)
        next_url = "/audit?" + filters.query(**more)
    return c.page(request, "audit.html", rows=_rows(events), next_url=next_url, **context)


@router.get("/audit")
def audit_log(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    filters: AuditFiltersDep,
    cursor: Annotated[str, Query(max_length=40)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = PAGE,
) -> Response:
    return _page(request, c, who, filters, cursor, limit=limit)


@router.post("/audit/verify")
def verify(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    actor: FormFilter = "",
    action: FormFilter = "",
    object_type: Annotated[str, Form(alias="type", max_length=200)] = "",
    object_id: Annotated[str, Form(alias="object", max_length=200)] = "",
    start: FormFilter = "",
    end: FormFilter = "",
    kind: FormFilter = "",
    sign_ins: FormFilter = "",
) -> Response:
    """Walk the whole hash chain, as ``certdesk audit verify`` does, and show the result
    above the list the auditor was looking at."""
    filters = audit_filters_of(actor, action, object_type, object_id, start, end, kind, sign_ins)
    try:
        count, broken = c.services.audit.verify(who)
    except CertdeskError as exc:
        return c.refused(
            request,
            "audit.html",
            exc,
            rows=[],
            next_url=None,
            filters=filters.shown(),
            filtered=False,
            verification=None,
            long_detail=LONG_DETAIL,
            kinds=KIND_OPTIONS,
            export_query="",
            export_path="/audit",
        )
    checked = c.services.rt.clock().isoformat()
    return _page(request, c, who, filters, "", Verification(count, broken, checked))
