"""Downloads of the lists as they are filtered: /exports/certificates, /exports/cases and
/exports/audit take the list page's own query (plus ``format``) through the list's own
filter (:mod:`certdesk.web.console.list_filters`), so a link from a filtered list downloads
exactly what the list shows, page after page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from certdesk.core.exports import parse_format
from certdesk.web.api.exports import file_response
from certdesk.web.console.frame import ConsoleDep, ViewerDep
from certdesk.web.console.list_filters import AuditFiltersDep, CaseFiltersDep, CertificateFiltersDep

router = APIRouter()

Format = Annotated[str, Query(max_length=256)]


@router.get("/exports/certificates")
def certificates(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    filters: CertificateFiltersDep,
    format: Format = "csv",
) -> Response:
    query = filters.to_filter()
    return file_response(c.services.exports.certificates(who, query, parse_format(format)))


@router.get("/exports/cases")
def cases(
    request: Request, c: ConsoleDep, who: ViewerDep, filters: CaseFiltersDep, format: Format = "csv"
) -> Response:
    query = filters.to_filter()
    return file_response(c.services.exports.cases(who, query, parse_format(format)))


@router.get("/exports/audit")
def audit(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    filters: AuditFiltersDep,
    format: Format = "csv",
) -> Response:
    query = filters.to_filter()
    return file_response(c.services.exports.audit(who, query, parse_format(format)))
