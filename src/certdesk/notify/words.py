"""Words for people in mail (R19): what a case type, a recipient's role or an actor is called.

Mail never shows a raw code (``delegated_admin_setup``, ``user:ana``) or a rule number.
"""

from __future__ import annotations

from datetime import timedelta

CASE_TYPE_WORDS: dict[str, str] = {
    "new": "new certificate",
    "renewal": "renewal",
    "change": "change to a certificate",
    "revoke": "revocation",
    "delete": "deletion",
    "csr": "certificate from your own request files",
    "question": "question",
    "delegated_admin_setup": "delegated administration set-up",
}

# Why a person receives a notice, said at the foot of the mail.
ROLE_WORDS: dict[str, str] = {
    "contact": "you are a contact for this certificate or case",
    "requester": "you opened this case",
    "approver": "you approve your agency's cases",
    "operator": "you work for Certificate Services",
    "escalation": (
        "nobody who should hear of this can be reached: the certificate has no contact with"
        " a working address, so it comes to you as an administrator of the organization or"
        " of Certificate Services. Please add a contact so that the right people are told"
    ),
    "account": "it concerns your own account",
}


def actor_words(actor: str) -> str:
    """``user:ana`` → ``ana``; the worker and the local command line → Certificate Services."""
    kind, _, name = actor.partition(":")
    if kind == "user" and name:
        return name
    if kind == "token" and name:
        return "a script using an API token"
    return "Certificate Services"


# What a notice is, by its template, as a sentence names it ("the expiry reminder").
NOTICE_WORDS: dict[str, str] = {
    "expiry": "expiry reminder",
    "expired": "notice that a certificate expired",
    "revoked": "notice that a certificate was revoked",
    "window_closing": "notice that the time to test or change a delivery ends",
    "case_overdue": "notice that a case is late",
    "case_submitted": "notice of a submitted case",
    "case_approved": "notice of an approved case",
    "case_rejected": "notice of a rejected case",
    "case_delivered": "delivery notice",
    "case_waiting": "reminder of a case waiting for approval",
    "case_question": "notice of a question on a case",
    "case_answered": "notice of an answer on a case",
    "case_started": "notice that work on a case started",
    "case_renewal": "notice that a renewal was opened",
    "contact_changed": "notice of a change of contacts",
    "password_expiry": "password expiry warning",
}


def span_words(span: timedelta) -> str:
    """How long ``span`` lasted, as a person says it: ``3 days and 4 hours``, ``1 hour and
    5 minutes``, ``less than a minute`` (the two largest units, rounded down)."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'' if n == 1 else 's'}"
        for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"))
        if n
    ]
    if not parts:
        return "less than a minute"
    if days:
        parts = parts[:2] if hours else parts[:1]
    return " and ".join(parts[:2])
