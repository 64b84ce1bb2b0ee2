"""Reports: usage and cost per organization (R11), turnaround performance and overdue cases
(R5), with CSV downloads — the same reports as ``certdesk report usage|sla`` and
``/api/v1/reports/*``.

A report is a GET with the period in the query (``start``, ``end``: days, Pacific, both
included; by default the current year to date) and optionally one organization (``org``).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from certdesk.core.access import Actor
from certdesk.core.calendar import parse_day
from certdesk.errors import CertdeskError, InvalidInput
from certdesk.services.casework.cases import CaseFilter
from certdesk.services.reporting.reports import UsageReport, dollars, year_to_date
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep

router = APIRouter()

OVERDUE_LISTED = 50
Day = Annotated[str, Query(max_length=40)]
Code = Annotated[str, Query(max_length=64)]


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    text: str


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart drawn as SVG by the template; the table holds the same numbers."""

    key: str
    title: str
    desc: str
    bars: tuple[Bar, ...]

    @property
    def peak(self) -> int:
        return max([b.value for b in self.bars] + [1])


def _charts(usage: UsageReport) -> list[Chart]:
    period = f"{usage.start} to {usage.end}"
    charts = [
        Chart(
            "certificates",
            f"Certificates issued by organization, {period}",
            "Bar chart: one bar per organization, its length the number of certificates"
            " issued in the period; the usage table holds the same numbers.",
            tuple(Bar(r.org_code, r.certificates, str(r.certificates)) for r in usage.rows),
        )
    ]
    if usage.total.cost_cents:
        charts.append(
            Chart(
                "cost",
                f"Managed cost by organization, {period}",
                "Bar chart: one bar per organization, its length the managed cost in dollars"
                " recorded in the period; the usage table holds the same numbers.",
                tuple(
                    Bar(r.org_code, r.cost_cents, "$" + dollars(r.cost_cents)) for r in usage.rows
                ),
            )
        )
    return charts


def _day(text: str, what: str, default: date) -> date:
    return parse_day(text, f"report.{what}", f"the {what} date") if text.strip() else default


def _period(c: Console, start: str, end: str) -> tuple[date, date]:
    first, last = year_to_date(c.services.rt.clock())
    return _day(start, "start", first), _day(end, "end", last)


def _org_options(c: Console, who: Actor) -> list[tuple[str, str]]:
    try:
        orgs = c.services.orgs.list_all(who)
    except CertdeskError:
        orgs = []
    return [("", "All organizations")] + [(o.code, f"{o.code} — {o.name}") for o in orgs]


def _csv(body: str, stem: str, first: date, last: date) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{stem}-{first}-{last}.csv"'},
    )


@router.get("/reports")
def reports(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    start: Day = "",
    end: Day = "",
    org: Code = "",
) -> Response:
    svc = c.services
    form = {"start": start.strip(), "end": end.strip(), "org": org.strip()}
    context: dict[str, Any] = {"title": "Reports", "form": form}
    try:
        first, last = _period(c, start, end)
        usage = svc.reports.usage(who, org.strip() or None, first, last)
    except InvalidInput as exc:
        # A bad period: the form again, naming the problem; no report is shown.
        return c.refused(request, "reports.html", exc, orgs=_org_options(c, who), **context)
    # Other refusals (another agency's organization, a role without reports) raise on to the
    # error page: 404 and 403.
    sla = svc.reports.sla(who, org.strip() or None, first, last)
    overdue = svc.cases.search(
        who, CaseFilter(org_code=org.strip() or None, overdue=True, limit=OVERDUE_LISTED)
    )
    query = {"start": first.isoformat(), "end": last.isoformat()}
    if org.strip():
        query["org"] = org.strip()
    form.update(start=first.isoformat(), end=last.isoformat())
    cases_query = {"overdue": "1", **({"org": org.strip()} if org.strip() else {})}
    return c.page(
        request,
        "reports.html",
        orgs=_org_options(c, who),
        usage=usage,
        charts=_charts(usage),
        dollars=dollars,
        sla=sla,
        overdue=overdue.items,
        overdue_more=overdue.next_cursor is not None,
        overdue_url="/cases?" + urllib.parse.urlencode(cases_query),
        csv_query=urllib.parse.urlencode(query),
        **context,
    )


@router.get("/reports/usage.csv")
def usage_csv(
    c: ConsoleDep, who: ViewerDep, start: Day = "", end: Day = "", org: Code = ""
) -> Response:
    """The same CSV as ``certdesk report usage --csv``."""
    first, last = _period(c, start, end)
    report = c.services.reports.usage(who, org.strip() or None, first, last)
    return _csv(report.as_csv(), "usage", first, last)


@router.get("/reports/sla.csv")
def sla_csv(
    c: ConsoleDep, who: ViewerDep, start: Day = "", end: Day = "", org: Code = ""
) -> Response:
    """The same CSV as ``certdesk report sla --csv``."""
    first, last = _period(c, start, end)
    report = c.services.reports.sla(who, org.strip() or None, first, last)
    return _csv(report.as_csv(), "sla", first, last)
