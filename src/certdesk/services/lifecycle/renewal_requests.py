"""What a customer or an operator changes about renewals: an earlier renewal date asked on a
delivered case (R6), and an organization's automatic approval of unchanged renewals (R4)."""

from __future__ import annotations

from datetime import date

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.calendar import PACIFIC
from certdesk.core.workflow import CERTIFICATE_TYPES, CaseType
from certdesk.errors import Conflict, InvalidInput
from certdesk.services.audit import AuditService
from certdesk.services.casework.casefile import CaseView, committed_view, iso, load_case
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_org
from certdesk.store import cases as case_store
from certdesk.store import orgs as org_store


class RenewalRequests:
    """The renewal settings people change (part of the renewal service)."""

    _rt: Runtime
    _audit: AuditService

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
        return committed_view(self._rt, case.number, now)

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
                org_store.set_auto_approve_renewals(org, enabled)
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
