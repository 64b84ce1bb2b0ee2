"""Webhook deliveries (issue 14) through the service layer on SQLite and PostgreSQL, against a
real HTTP receiver on loopback: recorded once per (webhook, event) even when several passes
record the same moment, retried with backoff, late but not lost when the receiver was down,
taken over after a sender died, never delivered twice by two senders at once, given up after
the attempts allowed, and not sent once the webhook is removed."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from certdesk.services.lifecycle.webhook_queue import LEASE, WebhookSender
from certdesk.store import webhooks as hook_store
from certdesk.store.models import WebhookDelivery
from conftest import OPERATOR
from world.desk import Desk, open_desk
from world.processes import free_port
from world.webhooks import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
def desk(backend: str, tmp_path: Path) -> Iterator[Desk]:
    with open_desk(backend, tmp_path, webhook_retry_seconds=60, webhook_max_attempts=4) as d:
        yield d


def record(desk: Desk, n: int = 1) -> list[str]:
    """``n`` submitted dmv cases, their moments recorded by a notices pass (no SMTP set: the
    mail waits, the webhook events are queued all the same)."""
    numbers = [desk.pending("ana").number for _ in range(n)]
    desk.clock.advance(minutes=1)
    desk.services.notices.run(desk.clock(), "w1")
    return numbers


def deliveries(desk: Desk) -> list[WebhookDelivery]:
    with desk.services.rt.reads() as s:
        return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_an_event_is_queued_once_per_webhook_and_signed(desk: Desk, receiver: Receiver) -> None:
    svc = desk.services
    with Receiver() as other:
        mine = svc.webhooks.add(OPERATOR, receiver.url, org_code="dmv")
        every = svc.webhooks.add(OPERATOR, other.url)  # cert services': every organization
        svc.webhooks.add(OPERATOR, other.url, org_code="chp")  # hears nothing of dmv
        only = svc.webhooks.add(OPERATOR, other.url, org_code="dmv", events=["case.approved"])
        (number,) = record(desk)
        svc.notices.run(desk.clock(), "w2")  # another pass records nothing new
        rows = deliveries(desk)
        assert sorted(r.webhook_id for r in rows) == sorted([mine.webhook.id, every.webhook.id])
        stats = svc.webhook_sender.run(desk.clock(), "w1")
        assert stats.delivered == 2 and stats.failed == 0
        for rx, hook in ((receiver, mine), (other, every)):
            (event,) = rx.events(hook.secret)  # the signature is checked there
            assert event["type"] == "case.submitted" and event["case"]["number"] == number
            assert event["organization"] == {"code": "dmv", "name": "Motor Vehicles"}
        assert only.webhook.id not in {r.webhook_id for r in deliveries(desk)}
        assert svc.webhook_sender.run(desk.clock() + timedelta(days=1), "w1").delivered == 0
        assert len(receiver.requests) == len(other.requests) == 1


def test_a_failing_receiver_is_retried_with_backoff_then_late_not_lost(
    desk: Desk, receiver: Receiver
) -> None:
    svc = desk.services
    svc.webhooks.add(OPERATOR, receiver.url, org_code="dmv")
    record(desk)
    receiver.codes = [500, 503]
    sender = svc.webhook_sender
    assert sender.run(desk.clock(), "w1").retrying == 1
    (row,) = deliveries(desk)
    assert row.status == "pending" and row.last_status == 500 and row.attempts == 1
    assert row.next_attempt_at == desk.clock() + timedelta(seconds=60)
    assert sender.run(desk.clock() + timedelta(seconds=59), "w1").retrying == 0  # not yet
    assert sender.run(desk.clock() + timedelta(seconds=60), "w1").retrying == 1  # 503
    (row,) = deliveries(desk)
    assert row.next_attempt_at == desk.clock() + timedelta(seconds=60 + 120)
    # The worker was down for two days: delivered when it runs again, marked late.
    stats = sender.run(desk.clock() + timedelta(days=2), "w1")
    assert stats.delivered == 1 and stats.late == 1
    (row,) = deliveries(desk)
    assert (row.status, row.attempts, row.last_status, row.late) == ("delivered", 3, 200, True)
    assert len(receiver.requests) == 3


def test_gives_up_after_the_attempts_allowed_and_an_unreachable_receiver(desk: Desk) -> None:
    svc = desk.services
    svc.webhooks.add(OPERATOR, f"http://127.0.0.1:{free_port()}/hook", org_code="dmv")
    record(desk)
    at = desk.clock()
    for _ in range(4):
        svc.webhook_sender.run(at, "w1")
        at += timedelta(hours=13)
    (row,) = deliveries(desk)
    assert row.status == "failed" and row.attempts == 4
    assert "gave up after 4 attempts" in row.last_error and "ConnectError" in row.last_error
    log = svc.webhooks.deliveries(OPERATOR, row.webhook_id, status="failed")
    assert [d.id for d in log] == [row.id]


def test_a_dead_senders_claim_runs_out_and_another_delivers_once(
    desk: Desk, receiver: Receiver
) -> None:
    svc = desk.services
    svc.webhooks.add(OPERATOR, receiver.url, org_code="dmv")
    record(desk)
    with svc.rt.sessions.begin() as s:  # w1 claims, then dies before sending
        assert len(hook_store.claim_due(s, desk.clock(), "w1", desk.clock() + LEASE, 10)) == 1
    assert svc.webhook_sender.run(desk.clock() + timedelta(minutes=1), "w2").delivered == 0
    assert svc.webhook_sender.run(desk.clock() + LEASE + timedelta(seconds=1), "w2").delivered == 1
    assert len(receiver.requests) == 1


def test_two_senders_at_once_deliver_each_event_once(desk: Desk, receiver: Receiver) -> None:
    svc = desk.services
    svc.webhooks.add(OPERATOR, receiver.url, org_code="dmv")
    record(desk, 6)
    senders = [WebhookSender(svc.rt, svc.secretbox) for _ in range(2)]
    threads = [
        threading.Thread(target=s.run, args=(desk.clock(), f"w{i}"), kwargs={"limit": 4})
        for i, s in enumerate(senders)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in senders:  # what one pass left (its limit) goes in the next
        s.run(desk.clock(), "w9")
    ids = Counter(h["Certdesk-Event-Id"] for h, _ in receiver.requests)
    assert len(ids) == 6 and set(ids.values()) == {1}
    assert {r.status for r in deliveries(desk)} == {"delivered"}


def test_a_removed_webhook_gets_nothing_more(desk: Desk, receiver: Receiver) -> None:
    svc = desk.services
    hook = svc.webhooks.add(OPERATOR, receiver.url, org_code="dmv")
    record(desk)
    svc.webhooks.remove(OPERATOR, hook.webhook.id)
    assert svc.webhook_sender.run(desk.clock(), "w1").failed == 1
    assert receiver.requests == []
    (row,) = deliveries(desk)
    assert row.last_error == "the webhook was removed"
    record(desk)
    assert len(deliveries(desk)) == 1  # a removed webhook hears of nothing new
