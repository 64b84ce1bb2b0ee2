"""R4 approval by all parties, and the R5 turnaround that starts with the last approval.

1. Which approvals a case needs is set per organization and case type (an
   :class:`~certdesk.store.models.ApprovalPolicy` row; :data:`DEFAULT_STEPS` — an approver of
   the agency and cert services — when there is none). The steps are copied onto the case
   when it is submitted, so changing a policy never changes a case already in approval.
2. Each decision fills one outstanding step of the current round
   (:func:`certdesk.core.cases.decide_approval`): an agency approver fills ``org_approver``,
   cert services ``operator``. Nobody decides on their own request, nobody decides twice.
3. One rejection sends the case back (``rejected``) with the reason; a resubmission starts
   a new round, and the earlier rounds' decisions stay on the case.
4. The last approval fixes ``approved_at`` and the target and due dates (R5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.calendar import BusinessCalendar, turnaround
from certdesk.core.cases import UNROUTED_TYPES, Move, decide_approval
from certdesk.core.workflow import (
    DEFAULT_STEPS,
    CaseType,
    Decision,
    Event,
    State,
    Step,
    after_approval,
    parse_steps,
)
from certdesk.errors import InvalidInput
from certdesk.services.audit import AuditService
from certdesk.services.casework.casefile import (
    CaseView,
    committed_view,
    decisions,
    facts_of,
    iso,
    load_case,
    record,
)
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_org
from certdesk.store import approval_policies as policy_store
from certdesk.store import cases as case_store
from certdesk.store import submittals as submittal_store
from certdesk.store.models import Case

MAX_REASON = 5000
# What happens once a decision has approved a case, after that decision committed: given the
# approver and the approved case, it returns the case as it left it (the delegated
# administrator set-up applies itself and closes its case: services/delegated_admin.py).
FollowUp = Callable[[Actor, CaseView], CaseView]


def parse_case_type(value: str) -> CaseType:
    try:
        return CaseType(value.strip().lower())
    except ValueError:
        choices = ", ".join(t.value for t in CaseType)
        raise InvalidInput(
            "case.type", f"unknown case type {value!r}; use one of {choices}"
        ) from None


def steps_for(s: Session, org_id: int, case_type: CaseType) -> tuple[Step, ...]:
    """The approvals a case of ``case_type`` of organization ``org_id`` needs now (R4)."""
    row = policy_store.policy(s, org_id, str(case_type))
    return parse_steps(row.steps) if row is not None else DEFAULT_STEPS


@dataclass(frozen=True)
class PolicyEntry:
    case_type: str
    steps: tuple[str, ...]
    default: bool  # no policy row: DEFAULT_STEPS apply

    def as_dict(self) -> dict[str, object]:
        return {"case_type": self.case_type, "steps": list(self.steps), "default": self.default}


@dataclass(frozen=True)
class PolicyView:
    org_code: str
    entries: tuple[PolicyEntry, ...]

    def as_dict(self) -> dict[str, object]:
        return {"organization": self.org_code, "policies": [e.as_dict() for e in self.entries]}


def _reason(text: str, what: str) -> str:
    value = text.strip()
    if not value:
        raise InvalidInput(f"case.{what}", f"a {what} needs a reason")
    if len(value) > MAX_REASON:
        raise InvalidInput(f"case.{what}", f"a reason is at most {MAX_REASON} characters")
    return value


class ApprovalService:
    def __init__(self, rt: Runtime, audit: AuditService) -> None:
        self._rt = rt
        self._audit = audit
        configured = rt.settings.holidays
        self._calendar = BusinessCalendar(frozenset(configured) if configured is not None else None)
        self._follow_ups: list[FollowUp] = []

    def follow_up(self, step: FollowUp) -> None:
        """Run ``step`` after each approval that approves a case, outside its transaction."""
        self._follow_ups.append(step)

    # --- policy ---------------------------------------------------------------------------

    def policy(self, actor: Actor, org_code: str) -> PolicyView:
        """The approval steps of each case type of an organization (R4)."""
        with self._rt.reads() as s:
            org = visible_org(s, actor, org_code)
            authorize(actor, Action.ORG_READ, org.id, hide=True)
            return self._policy_view(s, org.id, org.code)

    def set_policy(
        self, actor: Actor, org_code: str, case_type: str, steps: str | Sequence[str] | None
    ) -> PolicyView:
        """Set the steps for one case type (``None``: back to the default; ``""``: none)."""
        kind = parse_case_type(case_type)
        if kind in UNROUTED_TYPES:
            raise InvalidInput(
                "approval.type", f"{kind} cases are answered without approval; no policy applies"
            )
        parsed = None
        if steps is not None:
            parsed = parse_steps(steps if isinstance(steps, str) else ",".join(steps))
        with self._rt.sessions.begin() as s:
            org = visible_org(s, actor, org_code)
            authorize(actor, Action.ORG_MANAGE, org.id, hide=True)
            before = steps_for(s, org.id, kind)
            policy_store.set_policy(
                s, org.id, str(kind), None if parsed is None else ",".join(parsed)
            )
            self._audit.record(
                s,
                actor,
                "approval_policy.set",
                "organization",
                org.code,
                case_type=str(kind),
                before=[str(st) for st in before],
                after=[str(st) for st in (DEFAULT_STEPS if parsed is None else parsed)],
                default=parsed is None,
            )
            return self._policy_view(s, org.id, org.code)

    def _policy_view(self, s: Session, org_id: int, code: str) -> PolicyView:
        rows = {r.case_type: r for r in policy_store.policies(s, org_id)}
        entries = []
        for kind in CaseType:
            if kind in UNROUTED_TYPES:
                continue
            row = rows.get(str(kind))
            steps = parse_steps(row.steps) if row is not None else DEFAULT_STEPS
            entries.append(PolicyEntry(str(kind), tuple(str(st) for st in steps), row is None))
        return PolicyView(code, tuple(entries))

    # --- decisions ------------------------------------------------------------------------

    def approve(self, actor: Actor, number: str, *, note: str = "") -> CaseView:
        """Approve the outstanding step that is ``actor``'s; the last one approves the case."""
        if len(note) > MAX_REASON:
            raise InvalidInput("case.approve", f"a note is at most {MAX_REASON} characters")
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_APPROVE, for_update=True)
            steps, current, move, step = self._decide(s, case, actor, Event.APPROVE)
            self._approval(s, case, step, actor, approved=True, reason=note.strip(), now=now)
            outcome = after_approval(
                steps, [*current, Decision(step, True, actor.user_id, actor.name)]
            )
            record(s, case, move, actor, now, target=outcome, note=str(step))
            if outcome is State.APPROVED:
                self.settle(s, case, now)
            s.flush()
            self._audit.record(
                s,
                actor,
                "case.approve",
                "case",
                case.number,
                step=str(step),
                round=case.approval_round,
                state=case.state,
                target_date=iso(case.target_date),
                due_date=iso(case.due_date),
                expedite=case.expedite,
            )
        return self.after_approved(actor, committed_view(self._rt, case.number, now))

    def after_approved(self, actor: Actor, view: CaseView) -> CaseView:
        """Run the follow-ups of an approved case, after its approval committed."""
        if view.state == State.APPROVED:
            for step_after in self._follow_ups:
                view = step_after(actor, view)
        return view

    def reject(self, actor: Actor, number: str, reason: str) -> CaseView:
        """Reject the case: it returns to the requester with ``reason`` (R4)."""
        why = _reason(reason, "reject")
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_APPROVE, for_update=True)
            _steps, _current, move, step = self._decide(s, case, actor, Event.REJECT)
            self._approval(s, case, step, actor, approved=False, reason=why, now=now)
            record(s, case, move, actor, now, note=why)
            s.flush()
            self._audit.record(
                s,
                actor,
                "case.reject",
                "case",
                case.number,
                step=str(step),
                round=case.approval_round,
                reason=why,
            )
        return committed_view(self._rt, case.number, now)

    def _decide(
        self, s: Session, case: Case, actor: Actor, event: Event
    ) -> tuple[tuple[Step, ...], list[Decision], Move, Step]:
        """Ask core once whether ``actor`` may decide now (R4); returns the steps, this
        round's decisions, the checked move and the step the decision fills."""
        steps = parse_steps(case.approval_steps)
        current = decisions(case_store.approvals_of(s, case.id, case.approval_round))
        move, step = decide_approval(facts_of(case), actor, event, steps, current)
        return steps, current, move, step

    def _approval(
        self,
        s: Session,
        case: Case,
        step: Step,
        actor: Actor,
        *,
        approved: bool,
        reason: str,
        now: datetime,
    ) -> None:
        case_store.add_approval(
            s,
            case,
            step=str(step),
            user_id=actor.user_id,
            actor=actor.name,
            approved=approved,
            reason=reason,
            at=now,
        )

    def settle(self, s: Session, case: Case, now: datetime) -> None:
        """R5: the case is approved now; fix its target and due dates and expedite flag.

        The requested delivery date is the case's, or else the earliest one among its
        submittals.
        """
        settings = self._rt.settings
        requested: date | None = case.requested_delivery
        if requested is None:
            dates = [
                sub.requested_delivery
                for sub in submittal_store.submittals_of(s, case.id)
                if sub.requested_delivery is not None
            ]
            requested = min(dates) if dates else None
        dates_ = turnaround(
            now,
            self._calendar,
            requested,
            settings.target_business_days,
            settings.due_business_days,
        )
        case_store.settle(
            s,
            case,
            approved_at=now,
            target=dates_.target,
            due=dates_.due,
            expedite=dates_.expedite,
        )
