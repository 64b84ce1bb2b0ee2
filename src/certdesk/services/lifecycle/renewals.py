"""R6 renewals: which certificates are due, opening each one's renewal case exactly once, and
marking the old certificate superseded when its renewal is delivered.

**When** is :func:`certdesk.core.lifecycle.renewal_plan`'s decision (turnaround + margin,
lifetime fraction, the customer's earlier date). This module only finds the candidates in SQL
(:mod:`certdesk.store.lifecycle`: an exact ``not_after`` range for the turnaround point, a
bounded superset for the lifetime point, the few cases carrying a requested date) and asks
the core about each, so a pass over a large inventory plans only the certificates near their
renewal.

**What renews through a case.** A certificate delivered by a case renews through a renewal
case, opened by the worker with :meth:`FulfilmentService.open_renewal` (pre-filled from the
certificate's submittal and its contacts), then submitted as cert services' system actor so
that it is routed to the approvals the organization requires (R4). A certificate issued
directly — by a delegated administrator, an ACME client or an operator outside a case — gets
no case: whoever issued it renews it the same way, and its contacts get the notices (R9).

**Auto-approval** (``organizations.auto_approve_renewals``): a renewal the worker opened and
nobody revised changes nothing, so the system records the outstanding approvals itself
(``system:worker``, audited as ``case.approve`` with ``auto``) and the R5 dates are set as for
any approval.

**Exactly once.** Opening spans several transactions (the cases service commits the case, then
the link is written), so it runs under an exclusive claim on the certificate
(:func:`certdesk.store.locks.exclusive`, taken without waiting). Under the claim the worker

1. re-reads the certificate: already linked (``renewal_case_id``) → nothing to do;
2. adopts an unfinished renewal case about the certificate if there is one — opened by hand,
   or by a worker that died between opening and linking — instead of opening another;
3. otherwise opens one;
4. links it with ``UPDATE certificates SET renewal_case_id = :case WHERE id = :cert AND
   renewal_case_id IS NULL`` and writes the audit event in the same transaction.

A crash before 4 commits leaves at most an unlinked case, which the next attempt adopts in
step 2; after 4, the certificate is no longer a candidate. The conditional update and the
unique ``renewal_case_id`` keep a certificate from ever having two linked renewal cases even
if the claim were lost. Submitting and auto-approving come after the link and are retried
from the case's state (:meth:`RenewalService.advance`), so a crash there delays them only.

**Superseded.** When a renewal is delivered (its case delivered, or the replacement issued
directly with ``renewal_of``), the old certificate's status becomes ``superseded``: still valid
and still served by OCSP as good (it may be installed until the new one is), never revoked,
no longer planned for renewal nor sent expiry notices, and it keeps that status after its
``notAfter`` (the inventory shows the lineage through ``renewal_of``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

import structlog

from certdesk.config import Settings
from certdesk.core.access import Action, Actor, Role, authorize
from certdesk.core.calendar import PACIFIC, BusinessCalendar
from certdesk.core.certificates import CertStatus
from certdesk.core.lifecycle import (
    LifecyclePolicy,
    RenewalPlan,
    renewal_plan,
    turnaround_due_before,
)
from certdesk.core.workflow import (
    CERTIFICATE_TYPES,
    CaseType,
    Event,
    State,
    outstanding,
    parse_steps,
)
from certdesk.errors import Conflict, InvalidInput
from certdesk.services.audit import AuditService
from certdesk.services.casework.approvals import ApprovalService
from certdesk.services.casework.casefile import (
    CaseView,
    apply_event,
    case_view,
    decisions,
    iso,
    load_case,
)
from certdesk.services.casework.cases import CaseService
from certdesk.services.casework.fulfilment import FulfilmentService
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_cert, visible_org
from certdesk.store import cases as case_store
from certdesk.store import certificates as cert_store
from certdesk.store import lifecycle as store
from certdesk.store import locks
from certdesk.store.models import Approval, Case, Organization

log = structlog.get_logger("certdesk.renewals")

# The service's own actor for everything the worker does. It acts with cert services'
# authority (an operator) because R4/R5 let cert services submit and route cases; the name
# says in every case history and audit event that no person did it.
WORKER = Actor(name="system:worker", role=Role.OPERATOR)
AUTO_APPROVAL_NOTE = (
    "approved automatically: the organization approves renewals that change nothing (R4, R6)"
)
_CHUNK = 2000


def lifecycle_policy(settings: Settings) -> LifecyclePolicy:
    """The renewal and window settings as the core's policy (R5, R6, R8)."""
    return LifecyclePolicy(
        renewal_margin_days=settings.renewal_margin_days,
        due_business_days=settings.due_business_days,
        lifetime_fraction=settings.renewal_lifetime_fraction,
        window_days=settings.window_days,
        window_closing_notice_days=min(3, settings.window_days - 1),
    )


@dataclass(frozen=True)
class DueRenewal:
    """A certificate whose renewal case must be opened now."""

    cert_id: int
    serial: str
    org_id: int
    plan: RenewalPlan


class Outcome(StrEnum):
    OPENED = "opened"  # a new renewal case, linked
    ADOPTED = "adopted"  # an unfinished renewal case already there, linked
    DONE = "done"  # linked by someone else meanwhile, or no longer renewable
    BUSY = "busy"  # another worker holds the certificate right now


@dataclass(frozen=True)
class RenewalView:
    """A certificate's renewal plan, for ``certdesk renewal show``."""

    serial: str
    status: CertStatus
    not_before: datetime
    not_after: datetime
    plan: RenewalPlan
    requested: date | None
    renews_by_case: bool
    renewal_case: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "serial": self.serial,
            "status": self.status,
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
            "renews_by_case": self.renews_by_case,
            "opens_at": iso(self.plan.opens_at),
            "basis": str(self.plan.basis),
            "turnaround_at": iso(self.plan.turnaround_at),
            "lifetime_at": iso(self.plan.lifetime_at),
            "deliver_by": iso(self.plan.deliver_by),
            "requested": iso(self.requested),
            "renewal_case": self.renewal_case,
        }


class RenewalService:
    def __init__(
        self,
        rt: Runtime,
        audit: AuditService,
        cases: CaseService,
        approvals: ApprovalService,
        fulfilment: FulfilmentService,
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._cases = cases
        self._approvals = approvals
        self._fulfilment = fulfilment
        self.policy = lifecycle_policy(rt.settings)
        configured = rt.settings.holidays
        self.calendar = BusinessCalendar(frozenset(configured) if configured is not None else None)

    # --- planning (read-only) ---------------------------------------------------------------

    def plan(
        self, not_before: datetime, not_after: datetime, requested: date | None
    ) -> RenewalPlan:
        return renewal_plan(not_before, not_after, self.calendar, self.policy, requested)

    def due(self, now: datetime) -> Iterator[DueRenewal]:
        """Every certificate whose renewal case should be open at ``now`` and is not, by id.

        Read in chunks of short read transactions, so that memory stays flat and no read
        transaction stays open while the caller opens cases.
        """
        requested = {}
        with self._rt.reads() as s:
            for cand, day in store.requested_renewals(s, now):
                requested[cand.id] = (cand, day)
        emitted: set[int] = set()
        for cand in self._candidates(now):
            wanted = requested.get(cand.id, (cand, None))[1]
            item = self._judge(cand, wanted, now)
            if item is not None:
                emitted.add(cand.id)
                yield item
        for cand_id, (cand, day) in sorted(requested.items()):
            if cand_id not in emitted:
                item = self._judge(cand, day, now)
                if item is not None:
                    yield item

    def _candidates(self, now: datetime) -> Iterator[store.RenewalCandidate]:
        bound = turnaround_due_before(now, self.calendar, self.policy)
        after = 0
        while True:
            with self._rt.reads() as s:
                chunk = store.renewal_candidates(
                    s,
                    now,
                    turnaround_before=bound,
                    lifetime_fraction=self.policy.lifetime_fraction,
                    after_id=after,
                    limit=_CHUNK,
                )
            yield from chunk
            if len(chunk) < _CHUNK:
                return
            after = chunk[-1].id

    def _judge(
        self, cand: store.RenewalCandidate, requested: date | None, now: datetime
    ) -> DueRenewal | None:
        plan = self.plan(cand.not_before, cand.not_after, requested)
        if plan.opens_at > now:
            return None
        return DueRenewal(cand.id, cand.serial, cand.org_id, plan)

    def show(self, actor: Actor, serial: str) -> RenewalView:
        """When ``serial``'s renewal opens, and why (R6)."""
        with self._rt.reads() as s:
            row = visible_cert(s, actor, serial)
            authorize(actor, Action.CERT_READ, row.org_id, hide=True)
            case = s.get(Case, row.case_id) if row.case_id else None
            wanted = case.renewal_requested if case is not None else None
            linked = s.get(Case, row.renewal_case_id) if row.renewal_case_id else None
            return RenewalView(
                serial=row.serial,
                status=CertStatus(row.status),
                not_before=row.not_before,
                not_after=row.not_after,
                plan=self.plan(row.not_before, row.not_after, wanted),
                requested=wanted,
                renews_by_case=row.case_id is not None,
                renewal_case=linked.number if linked is not None else None,
            )

    # --- opening, exactly once ------------------------------------------------------------------

    def open(self, item: DueRenewal, now: datetime) -> Outcome:
        """Open (or adopt) and link ``item``'s renewal case, then submit it (module text)."""
        with locks.exclusive(self._rt.engine, locks.RENEWAL_OPEN, item.cert_id) as held:
            if not held:
                return Outcome.BUSY
            with self._rt.reads() as s:
                cert = cert_store.by_id(s, item.cert_id)
                if (
                    cert is None
                    or cert.renewal_case_id is not None
                    or cert.status != CertStatus.ACTIVE
                ):
                    return Outcome.DONE
                existing = store.open_renewal_case(s, item.cert_id)
                number = existing.number if existing is not None else None
            adopted = number is not None
            if number is None:
                try:
                    number = self._fulfilment.open_renewal(WORKER, item.serial).number
                except Conflict as exc:
                    if exc.code != "case.renewal_open":
                        raise
                    # Opened by hand between our look and the cases service's: adopt it.
                    with self._rt.reads() as s:
                        existing = store.open_renewal_case(s, item.cert_id)
                    if existing is None:
                        raise
                    number, adopted = existing.number, True
            with self._rt.sessions.begin() as s:
                case = case_store.by_number(s, number)
                assert case is not None
                if not store.link_renewal(s, item.cert_id, case.id):
                    # Only possible if the claim was bypassed; the unique link stands and
                    # this case is left for cert services to cancel.
                    log.warning("renewal already linked", serial=item.serial, case=number)
                    return Outcome.DONE
                self._audit.record(
                    s,
                    WORKER,
                    "cert.renewal_open",
                    "certificate",
                    item.serial,
                    case=number,
                    adopted=adopted,
                    opens_at=iso(item.plan.opens_at),
                    basis=str(item.plan.basis),
                    deliver_by=iso(item.plan.deliver_by),
                )
        self.advance_case(number, now)
        return Outcome.ADOPTED if adopted else Outcome.OPENED

    def advance(self, now: datetime) -> int:
        """Finish the steps after opening that a crash may have interrupted: submit the
        worker's drafts and auto-approve where the organization wants it. Returns the count."""
        with self._rt.reads() as s:
            waiting = store.renewals_to_advance(s, WORKER.name)
        return sum(1 for w in waiting if self.advance_case(w.number, now))

    def advance_case(self, number: str, now: datetime) -> bool:
        """Submit the worker's unrevised draft ``number`` and auto-approve it if the
        organization approves unchanged renewals; True if anything was done."""
        done = False
        with self._rt.reads() as s:
            case = case_store.by_number(s, number)
            if case is None or case.opened_by != WORKER.name:
                return False
            state, unrevised = case.state, not store.edited(s, case.id)
        if state == State.DRAFT and unrevised:
            try:
                state = self._cases.submit(WORKER, number).state
                done = True
            except Conflict:
                return done  # submitted by someone else meanwhile; the next pass looks again
        if state == State.PENDING_APPROVAL:
            done = self._auto_approve(number, now) or done
        return done

    def _auto_approve(self, number: str, now: datetime) -> bool:
        with self._rt.sessions.begin() as s:
            case = case_store.by_number(s, number, for_update=True)
            if (
                case is None
                or case.state != State.PENDING_APPROVAL
                or case.type != CaseType.RENEWAL
                or case.opened_by != WORKER.name
                or case.approval_round != 1
                or store.edited(s, case.id)
            ):
                return False
            org = s.get(Organization, case.org_id)
            if org is None or not org.auto_approve_renewals:
                return False
            steps = parse_steps(case.approval_steps)
            current = case_store.approvals_of(s, case.id, case.approval_round)
            missing = outstanding(steps, decisions(current))
            for step in missing:
                s.add(
                    Approval(
                        case_id=case.id,
                        round=case.approval_round,
                        step=str(step),
                        user_id=None,
                        actor=WORKER.name,
                        approved=True,
                        reason=AUTO_APPROVAL_NOTE,
                        at=now,
                    )
                )
            apply_event(
                s, case, WORKER, Event.APPROVE, now, target=State.APPROVED, note=AUTO_APPROVAL_NOTE
            )
            self._approvals.settle(s, case, now)
            self._audit.record(
                s,
                WORKER,
                "case.approve",
                "case",
                case.number,
                auto=True,
                steps=[str(st) for st in missing],
                round=case.approval_round,
                state=case.state,
                target_date=iso(case.target_date),
                due_date=iso(case.due_date),
                expedite=case.expedite,
            )
            return True

    # --- superseded on delivery --------------------------------------------------------------

    def supersede(self, now: datetime, *, limit: int = 500) -> int:
        """Mark certificates whose renewal was delivered ``superseded``; returns how many."""
        marked = 0
        with self._rt.sessions.begin() as s:
            for r in store.replaced_certificates(s, limit):
                if store.mark_superseded(s, r.old_id):
                    marked += 1
                    self._audit.record(
                        s,
                        WORKER,
                        "cert.supersede",
                        "certificate",
                        r.old_serial,
                        by=r.new_serial,
                        at=iso(now),
                    )
        return marked

    # --- settings a customer or operator changes ---------------------------------------------

    def request_date(self, actor: Actor, number: str, day: date | None) -> CaseView:
        """Ask for an earlier renewal of the certificates case ``number`` delivered (R6).

        The date is kept on the delivered case; the renewal then opens at 00:00 Pacific that
        day if that is earlier than the plan (a later date cannot delay a renewal). ``None``
        withdraws the request. Certificates whose renewal is already open are not affected.
        """
        now = self._rt.clock()
        if day is not None and day < now.astimezone(PACIFIC).date():
            raise InvalidInput("renewal.date_past", f"renewal date {day} is in the past")
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_OPEN, for_update=True)
            if CaseType(case.type) not in CERTIFICATE_TYPES or case.delivered_at is None:
                raise Conflict(
                    "case.not_delivered",
                    f"case {case.number} has delivered no certificate to renew",
                )
            before = case_store.set_renewal_requested(case, day, now)
            case_store.add_event(
                s,
                case,
                at=now,
                actor=actor.name,
                event="renewal_date",
                from_state=case.state,
                to_state=case.state,
                note=f"renewal requested for {day}" if day else "renewal date withdrawn",
            )
            self._audit.record(
                s,
                actor,
                "case.renewal_date",
                "case",
                case.number,
                before=iso(before),
                after=iso(day),
            )
            return case_view(s, case, now)

    def auto_approves(self, actor: Actor, org_code: str) -> bool:
        """Whether organization ``org_code`` approves unchanged renewals automatically."""
        with self._rt.reads() as s:
            org = visible_org(s, actor, org_code)
            authorize(actor, Action.ORG_READ, org.id, hide=True)
            return org.auto_approve_renewals

    def set_auto_approve(self, actor: Actor, org_code: str, enabled: bool) -> bool:
        """Whether organization ``org_code`` approves unchanged renewals automatically (R4)."""
        with self._rt.sessions.begin() as s:
            org = visible_org(s, actor, org_code, for_update=True)
            authorize(actor, Action.ORG_MANAGE, org.id, hide=True)
            before = org.auto_approve_renewals
            if before != enabled:
                org.auto_approve_renewals = enabled
                self._audit.record(
                    s,
                    actor,
                    "org.auto_approve_renewals",
                    "organization",
                    org.code,
                    before=before,
                    after=enabled,
                )
            return enabled
