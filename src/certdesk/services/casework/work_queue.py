"""The work queue (R4, R5, R9, R16): what waits for the person asking, on one page.

Cert services see the cases awaiting their approval, the approved cases ready to fulfil,
overdue cases, cases ordering at a vendor and mail that failed for good; an agency's people
see their own cases and the cases awaiting their approval. Which step a person may fill is
asked of :func:`certdesk.core.cases.eligible_steps`, never re-derived here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, Role
from certdesk.core.cases import already_decided, eligible_steps, open_steps, own_request
from certdesk.core.workflow import State, parse_steps
from certdesk.services.casework.case_search import CaseFilter, search
from certdesk.services.casework.casefile import CaseSummary, decisions, facts_of, summary_of
from certdesk.services.runtime import Runtime
from certdesk.store import cases as case_store
from certdesk.store import orgs as org_store
from certdesk.store import submittals as submittal_store
from certdesk.store import work_queue as queue_store
from certdesk.store.models import Case

__all__ = ["FailedNotice", "WorkQueue", "WorkQueueService"]

LISTED = 10  # rows per section; the section links to the full list


@dataclass(frozen=True)
class FailedNotice:
    subject_type: str
    subject_id: int
    contact_email: str
    reason: str
    subject: str
    created_at: datetime
    last_error: str

    def as_dict(self) -> dict[str, object]:
        return {
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "contact_email": self.contact_email,
            "reason": self.reason,
            "subject": self.subject,
            "created_at": self.created_at.isoformat(),
            "last_error": self.last_error,
        }


@dataclass(frozen=True)
class WorkQueue:
    """Each section is None when it is not the asker's work, else its rows (maybe none)."""

    awaiting_approval: list[CaseSummary] | None = None
    ready_to_fulfil: list[CaseSummary] | None = None
    overdue: list[CaseSummary] | None = None
    ordering: list[CaseSummary] | None = None
    failed_notices: list[FailedNotice] | None = None
    mine: list[CaseSummary] | None = None
    sections: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for name in self.sections:
            rows = getattr(self, name)
            out[name] = [r.as_dict() for r in rows]
        return out


class WorkQueueService:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def of(self, actor: Actor, limit: int = LISTED) -> WorkQueue:
        """The queue of ``actor``; empty sections are kept, absent ones are not their work."""
        now = self._rt.clock()
        found: dict[str, list[CaseSummary] | list[FailedNotice]] = {}
        if actor.may(Action.CASE_APPROVE):
            found["awaiting_approval"] = self._awaiting(actor, now, limit)
        works = actor.has(Role.OPERATOR)
        if works:
            found["ready_to_fulfil"] = self._summaries(
                lambda s: queue_store.waiting_cases(s, State.APPROVED, None, limit), now
            )
        if works or actor.has(Role.AUDITOR):
            found["overdue"] = search(self._rt, actor, CaseFilter(overdue=True, limit=limit)).items
        if works:
            found["ordering"] = self._summaries(lambda s: queue_store.cases_ordering(s, limit), now)
            found["failed_notices"] = self._failed(limit)
        if actor.user_id is not None and not actor.is_global and actor.may(Action.CASE_READ):
            found["mine"] = self._summaries(
                lambda s: case_store.search(
                    s,
                    case_store.CaseQuery(
                        org_id=actor.org_id, requester_id=actor.user_id, limit=limit
                    ),
                ),
                now,
            )
        return WorkQueue(**found, sections=tuple(found))  # type: ignore[arg-type]  # by name

    def _summaries(self, read: Callable[[Session], list[Case]], now: datetime) -> list[CaseSummary]:
        with self._rt.reads() as s:
            rows = read(s)
            return self._summarize(s, rows, now)

    @staticmethod
    def _summarize(s: Session, rows: list[Case], now: datetime) -> list[CaseSummary]:
        codes = {o.id: o.code for o in org_store.all_orgs(s)}
        counts = submittal_store.submittal_counts(s, [r.id for r in rows])
        return [summary_of(r, codes.get(r.org_id, "?"), now, counts.get(r.id, 0)) for r in rows]

    def _awaiting(self, actor: Actor, now: datetime, limit: int) -> list[CaseSummary]:
        """Cases waiting for a decision ``actor`` may still give in this round (R4)."""
        org_id = None if actor.is_global else actor.org_id
        with self._rt.reads() as s:
            # Read more than shown: some waiting cases wait for someone else.
            rows = queue_store.waiting_cases(s, State.PENDING_APPROVAL, org_id, limit * 5)
            rounds = queue_store.approvals_of_rounds(s, rows)
            mine = []
            for case in rows:
                made = decisions(rounds[case.id])
                steps = parse_steps(case.approval_steps)
                if already_decided(made, actor) or own_request(facts_of(case), actor):
                    continue
                if open_steps(steps, made, eligible_steps(actor, case.org_id)):
                    mine.append(case)
            return self._summarize(s, mine[:limit], now)

    def _failed(self, limit: int) -> list[FailedNotice]:
        with self._rt.reads() as s:
            return [
                FailedNotice(
                    n.subject_type,
                    n.subject_id,
                    n.contact_email,
                    n.reason,
                    n.subject,
                    n.created_at,
                    n.last_error,
                )
                for n in queue_store.failed_notices(s, limit)
            ]
