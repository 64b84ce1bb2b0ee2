"""R6 renewals: which certificates are due, opening each one's renewal case exactly once, and
marking the old certificate superseded when its renewal is delivered.

**When** is :mod:`certdesk.services.lifecycle.renewal_plan` (which asks
:func:`certdesk.core.lifecycle.renewal_plan`); what people change (an earlier date, automatic
approval) is :mod:`certdesk.services.lifecycle.renewal_requests`. This service combines both.

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

from datetime import datetime
from enum import StrEnum

import structlog

from certdesk.core.access import Actor, Role
from certdesk.core.certificates import CertStatus
from certdesk.core.workflow import CaseType, Event, State, outstanding, parse_steps
from certdesk.errors import Conflict
from certdesk.services.audit import AuditService
from certdesk.services.casework.approvals import ApprovalService
from certdesk.services.casework.casefile import apply_event, decisions, iso
from certdesk.services.casework.cases import CaseService
from certdesk.services.casework.fulfilment import FulfilmentService
from certdesk.services.lifecycle.renewal_plan import DueRenewal, RenewalPlanner
from certdesk.services.lifecycle.renewal_requests import RenewalRequests
from certdesk.services.runtime import Runtime
from certdesk.store import cases as case_store
from certdesk.store import certificates as cert_store
from certdesk.store import locks
from certdesk.store import orgs as org_store
from certdesk.store import renewals as store

__all__ = ["AUTO_APPROVAL_NOTE", "WORKER", "DueRenewal", "Outcome", "RenewalService"]

log = structlog.get_logger("certdesk.renewals")

# The service's own actor for everything the worker does. It acts with cert services'
# authority (an operator) because R4/R5 let cert services submit and route cases; the name
# says in every case history and audit event that no person did it.
WORKER = Actor(name="system:worker", role=Role.OPERATOR)
AUTO_APPROVAL_NOTE = (
    "approved automatically: the organization approves renewals that change nothing (R4, R6)"
)


class Outcome(StrEnum):
    OPENED = "opened"  # a new renewal case, linked
    ADOPTED = "adopted"  # an unfinished renewal case already there, linked
    DONE = "done"  # linked by someone else meanwhile, or no longer renewable
    BUSY = "busy"  # another worker holds the certificate right now


class RenewalService(RenewalPlanner, RenewalRequests):
    def __init__(
        self,
        rt: Runtime,
        audit: AuditService,
        cases: CaseService,
        approvals: ApprovalService,
        fulfilment: FulfilmentService,
    ) -> None:
        super().__init__(rt)
        self._audit = audit
        self._cases = cases
        self._approvals = approvals
        self._fulfilment = fulfilment

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
            org = org_store.by_id(s, case.org_id)
            if org is None or not org.auto_approve_renewals:
                return False
            steps = parse_steps(case.approval_steps)
            current = case_store.approvals_of(s, case.id, case.approval_round)
            missing = outstanding(steps, decisions(current))
            for step in missing:
                case_store.add_approval(
                    s,
                    case,
                    step=str(step),
                    user_id=None,
                    actor=WORKER.name,
                    approved=True,
                    reason=AUTO_APPROVAL_NOTE,
                    at=now,
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
