"""Exports of the inventory, the cases and the audit log with the list's current filter, as
CSV for people (Pacific times, R19) or JSON in the API's shape (UTC ISO 8601).

Composition: it reads through the same searches as the lists (inventory, case search,
audit), page after page, so an export shows exactly what the caller may see and nothing
more; each page is authorized like the list. A filter reads one page itself
(:meth:`CertFilter.page`, :meth:`AuditFilter.page`; a :class:`CaseFilter` carries its own
cursor), and the console's list pages read their pages the same way: a list and its export
ask the same question.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from certdesk.core.access import Actor
from certdesk.core.audit_text import describe, who
from certdesk.core.exports import (
    AUDIT_COLUMNS,
    CASE_COLUMNS,
    CERT_COLUMNS,
    MAX_ROWS,
    ExportFormat,
    to_csv,
)
from certdesk.core.messages import state_label
from certdesk.errors import InvalidInput
from certdesk.services.audit import AuditService, AuditView
from certdesk.services.casework.case_search import CaseFilter
from certdesk.services.casework.casefile import CaseSummary
from certdesk.services.casework.cases import CaseService
from certdesk.services.pki.inventory import CertView, InventoryService, Page

__all__ = ["AuditFilter", "CertFilter", "Export", "ExportService"]

_PAGE = 500
T = TypeVar("T")


@dataclass(frozen=True)
class CertFilter:
    org_code: str | None = None
    text: str | None = None
    status: str | None = None
    expiring_within: timedelta | None = None

    def page(
        self, inventory: InventoryService, actor: Actor, *, cursor: str | None, limit: int
    ) -> Page:
        """One page of the certificates this filter finds, as the inventory list reads it."""
        return inventory.search(
            actor,
            org_code=self.org_code,
            text=self.text,
            status=self.status,
            expiring_within=self.expiring_within,
            cursor=cursor,
            limit=limit,
        )


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    start: date | None = None
    end: date | None = None
    kind: str | None = None
    fold_sign_ins: bool = False

    def page(
        self, audit: AuditService, actor: Actor, *, cursor: str | None, limit: int
    ) -> tuple[list[AuditView], str | None]:
        """One page of the events this filter finds, as the audit log reads it."""
        return audit.search(
            actor,
            by=self.actor,
            action=self.action,
            object_type=self.object_type,
            object_id=self.object_id,
            start=self.start,
            end=self.end,
            kind=self.kind,
            fold_sign_ins=self.fold_sign_ins,
            cursor=cursor,
            limit=limit,
        )


@dataclass(frozen=True)
class Export:
    """One file: its bytes, media type and a file name."""

    body: str
    media_type: str
    filename: str


def _all(fetch: Callable[[str | None], tuple[list[T], str | None]]) -> Iterator[T]:
    cursor: str | None = None
    count = 0
    while True:
        items, cursor = fetch(cursor)
        for item in items:
            count += 1
            if count > MAX_ROWS:
                raise InvalidInput(
                    "export.too_large",
                    f"more than {MAX_ROWS} rows match; narrow the filter and export again",
                )
            yield item
        if not cursor:
            return


def _cert_row(c: CertView) -> dict[str, object]:
    return {
        "serial": c.serial,
        "organization": c.org_code,
        "names": c.names,
        "status": state_label(c.status),
        "not_before": c.not_before,
        "not_after": c.not_after,
        "revoked_at": c.revoked_at,
        "revocation_reason": c.revocation_reason,
        "key_type": c.key_type,
        "platform": c.platform,
        "issuer": c.issuer,
        "requested_by": c.requested_by,
    }


def _case_row(c: CaseSummary) -> dict[str, object]:
    return {
        "number": c.number,
        "organization": c.org_code,
        "type": state_label(c.type),
        "state": state_label(c.state),
        "title": c.title,
        "opened_by": c.opened_by,
        "created_at": c.created_at,
        "target_date": c.target_date,
        "due_date": c.due_date,
        "overdue": c.overdue,
        "expedite": c.expedite,
        "submittals": c.submittals,
    }


def _audit_row(e: AuditView) -> dict[str, object]:
    return {
        "seq": e.seq,
        "at": datetime.fromisoformat(e.at),
        "who": who(e.actor),
        "what": describe(e.action, e.object_type, e.object_id),
        "action": e.action,
        "object_type": e.object_type,
        "object_id": e.object_id,
    }


def _file(
    fmt: ExportFormat,
    stem: str,
    columns: tuple[tuple[str, str], ...],
    people: list[dict[str, object]],
    machines: list[dict[str, Any]],
) -> Export:
    if fmt is ExportFormat.CSV:
        return Export(to_csv(columns, people), "text/csv; charset=utf-8", f"{stem}.csv")
    body = json.dumps({"items": machines}, ensure_ascii=False, default=str)
    return Export(body, "application/json", f"{stem}.json")


class ExportService:
    def __init__(
        self, inventory: InventoryService, cases: CaseService, audit: AuditService
    ) -> None:
        self._inventory = inventory
        self._cases = cases
        self._audit = audit

    def certificates(self, actor: Actor, query: CertFilter, fmt: ExportFormat) -> Export:
        def page(cursor: str | None) -> tuple[list[CertView], str | None]:
            found = query.page(self._inventory, actor, cursor=cursor, limit=_PAGE)
            return found.items, found.next_cursor

        rows = list(_all(page))
        return _file(
            fmt,
            "certificates",
            CERT_COLUMNS,
            [_cert_row(c) for c in rows],
            [c.as_dict() for c in rows],
        )

    def cases(self, actor: Actor, query: CaseFilter, fmt: ExportFormat) -> Export:
        def page(cursor: str | None) -> tuple[list[CaseSummary], str | None]:
            found = self._cases.search(actor, replace(query, cursor=cursor, limit=_PAGE))
            return found.items, found.next_cursor

        rows = list(_all(page))
        return _file(
            fmt, "cases", CASE_COLUMNS, [_case_row(c) for c in rows], [c.as_dict() for c in rows]
        )

    def audit(self, actor: Actor, query: AuditFilter, fmt: ExportFormat) -> Export:
        def page(cursor: str | None) -> tuple[list[AuditView], str | None]:
            return query.page(self._audit, actor, cursor=cursor, limit=_PAGE)

        rows = list(_all(page))
        return _file(
            fmt, "audit", AUDIT_COLUMNS, [_audit_row(e) for e in rows], [e.as_dict() for e in rows]
        )
