"""Finding cases (R5): the keyset-paged case list with its filters, overdue included."""

from __future__ import annotations

import re
from dataclasses import dataclass

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.calendar import PACIFIC
from certdesk.core.cases import WORKING_STATES
from certdesk.core.workflow import State
from certdesk.errors import InvalidInput
from certdesk.services.casework.approvals import parse_case_type
from certdesk.services.casework.casefile import CaseSummary, summary_of
from certdesk.services.pki.inventory import search_text
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_org
from certdesk.store import cases as case_store
from certdesk.store import orgs as org_store
from certdesk.store import submittals as submittal_store

MAX_PAGE = 500
_CURSOR = re.compile(r"^[0-9]{1,18}$")
STATES = tuple(st.value for st in State)


@dataclass(frozen=True)
class CasePage:
    items: list[CaseSummary]
    next_cursor: str | None

    def as_dict(self) -> dict[str, object]:
        return {"items": [c.as_dict() for c in self.items], "next_cursor": self.next_cursor}


@dataclass(frozen=True)
class CaseFilter:
    org_code: str | None = None
    state: str | None = None
    type: str | None = None
    overdue: bool = False
    cursor: str | None = None
    limit: int = 100
    # Any part of the case number, the title or a submittal's names.
    text: str | None = None


def search(rt: Runtime, actor: Actor, query: CaseFilter) -> CasePage:
    """Cases visible to ``actor``, newest first, in keyset pages."""
    if query.state is not None and query.state not in STATES:
        raise InvalidInput(
            "case.state", f"unknown state {query.state!r}; use one of " + ", ".join(STATES)
        )
    kind = parse_case_type(query.type) if query.type is not None else None
    if not 1 <= query.limit <= MAX_PAGE:
        raise InvalidInput("page.limit", f"limit must be between 1 and {MAX_PAGE}")
    before_id = None
    if query.cursor:
        if not _CURSOR.match(query.cursor):
            raise InvalidInput("page.cursor", "invalid page cursor")
        before_id = int(query.cursor)
    now = rt.clock()
    with rt.reads() as s:
        if query.org_code is not None:
            org_id: int | None = visible_org(s, actor, query.org_code).id
            authorize(actor, Action.CASE_READ, org_id, hide=True)
        else:
            authorize(actor, Action.CASE_READ, actor.org_id)
            org_id = None if actor.is_global else actor.org_id
        rows = case_store.search(
            s,
            case_store.CaseQuery(
                org_id=org_id,
                state=query.state,
                type=str(kind) if kind else None,
                # R5: overdue from 00:00 Pacific the day after the due date.
                due_before=now.astimezone(PACIFIC).date() if query.overdue else None,
                working_states=tuple(str(st) for st in WORKING_STATES),
                before_id=before_id,
                limit=query.limit,
                text=search_text(query.text),
            ),
        )
        codes = {o.id: o.code for o in org_store.all_orgs(s)}
        counts = submittal_store.submittal_counts(s, [r.id for r in rows])
        items = [summary_of(r, codes.get(r.org_id, "?"), now, counts.get(r.id, 0)) for r in rows]
    next_cursor = str(rows[-1].id) if len(rows) == query.limit else None
    return CasePage(items, next_cursor)
