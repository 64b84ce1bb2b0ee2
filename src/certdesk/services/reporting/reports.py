"""Reports: certificate usage and managed cost (R11) and turnaround performance (R5) per
organization and period.

A period is two calendar dates, both included, in the data center's time zone (Pacific):
``2026-12-01`` to ``2026-12-31`` is every certificate issued from 00:00 Pacific on December 1
to 00:00 Pacific on January 1. Usage counts certificates issued in the period — through cases,
by delegated administrators or ACME — that were delivered (revoked and expired ones
included; intents and voided serials are not), by platform (dedicated/virtual); cost is the
sum of what managed certificates recorded at delivery.

SLA performance (R5) counts the cases *delivered* in the period and judges each against the
target and due dates it was given at approval (:mod:`certdesk.core.sla`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.calendar import PACIFIC, BusinessCalendar
from certdesk.core.sla import SlaCount, timeliness
from certdesk.errors import InvalidInput
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_org
from certdesk.store import orgs as org_store
from certdesk.store import sla as sla_store
from certdesk.store import usage as usage_store
from certdesk.store.models import Organization

MAX_PERIOD_DAYS = 3700  # ten years and a bit
CSV_COLUMNS = (
    "organization",
    "name",
    "service",
    "certificates",
    "dedicated",
    "virtual",
    "cost_cents",
    "cost",
)


@dataclass(frozen=True)
class UsageRow:
    org_code: str
    org_name: str
    self_managed: bool
    certificates: int
    dedicated: int
    virtual: int
    cost_cents: int

    def as_dict(self) -> dict[str, object]:
        return {
            "organization": self.org_code,
            "name": self.org_name,
            "service": "self-managed" if self.self_managed else "managed",
            "certificates": self.certificates,
            "dedicated": self.dedicated,
            "virtual": self.virtual,
            "cost_cents": self.cost_cents,
        }


def dollars(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True)
class UsageReport:
    start: date
    end: date  # included
    rows: tuple[UsageRow, ...]

    @property
    def total(self) -> UsageRow:
        return UsageRow(
            "TOTAL",
            "",
            False,
            sum(r.certificates for r in self.rows),
            sum(r.dedicated for r in self.rows),
            sum(r.virtual for r in self.rows),
            sum(r.cost_cents for r in self.rows),
        )

    def as_dict(self) -> dict[str, object]:
        total = self.total.as_dict()
        for key in ("organization", "name", "service"):
            del total[key]
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "rows": [r.as_dict() for r in self.rows],
            "total": total,
        }

    def as_csv(self) -> str:
        """One line per organization and a ``TOTAL`` line; cost also in dollars."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        lines = [(r, "self-managed" if r.self_managed else "managed") for r in self.rows]
        for row, service in [*lines, (self.total, "")]:
            writer.writerow(
                [
                    row.org_code,
                    row.org_name,
                    service,
                    row.certificates,
                    row.dedicated,
                    row.virtual,
                    row.cost_cents,
                    dollars(row.cost_cents),
                ]
            )
        return out.getvalue()


SLA_CSV_COLUMNS = (
    "organization",
    "name",
    "delivered",
    "within_target",
    "within_target_pct",
    "within_due",
    "within_due_pct",
    "late",
    "mean_business_days",
)


@dataclass(frozen=True)
class SlaRow:
    org_code: str
    org_name: str
    count: SlaCount

    def as_dict(self) -> dict[str, object]:
        return {"organization": self.org_code, "name": self.org_name, **_sla_numbers(self.count)}


def _sla_numbers(c: SlaCount) -> dict[str, object]:
    return {
        "delivered": c.delivered,
        "within_target": c.within_target,
        "within_target_pct": c.within_target_pct,
        "within_due": c.within_due,
        "within_due_pct": c.within_due_pct,
        "late": c.late,
        "mean_business_days": c.mean_business_days,
    }


@dataclass(frozen=True)
class SlaReport:
    """R5: cases delivered in a period, within their target and due dates, per organization."""

    start: date
    end: date  # included
    target_business_days: int  # the settings now; each case keeps the dates it was given
    due_business_days: int
    rows: tuple[SlaRow, ...]

    @property
    def total(self) -> SlaCount:
        return sum((r.count for r in self.rows), SlaCount())

    def as_dict(self) -> dict[str, object]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "target_business_days": self.target_business_days,
            "due_business_days": self.due_business_days,
            "rows": [r.as_dict() for r in self.rows],
            "total": _sla_numbers(self.total),
        }

    def as_csv(self) -> str:
        """One line per organization and a ``TOTAL`` line; no percentage for 0 delivered."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(SLA_CSV_COLUMNS)
        for code, name, count in [
            *((r.org_code, r.org_name, r.count) for r in self.rows),
            ("TOTAL", "", self.total),
        ]:
            numbers = _sla_numbers(count)
            writer.writerow(
                [
                    code,
                    name,
                    *("" if numbers[k] is None else numbers[k] for k in SLA_CSV_COLUMNS[2:]),
                ]
            )
        return out.getvalue()


def _instant(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=PACIFIC)


def year_to_date(now: datetime) -> tuple[date, date]:
    """The default report period: 1 January of the current Pacific year up to today."""
    today = now.astimezone(PACIFIC).date()
    return today.replace(month=1, day=1), today


def _check_period(start: date, end: date) -> None:
    if end < start:
        raise InvalidInput("report.period", f"the period ends ({end}) before it starts ({start})")
    if (end - start).days > MAX_PERIOD_DAYS:
        raise InvalidInput("report.period", f"a period is at most {MAX_PERIOD_DAYS} days")


def _orgs_for(s: Session, actor: Actor, org_code: str | None) -> list[Organization]:
    """The organizations a report covers: the one asked for, or every one ``actor`` sees.

    Another agency's organization answers exactly like an unknown one (404).
    """
    if org_code is not None:
        org = visible_org(s, actor, org_code)
        authorize(actor, Action.REPORT_READ, org.id, hide=True)
        return [org]
    authorize(actor, Action.REPORT_READ, actor.org_id)
    return org_store.all_orgs(s, None if actor.is_global else actor.org_id)


class ReportService:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        configured = rt.settings.holidays
        self._calendar = BusinessCalendar(frozenset(configured) if configured is not None else None)

    def usage(self, actor: Actor, org_code: str | None, start: date, end: date) -> UsageReport:
        """Certificates and managed cost per organization from ``start`` to ``end`` (R11)."""
        _check_period(start, end)
        with self._rt.reads() as s:
            orgs = _orgs_for(s, actor, org_code)
            counts = usage_store.certificate_usage(
                s,
                _instant(start),
                _instant(end + timedelta(days=1)),
                orgs[0].id if org_code is not None else None,
            )
        by_org: dict[int, dict[str, int]] = {}
        for c in counts:
            entry = by_org.setdefault(c.org_id, {"all": 0, "dedicated": 0, "virtual": 0, "cost": 0})
            entry["all"] += c.certificates
            entry[c.platform] = entry.get(c.platform, 0) + c.certificates
            entry["cost"] += c.cost_cents
        rows = []
        for org in orgs:
            entry = by_org.get(org.id, {})
            rows.append(
                UsageRow(
                    org.code,
                    org.name,
                    org.self_managed,
                    entry.get("all", 0),
                    entry.get("dedicated", 0),
                    entry.get("virtual", 0),
                    entry.get("cost", 0),
                )
            )
        return UsageReport(start, end, tuple(rows))

    def sla(self, actor: Actor, org_code: str | None, start: date, end: date) -> SlaReport:
        """R5 performance of the cases delivered from ``start`` to ``end`` (days, Pacific).

        Each delivered case is judged against the target and due dates it was given when it
        was approved (:func:`certdesk.core.sla.timeliness`); the business days it took are
        counted on the same calendar as those dates.
        """
        _check_period(start, end)
        with self._rt.reads() as s:
            orgs = _orgs_for(s, actor, org_code)
            cases = sla_store.delivered_cases(
                s,
                _instant(start),
                _instant(end + timedelta(days=1)),
                orgs[0].id if org_code is not None else None,
            )
        by_org: dict[int, SlaCount] = {}
        for case in cases:
            judged = timeliness(
                case.approved_at, case.delivered_at, case.target_date, case.due_date, self._calendar
            )
            by_org[case.org_id] = by_org.get(case.org_id, SlaCount()).plus(judged)
        settings = self._rt.settings
        return SlaReport(
            start,
            end,
            settings.target_business_days,
            settings.due_business_days,
            tuple(SlaRow(o.code, o.name, by_org.get(o.id, SlaCount())) for o in orgs),
        )
