"""/api/v1/notices: the notices mailed to contacts (R9), and what a certificate's would say.

Operators and auditors see every notice; agency roles see their organization's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from certdesk.core.notices import NoticeState
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.identifiers import CaseFilter, Serial, SerialFilter
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(prefix="/api/v1/notices", tags=["notices"], responses=AUTHENTICATED)


class NoticeOut(BaseModel):
    id: int
    subject_type: Literal["certificate", "case", "person"]
    subject: str = Field(
        description="The certificate's serial, the case's number or the person's login ID"
    )
    reason: str = Field(examples=["expiry.30", "case.rejected#17", "window.closing"])
    contact_email: str
    status: NoticeState
    late: bool = Field(description="R9: sent (or planned) after its moment plus the grace")
    attempts: int
    due_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str
    mail_subject: str
    created_at: datetime


class NoticePageOut(BaseModel):
    items: list[NoticeOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class PreviewOut(BaseModel):
    to: str
    reason: str
    late: bool
    subject: str
    text: str
    html: str
    problem: str | None = Field(description="Why this contact would get nothing")


@router.get("", response_model=NoticePageOut, responses=problems(404, 422))
def list_notices(
    svc: ServicesDep,
    who: ActorDep,
    cert: SerialFilter = None,
    case: CaseFilter = None,
    status: NoticeState | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, object]:
    """Recorded notices, newest first: one per (certificate or case, contact, reason)."""
    page = svc.notices.search(who, cert=cert, case=case, status=status, cursor=cursor, limit=limit)
    return {"items": [n.as_dict() for n in page.items], "next_cursor": page.next_cursor}


@router.get("/preview/{serial}", response_model=list[PreviewOut], responses=problems(404, 422))
def preview(
    serial: Serial,
    svc: ServicesDep,
    who: ActorDep,
    reason: Annotated[
        str | None, Query(description="expiry.N or expired; default: the next one due")
    ] = None,
) -> list[dict[str, object]]:
    """What each contact of the certificate would receive; nothing is sent or recorded."""
    return [m.as_dict() for m in svc.notices.preview(who, serial, reason)]
