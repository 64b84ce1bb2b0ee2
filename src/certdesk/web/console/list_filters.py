"""The filters of the console's lists, read from the query string in one place.

A list page (/certificates, /cases, /audit) and its download (/exports/…) take their filter
through the same dependency below and turn it into the same service filter with the same
method, so a list and its export can never disagree about what a query string means. The
export link of a list page is that filter's own query string (:meth:`Filters.query`).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, Query

from certdesk.core.calendar import parse_day
from certdesk.services.casework.case_search import CaseFilter
from certdesk.services.exports import AuditFilter, CertFilter
from certdesk.services.pki.inventory import parse_duration

Text = Annotated[str, Query(max_length=256)]
AuditText = Annotated[str, Query(max_length=200)]


class Filters:
    """What every list's filter does: show itself in the form and in links."""

    def shown(self) -> dict[str, str]:
        """The filter as the form shows it, by query parameter (empty: not filtered)."""
        raise NotImplementedError

    @property
    def filtered(self) -> bool:
        return any(self.shown().values())

    def query(self, **more: str) -> str:
        """The query string of this filter (plus ``more``, e.g. a page cursor)."""
        return urllib.parse.urlencode({k: v for k, v in {**self.shown(), **more}.items() if v})


@dataclass(frozen=True)
class CertificateFilters(Filters):
    org: str = ""
    q: str = ""
    status: str = ""
    expiring: str = ""

    def shown(self) -> dict[str, str]:
        return {"org": self.org, "q": self.q, "status": self.status, "expiring": self.expiring}

    def to_filter(self) -> CertFilter:
        """The inventory's filter; a bad ``expiring`` is refused (InvalidInput)."""
        return CertFilter(
            org_code=self.org or None,
            text=self.q or None,
            status=self.status or None,
            expiring_within=parse_duration(self.expiring) if self.expiring else None,
        )


def certificate_filters(
    org: Text = "", q: Text = "", name: Text = "", status: Text = "", expiring: Text = ""
) -> CertificateFilters:
    # ``name`` is the older links' word for the search box: any part of a name or serial.
    return CertificateFilters(org.strip(), (q or name).strip(), status.strip(), expiring.strip())


@dataclass(frozen=True)
class CaseFilters(Filters):
    q: str = ""
    state: str = ""
    type: str = ""
    overdue: bool = False
    org: str = ""

    def shown(self) -> dict[str, str]:
        return {
            "q": self.q,
            "state": self.state,
            "type": self.type,
            "overdue": "1" if self.overdue else "",
            "org": self.org,
        }

    def to_filter(self) -> CaseFilter:
        """The case search's filter (its first page; the caller sets cursor and limit)."""
        return CaseFilter(
            org_code=self.org or None,
            state=self.state or None,
            type=self.type or None,
            overdue=self.overdue,
            text=self.q or None,
        )


def case_filters(
    state: Annotated[str, Query(max_length=40)] = "",
    kind: Annotated[str, Query(alias="type", max_length=40)] = "",
    overdue: Annotated[str, Query(max_length=8)] = "",
    org: Annotated[str, Query(max_length=64)] = "",
    q: Annotated[str, Query(max_length=253)] = "",
) -> CaseFilters:
    return CaseFilters(q.strip(), state.strip(), kind.strip(), bool(overdue), org.strip())


@dataclass(frozen=True)
class AuditFilters(Filters):
    actor: str = ""
    action: str = ""
    type: str = ""
    object: str = ""
    start: str = ""
    end: str = ""
    kind: str = ""
    sign_ins: str = ""

    def shown(self) -> dict[str, str]:
        return {
            "actor": self.actor,
            "action": self.action,
            "type": self.type,
            "object": self.object,
            "start": self.start,
            "end": self.end,
            "kind": self.kind,
            "sign_ins": self.sign_ins,
        }

    @property
    def filtered(self) -> bool:
        # Showing sign-ins widens the log; it filters nothing.
        return any(v for k, v in self.shown().items() if k != "sign_ins")

    def to_filter(self) -> AuditFilter:
        """The audit search's filter; a bad day is refused (InvalidInput)."""
        return AuditFilter(
            actor=_actor(self.actor),
            action=self.action or None,
            object_type=self.type or None,
            object_id=self.object or None,
            start=_day(self.start, "start"),
            end=_day(self.end, "end"),
            kind=self.kind or None,
            # Sign-ins and sign-outs are most of any log: folded unless asked for, or unless
            # the filter asks for them by kind or action.
            fold_sign_ins=not self.sign_ins
            and self.kind != "Sign-ins"
            and not self.action.startswith("session."),
        )


def audit_filters(
    actor: AuditText = "",
    action: AuditText = "",
    object_type: Annotated[str, Query(alias="type", max_length=200)] = "",
    object_id: Annotated[str, Query(alias="object", max_length=200)] = "",
    start: AuditText = "",
    end: AuditText = "",
    kind: AuditText = "",
    sign_ins: AuditText = "",
) -> AuditFilters:
    return audit_filters_of(actor, action, object_type, object_id, start, end, kind, sign_ins)


def audit_filters_of(*values: str) -> AuditFilters:
    """The audit filter from its eight values in :meth:`AuditFilters.shown` order (a form
    posts them too), trimmed."""
    return AuditFilters(*(v.strip() for v in values))


def _actor(text: str) -> str | None:
    """People type a sign-in name ("ana"); the log records ``user:ana``."""
    if not text:
        return None
    return text if ":" in text else f"user:{text}"


def _day(text: str, what: str) -> date | None:
    return parse_day(text, f"audit.{what}", f"the {what} date") if text else None


CertificateFiltersDep = Annotated[CertificateFilters, Depends(certificate_filters)]
CaseFiltersDep = Annotated[CaseFilters, Depends(case_filters)]
AuditFiltersDep = Annotated[AuditFilters, Depends(audit_filters)]
