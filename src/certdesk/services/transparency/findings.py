"""CT findings as people see them: cert services and auditors all of them, an agency only
its own organization's (R2); a finding of another agency is not there for it at all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.ct_findings import headline
from certdesk.errors import InvalidInput
from certdesk.services.runtime import Runtime
from certdesk.store import ct as store

__all__ = ["CtFindings", "FindingPage", "FindingView"]


@dataclass(frozen=True)
class FindingView:
    id: int
    headline: str
    names: list[str]
    org: str | None  # the organization whose grants cover the names; None: cert services
    precert: bool
    issuer: str
    serial: str
    sha256: str
    not_before: datetime
    not_after: datetime
    log: str
    entry_index: int
    logged_at: datetime
    found_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class FindingPage:
    items: list[FindingView]
    next_cursor: str | None


class CtFindings:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def search(self, actor: Actor, *, cursor: str | None = None, limit: int = 100) -> FindingPage:
        """Findings newest first, ``limit`` at a time (``cursor``: the previous page's)."""
        authorize(actor, Action.CERT_READ, None if actor.is_global else actor.org_id)
        if not 1 <= limit <= 500:
            raise InvalidInput("ct.limit", "limit is between 1 and 500")
        before = None
        if cursor is not None:
            if not cursor.isdigit() or len(cursor) > 18:
                raise InvalidInput("ct.cursor", f"{cursor!r} is not a cursor of this listing")
            before = int(cursor)
        org_id = None if actor.is_global else (actor.org_id if actor.org_id is not None else -1)
        with self._rt.reads() as s:
            rows = store.search_findings(s, org_id, before_id=before, limit=limit + 1)
        items = [
            FindingView(
                f.id,
                headline(f.names.split(",")),
                f.names.split(","),
                code,
                f.precert,
                f.issuer,
                f.serial,
                f.sha256,
                f.not_before,
                f.not_after,
                log_name,
                f.entry_index,
                f.logged_at,
                f.found_at,
            )
            for f, log_name, code in rows[:limit]
        ]
        more = len(rows) > limit
        return FindingPage(items, str(items[-1].id) if more and items else None)
