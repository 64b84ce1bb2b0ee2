"""/api/v1/reports/usage and /api/v1/orgs/{code}/cost (R11), /api/v1/reports/sla (R5)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from certdesk.errors import InvalidInput
from certdesk.services.reporting.reports import year_to_date
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.identifiers import OrgCode, OrgFilter
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(tags=["reports"], responses=AUTHENTICATED)


class UsageRowOut(BaseModel):
    organization: str
    name: str
    service: Literal["managed", "self-managed"]
    certificates: int
    dedicated: int
    virtual: int
    cost_cents: int = Field(description="Managed certificates' cost recorded at delivery")


class UsageTotalOut(BaseModel):
    certificates: int
    dedicated: int
    virtual: int
    cost_cents: int


class UsageOut(BaseModel):
    from_: date = Field(alias="from")
    to: date
    rows: list[UsageRowOut]
    total: UsageTotalOut


class CostIn(BaseModel):
    cents_per_year: int | None = Field(
        ge=0,
        le=100_000_000,
        description="Cost of a managed certificate-year in cents; null: the configured default",
        examples=[36500],
    )


class CostOut(BaseModel):
    organization: str
    service: Literal["managed", "self-managed"]
    cents_per_year: int | None = Field(description="The organization's own rate, if any")
    effective_cents_per_year: int
    default: bool


@router.get(
    "/api/v1/reports/usage",
    response_model=UsageOut,
    responses={
        **problems(403, 404, 422),
        200: {"content": {"text/csv": {}}, "description": "JSON, or CSV (format=csv)"},
    },
)
def usage(
    svc: ServicesDep,
    who: ActorDep,
    from_: Annotated[date, Query(alias="from", description="First day (Pacific)")],
    to: Annotated[date, Query(description="Last day, included")],
    org: OrgFilter = None,
    format_: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Any:
    """Certificates issued per organization and platform, and managed cost (R11)."""
    report = svc.reports.usage(who, org, from_, to)
    if format_ == "csv":
        return Response(
            report.as_csv(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="usage-{from_}-{to}.csv"',
            },
        )
    return report.as_dict()


@router.get(
    "/api/v1/orgs/{code}/cost",
    response_model=CostOut,
    tags=["organizations"],
    responses=problems(404, 422),
)
def get_cost(code: OrgCode, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    """The organization's cost per managed certificate-year (R11)."""
    return svc.costs.show(who, code).as_dict()


@router.put(
    "/api/v1/orgs/{code}/cost",
    response_model=CostOut,
    tags=["organizations"],
    responses=problems(403, 404, 422),
)
def put_cost(code: OrgCode, body: CostIn, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    """Set the organization's cost per managed certificate-year (cert services; audited)."""
    return svc.costs.set_cost(who, code, body.cents_per_year).as_dict()


class SlaNumbersOut(BaseModel):
    delivered: int = Field(description="Cases delivered in the period")
    within_target: int = Field(description="Delivered on or before the case's target date")
    within_target_pct: float | None = Field(description="Percent, one decimal; null: none")
    within_due: int = Field(description="Delivered on or before the case's due date")
    within_due_pct: float | None
    late: int = Field(description="Delivered after the due date")
    mean_business_days: float | None = Field(description="From approval to delivery (R5)")


class SlaRowOut(SlaNumbersOut):
    organization: str
    name: str


class SlaOut(BaseModel):
    from_: date = Field(alias="from")
    to: date
    target_business_days: int
    due_business_days: int
    rows: list[SlaRowOut]
    total: SlaNumbersOut


def _one_of(a: date | None, b: date | None, names: str) -> date | None:
    if a is not None and b is not None and a != b:
        raise InvalidInput("report.period", f"give {names}, not both")
    return a if a is not None else b


@router.get(
    "/api/v1/reports/sla",
    response_model=SlaOut,
    responses={
        **problems(403, 404, 422),
        200: {"content": {"text/csv": {}}, "description": "JSON, or CSV (format=csv)"},
    },
)
def sla(
    svc: ServicesDep,
    who: ActorDep,
    start: Annotated[date | None, Query(description="First day (Pacific); default 1 Jan.")] = None,
    end: Annotated[date | None, Query(description="Last day, included; default today")] = None,
    from_: Annotated[date | None, Query(alias="from", description="Same as start")] = None,
    to: Annotated[date | None, Query(description="Same as end")] = None,
    org: OrgFilter = None,
    format_: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Any:
    """R5 performance: cases delivered in the period within their target and due dates."""
    first, last = year_to_date(svc.rt.clock())
    begin = _one_of(start, from_, "start or from") or first
    until = _one_of(end, to, "end or to") or last
    report = svc.reports.sla(who, org, begin, until)
    if format_ == "csv":
        return Response(
            report.as_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="sla-{begin}-{until}.csv"'},
        )
    return report.as_dict()
