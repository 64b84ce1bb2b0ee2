"""Who hears of what and how (issue 14): kinds, choices, reminders, password warnings,
the daily digest moment and webhook event types — pure rules, table-tested."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from certdesk.core.calendar import BusinessCalendar
from certdesk.core.mail_kinds import (
    Kind,
    Mode,
    check_choice,
    digest_moment,
    event_type,
    kind_of,
    password_reason,
    password_warnings_due,
    reminder_moment,
)
from certdesk.errors import InvalidInput

T0 = datetime(2027, 1, 4, 18, 0, tzinfo=UTC)  # a Monday, 10:00 Pacific


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        pytest.param("expiry.30", Kind.EXPIRY, id="R9/expiry"),
        pytest.param("expired", Kind.EXPIRY, id="R9/expired"),
        pytest.param("revoked", Kind.REVOCATION, id="revoked"),
        pytest.param("password.14#20270104180000", Kind.PASSWORD_EXPIRY, id="R10/password"),
        pytest.param("case.submitted#7", Kind.SUBMITTED, id="R4/submitted"),
        pytest.param("case.waiting#7", Kind.WAITING, id="R4/waiting"),
        pytest.param("case.question#3", Kind.QUESTION, id="question"),
        pytest.param("case.answered#3", Kind.QUESTION, id="answered"),
        pytest.param("case.started#9", Kind.IN_PROGRESS, id="in-progress"),
        pytest.param("window.closing", Kind.WINDOW_CLOSING, id="R8/window"),
        pytest.param("case.renewal", Kind.RENEWAL_OPENED, id="R6/renewal"),
        pytest.param("case.overdue", Kind.OVERDUE, id="R5/overdue"),
    ],
)
def test_every_reason_has_a_kind(reason: str, kind: Kind) -> None:
    assert kind_of(reason) is kind


def test_unknown_reason_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        kind_of("case.nonsense#1")


@pytest.mark.parametrize(
    ("kind", "mode", "code"),
    [
        pytest.param("expiry", "off", "prefs.safety", id="safety/expiry-never-off"),
        pytest.param("revocation", "off", "prefs.safety", id="safety/revocation-never-off"),
        pytest.param("password_expiry", "off", "prefs.safety", id="R10/password-never-off"),
        pytest.param("expiry", "loud", "prefs.mode", id="unknown-mode"),
        pytest.param("weather", "off", "prefs.kind", id="unknown-kind"),
    ],
)
def test_refused_choices(kind: str, mode: str, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_choice(kind, mode)
    assert refused.value.code == code
    assert "R" not in refused.value.detail.split()  # words, no rule numbers


@pytest.mark.parametrize(
    ("kind", "mode"),
    [("expiry", "digest"), ("submitted", "off"), (" Waiting ", "DIGEST"), ("overdue", "immediate")],
)
def test_accepted_choices(kind: str, mode: str) -> None:
    k, m = check_choice(kind, mode)
    assert k == kind.strip().lower() and m == mode.strip().lower()
    assert isinstance(m, Mode)


@pytest.mark.parametrize(
    ("now", "moment"),
    [
        pytest.param(T0, datetime(2027, 1, 5, 15, 0, tzinfo=UTC), id="after-7am-next-day"),
        pytest.param(
            datetime(2027, 1, 4, 14, 0, tzinfo=UTC),  # 06:00 Pacific
            datetime(2027, 1, 4, 15, 0, tzinfo=UTC),
            id="before-7am-same-day",
        ),
        pytest.param(
            datetime(2027, 3, 13, 18, 0, tzinfo=UTC),  # Saturday before DST starts
            datetime(2027, 3, 14, 14, 0, tzinfo=UTC),  # 07:00 PDT
            id="R7/dst-start",
        ),
    ],
)
def test_digest_moment_is_the_next_7am_pacific(now: datetime, moment: datetime) -> None:
    assert digest_moment(now, 7) == moment


@pytest.mark.parametrize(
    ("submitted", "days", "reminded"),
    [
        pytest.param(T0, 2, datetime(2027, 1, 6, 18, 0, tzinfo=UTC), id="R5/monday+2=wednesday"),
        pytest.param(
            datetime(2027, 1, 8, 18, 0, tzinfo=UTC),  # Friday
            2,
            datetime(2027, 1, 12, 18, 0, tzinfo=UTC),  # Tuesday
            id="R5/over-a-weekend",
        ),
        pytest.param(
            datetime(2027, 1, 14, 18, 0, tzinfo=UTC),  # Thursday; Monday is MLK day
            2,
            datetime(2027, 1, 19, 18, 0, tzinfo=UTC),
            id="R5/over-a-holiday",
        ),
    ],
)
def test_reminder_after_business_days(submitted: datetime, days: int, reminded: datetime) -> None:
    assert reminder_moment(submitted, days, BusinessCalendar()) == reminded


@pytest.mark.parametrize(
    ("after", "already", "expected"),
    [
        pytest.param(timedelta(days=75), set(), [], id="R10/too-early"),
        pytest.param(timedelta(days=76), set(), [14], id="R10/14-days-ahead"),
        pytest.param(timedelta(days=80), {14}, [], id="R10/14-once"),
        pytest.param(timedelta(days=87), {14}, [3], id="R10/3-days-ahead"),
        pytest.param(timedelta(days=88), {14, 3}, [], id="R10/3-once"),
        pytest.param(timedelta(days=88), set(), [3], id="R10/late-only-the-latest"),
        pytest.param(timedelta(days=90), set(), [], id="R10/expired-no-warning"),
    ],
)
def test_password_warnings(after: timedelta, already: set[int], expected: list[int]) -> None:
    recorded = {password_reason(d, T0) for d in already}
    due = password_warnings_due(T0, 90, T0 + after, recorded)
    assert [w.reason for w in due] == [password_reason(d, T0) for d in expected]
    assert all(w.expires_at == T0 + timedelta(days=90) for w in due)


def test_a_new_password_gets_new_warnings() -> None:
    later = T0 + timedelta(days=30)
    assert password_reason(14, T0) != password_reason(14, later)


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("expiry.7", "certificate.expiring"),
        ("expired", "certificate.expired"),
        ("revoked", "certificate.revoked"),
        ("window.closing", "case.window_closing"),
        ("case.renewal", "case.renewal_opened"),
        ("case.started#4", "case.in_progress"),
        ("case.approved#4", "case.approved"),
        ("password.3#20270104180000", None),
    ],
)
def test_webhook_event_types(reason: str, kind: str | None) -> None:
    assert event_type(reason) == kind
