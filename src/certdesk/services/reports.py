"""Reports (R11): certificate usage and managed cost per organization and period.

A period is two calendar dates, both included, in the data center's time zone (Pacific):
``2026-12-01`` to ``2026-12-31`` is every certificate issued from 00:00 Pacific on December 1
to 00:00 Pacific on January 1. Usage counts certificates issued in the period — through cases,
by delegated administrators or ACME — that were delivered (revoked and expired ones
included; intents and voided serials are not), by platform (dedicated/virtual); cost is the
sum of what managed certificates recorded at delivery.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from certdesk.core.access import Action, Actor, authorize, sees_org
from certdesk.core.calendar import PACIFIC
from certdesk.errors import InvalidInput, NotFound
from certdesk.services.runtime import Runtime
from certdesk.store import orgs as org_store
from certdesk.store import usage as usage_store

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


def _instant(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=PACIFIC)


class ReportService:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def usage(self, actor: Actor, org_code: str | None, start: date, end: date) -> UsageReport:
        """Certificates and managed cost per organization from ``start`` to ``end`` (R11)."""
        if end < start:
            raise InvalidInput(
                "report.period", f"the period ends ({end}) before it starts ({start})"
            )
        if (end - start).days > MAX_PERIOD_DAYS:
            raise InvalidInput("report.period", f"a period is at most {MAX_PERIOD_DAYS} days")
        with self._rt.reads() as s:
            if org_code is not None:
                org = org_store.by_code(s, org_code.strip().lower())
                if org is None or not sees_org(actor, org.id):
                    raise NotFound("org.unknown", f"no organization with code {org_code!r}")
                authorize(actor, Action.REPORT_READ, org.id, hide=True)
                orgs = [org]
            else:
                authorize(actor, Action.REPORT_READ, actor.org_id)
                orgs = org_store.all_orgs(s, None if actor.is_global else actor.org_id)
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
