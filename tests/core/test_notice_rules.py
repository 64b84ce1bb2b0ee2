"""The pure notice rules of core/notices.py (R5, R8, R9): reasons, templates, overdue, backoff,
days left and recipients. Microseconds each; no database, no SMTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from certdesk.core.lifecycle import LifecyclePolicy
from certdesk.core.notices import (
    Recipient,
    Undelivered,
    case_event_reason,
    days_left,
    dedupe_recipients,
    gave_up_error,
    is_late,
    overdue_notice_at,
    overdue_notice_due,
    reason_template,
    refused_error,
    retry_delay,
)
from certdesk.notify.words import span_words

POLICY = LifecyclePolicy()


@pytest.mark.parametrize(
    ("event", "to_state", "expected"),
    [
        pytest.param("submit", "submitted", "case.submitted#7", id="R9/submitted"),
        pytest.param("approve", "approved", "case.approved#7", id="R9/last-approval"),
        pytest.param("approve", "pending_approval", None, id="R9/partial-approval-is-not-news"),
        pytest.param("route", "approved", "case.approved#7", id="R9/approved-without-approvers"),
        pytest.param("route", "pending_approval", None, id="R9/routed-to-approvers"),
        pytest.param("reject", "rejected", "case.rejected#7", id="R9/rejected"),
        pytest.param("fulfil", "delivered", "case.delivered#7", id="R9/delivered"),
        pytest.param("edit", "draft", None, id="R9/edit-not-mailed"),
        pytest.param("start", "in_progress", None, id="R9/start-not-mailed"),
        pytest.param("close", "closed", None, id="R9/close-not-mailed"),
    ],
)
def test_case_event_reasons(event: str, to_state: str, expected: str | None) -> None:
    assert case_event_reason(event, to_state, 7) == expected


def test_a_second_rejection_is_a_new_reason() -> None:
    assert case_event_reason("reject", "rejected", 7) != case_event_reason("reject", "rejected", 9)


@pytest.mark.parametrize(
    ("reason", "template"),
    [
        ("expiry.90", "expiry"),
        ("expiry.1", "expiry"),
        ("expired", "expired"),
        ("window.closing", "window_closing"),
        ("case.overdue", "case_overdue"),
        ("case.submitted#3", "case_submitted"),
        ("case.approved#3", "case_approved"),
        ("case.rejected#3", "case_rejected"),
        ("case.delivered#3", "case_delivered"),
    ],
)
def test_reason_templates(reason: str, template: str) -> None:
    assert reason_template(reason) == template


def test_unknown_reason_has_no_template() -> None:
    with pytest.raises(ValueError, match="no template"):
        reason_template("case.cancelled#1")


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        # R5: overdue from 00:00 Pacific the day after the due date (PST and PDT).
        pytest.param(date(2027, 1, 8), datetime(2027, 1, 9, 8, 0, tzinfo=UTC), id="R5/pst"),
        pytest.param(date(2027, 7, 8), datetime(2027, 7, 9, 7, 0, tzinfo=UTC), id="R5/pdt"),
        pytest.param(date(2027, 3, 13), datetime(2027, 3, 14, 8, 0, tzinfo=UTC), id="R5/dst-day"),
    ],
)
def test_overdue_moment(due: date, expected: datetime) -> None:
    assert overdue_notice_at(due) == expected


def test_overdue_notice_is_due_once_and_late_after_the_grace() -> None:
    due = date(2027, 1, 8)
    moment = overdue_notice_at(due)
    assert overdue_notice_due(due, moment - timedelta(seconds=1), (), POLICY) is None
    on_time = overdue_notice_due(due, moment, (), POLICY)
    assert on_time is not None and (on_time.reason, on_time.late) == ("case.overdue", False)
    late = overdue_notice_due(due, moment + timedelta(days=2), (), POLICY)
    assert late is not None and late.late and late.due_at == moment
    assert overdue_notice_due(due, moment + timedelta(days=2), {"case.overdue"}, POLICY) is None


@pytest.mark.parametrize(
    ("after", "late"),
    [
        pytest.param(timedelta(0), False, id="R9/at-the-moment"),
        pytest.param(timedelta(hours=24), False, id="R9/at-the-end-of-the-grace"),
        pytest.param(timedelta(hours=24, seconds=1), True, id="R9/after-the-grace"),
    ],
)
def test_late(after: timedelta, late: bool) -> None:
    moment = datetime(2027, 2, 1, 1, 0, tzinfo=UTC)
    assert is_late(moment, moment + after, POLICY) is late


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [
        (0, timedelta(minutes=5)),
        (1, timedelta(minutes=5)),
        (2, timedelta(minutes=10)),
        (3, timedelta(minutes=20)),
        (8, timedelta(minutes=640)),
        (9, timedelta(hours=12)),  # capped
        (10_000, timedelta(hours=12)),
    ],
)
def test_retry_backoff_doubles_up_to_the_cap(attempts: int, expected: timedelta) -> None:
    assert retry_delay(attempts, timedelta(minutes=5), timedelta(hours=12)) == expected


@pytest.mark.parametrize(
    ("left", "days"),
    [
        (timedelta(days=30), 30),
        (timedelta(days=29, hours=19), 30),  # sent hours after the 30-day moment: still 30
        (timedelta(days=27), 27),  # sent three days late: what the reader has left
        (timedelta(seconds=1), 1),
        (timedelta(0), 0),
        (-timedelta(days=3), 0),
    ],
)
def test_days_left(left: timedelta, days: int) -> None:
    end = datetime(2027, 5, 1, 0, 0, tzinfo=UTC)
    assert days_left(end, end - left) == days


def test_recipients_are_deduplicated_without_case_in_order() -> None:
    got = dedupe_recipients(
        [
            Recipient("Ana@DMV.ca.gov", "Ana"),
            Recipient("ben@dmv.ca.gov", "Ben"),
            Recipient("ana@dmv.ca.gov", "Ana again"),
            Recipient("not an address", "X", "bad"),
        ]
    )
    assert [r.email for r in got] == ["Ana@DMV.ca.gov", "ben@dmv.ca.gov", "not an address"]


@pytest.mark.parametrize(
    ("last_error", "expected"),
    [
        pytest.param(
            refused_error("550 5.1.1 no such mailbox"),
            Undelivered(True, "550 5.1.1 no such mailbox", 1),
            id="R9/refused-for-good",
        ),
        pytest.param(
            gave_up_error(8, "452 4.2.2 mailbox full"),
            Undelivered(False, "452 4.2.2 mailbox full", 8),
            id="R9/retries-used-up",
        ),
        pytest.param(
            "gave up after 8 attempts",
            Undelivered(False, "gave up after 8 attempts", 1),
            id="R9/older-row-kept-as-written",
        ),
    ],
)
def test_why_a_notice_was_not_delivered_is_read_back_from_its_error(
    last_error: str, expected: Undelivered
) -> None:
    assert Undelivered.of(last_error, 1) == expected


@pytest.mark.parametrize(
    ("span", "words"),
    [
        pytest.param(timedelta(seconds=59), "less than a minute", id="R19/seconds"),
        pytest.param(timedelta(minutes=1), "1 minute", id="R19/one-minute"),
        pytest.param(timedelta(hours=1, minutes=5), "1 hour and 5 minutes", id="R19/hour-min"),
        pytest.param(timedelta(hours=2), "2 hours", id="R19/hours"),
        pytest.param(timedelta(days=1, minutes=30), "1 day", id="R19/day-drops-minutes"),
        pytest.param(timedelta(days=3, hours=4, minutes=9), "3 days and 4 hours", id="R19/days"),
        pytest.param(timedelta(seconds=-5), "less than a minute", id="R19/never-negative"),
    ],
)
def test_a_span_in_words(span: timedelta, words: str) -> None:
    assert span_words(span) == words
