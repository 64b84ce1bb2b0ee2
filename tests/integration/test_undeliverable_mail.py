"""R9 / issue 14: a notice the mail server refuses for good (5xx) fails at once, without a
retry, and cert services is told once (an ``undeliverable#<id>`` escalation through the mail
queue, audited); a temporary refusal (4xx) stays a retry and tells nobody. Against a real
aiosmtpd on loopback that answers RCPT TO for the chosen address with the given reply."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from certdesk.store.models import AuditRow
from world.mail import SmtpServer, html_of, notices_in, text_of
from world.notices import Snapshots, open_notice_desk

PACIFIC = ZoneInfo("America/Los_Angeles")
DESK = "certs@cdt.ca.gov"  # CERTDESK_CERT_SERVICES_EMAIL
GONE = "gone@dmv.ca.gov"


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshots]:
    made = Snapshots(tmp_path_factory.mktemp("undeliverable-snapshots"))
    yield made
    made.close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def moment(not_after: datetime, days: int) -> datetime:
    local = not_after.astimezone(PACIFIC)
    day = local.date() - timedelta(days=days)
    return datetime.combine(day, local.time(), tzinfo=PACIFIC).astimezone(UTC)


@pytest.mark.parametrize(
    ("reply", "status", "escalated"),
    [
        pytest.param("550 5.1.1 no such mailbox", "failed", True, id="5xx/fails-at-once-tells"),
        pytest.param("554 5.7.1 relay denied", "failed", True, id="5xx/relay-denied-tells"),
        pytest.param("450 4.2.1 mailbox busy", "pending", False, id="4xx/retries-tells-nobody"),
    ],
)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_permanent_refusal_fails_at_once_and_tells_cert_services_once(
    backend: str,
    tmp_path: Path,
    snapshots: Snapshots,
    smtp: SmtpServer,
    reply: str,
    status: str,
    escalated: bool,
) -> None:
    smtp.inbox.refuse[GONE] = reply
    url = snapshots.clone(backend, tmp_path)
    with open_notice_desk(url, tmp_path, smtp_url=smtp.url, cert_services_email=DESK) as desk:
        serial = desk.issue("dmv", days=100)
        desk.attach([serial], [("Ana", "ana@dmv.ca.gov"), ("Gone", GONE)])
        with desk.rt.reads() as s:  # the audit log outlives the tests sharing a database
            first = s.scalar(select(func.max(AuditRow.seq))) or 0
        t0 = moment(desk.cert(serial).not_after, 90) + timedelta(hours=1)
        stats = desk.services.notices.run(t0, "w1")
        (refused,) = [n for n in desk.notices() if n.contact_email == GONE]
        assert (refused.status, refused.attempts) == (status, 1)
        code, _, words = reply.partition(" ")
        assert code in refused.last_error and words.split(" ", 1)[1] in refused.last_error
        assert stats.sent == 1 and stats.failed == (1 if escalated else 0)
        # Later passes: the escalation goes out once; a 5xx is never tried again.
        for hours in (2, 3, 30):
            desk.services.notices.run(t0 + timedelta(hours=hours), "w2")
        with desk.rt.reads() as s:
            audited = [
                (row.action, row.object_id)
                for row in s.scalars(
                    select(AuditRow).where(AuditRow.seq > first, AuditRow.object_type == "notice")
                )
            ]
        rows = [n for n in desk.notices() if n.reason == f"undeliverable#{refused.id}"]
    to_gone = [m for m in smtp.inbox.messages if GONE in str(m["To"])]
    assert to_gone == []
    told = [m for m in smtp.inbox.messages if str(m["To"]) == DESK]
    if not escalated:
        assert (told, rows, audited) == ([], [], [])
        return
    assert audited == [("notice.undeliverable", str(refused.id))]
    assert [(n.contact_email, n.status, n.role) for n in rows] == [(DESK, "sent", "escalation")]
    (msg,) = told
    assert msg["Subject"].startswith("Undeliverable: the expiry reminder to gone@dmv.ca.gov")
    assert reply in text_of(msg) and serial in text_of(msg) and reply in html_of(msg)
    assert "undeliverable" not in text_of(msg)  # no raw reason codes for people (R19)
    assert [g.reason for g in notices_in(msg)] == [f"undeliverable#{refused.id}"]


def test_a_refused_escalation_is_not_escalated_again(
    tmp_path: Path, snapshots: Snapshots, smtp: SmtpServer
) -> None:
    smtp.inbox.refuse[GONE] = "550 5.1.1 no such mailbox"
    smtp.inbox.refuse[DESK] = "550 5.1.1 no such mailbox"
    url = snapshots.clone("sqlite", tmp_path)
    with open_notice_desk(url, tmp_path, smtp_url=smtp.url, cert_services_email=DESK) as desk:
        serial = desk.issue("dmv", days=100)
        desk.attach([serial], [("Gone", GONE)])
        t0 = moment(desk.cert(serial).not_after, 90) + timedelta(hours=1)
        for hours in (1, 2, 3):
            desk.services.notices.run(t0 + timedelta(hours=hours), "w")
        rows = desk.notices()
    assert [(n.contact_email, n.status) for n in rows if n.contact_email in (GONE, DESK)] == [
        (GONE, "failed"),
        (DESK, "failed"),
    ]
    assert not any(n.reason.startswith("undeliverable#") and n.contact_email != DESK for n in rows)
