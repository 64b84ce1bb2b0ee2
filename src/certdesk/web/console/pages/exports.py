"""Downloads of the lists as they are filtered: /exports/certificates, /exports/cases and
/exports/audit take the list page's own query (plus ``format``), so a link from a filtered
list downloads exactly what the list shows, page after page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from certdesk.core.calendar import parse_day
from certdesk.core.exports import parse_format
from certdesk.services.casework.case_search import CaseFilter
from certdesk.services.exports import AuditFilter, CertFilter
from certdesk.services.pki.inventory import parse_duration
from certdesk.web.api.exports import file_response
from certdesk.web.console.frame import ConsoleDep, ViewerDep

router = APIRouter()

Text = Annotated[str, Query(max_length=256)]


@router.get("/exports/certificates")
def certificates(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    format: Text = "csv",
    org: Text = "",
    q: Text = "",
    status: Text = "",
    expiring: Text = "",
) -> Response:
    query = CertFilter(
        org_code=org.strip() or None,
        text=q.strip() or None,
        status=status.strip() or None,
        expiring_within=parse_duration(expiring.strip()) if expiring.strip() else None,
    )
    return file_response(c.services.exports.certificates(who, query, parse_format(format)))


@router.get("/exports/cases")
def cases(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    format: Text = "csv",
    org: Text = "",
    q: Text = "",
    state: Text = "",
    kind: Annotated[str, Query(alias="type", max_length=40)] = "",
    overdue: Text = "",
) -> Response:
    query = CaseFilter(
        org_code=org.strip() or None,
        text=q.strip() or None,
        state=state.strip() or None,
        type=kind.strip() or None,
        overdue=bool(overdue),
    )
    return file_response(c.services.exports.cases(who, query, parse_format(format)))


@router.get("/exports/audit")
def audit(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    format: Text = "csv",
    actor: Text = "",
    action: Text = "",
    object_type: Annotated[str, Query(alias="type", max_length=200)] = "",
    object_id: Annotated[str, Query(alias="object", max_length=200)] = "",
    start: Text = "",
    end: Text = "",
    kind: Text = "",
    sign_ins: Text = "",
) -> Response:
    query = AuditFilter(
        actor=actor.strip() or None,
        action=action.strip() or None,
        object_type=object_type.strip() or None,
        object_id=object_id.strip() or None,
        start=parse_day(start, "audit.start", "the start date") if start.strip() else None,
        end=parse_day(end, "audit.end", "the end date") if end.strip() else None,
        kind=kind.strip() or None,
        fold_sign_ins=not sign_ins,
    )
    return file_response(c.services.exports.audit(who, query, parse_format(format)))
