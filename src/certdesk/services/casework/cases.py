"""Cases/Requests (R3, R4, R5): open, revise, submit, cancel, comment, read.

A case is what an agency hands cert services: new certificates, renewals, CSR files,
changes, revocations, deletions, a general question, or the set-up of delegated
administration. Its life is the state machine of :mod:`certdesk.core.workflow`; this module
holds the transactions around it. In every method:

1. the case is found for the actor (another organization's case is a 404) and locked;
2. the state machine and the input are checked — a refusal raises before anything is
   written, so a refused call changes nothing;
3. the change, its history entry (``case_events``) and its audit event (R15) are written
   in one transaction.

Approvals and the turnaround dates live in :mod:`certdesk.services.casework.approvals`; fulfilment
(issuing, delivery, the R8 window) is built on top of :meth:`CaseService.locked` and
:func:`certdesk.services.casework.casefile.apply_event`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.calendar import PACIFIC
from certdesk.core.certificates import BOOKKEEPING, CertStatus
from certdesk.core.names import Grant, GrantKind
from certdesk.core.workflow import (
    SUBMITTAL_REQUIRED,
    CaseType,
    Event,
    State,
    route_target,
    transition,
)
from certdesk.errors import Conflict, InvalidInput, NotFound
from certdesk.services.audit import AuditService
from certdesk.services.casework.approvals import (
    UNROUTED_TYPES,
    ApprovalService,
    parse_case_type,
    steps_for,
)
from certdesk.services.casework.casefile import (
    SYSTEM_ACTOR,
    WORKING_STATES,
    CaseSummary,
    CaseView,
    apply_event,
    case_view,
    iso,
    load_case,
    parties_of,
    summary_of,
)
from certdesk.services.casework.contacts import ContactInput
from certdesk.services.casework.delegation import AdminInput, DelegatedSetup, check_setup
from certdesk.services.casework.submittals import (
    CheckedSubmittal,
    SubmittalInput,
    check_submittal,
    new_submittal_row,
    submittal_contact_rows,
)
from certdesk.services.people.visibility import parse_serial, visible_org
from certdesk.services.runtime import Runtime
from certdesk.store import cases as case_store
from certdesk.store import certificates as cert_store
from certdesk.store import contacts as contact_store
from certdesk.store import orgs as org_store
from certdesk.store.models import Case, CertificateRow, Comment, Contact, Organization

MAX_SUBMITTALS = 50
MAX_TITLE = 200
MAX_TEXT = 20_000
MAX_PAGE = 500
_CURSOR = re.compile(r"^[0-9]{1,18}$")
STATES = tuple(st.value for st in State)

# Which case types carry what (R3). Submittals describe certificates to issue; a revocation,
# deletion or change names the certificate it is about; delegated-administrator set-up
# carries grants and people instead.
TAKES_SUBMITTALS = SUBMITTAL_REQUIRED
NEEDS_TARGET = frozenset({CaseType.REVOKE, CaseType.DELETE, CaseType.CHANGE})
MAY_TARGET = NEEDS_TARGET | {CaseType.RENEWAL}


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


@dataclass(frozen=True)
class CaseEdit:
    """A revision of a draft or rejected case; None leaves a field unchanged."""

    title: str | None = None
    description: str | None = None
    requested_delivery: date | None = None
    clear_requested_delivery: bool = False
    target_serial: str | None = None
    grants: tuple[str, ...] | None = None
    admins: tuple[AdminInput, ...] | None = None


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


def _title(text: str) -> str:
    value = " ".join(text.split())
    if not value or len(value) > MAX_TITLE:
        raise InvalidInput("case.title", f"a case needs a title of 1-{MAX_TITLE} characters")
    return value


def _description(text: str) -> str:
    value = text.strip()
    if len(value) > MAX_TEXT:
        raise InvalidInput("case.description", f"a description is at most {MAX_TEXT} characters")
    return value


class CaseService:
    def __init__(self, rt: Runtime, audit: AuditService, approvals: ApprovalService) -> None:
        self._rt = rt
        self._audit = audit
        self._approvals = approvals

    # --- open and revise ------------------------------------------------------------------

    def open(self, actor: Actor, spec: CaseInput) -> CaseView:
        """Open a draft case for an organization, with its submittals (R3)."""
        kind = parse_case_type(spec.type)
        title = _title(spec.title)
        description = _description(spec.description)
        self._check_shape(kind, spec)
        now = self._rt.clock()
        self._check_delivery(spec.requested_delivery, now)
        with self._rt.sessions.begin() as s:
            org = visible_org(s, actor, spec.org_code)
            authorize(actor, Action.CASE_OPEN, org.id)
            delegated = (
                self._setup(actor, org, spec.grants, spec.admins).as_column()
                if kind is CaseType.DELEGATED_ADMIN_SETUP
                else None
            )
            target = self._target(s, org, kind, spec.target_serial)
            checked = [self._check(org, actor, sub, now) for sub in spec.submittals]
            year = now.astimezone(PACIFIC).year
            number = f"CS-{year}-{case_store.next_counter(s, f'case:{year}'):06d}"
            case = Case(
                number=number,
                org_id=org.id,
                type=str(kind),
                state=str(State.DRAFT),
                title=title,
                description=description,
                requester_id=actor.user_id,
                opened_by=actor.name,
                requested_delivery=spec.requested_delivery,
                expedite=False,
                approval_steps="",
                approval_round=0,
                target_cert_id=target.id if target else None,
                delegated_setup=delegated,
                created_at=now,
                updated_at=now,
            )
            s.add(case)
            s.flush()
            case_store.add_event(
                s, case, at=now, actor=actor.name, event="open", from_state="", to_state="draft"
            )
            ids = [self._store_submittal(s, case, org, sub, now) for sub in checked]
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
            return case_view(s, case, now)

    def edit(self, actor: Actor, number: str, change: CaseEdit) -> CaseView:
        """Revise a draft or rejected case (title, description, dates, target, set-up)."""
        now = self._rt.clock()
        if change.requested_delivery is not None:
            self._check_delivery(change.requested_delivery, now)
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_OPEN, for_update=True)
            kind = CaseType(case.type)
            transition(State(case.state), Event.EDIT, parties_of(actor, case.org_id), kind)
            org = self._org_by_id(s, case.org_id)
            before: dict[str, object] = {}
            after: dict[str, object] = {}

            def note(name: str, old: object, new: object) -> None:
                if old != new:
                    before[name], after[name] = old, new

            if change.title is not None:
                title = _title(change.title)
                note("title", case.title, title)
                case.title = title
            if change.description is not None:
                description = _description(change.description)
                note("description", case.description, description)
                case.description = description
            if change.requested_delivery is not None or change.clear_requested_delivery:
                wanted = None if change.clear_requested_delivery else change.requested_delivery
                note("requested_delivery", iso(case.requested_delivery), iso(wanted))
                case.requested_delivery = wanted
            if change.target_serial is not None:
                if kind not in MAY_TARGET:
                    raise InvalidInput("case.target", f"a {kind} case names no certificate")
                target = self._target(s, org, kind, change.target_serial)
                assert target is not None
                old = s.get(CertificateRow, case.target_cert_id) if case.target_cert_id else None
                note("target", old.serial if old else None, target.serial)
                case.target_cert_id = target.id
            if change.grants is not None or change.admins is not None:
                if kind is not CaseType.DELEGATED_ADMIN_SETUP:
                    raise InvalidInput(
                        "case.delegated_admin",
                        "grants and administrators belong on a delegated_admin_setup case",
                    )
                current = DelegatedSetup.of_case(case)
                setup = self._setup(
                    actor,
                    org,
                    change.grants
                    if change.grants is not None
                    else [str(g) for g in current.grants],
                    change.admins if change.admins is not None else current.admins,
                )
                delegated = setup.as_payload()
                note(
                    "delegated_admin",
                    current.as_payload()["delegated_admin"],
                    delegated["delegated_admin"],
                )
                case_store.set_delegated_setup(case, setup.as_column())
            if not after:
                return case_view(s, case, now)  # nothing changed: no history, no event
            apply_event(s, case, actor, Event.EDIT, now, note=", ".join(sorted(after)))
            s.flush()
            self._audit.record(
                s, actor, "case.edit", "case", case.number, before=before, after=after
            )
            return case_view(s, case, now)

    def add_submittal(self, actor: Actor, number: str, spec: SubmittalInput) -> CaseView:
        """Attach a Security Certificate Submittal to a draft or rejected case (R3)."""
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_OPEN, for_update=True)
            kind = CaseType(case.type)
            transition(State(case.state), Event.EDIT, parties_of(actor, case.org_id), kind)
            if kind not in TAKES_SUBMITTALS:
                raise InvalidInput("case.submittal", f"a {kind} case carries no submittal")
            if len(case_store.submittals_of(s, case.id)) >= MAX_SUBMITTALS:
                raise Conflict(
                    "case.submittals", f"a case carries at most {MAX_SUBMITTALS} submittals"
                )
            org = self._org_by_id(s, case.org_id)
            checked = self._check(org, actor, spec, now)
            sub_id = self._store_submittal(s, case, org, checked, now)
            apply_event(s, case, actor, Event.EDIT, now, note=f"submittal {sub_id} added")
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
            return case_view(s, case, now)

    def remove_submittal(self, actor: Actor, number: str, submittal_id: int) -> CaseView:
        """Take a submittal off a draft or rejected case, with its contacts."""
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_OPEN, for_update=True)
            kind = CaseType(case.type)
            transition(State(case.state), Event.EDIT, parties_of(actor, case.org_id), kind)
            sub = case_store.submittal(s, case.id, submittal_id)
            if sub is None:
                raise NotFound(
                    "submittal.unknown", f"case {case.number} has no submittal {submittal_id}"
                )
            names = sub.names.split(",")
            for contact in case_store.contacts_of_submittals(s, [sub.id])[sub.id]:
                s.delete(contact)
            s.flush()
            s.delete(sub)
            apply_event(s, case, actor, Event.EDIT, now, note=f"submittal {submittal_id} removed")
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
            return case_view(s, case, now)

    # --- submit, cancel, comment ----------------------------------------------------------

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
            transition(State(case.state), Event.SUBMIT, parties_of(actor, case.org_id), kind)
            self._require_complete(s, case, kind)
            steps = () if kind in UNROUTED_TYPES else steps_for(s, case.org_id, kind)
            case.approval_steps = ",".join(str(st) for st in steps)
            case.approval_round += 1
            resubmitted = case.state == State.REJECTED
            apply_event(
                s,
                case,
                actor,
                Event.SUBMIT,
                now,
                note=f"round {case.approval_round}" + (" (resubmitted)" if resubmitted else ""),
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
                round=case.approval_round,
                steps=[str(st) for st in steps],
                state=case.state,
                resubmitted=resubmitted,
                due_date=iso(case.due_date),
            )
            view = case_view(s, case, now)
        # Approved at submission (a policy that needs nobody): run what approval triggers.
        return self._approvals.after_approved(actor, view)

    def start(self, actor: Actor, number: str, note: str = "") -> CaseView:
        """Cert services picks up an approved case (``approved → in_progress``)."""
        text = note.strip()
        if len(text) > MAX_TEXT:
            raise InvalidInput("case.start", f"a note is at most {MAX_TEXT} characters")
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_WORK, for_update=True)
            apply_event(s, case, actor, Event.START, now, note=text)
            s.flush()
            self._audit.record(s, actor, "case.start", "case", case.number, note=text)
            return case_view(s, case, now)

    def cancel(self, actor: Actor, number: str, reason: str = "") -> CaseView:
        """Withdraw a case before work on it has started."""
        why = reason.strip()
        if len(why) > MAX_TEXT:
            raise InvalidInput("case.cancel", f"a reason is at most {MAX_TEXT} characters")
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_OPEN, for_update=True)
            before = case.state
            apply_event(s, case, actor, Event.CANCEL, now, note=why)
            case.closed_at = now
            s.flush()
            self._audit.record(
                s, actor, "case.cancel", "case", case.number, before=before, reason=why
            )
            return case_view(s, case, now)

    def comment(self, actor: Actor, number: str, text: str) -> CaseView:
        """Add to the case's comment thread (any state; requesters, approvers, operators)."""
        body = text.strip()
        if not body or len(body) > MAX_TEXT:
            raise InvalidInput("case.comment", f"a comment is 1-{MAX_TEXT} characters")
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_COMMENT, for_update=True)
            row = Comment(case_id=case.id, actor=actor.name, body=body, at=now)
            s.add(row)
            case.updated_at = now
            s.flush()
            self._audit.record(
                s, actor, "case.comment", "case", case.number, comment_id=row.id, text=body
            )
            return case_view(s, case, now)

    # --- read -----------------------------------------------------------------------------

    def show(self, actor: Actor, number: str) -> CaseView:
        with self._rt.reads() as s:
            case = load_case(s, actor, number, Action.CASE_READ)
            return case_view(s, case, self._rt.clock())

    def search(self, actor: Actor, query: CaseFilter) -> CasePage:
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
        now = self._rt.clock()
        with self._rt.reads() as s:
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
                ),
            )
            codes = {o.id: o.code for o in org_store.all_orgs(s)}
            counts = case_store.submittal_counts(s, [r.id for r in rows])
            items = [
                summary_of(r, codes.get(r.org_id, "?"), now, counts.get(r.id, 0)) for r in rows
            ]
        next_cursor = str(rows[-1].id) if len(rows) == query.limit else None
        return CasePage(items, next_cursor)

    @contextmanager
    def locked(self, actor: Actor, number: str, action: Action) -> Iterator[tuple[Session, Case]]:
        """A write transaction holding case ``number`` locked, for services built on cases
        (fulfilment, the R8 window): ``with cases.locked(actor, n, Action.CASE_WORK) as (s,
        case):`` — then :func:`~certdesk.services.casework.casefile.apply_event` and audit in
        ``s``."""
        with self._rt.sessions.begin() as s:
            yield s, load_case(s, actor, number, action, for_update=True)

    # --- helpers --------------------------------------------------------------------------

    def _org_by_id(self, s: Session, org_id: int) -> Organization:
        org = org_store.by_id(s, org_id)
        assert org is not None  # cases reference organizations by foreign key
        return org

    def _check_delivery(self, wanted: date | None, now: datetime) -> None:
        if wanted is not None and wanted < now.astimezone(PACIFIC).date():
            raise InvalidInput(
                "case.delivery_past", f"requested delivery date {wanted} is in the past"
            )

    def _check_shape(self, kind: CaseType, spec: CaseInput) -> None:
        """What a case of ``kind`` may carry (R3); checked before the database is touched."""
        if spec.submittals and kind not in TAKES_SUBMITTALS:
            raise InvalidInput("case.submittal", f"a {kind} case carries no submittal")
        if len(spec.submittals) > MAX_SUBMITTALS:
            raise InvalidInput(
                "case.submittals", f"a case carries at most {MAX_SUBMITTALS} submittals"
            )
        if kind in NEEDS_TARGET and not spec.target_serial:
            raise InvalidInput(
                "case.target", f"a {kind} case names the certificate it is about (its serial)"
            )
        if spec.target_serial and kind not in MAY_TARGET:
            raise InvalidInput("case.target", f"a {kind} case names no certificate")
        if (spec.grants or spec.admins) and kind is not CaseType.DELEGATED_ADMIN_SETUP:
            raise InvalidInput(
                "case.delegated_admin",
                "grants and administrators belong on a delegated_admin_setup case",
            )

    def _setup(
        self,
        actor: Actor,
        org: Organization,
        grants: Sequence[str],
        admins: Sequence[AdminInput],
    ) -> DelegatedSetup:
        """A set-up's grants and people, checked (services/delegation.py): an agency asks
        only for grants within its organization's; cert services for any R1 grant."""
        held = None if actor.is_global else [Grant(GrantKind(g.kind), g.name) for g in org.grants]
        return check_setup(
            grants, admins, self._rt.settings.allowed_suffixes, held=held, org_code=org.code
        )

    def _target(
        self, s: Session, org: Organization, kind: CaseType, serial: str | None
    ) -> CertificateRow | None:
        if not serial:
            return None
        row = cert_store.by_serial(s, parse_serial(serial))
        if row is None or row.org_id != org.id or row.status in BOOKKEEPING:
            raise NotFound("cert.unknown", f"{org.code} has no certificate with serial {serial}")
        if kind is CaseType.REVOKE and row.status == CertStatus.REVOKED:
            raise Conflict("cert.revoked", f"certificate {row.serial} is already revoked")
        return row

    def _check(
        self, org: Organization, actor: Actor, spec: SubmittalInput, now: datetime
    ) -> CheckedSubmittal:
        # R2: agency users are bound by their organization's grants; cert services may
        # request any R1 name, as for direct issuance.
        grants = None if actor.is_global else [Grant(GrantKind(g.kind), g.name) for g in org.grants]
        return check_submittal(
            spec,
            suffixes=self._rt.settings.allowed_suffixes,
            grants=grants,
            self_managed=org.self_managed,
            now=now,
            max_days=self._rt.settings.max_validity_days,
            max_names=self._rt.settings.max_names_per_cert,
        )

    def _store_submittal(
        self, s: Session, case: Case, org: Organization, checked: CheckedSubmittal, now: datetime
    ) -> int:
        row = new_submittal_row(case.id, checked, now)
        s.add(row)
        s.flush()
        people = list(checked.contacts)
        if not people:
            # R9: renewal notices go to the submittal's contacts; a submittal given none
            # starts with a copy of the organization's contacts (changed later like any other).
            people = [
                ContactInput(c.kind, c.name, c.email, c.phone)
                for c in contact_store.of_org(s, org.id)
            ]
        contacts: list[Contact] = submittal_contact_rows(org.id, row.id, people, now)
        s.add_all(contacts)
        return row.id

    def _require_complete(self, s: Session, case: Case, kind: CaseType) -> None:
        """What must be on a case before it is handed in (R3)."""
        subs = case_store.submittals_of(s, case.id)
        if kind in SUBMITTAL_REQUIRED and not subs:
            raise InvalidInput(
                "case.no_submittal",
                f"a {kind} case needs at least one Security Certificate Submittal before it is"
                " submitted (R3)",
            )
        missing = [sub.id for sub in subs if sub.csr_pem is None]
        if kind is CaseType.CSR and missing:
            raise InvalidInput(
                "case.csr_missing",
                "a csr case carries the agency's CSR on every submittal; submittal"
                f" {', '.join(map(str, missing))} has none",
            )
        if kind in NEEDS_TARGET and case.target_cert_id is None:
            raise InvalidInput("case.target", f"a {kind} case names the certificate it is about")
        if kind is CaseType.DELEGATED_ADMIN_SETUP:
            if not DelegatedSetup.of_case(case).complete:
                raise InvalidInput(
                    "case.delegated_admin",
                    "a delegated administrator set-up needs at least one grant (zone: or host:)"
                    " and one administrator before it is submitted",
                )
