"""GET /api/v1/cases: the cases the caller may see, newest first, one page at a time
(R3, R5); a case as such a list shows it, whose fields the full case extends
(:class:`certdesk.web.api.cases.CaseOut`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from certdesk.core.workflow import CaseType, State
from certdesk.services.casework.cases import CaseFilter
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.identifiers import OrgFilter
from certdesk.web.problems import AUTHENTICATED, problems

# Included by the cases router (web/api/cases.py) right after POST /api/v1/cases, where the
# route always was; the tag and the authentication responses are that router's.
router = APIRouter(tags=["cases"], responses=AUTHENTICATED)
CASES = "/api/v1/cases"


class CaseBase(BaseModel):
    number: str = Field(examples=["CS-2026-000123"])
    organization: str
    type: CaseType
    state: State
    title: str
    opened_by: str
    created_at: datetime
    updated_at: datetime
    requested_delivery: date | None
    target_date: date | None = Field(description="R5: +3 business days after the last approval")
    due_date: date | None = Field(description="R5: +5 business days, or a later requested date")
    expedite: bool = Field(description="R5: a requested delivery date before the due date")
    overdue: bool = Field(description="R5: approved, not delivered and past the due date")


class CaseSummaryOut(CaseBase):
    submittals: int = Field(description="How many submittals the case carries")


class CasePage(BaseModel):
    items: list[CaseSummaryOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


@router.get(CASES, response_model=CasePage, responses=problems(404, 422))
def list_cases(
    svc: ServicesDep,
    who: ActorDep,
    org: OrgFilter = None,
    state: State | None = None,
    type_: Annotated[CaseType | None, Query(alias="type")] = None,
    overdue: Annotated[bool, Query(description="Only overdue cases (R5)")] = False,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    q: Annotated[
        str | None,
        Query(max_length=253, description="Any part of the number, title or a name"),
    ] = None,
) -> dict[str, object]:
    """Cases the caller may see, newest first."""
    return svc.cases.search(
        who,
        CaseFilter(
            text=q,
            org_code=org,
            state=str(state) if state else None,
            type=str(type_) if type_ else None,
            overdue=overdue,
            cursor=cursor,
            limit=limit,
        ),
    ).as_dict()
