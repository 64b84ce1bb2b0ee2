"""/api/v1/exports/{certificates,cases,audit}: a list with its filter as one CSV or JSON file.

CSV is for people (Pacific times with the zone, plain state words); JSON keeps the API's
machine fields (UTC ISO 8601, raw states).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from certdesk.core.exports import ExportFormat
from certdesk.core.workflow import CaseType, State
from certdesk.services.casework.case_search import CaseFilter
from certdesk.services.exports import AuditFilter, CertFilter, Export
from certdesk.services.pki.inventory import parse_duration
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.identifiers import OrgFilter
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(prefix="/api/v1/exports", tags=["exports"], responses=AUTHENTICATED)

Format = Annotated[ExportFormat, Query(alias="format", description="csv or json")]
Search = Annotated[
    str | None,
    Query(
        max_length=253,
        description="Any part of a name, serial, case number or title (dmv.ca.gov finds"
        " www.dmv.ca.gov)",
    ),
]
FILES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {}, "application/json": {}},
        "description": "The file",
    }
}


def file_response(export: Export) -> Response:
    return Response(
        export.body,
        media_type=export.media_type,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


@router.get("/certificates", response_class=Response, responses={**FILES, **problems(404, 422)})
def export_certificates(
    svc: ServicesDep,
    who: ActorDep,
    format_: Format = ExportFormat.CSV,
    org: OrgFilter = None,
    q: Search = None,
    status_: Annotated[str | None, Query(alias="status")] = None,
    expiring_within: Annotated[str | None, Query(description="e.g. 30d")] = None,
) -> Response:
    """The inventory the caller may see, with the list's filter."""
    query = CertFilter(
        org_code=org,
        text=q,
        status=status_,
        expiring_within=parse_duration(expiring_within) if expiring_within else None,
    )
    return file_response(svc.exports.certificates(who, query, format_))


@router.get("/cases", response_class=Response, responses={**FILES, **problems(404, 422)})
def export_cases(
    svc: ServicesDep,
    who: ActorDep,
    format_: Format = ExportFormat.CSV,
    org: OrgFilter = None,
    q: Search = None,
    state: State | None = None,
    type_: Annotated[CaseType | None, Query(alias="type")] = None,
    overdue: bool = False,
) -> Response:
    """The cases the caller may see, with the list's filter."""
    query = CaseFilter(
        org_code=org,
        text=q,
        state=str(state) if state else None,
        type=str(type_) if type_ else None,
        overdue=overdue,
    )
    return file_response(svc.exports.cases(who, query, format_))


@router.get("/audit", response_class=Response, responses={**FILES, **problems(403, 422)})
def export_audit(
    svc: ServicesDep,
    who: ActorDep,
    format_: Format = ExportFormat.CSV,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=200)] = None,
    object_type: Annotated[str | None, Query(max_length=200)] = None,
    object_id: Annotated[str | None, Query(max_length=200)] = None,
    start: date | None = None,
    end: date | None = None,
    kind: Annotated[str | None, Query(max_length=40, description="e.g. Cases, Sign-ins")] = None,
    fold_sign_ins: bool = False,
) -> Response:
    """Audit events with the log's filter (auditors and cert services)."""
    query = AuditFilter(actor, action, object_type, object_id, start, end, kind, fold_sign_ins)
    return file_response(svc.exports.audit(who, query, format_))
