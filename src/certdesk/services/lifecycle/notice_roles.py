"""Mail by role and event (issue 14): who hears of each moment, and the moments added to R9's.

:class:`Audience` finds the people behind each role of a pass's subjects (the requester, the
organization's approvers and administrators, cert services, the contacts);
:class:`RoleMoments` plans the moments this issue adds — the approvers' reminder, questions
and answers, work started, a renewal opened, a revocation, and the password warnings (R10).
:mod:`certdesk.services.lifecycle.notice_plan` combines them with the R9 notices.

A certificate with nobody reachable (no valid contact address) is escalated: its notice goes
to the organization's administrators and to cert services, each told why, instead of being
recorded as failed with nobody the wiser.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from certdesk.config import Settings
from certdesk.core.calendar import BusinessCalendar
from certdesk.core.lifecycle import LifecyclePolicy, NoticeDue
from certdesk.core.mail_kinds import (
    CASE_AUDIENCE,
    CONTACT_ACTIONS,
    Role,
    password_warnings_due,
    reminder_moment,
)
from certdesk.core.notices import Recipient, dedupe_recipients, is_late
from certdesk.errors import InvalidInput
from certdesk.services.casework.contacts import check_email
from certdesk.store import notice_roles as roles_store
from certdesk.store import notices as store
from certdesk.store.notices import CASE, CERTIFICATE, ORGANIZATION, PERSON

NO_CONTACT = "no contact to notify: the submittal and the organization have no contacts"
# New kinds of moments older than this when first seen are not mailed (an upgrade must not
# mail the history); a worker down for longer than this misses them.
RECENT = timedelta(days=14)

Pairs = Iterable[tuple[str, str]]


def recipients(groups: Sequence[tuple[Role, Pairs]]) -> tuple[Recipient, ...]:
    """(role, (name, email) pairs) in order → validated, deduplicated recipients, each under
    the first role it was found with; empty when nobody is found."""
    found: list[Recipient] = []
    for role, pairs in groups:
        for name, email in pairs:
            try:
                found.append(Recipient(check_email(email), name, role=role))
            except InvalidInput:
                shown = " ".join(email.split())[:254]
                problem = f"{shown!r} is not a valid email address"
                found.append(Recipient(shown, name, problem, role=role))
    return tuple(dedupe_recipients(found))


def reachable(found: Sequence[Recipient]) -> bool:
    return any(r.problem is None for r in found)


class Audience:
    """The people behind each role, for the cases and organizations of one pass."""

    def __init__(self, s: Session, settings: Settings) -> None:
        self._s = s
        self._mailbox = settings.cert_services_email.strip()
        self._operators: list[tuple[str, str]] | None = None

    def operators(self) -> list[tuple[str, str]]:
        if self._operators is None:
            self._operators = roles_store.operators(self._s)
            if self._mailbox:
                self._operators.insert(0, ("Certificate Services", self._mailbox))
        return self._operators

    def cases(
        self, wanted: Sequence[tuple[int, str]]
    ) -> dict[tuple[int, str], tuple[Recipient, ...]]:
        """(case id, reason family) → its recipients (CASE_AUDIENCE, contacts as fallback)."""
        case_ids = sorted({case_id for case_id, _ in wanted})
        on_submittals = store.submittal_contacts_of_cases(self._s, case_ids)
        org_of = store.case_orgs(self._s, case_ids)
        of_org = store.org_contacts(self._s, org_of.values())
        approvers = roles_store.org_people(self._s, org_of.values(), ["approver"])
        requesters = roles_store.requesters(self._s, case_ids)
        out: dict[tuple[int, str], tuple[Recipient, ...]] = {}
        for case_id, family in wanted:
            org_id = org_of[case_id]
            contacts = [*on_submittals[case_id], *of_org[org_id]]
            holders: dict[Role, Pairs] = {
                Role.CONTACT: contacts,
                Role.REQUESTER: [requesters[case_id]] if case_id in requesters else [],
                Role.APPROVER: approvers[org_id],
                Role.OPERATOR: self.operators(),
            }
            roles = CASE_AUDIENCE.get(family, (Role.CONTACT,))
            found = recipients([(r, holders[r]) for r in roles])
            if not reachable(found):
                found = recipients([*((r, holders[r]) for r in roles), (Role.CONTACT, contacts)])
            out[(case_id, family)] = found or (Recipient("", "", NO_CONTACT),)
        return out

    def waiting(self, w: roles_store.Waiting) -> tuple[Recipient, ...]:
        """The approvers a round still waits for: the organization's, cert services, or both."""
        groups: list[tuple[Role, Pairs]] = []
        if "org_approver" in w.steps:
            groups.append(
                (Role.APPROVER, roles_store.org_people(self._s, [w.org_id], ["approver"])[w.org_id])
            )
        if "operator" in w.steps:
            groups.append((Role.OPERATOR, self.operators()))
        return recipients(groups) or (Recipient("", "", NO_CONTACT),)

    def certificates(self, orgs: dict[int, int]) -> dict[int, tuple[Recipient, ...]]:
        """Certificate id → its contacts (the submittals', else the organization's); with
        nobody reachable, the organization's administrators and cert services (escalated)."""
        ids = sorted(orgs)
        on_submittals = store.submittal_contacts_of_certs(self._s, ids)
        of_org = store.org_contacts(self._s, orgs.values())
        out: dict[int, tuple[Recipient, ...]] = {}
        admins: dict[int, list[tuple[str, str]]] | None = None
        for cert_id in ids:
            org_id = orgs[cert_id]
            found = recipients([(Role.CONTACT, on_submittals[cert_id] or of_org[org_id])])
            if not reachable(found):
                if admins is None:
                    admins = self._admins(orgs.values())
                escalated = recipients(
                    [(Role.ESCALATION, admins[org_id]), (Role.ESCALATION, self.operators())]
                )
                # The unusable addresses stay recorded as failed, so the bad data shows.
                found = (*found, *escalated)
            out[cert_id] = found or (Recipient("", "", NO_CONTACT),)
        return out

    def _admins(self, org_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
        """An organization's administrators: its delegated administrators, else approvers."""
        delegated = roles_store.org_people(self._s, org_ids, ["delegated_admin"])
        approvers = roles_store.org_people(self._s, org_ids, ["approver"])
        return {o: delegated[o] or approvers[o] for o in delegated}


class RoleMoments:
    """The moments issue 14 adds to R9's, planned like them (read-only)."""

    def __init__(self, settings: Settings, policy: LifecyclePolicy) -> None:
        self._settings = settings
        self._policy = policy
        configured = settings.holidays
        self._calendar = BusinessCalendar(frozenset(configured) if configured is not None else None)

    def due(
        self, s: Session, now: datetime, audience: Audience
    ) -> list[tuple[str, int, NoticeDue, tuple[Recipient, ...]]]:
        out: list[tuple[str, int, NoticeDue, tuple[Recipient, ...]]] = []
        since = now - RECENT
        cases: list[tuple[int, str, NoticeDue]] = []
        for c in roles_store.comment_candidates(s, since):
            family = "case.answered" if c.by_operator else "case.question"
            cases.append((c.case_id, family, self._due(f"{family}#{c.comment_id}", c.at, now)))
        for event_id, case_id, at in roles_store.started_candidates(s, since):
            cases.append((case_id, "case.started", self._due(f"case.started#{event_id}", at, now)))
        for case_id, at in roles_store.renewal_candidates(s, "case.renewal", since):
            cases.append((case_id, "case.renewal", self._due("case.renewal", at, now)))
        if cases:
            people = audience.cases([(case_id, family) for case_id, family, _ in cases])
            out += [(CASE, case_id, due, people[(case_id, fam)]) for case_id, fam, due in cases]
        days = self._settings.approval_reminder_days
        if days > 0:
            # A reminder N business days on is at least N calendar days on.
            for w in roles_store.waiting_candidates(s, now - timedelta(days=days)):
                moment = reminder_moment(w.submitted_at, days, self._calendar)
                if now >= moment:
                    due = self._due(f"case.waiting#{w.submit_event_id}", moment, now)
                    out.append((CASE, w.case_id, due, audience.waiting(w)))
        revoked = roles_store.revoked_candidates(s, "revoked", since)
        if revoked:
            holders = audience.certificates({cert_id: org for cert_id, org, _ in revoked})
            out += [
                (CERTIFICATE, cert_id, self._due("revoked", at, now), holders[cert_id])
                for cert_id, _, at in revoked
            ]
        # R9: cert services hears of every change of an organization's contacts, once each
        # (the audit event's sequence number is the once-only key).
        changes = roles_store.contact_change_candidates(s, CONTACT_ACTIONS, since)
        if changes:
            told = recipients([(Role.OPERATOR, audience.operators())]) or (
                Recipient("", "", NO_CONTACT),
            )
            out += [
                (ORGANIZATION, c.org_id, self._due(f"contact.changed#{c.seq}", c.at, now), told)
                for c in changes
            ]
        out += self._passwords(s, now)
        return out

    def _due(self, reason: str, at: datetime, now: datetime) -> NoticeDue:
        return NoticeDue(reason, at, is_late(at, now, self._policy))

    def _passwords(
        self, s: Session, now: datetime
    ) -> list[tuple[str, int, NoticeDue, tuple[Recipient, ...]]]:
        """R10: the password warnings 14 and 3 days before it expires."""
        max_age = self._settings.password_max_age_days
        out: list[tuple[str, int, NoticeDue, tuple[Recipient, ...]]] = []
        changed_before = now - timedelta(days=max(max_age - 14, 0))
        changed_after = now - timedelta(days=max_age)  # expired already: nothing to warn of
        for holder in roles_store.password_holders(s, changed_before, changed_after):
            for warning in password_warnings_due(holder.changed_at, max_age, now, holder.recorded):
                people = recipients([(Role.ACCOUNT, [(holder.name, holder.email)])])
                due = self._due(warning.reason, warning.due_at, now)
                out.append(
                    (PERSON, holder.user_id, due, people or (Recipient("", "", NO_CONTACT),))
                )
        return out
