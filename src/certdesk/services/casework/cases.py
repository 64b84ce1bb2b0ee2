"""Cases/Requests (R3, R4, R5): open, revise, submit, cancel, comment, read.

A case is what an agency hands cert services: new certificates, renewals, CSR files,
changes, revocations, deletions, a general question, or the set-up of delegated
administration. Its life is the state machine of :mod:`certdesk.core.workflow`; this module
holds the transactions around it. In every method:

1. the case is found for the actor (another organization's case is a 404) and locked;
2. the state machine (asked once, :func:`certdesk.core.cases.allow`) and the input are
   checked — a refusal raises before anything is written, so a refused call changes nothing;
3. the change (through ``store/cases.py``), its history entry (``case_events``) and its audit
   event (R15) are written in one transaction;
4. the case view is read after that transaction commits, outside the write lock.

Approvals and the turnaround dates live in :mod:`certdesk.services.casework.approvals`; fulfilment
(issuing, delivery, the R8 window) is built on top of :meth:`CaseService.locked` and
:func:`certdesk.services.casework.casefile.apply_event`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.calendar import PACIFIC
from certdesk.core.cases import (
    UNROUTED_TYPES,
    allow,
    check_complete,
    check_shape,
    require_room_for_submittal,
)
from certdesk.core.workflow import CaseType, Event, State, route_target
from certdesk.errors import CertdeskError, InvalidInput, NotFound
from certdesk.services.audit import AuditService
from certdesk.services.casework import case_inputs as given
from certdesk.services.casework.approvals import ApprovalService, parse_case_type, steps_for

# Adapters build edits and searches from here, beside the service that takes them.
from certdesk.services.casework.case_inputs import CaseEdit as CaseEdit
from certdesk.services.casework.case_search import MAX_PAGE as MAX_PAGE
from certdesk.services.casework.case_search import CaseFilter as CaseFilter
from certdesk.services.casework.case_search import CasePage, search
from certdesk.services.casework.casefile import (
    SYSTEM_ACTOR,
    CaseView,
    apply_event,
    case_view,
    committed_view,
    facts_of,
    iso,
    load_case,
    record,
)
from certdesk.services.casework.delegation import AdminInput
from certdesk.services.casework.submittals import SubmittalInput
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_org
from certdesk.store import cases as case_store
from certdesk.store import orgs as org_store
from certdesk.store import submittals as submittal_store
from certdesk.store.models import Case, Organization


@dataclass(frozen=True)
class CaseInput:
    org_code: str
    type: str
    title: str
    description: str = ""
    requested_delivery: date | None = None
    target_serial: str | None = None  # revoke, delete, change (and optionally renewal)
    grants: tuple[str, ...] = ()  # delegated_admin_setup: zone:NAME / host:NAME
    admins: tuple[AdminInput, ...] = ()  # delegated_admin_setup
    submittals: tuple[SubmittalInput, ...] = ()


class CaseService:
    def __init__(self, rt: Runtime, audit: AuditService, approvals: ApprovalService) -> None:
        self._rt = rt
        self._audit = audit
        self._approvals = approvals

    # --- open and revise ------------------------------------------------------------------

    def open(self, actor: Actor, spec: CaseInput) -> CaseView:
        """Open a draft case for an organization, with its submittals (R3)."""
        kind = parse_case_type(spec.type)
        title = given.title_of(spec.title)
        description = given.description_of(spec.description)
        check_shape(
            kind,
            submittals=len(spec.submittals),
            target=bool(spec.target_serial),
            delegated=bool(spec.grants or spec.admins),
        )
        now = self._rt.clock()
        given.check_delivery(spec.requested_delivery, now)
        settings = self._rt.settings
        with self._rt.sessions.begin() as s:
            org = visible_org(s, actor, spec.org_code)
            authorize(actor, Action.CASE_OPEN, org.id)
            delegated = (
                given.setup_of(settings, actor, org, spec.grants, spec.admins).as_column()
                if kind is CaseType.DELEGATED_ADMIN_SETUP
                else None
            )
            target = given.target_of(s, org, kind, spec.target_serial)
            checked = []
            for index, sub in enumerate(spec.submittals):
                try:
                    checked.append(given.submittal_of(settings, org, actor, sub, now))
                except CertdeskError as exc:
                    # Which submittal was refused (0-based, in the order given): the API's
                    # problem carries it, the console puts the error beside that fieldset.
                    exc.extra.setdefault("submittal", index)
                    raise
            year = now.astimezone(PACIFIC).year
            number = f"CS-{year}-{case_store.next_counter(s, f'case:{year}'):06d}"
            case = case_store.open_case(
                s,
                case_store.NewCase(
                    number=number,
                    org_id=org.id,
                    type=str(kind),
                    title=title,
                    description=description,
                    requester_id=actor.user_id,
                    opened_by=actor.name,
                    requested_delivery=spec.requested_delivery,
                    target_cert_id=target.id if target else None,
                    delegated_setup=delegated,
                ),
                now,
            )
            ids = [given.store_submittal(s, case, org, sub, now) for sub in checked]
            self._audit.record(
                s,
                actor,
                "case.open",
                "case",
                number,
                organization=org.code,
                type=str(kind),
                title=title,
                target=target.serial if target else None,
                submittals=[
                    {"id": i, "names": list(c.names)} for i, c in zip(ids, checked, strict=True)
                ],
                **({"delegated_admin": delegated} if delegated is not None else {}),
            )
        return committed_view(self._rt, number, now)

    def edit(self, actor: Actor, number: str, change: CaseEdit) -> CaseView:
        """Revise a draft or rejected case (title, description, dates, target, set-up)."""
        now = self._rt.clock()
        if change.requested_delivery is not None:
            given.check_delivery(change.requested_delivery, now)
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_OPEN, for_update=True)
            move = allow(facts_of(case), Event.EDIT, actor)
            org = self._org_by_id(s, case.org_id)
            to, before, after = given.revised(s, self._rt.settings, actor, case, org, change)
            if not after:
                return case_view(s, case, now)  # nothing changed: no history, no event
            case_store.revise(s, case, to)
            record(s, case, move, actor, now, note=", ".join(sorted(after)))
            s.flush()
            self._audit.record(
                s, actor, "case.edit", "case", case.number, before=before, after=after
            )
        return committed_view(self._rt, case.number, now)

    def add_submittal(self, actor: Actor, number: str, spec: SubmittalInput) -> CaseView:
        """Attach a Security Certificate Submittal to a draft or rejected case (R3)."""
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_OPEN, for_update=True)
            move = allow(facts_of(case), Event.EDIT, actor)
            require_room_for_submittal(
                CaseType(case.type), len(submittal_store.submittals_of(s, case.id))
            )
            org = self._org_by_id(s, case.org_id)
            checked = given.submittal_of(self._rt.settings, org, actor, spec, now)
            sub_id = given.store_submittal(s, case, org, checked, now)
            record(s, case, move, actor, now, note=f"submittal {sub_id} added")
            s.flush()
            self._audit.record(
                s,
                actor,
                "submittal.add",
                "case",
                case.number,
                submittal_id=sub_id,
                names=list(checked.names),
                cert_type=str(checked.cert_type),
                csr=checked.csr_pem is not None,
                contacts=[c.email for c in checked.contacts],
            )
        return committed_view(self._rt, case.number, now)

    def remove_submittal(self, actor: Actor, number: str, submittal_id: int) -> CaseView:
        """Take a submittal off a draft or rejected case, with its contacts."""
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_OPEN, for_update=True)
            move = allow(facts_of(case), Event.EDIT, actor)
            sub = submittal_store.submittal(s, case.id, submittal_id)
            if sub is None:
                raise NotFound(
                    "submittal.unknown", f"case {case.number} has no submittal {submittal_id}"
                )
            names = sub.names.split(",")
            submittal_store.remove_submittal(s, sub)
            record(s, case, move, actor, now, note=f"submittal {submittal_id} removed")
            s.flush()
            self._audit.record(
                s,
                actor,
                "submittal.remove",
                "case",
                case.number,
                submittal_id=submittal_id,
                names=names,
            )
        return committed_view(self._rt, case.number, now)

    # --- submit, start, cancel, comment ---------------------------------------------------

    def submit(self, actor: Actor, number: str) -> CaseView:
        """Hand the case in (or resubmit it after a rejection: a new approval round).

        The approval steps are fixed on the case now (R4); the case is then routed to
        approval, or approved at once when the policy needs nobody. A question is not
        routed: it waits in ``submitted`` for cert services' answer.
        """
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_OPEN, for_update=True)
            kind = CaseType(case.type)
            move = allow(facts_of(case), Event.SUBMIT, actor)
            subs = submittal_store.submittals_of(s, case.id)
            check_complete(
                kind,
                submittals=len(subs),
                without_csr=[sub.id for sub in subs if sub.csr_pem is None],
                target=case.target_cert_id is not None,
                setup_complete=given.setup_complete(case),
            )
            steps = () if kind in UNROUTED_TYPES else steps_for(s, case.org_id, kind)
            round_ = case_store.start_round(s, case, ",".join(str(st) for st in steps))
            resubmitted = case.state == State.REJECTED
            record(
                s,
                case,
                move,
                actor,
                now,
                note=f"round {round_}" + (" (resubmitted)" if resubmitted else ""),
            )
            if kind not in UNROUTED_TYPES:
                routed = route_target(steps)
                apply_event(
                    s,
                    case,
                    SYSTEM_ACTOR,
                    Event.ROUTE,
                    now,
                    target=routed,
                    note=(
                        "approvals needed: " + ", ".join(str(st) for st in steps)
                        if steps
                        else "no approval needed"
                    ),
                )
                if routed is State.APPROVED:
                    self._approvals.settle(s, case, now)
            s.flush()
            self._audit.record(
                s,
                actor,
                "case.submit",
                "case",
                case.number,
                round=round_,
                steps=[str(st) for st in steps],
                state=case.state,
                resubmitted=resubmitted,
                due_date=iso(case.due_date),
            )
        # Approved at submission (a policy that needs nobody): run what approval triggers.
        return self._approvals.after_approved(actor, committed_view(self._rt, case.number, now))

    def start(self, actor: Actor, number: str, note: str = "") -> CaseView:
        """Cert services picks up an approved case (``approved → in_progress``)."""
        text = given.note_of(note, "start")
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_WORK, for_update=True)
            apply_event(s, case, actor, Event.START, now, note=text)
            s.flush()
            self._audit.record(s, actor, "case.start", "case", case.number, note=text)
        return committed_view(self._rt, case.number, now)

    def cancel(self, actor: Actor, number: str, reason: str = "") -> CaseView:
        """Withdraw a case before work on it has started."""
        why = given.note_of(reason, "cancel", "reason")
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_OPEN, for_update=True)
            before = case.state
            apply_event(s, case, actor, Event.CANCEL, now, note=why, closed=True)
            s.flush()
            self._audit.record(
                s, actor, "case.cancel", "case", case.number, before=before, reason=why
            )
        return committed_view(self._rt, case.number, now)

    def comment(self, actor: Actor, number: str, text: str) -> CaseView:
        """Add to the case's comment thread (any state; requesters, approvers, operators)."""
        body = text.strip()
        if not body or len(body) > given.MAX_TEXT:
            raise InvalidInput("case.comment", f"a comment is 1-{given.MAX_TEXT} characters")
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_COMMENT, for_update=True)
            row = case_store.add_comment(s, case, actor=actor.name, body=body, at=now)
            self._audit.record(
                s, actor, "case.comment", "case", case.number, comment_id=row.id, text=body
            )
        return committed_view(self._rt, case.number, now)

    # --- read -----------------------------------------------------------------------------

    def show(self, actor: Actor, number: str) -> CaseView:
        with self._rt.reads() as s:
            case = load_case(s, actor, number, Action.CASE_READ)
            return case_view(s, case, self._rt.clock())

    def search(self, actor: Actor, query: CaseFilter) -> CasePage:
        """Cases visible to ``actor``, newest first, in keyset pages."""
        return search(self._rt, actor, query)

    @contextmanager
    def locked(self, actor: Actor, number: str, action: Action) -> Iterator[tuple[Session, Case]]:
        """A write transaction holding case ``number`` locked, for services built on cases
        (fulfilment, the R8 window): ``with cases.locked(actor, n, Action.CASE_WORK) as (s,
        case):`` — then :func:`~certdesk.services.casework.casefile.apply_event` and audit in
        ``s``."""
        with self._rt.sessions.begin() as s:
            yield s, load_case(s, actor, number, action, for_update=True)

    def _org_by_id(self, s: Session, org_id: int) -> Organization:
        org = org_store.by_id(s, org_id)
        assert org is not None  # cases reference organizations by foreign key
        return org
