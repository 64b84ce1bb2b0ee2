"""Who hears of what, and how each person wants to hear it (R9, R10; issue 14).

Pure: the kinds of mail a person can choose for, the delivery modes, which kinds are safety
notices (never switched off), which kind a notice reason belongs to, and the moments of the
reminders this module adds: the approver's "waiting for you" reminder (R4/R5 business days)
and the password-expiry warnings (R10). The recipients per role live in
:mod:`certdesk.services.lifecycle.notice_roles`; the moments of the R9 notices in
:mod:`certdesk.core.lifecycle` and :mod:`certdesk.core.notices`.

Reasons added here (each part of the once-only key of a recorded notice, never changed):

* ``case.waiting#<submit event id>``: the approvers a round still waits for, once per round;
* ``case.question#<comment id>`` / ``case.answered#<comment id>``: a comment on a case by the
  agency (a question to cert services) or by cert services (an answer to the agency);
* ``case.started#<event id>``: cert services picked the case up (in progress);
* ``case.renewal``: a renewal case was opened for a certificate (once per case);
* ``password.<days>#<when the password was set, UTC YYYYMMDDHHMMSS>``: one warning per
  threshold and password;
* ``revoked``: a certificate was revoked (once per certificate);
* ``contact.changed#<audit event seq>``: an organization's certificate contact was added,
  changed, removed or replaced everywhere; to cert services, once per change (R9).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum

from certdesk.core.calendar import PACIFIC, BusinessCalendar
from certdesk.errors import InvalidInput

__all__ = [
    "CASE_AUDIENCE",
    "CONTACT_ACTIONS",
    "KIND_LABELS",
    "PASSWORD_WARNING_DAYS",
    "SAFETY_KINDS",
    "Kind",
    "Mode",
    "Role",
    "check_choice",
    "digest_moment",
    "event_type",
    "kind_of",
    "password_reason",
    "password_warnings_due",
    "reminder_moment",
]


class Kind(StrEnum):
    """What a mail is about, as a person chooses how to receive it."""

    SUBMITTED = "submitted"  # a case was submitted (approvers, cert services)
    WAITING = "waiting"  # a case still waits for your approval
    APPROVED = "approved"
    REJECTED = "rejected"
    QUESTION = "question"  # a question asked or answered on a case
    IN_PROGRESS = "in_progress"
    DELIVERED = "delivered"
    WINDOW_CLOSING = "window_closing"
    RENEWAL_OPENED = "renewal_opened"
    OVERDUE = "overdue"
    EXPIRY = "expiry"  # safety: a certificate expires or expired
    REVOCATION = "revocation"  # safety: a certificate was revoked
    PASSWORD_EXPIRY = "password_expiry"  # safety: your password expires
    CONTACT_CHANGED = "contact_changed"  # an organization's certificate contacts changed


class Mode(StrEnum):
    IMMEDIATE = "immediate"
    DIGEST = "digest"  # once a day, all of a day's mail of such kinds in one message
    OFF = "off"


# Notices that keep a site up or an account usable: a person may move them into the daily
# digest, never switch them off.
SAFETY_KINDS = frozenset({Kind.EXPIRY, Kind.REVOCATION, Kind.PASSWORD_EXPIRY})

_SAFETY_WORDS = {
    Kind.EXPIRY: "Expiry notices",
    Kind.REVOCATION: "Revocation notices",
    Kind.PASSWORD_EXPIRY: "Password expiry warnings",
}

KIND_LABELS: dict[Kind, str] = {
    Kind.SUBMITTED: "A case is submitted",
    Kind.WAITING: "A case still waits for my approval",
    Kind.APPROVED: "My case is approved",
    Kind.REJECTED: "My case is rejected",
    Kind.QUESTION: "A question on a case is asked or answered",
    Kind.IN_PROGRESS: "Certificate Services starts work on my case",
    Kind.DELIVERED: "A certificate is delivered",
    Kind.WINDOW_CLOSING: "The time to test or change a delivery ends soon",
    Kind.RENEWAL_OPENED: "A renewal is opened",
    Kind.OVERDUE: "A case is late",
    Kind.EXPIRY: "A certificate expires (cannot be turned off)",
    Kind.REVOCATION: "A certificate is revoked (cannot be turned off)",
    Kind.PASSWORD_EXPIRY: "My password expires (cannot be turned off)",
    Kind.CONTACT_CHANGED: "An agency changes its certificate contacts",
}


class Role(StrEnum):
    """Why a recipient gets a notice (stored on the notice; the mail says it in words)."""

    CONTACT = "contact"  # a contact of the certificate, submittal or organization
    REQUESTER = "requester"  # the person who opened the case
    APPROVER = "approver"  # an approver of the case's organization
    OPERATOR = "operator"  # cert services
    ESCALATION = (
        "escalation"  # nobody reachable: the organization's administrators or cert services
    )
    ACCOUNT = "account"  # the person whose account it is


_FAMILY_KINDS: dict[str, Kind] = {
    "case.submitted": Kind.SUBMITTED,
    "case.waiting": Kind.WAITING,
    "case.approved": Kind.APPROVED,
    "case.rejected": Kind.REJECTED,
    "case.question": Kind.QUESTION,
    "case.answered": Kind.QUESTION,
    "case.started": Kind.IN_PROGRESS,
    "case.delivered": Kind.DELIVERED,
    "window.closing": Kind.WINDOW_CLOSING,
    "case.renewal": Kind.RENEWAL_OPENED,
    "case.overdue": Kind.OVERDUE,
    "expired": Kind.EXPIRY,
    "revoked": Kind.REVOCATION,
    "contact.changed": Kind.CONTACT_CHANGED,
}

# The audited contact changes cert services hears of (R9: "notify Certificate_Services of
# changes to certificate contact(s)").
CONTACT_ACTIONS = ("contact.add", "contact.change", "contact.remove", "contact.replace")


# Who hears of each case moment, in this order (the first role an address is found under is
# the one the mail names). A moment whose roles find nobody falls back to the contacts.
CASE_AUDIENCE: dict[str, tuple[Role, ...]] = {
    "case.submitted": (Role.APPROVER, Role.OPERATOR),
    "case.approved": (Role.REQUESTER, Role.CONTACT),
    "case.rejected": (Role.REQUESTER, Role.CONTACT),
    "case.question": (Role.OPERATOR,),
    "case.answered": (Role.REQUESTER,),
    "case.started": (Role.REQUESTER,),
    "case.delivered": (Role.REQUESTER, Role.CONTACT),
    "window.closing": (Role.REQUESTER, Role.CONTACT),
    "case.renewal": (Role.CONTACT, Role.REQUESTER),
    "case.overdue": (Role.OPERATOR, Role.REQUESTER),
}


def event_type(reason: str) -> str | None:
    """The webhook event type of a notice ``reason`` (docs/webhooks.md); None for mail that
    concerns one person only (password warnings)."""
    if reason.startswith("expiry."):
        return "certificate.expiring"
    if reason.startswith(("password.", "contact.changed")):
        return None
    family = reason.partition("#")[0]
    named = {
        "expired": "certificate.expired",
        "revoked": "certificate.revoked",
        "window.closing": "case.window_closing",
        "case.renewal": "case.renewal_opened",
        "case.started": "case.in_progress",
    }
    if family in named:
        return named[family]
    return family if family in _FAMILY_KINDS else None


WEBHOOK_EVENTS = (
    "case.submitted",
    "case.waiting",
    "case.approved",
    "case.rejected",
    "case.question",
    "case.answered",
    "case.in_progress",
    "case.delivered",
    "case.window_closing",
    "case.renewal_opened",
    "case.overdue",
    "certificate.expiring",
    "certificate.expired",
    "certificate.revoked",
)


def kind_of(reason: str) -> Kind:
    """The kind of a notice ``reason``; ``ValueError`` for a reason certdesk does not send."""
    if reason.startswith("expiry."):
        return Kind.EXPIRY
    if reason.startswith("password."):
        return Kind.PASSWORD_EXPIRY
    family = reason.partition("#")[0]
    try:
        return _FAMILY_KINDS[family]
    except KeyError:
        raise ValueError(f"no mail kind for reason {reason!r}") from None


def check_choice(kind: str, mode: str) -> tuple[Kind, Mode]:
    """A person's choice for one kind, checked: a known kind, a known mode, and never "off"
    for a safety notice."""
    try:
        k = Kind(kind.strip().lower())
    except ValueError:
        known = ", ".join(k.value for k in Kind)
        raise InvalidInput(
            "prefs.kind", f"unknown kind of mail {kind!r}; choose one of {known}"
        ) from None
    try:
        m = Mode(mode.strip().lower())
    except ValueError:
        raise InvalidInput(
            "prefs.mode", f"unknown choice {mode!r}; choose immediate, digest or off"
        ) from None
    if m is Mode.OFF and k in SAFETY_KINDS:
        raise InvalidInput(
            "prefs.safety",
            f"{_SAFETY_WORDS[k]} cannot be turned off; you may receive them in the daily"
            " digest instead",
        )
    return k, m


def digest_moment(now: datetime, hour: int) -> datetime:
    """The next daily digest after ``now``: ``hour``:00 Pacific today if still ahead, else
    tomorrow (as aware UTC)."""
    local = now.astimezone(PACIFIC)
    today = datetime.combine(local.date(), time(hour), tzinfo=PACIFIC)
    moment = (
        today
        if today > local
        else datetime.combine(local.date() + timedelta(days=1), time(hour), tzinfo=PACIFIC)
    )
    return moment.astimezone(UTC)


def reminder_moment(submitted_at: datetime, days: int, calendar: BusinessCalendar) -> datetime:
    """When approvers are reminded of a case still waiting: ``days`` business days (R5's
    calendar) after the submission, at the same Pacific time of day."""
    local = submitted_at.astimezone(PACIFIC)
    day = calendar.add_business_days(local.date(), days)
    return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=PACIFIC).astimezone(
        UTC
    )


PASSWORD_WARNING_DAYS = (14, 3)


def password_reason(days: int, changed_at: datetime) -> str:
    """``password.14#20270104180000``: one warning per threshold and per password."""
    return f"password.{days}#{changed_at.astimezone(UTC):%Y%m%d%H%M%S}"


@dataclass(frozen=True)
class PasswordWarning:
    reason: str
    due_at: datetime
    expires_at: datetime


def password_warnings_due(
    changed_at: datetime,
    max_age_days: int,
    now: datetime,
    already: frozenset[str] | set[str],
) -> list[PasswordWarning]:
    """R10: the warnings 14 and 3 days before a password expires that are due at ``now`` and
    not recorded. Only the latest threshold passed is due: a person told "3 days left" need
    not also hear "14 days" late; none once the password has expired (signing in asks for a
    new one then)."""
    expires = changed_at + timedelta(days=max_age_days)
    if now >= expires:
        return []
    passed = [d for d in PASSWORD_WARNING_DAYS if now >= expires - timedelta(days=d)]
    if not passed:
        return []
    days = min(passed)
    reason = password_reason(days, changed_at)
    if reason in already or days >= max_age_days:
        return []
    return [PasswordWarning(reason, expires - timedelta(days=days), expires)]
