"""R9 / issue 14: a notice the mail server refuses for good (5xx) fails at once, without a
retry, and cert services is told once (an ``undeliverable#<id>`` escalation through the mail
queue, audited); a temporary refusal (4xx) stays a retry and tells nobody until the notice's
attempts are used up, and then tells cert services the same way, once, saying how many
attempts over how long and what the server last said, even when the worker is killed on
the way. An escalation that fails either way is not escalated again. Against a real aiosmtpd
on loopback that answers RCPT TO for the chosen address with the given reply."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from certdesk.notify.rendering import pacific
from certdesk.services.lifecycle.notices import CLAIM_LEASE
from certdesk.services.lifecycle.undeliverable import Undeliverable
from certdesk.store.models import AuditRow
from world.desk import Desk
from world.mail import Crash, SmtpServer, html_of, notices_in, received, text_of
from world.notices import Snapshots, moment, notice_settings, open_notice_desk
from world.processes import CERTDESK, certdesk_env, stop, wait_until

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


def audited_since(desk: Desk, first: int) -> list[tuple[str, str, dict[str, object]]]:
    """(action, object id, summary) of the notice audit events after sequence ``first``."""
    with desk.rt.reads() as s:
        return [
            (row.action, row.object_id, json.loads(row.summary))
            for row in s.scalars(
                select(AuditRow).where(AuditRow.seq > first, AuditRow.object_type == "notice")
            )
        ]


def last_seq(desk: Desk) -> int:
    with desk.rt.reads() as s:  # the audit log outlives the tests sharing a database
        return s.scalar(select(func.max(AuditRow.seq))) or 0


@pytest.mark.parametrize(
    ("reply", "max_attempts", "period"),
    [
        pytest.param(
            "452 4.2.2 mailbox full", 3, "2 hours", id="R9/4xx-mailbox-full-3-attempts-tells"
        ),
        pytest.param(
            "451 4.7.1 greylisted, try again later",
            2,
            "1 hour",
            id="R9/4xx-greylisted-2-attempts-tells",
        ),
        pytest.param(
            "450 4.2.1 mailbox busy", 1, "less than a minute", id="R9/4xx-busy-1-attempt-tells"
        ),
    ],
)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_temporary_refusals_that_use_up_the_attempts_tell_cert_services_once(
    backend: str,
    tmp_path: Path,
    snapshots: Snapshots,
    smtp: SmtpServer,
    reply: str,
    max_attempts: int,
    period: str,
) -> None:
    """R9: a notice the server keeps turning away (4xx) is tried ``max_attempts`` times, one
    pass an hour (the backoff is minutes), then failed; cert services hears of it exactly
    once, in plain words: how many attempts, over how long, and the server's last answer."""
    smtp.inbox.refuse[GONE] = reply
    url = snapshots.clone(backend, tmp_path)
    with open_notice_desk(
        url,
        tmp_path,
        smtp_url=smtp.url,
        cert_services_email=DESK,
        notice_max_attempts=max_attempts,
    ) as desk:
        serial = desk.issue("dmv", days=100)
        desk.attach([serial], [("Ana", "ana@dmv.ca.gov"), ("Gone", GONE)])
        first = last_seq(desk)
        t0 = moment(desk.cert(serial).not_after, 90) + timedelta(hours=1)
        failed_at: list[int] = []
        for hour in range(max_attempts + 3):
            stats = desk.services.notices.run(t0 + timedelta(hours=hour), "w1")
            if stats.failed:
                failed_at.append(hour)
            (refused,) = [n for n in desk.notices() if n.contact_email == GONE]
            if hour < max_attempts - 1:  # still retrying: nobody told yet
                assert (refused.status, refused.attempts) == ("pending", hour + 1)
                assert audited_since(desk, first) == []
        assert failed_at == [max_attempts - 1]  # given up once, at the last attempt
        assert (refused.status, refused.attempts) == ("failed", max_attempts)
        assert refused.last_error == f"gave up after {max_attempts} attempts: {reply}"
        audited = audited_since(desk, first)
        rows = [n for n in desk.notices() if n.reason == f"undeliverable#{refused.id}"]
    assert [(a, o) for a, o, _ in audited] == [("notice.undeliverable", str(refused.id))]
    summary = audited[0][2]
    assert (summary["cause"], summary["error"], summary["told"]) == (
        "retries exhausted",
        reply,
        [DESK],
    )
    assert [(n.contact_email, n.status, n.role) for n in rows] == [(DESK, "sent", "escalation")]
    assert [m for m in smtp.inbox.messages if GONE in str(m["To"])] == []
    (msg,) = [m for m in smtp.inbox.messages if str(m["To"]) == DESK]
    assert msg["Subject"] == (
        f"Undeliverable: the expiry reminder to {GONE} about certificate {serial}"
        " could not be delivered"
    )
    text = " ".join(text_of(msg).split())
    gave_up = t0 + timedelta(hours=max_attempts - 1)
    assert f"{max_attempts} attempts over {period}" in text
    assert f"from {pacific(t0)} until {pacific(gave_up)}" in text
    assert f"The mail server last answered: {reply}" in text
    assert serial in text and "refused, for good" not in text
    html = " ".join(html_of(msg).split())
    assert f"{max_attempts} attempts over {period}" in html and reply in html
    assert "undeliverable" not in text_of(msg)  # no raw reason codes for people (R19)
    assert [g.reason for g in notices_in(msg)] == [f"undeliverable#{refused.id}"]


class _Killed:
    """Kills the worker (raises :class:`Crash`, which nothing in certdesk catches) the first
    time it records an escalation: after the server's last 4xx answer, inside the transaction
    that would fail the notice and tell cert services, before it commits."""

    def __init__(self, real: Undeliverable) -> None:
        self.real = real
        self.kills = 0

    def record(self, *args: object) -> int:
        if self.kills == 0:
            self.kills += 1
            raise Crash("killed while giving up on the notice")
        return self.real.record(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_R9_a_worker_killed_while_giving_up_tells_cert_services_once_after_restart(  # noqa: N802
    backend: str, tmp_path: Path, snapshots: Snapshots, smtp: SmtpServer
) -> None:
    """R9: the failure, the escalation and its audit event commit together. A worker killed
    between the server's last 4xx answer and that commit leaves nothing recorded but its
    claim; once the claim runs out a restarted worker tries again (the interrupted attempt
    counted), is turned away again, and tells cert services: once, audited once."""
    reply = "452 4.2.2 mailbox full"
    smtp.inbox.refuse[GONE] = reply
    url = snapshots.clone(backend, tmp_path)
    settings = {"smtp_url": smtp.url, "cert_services_email": DESK, "notice_max_attempts": 2}
    with open_notice_desk(url, tmp_path, **settings) as desk:
        serial = desk.issue("dmv", days=100)
        desk.attach([serial], [("Gone", GONE)])
        first = last_seq(desk)
        t0 = moment(desk.cert(serial).not_after, 90) + timedelta(hours=1)
        desk.services.notices.run(t0, "dying")  # attempt 1: 4xx, retry later
        sender = desk.services.notices.sender
        killer = _Killed(sender.undeliverable)
        sender.undeliverable = killer  # type: ignore[assignment]
        with pytest.raises(Crash):
            desk.services.notices.run(t0 + timedelta(hours=1), "dying")  # attempt 2: killed
        (refused,) = desk.notices()
        assert (refused.status, refused.claimed_by, refused.attempts) == ("sending", "dying", 1)
        assert audited_since(desk, first) == []
    # The restarted worker: a new process on the same database.
    with open_notice_desk(url, tmp_path, **settings) as desk:
        desk.services.notices.run(t0 + timedelta(hours=1, minutes=1), "restarted")
        assert desk.notices()[0].status == "sending"  # the dead worker's claim still stands
        after = t0 + timedelta(hours=1) + CLAIM_LEASE + timedelta(seconds=1)
        stats = desk.services.notices.run(after, "restarted")
        assert stats.failed == 1
        for hours in (2, 3, 30):
            desk.services.notices.run(t0 + timedelta(hours=hours), "restarted")
        (refused,) = [n for n in desk.notices() if n.contact_email == GONE]
        assert (refused.status, refused.attempts) == ("failed", 3)  # the killed one counts
        assert refused.last_error == f"gave up after 3 attempts: {reply}"
        audited = audited_since(desk, first)
        rows = [n for n in desk.notices() if n.reason == f"undeliverable#{refused.id}"]
    assert killer.kills == 1
    assert [(a, o) for a, o, _ in audited] == [("notice.undeliverable", str(refused.id))]
    assert [(n.contact_email, n.status) for n in rows] == [(DESK, "sent")]
    told = [m for m in smtp.inbox.messages if str(m["To"]) == DESK]
    assert len(told) == 1 and "3 attempts over" in " ".join(text_of(told[0]).split())


@pytest.mark.parametrize("backend", ["postgresql"])
def test_R9_a_notices_process_killed_with_sigkill_while_giving_up_tells_each_once(  # noqa: N802
    backend: str, tmp_path: Path, snapshots: Snapshots, smtp: SmtpServer
) -> None:
    """R9: a ``certdesk notices run`` process is killed with SIGKILL while the server turns
    40 notices away (4xx, one attempt allowed): a restarted worker finishes after the claims
    ran out, and every notice is failed, audited and escalated to cert services exactly
    once, whichever of them the dead process had already given up on."""
    count, reply = 40, "452 4.2.2 mailbox full"
    url = snapshots.clone(backend, tmp_path)
    settings = {
        "smtp_url": smtp.url,
        "cert_services_email": DESK,
        "notice_max_attempts": 1,
        "notice_digest": False,
    }
    with open_notice_desk(url, tmp_path, **settings) as desk:
        serials = [desk.issue("dmv", days=100) for _ in range(count)]
        for i, serial in enumerate(serials):
            smtp.inbox.refuse[f"p{i}@dmv.ca.gov"] = reply
            desk.attach([serial], [(f"P{i}", f"p{i}@dmv.ca.gov")])
        first = last_seq(desk)
        at = moment(desk.cert(serials[-1]).not_after, 90) + timedelta(hours=1)
        env = {
            **certdesk_env(notice_settings(url, tmp_path)),
            "CERTDESK_SMTP_URL": smtp.url,
            "CERTDESK_MAIL_FROM": desk.rt.settings.mail_from,
            "CERTDESK_CERT_SERVICES_EMAIL": DESK,
            "CERTDESK_NOTICE_MAX_ATTEMPTS": "1",
            "CERTDESK_NOTICE_DIGEST": "false",
        }
        smtp.inbox.delay = 0.05  # each refusal takes a while: the kill lands mid-run
        log = tmp_path / "run.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [str(CERTDESK), "notices", "run", "--now", at.isoformat(), "--json"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(
                lambda: len(audited_since(desk, first)) >= 8,
                timeout=90,
                what="8 notices given up",
                alive=[(proc, log)],
            )
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
        finally:
            stop(proc)
        smtp.inbox.delay = 0
        at_kill = len(audited_since(desk, first))
        assert 8 <= at_kill < count
        assert [m for m in smtp.inbox.messages if str(m["To"]) == DESK] == []  # not yet sent
        # The restarted worker: nothing until the dead process's claims run out.
        later = at + CLAIM_LEASE + timedelta(minutes=2)
        stats = desk.services.notices.run(later, "restarted")
        assert stats.failed == count - at_kill
        desk.services.notices.run(later + timedelta(minutes=1), "restarted")
        desk.services.notices.run(later + timedelta(hours=1), "restarted")
        rows = desk.notices()
        audited = audited_since(desk, first)
    refused = {n.id for n in rows if n.contact_email.startswith("p")}
    assert len(refused) == count
    assert {n.status for n in rows if n.id in refused} == {"failed"}
    assert sorted(int(o) for a, o, _ in audited if a == "notice.undeliverable") == sorted(refused)
    escalations = Counter(n.reason for n in rows if n.contact_email == DESK)
    assert escalations == Counter({f"undeliverable#{i}": 1 for i in refused})
    assert {n.status for n in rows if n.contact_email == DESK} == {"sent"}
    told = Counter(g.reason for g in received(smtp.inbox.messages) if g.to == DESK)
    assert told == escalations  # each escalation mailed once


@pytest.mark.parametrize(
    ("reply", "max_attempts"),
    [
        pytest.param("550 5.1.1 no such mailbox", 8, id="R9/5xx-escalation-refused"),
        pytest.param("451 4.3.0 try again later", 2, id="R9/4xx-escalation-exhausted"),
    ],
)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_failed_escalation_is_not_escalated_again(
    backend: str,
    tmp_path: Path,
    snapshots: Snapshots,
    smtp: SmtpServer,
    reply: str,
    max_attempts: int,
) -> None:
    smtp.inbox.refuse[GONE] = reply
    smtp.inbox.refuse[DESK] = reply
    url = snapshots.clone(backend, tmp_path)
    with open_notice_desk(
        url,
        tmp_path,
        smtp_url=smtp.url,
        cert_services_email=DESK,
        notice_max_attempts=max_attempts,
    ) as desk:
        serial = desk.issue("dmv", days=100)
        desk.attach([serial], [("Gone", GONE)])
        first = last_seq(desk)
        t0 = moment(desk.cert(serial).not_after, 90) + timedelta(hours=1)
        for hours in range(1, 8):
            desk.services.notices.run(t0 + timedelta(hours=hours), "w")
        rows = desk.notices()
        audited = audited_since(desk, first)
    assert [(n.contact_email, n.status) for n in rows if n.contact_email in (GONE, DESK)] == [
        (GONE, "failed"),
        (DESK, "failed"),
    ]
    assert not any(n.reason.startswith("undeliverable#") and n.contact_email != DESK for n in rows)
    (refused,) = [n for n in rows if n.contact_email == GONE]
    assert [(a, o) for a, o, _ in audited] == [("notice.undeliverable", str(refused.id))]
