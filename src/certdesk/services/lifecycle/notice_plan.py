"""What notices are due at an instant, and to whom (R9) — read-only, before anything is claimed.

The rules are the core's (:mod:`certdesk.core.lifecycle` for expiry, :mod:`certdesk.core.notices`
for case events); the store's anti-joins (:mod:`certdesk.store.notices`) keep each pass to the
subjects with something new. Recipients:

* a certificate's notices go to the contacts on the submittal(s) that got it, or to its
  organization's contacts when those submittals name none (or it came without a case); with
  nobody reachable, to the organization's administrators and cert services (escalated);
* a case's notices go to the roles each moment concerns (:data:`certdesk.core.mail_kinds.
  CASE_AUDIENCE`: approvers and cert services hear of a submission, the requester and the
  contacts of a decision or a delivery …), see :mod:`certdesk.services.lifecycle.notice_roles`.

Addresses are compared without case and each gets one notice per (subject, reason). An
address that is not valid, or a subject with nobody to tell, becomes a notice recorded as
failed with the reason, so that bad data is visible per notice (``notices list --status
failed``) and never stops the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from certdesk.config import Settings
from certdesk.core.calendar import PACIFIC
from certdesk.core.lifecycle import (
    REASON_WINDOW_CLOSING,
    LifecyclePolicy,
    NoticeDue,
    expiry_notices_due,
    next_expiry_notice_at,
    window_closing_notice_due,
)
from certdesk.core.notices import (
    REASON_OVERDUE,
    Recipient,
    case_event_reason,
    dedupe_recipients,
    is_late,
    overdue_notice_due,
)
from certdesk.errors import InvalidInput
from certdesk.services.casework.contacts import check_email
from certdesk.services.lifecycle.notice_roles import NO_CONTACT, Audience, RoleMoments
from certdesk.store import notice_due as due_store
from certdesk.store import notices as store
from certdesk.store.notices import CASE, CERTIFICATE

# A write transaction (``Runtime.sessions.begin``).
Writes = Callable[[], AbstractContextManager[Session]]


def policy_from(settings: Settings) -> LifecyclePolicy:
    """The lifecycle policy of the notice settings (R8, R9)."""
    window_days = settings.window_days
    return LifecyclePolicy(
        notice_days=tuple(settings.notice_days),
        window_days=window_days,
        # The warning goes out 3 days before the window closes, or as early as a short
        # window allows.
        window_closing_notice_days=min(3, window_days - 1),
        late_grace=timedelta(hours=settings.notice_late_grace_hours),
    )


@dataclass(frozen=True)
class Planned:
    """A notice due for one subject, with everyone it goes to."""

    subject_type: str  # certificate | case
    subject_id: int
    due: NoticeDue
    recipients: tuple[Recipient, ...]
    # A certificate's expiry-notice bound once all its planned notices are recorded
    # (store/notice_due.py); None for other subjects.
    next_due: datetime | None = None


def recipients_of(pairs: Iterable[tuple[str, str]]) -> tuple[Recipient, ...]:
    """(name, email) pairs → validated, deduplicated recipients; never empty."""
    found: list[Recipient] = []
    for name, email in pairs:
        try:
            found.append(Recipient(check_email(email), name))
        except InvalidInput:
            shown = " ".join(email.split())[:254]
            found.append(Recipient(shown, name, f"{shown!r} is not a valid email address"))
    out = dedupe_recipients(found)
    return tuple(out) if out else (Recipient("", "", NO_CONTACT),)


class NoticePlanner:
    def __init__(self, policy: LifecyclePolicy, settings: Settings) -> None:
        self.policy = policy
        self.settings = settings
        self.moments = RoleMoments(settings, policy)

    def due(self, s: Session, now: datetime, writes: Writes | None = None) -> list[Planned]:
        """Everything due at ``now`` and not yet recorded, oldest moment first.

        ``writes`` (a transaction factory) lets the planner store the next expiry-notice
        instant of each certificate it read with nothing due (see :meth:`certificates`);
        without it planning only reads, and the same certificates are read again next time.
        """
        audience = Audience(s, self.settings)
        planned = self.certificates(s, now, audience, writes) + self.cases(s, now, audience)
        planned += [Planned(*found) for found in self.moments.due(s, now, audience)]
        return sorted(planned, key=lambda p: (p.due.due_at, p.subject_type, p.subject_id))

    # --- certificates (R9 expiry) ----------------------------------------------------------

    def plan_key(self) -> str:
        """What the stored expiry-notice bounds depend on besides the recorded notices."""
        return "expiry:" + ",".join(str(n) for n in self.policy.notice_days)

    def certificates(
        self, s: Session, now: datetime, audience: Audience, writes: Writes | None = None
    ) -> list[Planned]:
        """The expiry notices due at ``now`` (R9), reading only what may be due.

        A certificate is read when its stored bound (``notice_due_at``) has come or was
        never set (:mod:`certdesk.store.notice_due`): one indexed range per status, in
        pages. For each one read, the core rule decides what is due and the next bound: a
        certificate with something due carries its next bound in its :class:`Planned`
        entries, stored by the transaction that records the last of them; one with nothing
        due gets its bound stored here, a page at a time (``writes``).
        """
        replanned = writes is not None and due_store.plan_of(s) != self.plan_key()
        if replanned:
            assert writes is not None
            with writes() as w:
                due_store.replan(w, self.plan_key(), now)
        dues: dict[int, list[NoticeDue]] = {}
        orgs: dict[int, int] = {}
        bounds: dict[int, datetime] = {}
        for page in due_store.candidates(s, now, every=replanned):
            recorded = store.recorded_reasons(s, CERTIFICATE, [c.id for c in page])
            quiet: dict[int, datetime | None] = {}
            for c in page:
                done = recorded[c.id]
                found = expiry_notices_due(
                    c.not_after, now, done, self.policy, issued_at=c.tracked_from
                )
                after = next_expiry_notice_at(
                    c.not_after,
                    done | {f.reason for f in found},
                    self.policy,
                    issued_at=c.tracked_from,
                )
                if found:
                    dues[c.id], orgs[c.id] = found, c.org_id
                    bounds[c.id] = due_store.NONE_LEFT if after is None else after
                elif replanned or (after or due_store.NONE_LEFT) != c.due_at:
                    # (After a replan, the snapshot may still show the dropped bound.)
                    quiet[c.id] = after
            if writes is not None and quiet:
                with writes() as w:
                    due_store.advance(w, quiet)
        if not dues:
            return []
        people = audience.certificates(orgs)
        return [
            Planned(CERTIFICATE, cert_id, due, people[cert_id], bounds[cert_id])
            for cert_id, found in dues.items()
            for due in found
        ]

    def certificate_recipients(
        self, s: Session, orgs: dict[int, int]
    ) -> dict[int, tuple[Recipient, ...]]:
        """Certificate id → its recipients, given certificate id → organization id (with
        nobody reachable: the organization's administrators and cert services)."""
        return Audience(s, self.settings).certificates(orgs)

    # --- cases (R9 events, R5 overdue, R8 window), each to the roles it concerns -----------

    def cases(self, s: Session, now: datetime, audience: Audience) -> list[Planned]:
        policy = self.policy
        found: list[tuple[int, NoticeDue]] = []
        for e in store.case_event_candidates(s):
            reason = case_event_reason(e.event, e.to_state, e.event_id)
            if reason is not None:
                found.append((e.case_id, NoticeDue(reason, e.at, is_late(e.at, now, policy))))
        today = now.astimezone(PACIFIC).date()
        for case_id, due_date in store.overdue_candidates(s, REASON_OVERDUE, today):
            overdue = overdue_notice_due(due_date, now, (), policy)
            if overdue is not None:
                found.append((case_id, overdue))
        latest_end = now + timedelta(days=policy.window_closing_notice_days)
        for case_id, ends, _closed in store.window_candidates(s, REASON_WINDOW_CLOSING, latest_end):
            closing = window_closing_notice_due(ends, now, (), policy)
            if closing is not None:
                found.append((case_id, closing))
        if not found:
            return []
        wanted = [(case_id, due.reason.partition("#")[0]) for case_id, due in found]
        people = audience.cases(wanted)
        return [
            Planned(CASE, case_id, due, people[(case_id, due.reason.partition("#")[0])])
            for case_id, due in found
        ]
