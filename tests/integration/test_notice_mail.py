"""Notices (R9) against a real SMTP server: aiosmtpd on 127.0.0.1, a free port.

* A simulated year over 1,000 certificates issued through the pipeline: a clock stepped a day
  at a time (with worker outages of several days and an SMTP outage), one notices pass per
  step. The exact set of (certificate, contact, reason) expected is computed here from first
  principles, and the SMTP server must have received exactly that: none missing, none twice,
  the late ones marked late, one message per contact per pass.
* The SMTP server down for a while, then up: the notices arrive after recovery, once.
* Bad data (an address that is not one, an address the server refuses, a broken override
  template) is reported on those notices alone, and every other notice arrives.
* Two ``certdesk notices run`` processes at once on PostgreSQL never send a notice twice; one
  killed with SIGKILL while sending leaves its notices to the other once its claims run out.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cryptography import x509

from certdesk.services.lifecycle.mail_queue import MARK_EVERY
from certdesk.services.lifecycle.notices import CLAIM_LEASE
from certdesk.services.pki.revocation import Reason
from conftest import OPERATOR, ManualClock
from world.desk import Desk
from world.mail import ExternalSmtpServer, SmtpServer, html_of, notices_in, received, text_of
from world.notices import START, Snapshots, notice_settings, open_notice_desk
from world.processes import CERTDESK, certdesk_env, stop, wait_until

PACIFIC = ZoneInfo("America/Los_Angeles")
THRESHOLDS = (90, 60, 30, 14, 7, 1)
GRACE = timedelta(hours=24)
POSTGRES = pytest.mark.parametrize("backend", ["postgresql"])


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshots]:
    made = Snapshots(tmp_path_factory.mktemp("notice-mail-snapshots"))
    yield made
    made.close()


@pytest.fixture
def database_url(backend: str, tmp_path: Path, snapshots: Snapshots) -> str:
    return snapshots.clone(backend, tmp_path)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def moment(not_after: datetime, days: int) -> datetime:
    """R9 from first principles: ``days`` calendar days before expiry, same Pacific time."""
    local = not_after.astimezone(PACIFIC)
    day = local.date() - timedelta(days=days)
    return datetime.combine(day, local.time(), tzinfo=PACIFIC).astimezone(UTC)


# --- the simulated year --------------------------------------------------------------------


@dataclass(frozen=True)
class Cert:
    serial: str
    tracked_from: datetime  # the instant the pipeline issued it (the clock's)
    not_after: datetime  # read from the certificate itself
    recipients: frozenset[str]
    revoked_at: datetime | None


def expected_notices(
    certs: list[Cert], passes: list[datetime], smtp_up: set[datetime]
) -> Counter[tuple[str, str, str, bool]]:
    """(to, certificate label, reason, late) for every notice R9 promises, once each.

    A notice's moment (90/60/30/14/7/1 days before expiry, or expiry itself) counts only if
    it is after the certificate was issued; the first pass at or after the moment (strictly
    after, for "expired") records it, unless the certificate was revoked by then; the first
    pass from then on with the SMTP server up delivers it, late if that is more than the
    grace after the moment.
    """
    out: Counter[tuple[str, str, str, bool]] = Counter()
    for c in certs:
        moments = [(f"expiry.{n}", moment(c.not_after, n)) for n in THRESHOLDS]
        moments.append(("expired", c.not_after))
        for reason, at in moments:
            if at <= c.tracked_from:
                continue
            due = [p for p in passes if (p > at if reason == "expired" else p >= at)]
            if not due or (c.revoked_at is not None and c.revoked_at <= due[0]):
                continue
            delivered = [p for p in due if p in smtp_up]
            if not delivered:
                continue
            late = delivered[0] > at + GRACE
            for to in c.recipients:
                out[(to, f"certificate {c.serial}", reason, late)] += 1
        # A revocation is news to the contacts too (a safety notice): the first pass after it
        # records it, the first with the SMTP server up delivers it.
        if c.revoked_at is not None:
            due = [p for p in passes if p >= c.revoked_at]
            delivered = [p for p in due if p in smtp_up]
            if delivered:
                late = delivered[0] > c.revoked_at + GRACE
                for to in c.recipients:
                    out[(to, f"certificate {c.serial}", "revoked", late)] += 1
    return out


def populate(desk: Desk, rng: random.Random, end: datetime) -> list[Cert]:
    """1,000 certificates through the issuance pipeline, issued at random instants over the
    first 300 days, valid 5 days up to the R13 maximum of
    their issue date; two thirds with contacts on their submittal, the rest relying on their
    organization's contacts; 25 revoked at random instants."""
    # Few people with many certificates each: every pass has digests to make.
    people = {org: [f"{org}{i}@{org}.ca.gov" for i in range(5)] for org in ("dmv", "chp")}
    org_people = {org: people[org][:2] for org in people}
    for org, addresses in org_people.items():
        for a in addresses:
            desk.org_contact(org, a.split("@")[0].title(), a)
    issued: list[tuple[str, str, datetime]] = []
    instants = sorted(START + timedelta(seconds=rng.randrange(300 * 86400)) for _ in range(1000))
    for i, at in enumerate(instants):
        org = "dmv" if i % 2 else "chp"
        desk.clock.now = at
        limit = 199 if at < datetime(2027, 3, 15, tzinfo=UTC) else 99
        issued.append((desk.issue(org, days=rng.randint(5, limit)), org, at))
    by_contacts: dict[frozenset[str], list[str]] = defaultdict(list)
    recipients: dict[str, frozenset[str]] = {}
    for serial, org, _ in issued:
        if rng.random() < 2 / 3:
            chosen = frozenset(rng.sample(people[org][2:], rng.choice((1, 1, 1, 2))))
            by_contacts[chosen].append(serial)
        else:
            chosen = frozenset(org_people[org])
        recipients[serial] = chosen
    for chosen, serials in by_contacts.items():
        desk.attach(serials, [(a.split("@")[0].title(), a) for a in sorted(chosen)])
    revoked: dict[str, datetime] = {}
    for serial, _, at in rng.sample(issued, 25):
        when = at + (end - at) * rng.random()
        revoked[serial] = when
    certs = []
    for serial, _, at in issued:
        der = desk.cert(serial).der
        assert der is not None
        not_after = x509.load_der_x509_certificate(der).not_valid_after_utc
        certs.append(Cert(serial, at, not_after, recipients[serial], revoked.get(serial)))
    return certs


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"])  # ~1 min; PostgreSQL: the process tests below
def test_a_simulated_year_delivers_exactly_the_notices_expected(
    database_url: str, tmp_path: Path
) -> None:
    rng = random.Random(20270104)
    clock = ManualClock(START)
    first = START + timedelta(days=1)  # passes at 18:00 UTC (10:00 or 11:00 Pacific)
    end = first + timedelta(days=365)
    with (
        ExternalSmtpServer(tmp_path / "maildir") as smtp,
        open_notice_desk(database_url, tmp_path, clock=clock, smtp_url=smtp.url) as desk,
    ):
        certs = populate(desk, rng, end)
        worker_down = {*range(40, 45), *range(150, 153), *range(300, 310)}
        smtp_down = {*range(200, 204)}
        passes = [first + timedelta(days=d) for d in range(366) if d not in worker_down]
        smtp_up = {first + timedelta(days=d) for d in range(366) if d not in smtp_down}
        revocations = sorted((c.revoked_at, c.serial) for c in certs if c.revoked_at)
        per_pass: list[Counter[str]] = []
        messages: list[EmailMessage] = []
        for at in passes:
            while revocations and revocations[0][0] <= at:
                when, serial = revocations.pop(0)
                clock.now = when
                desk.services.revocation.revoke(OPERATOR, serial, Reason.CESSATION_OF_OPERATION)
            if at in smtp_up:
                smtp.start()
            else:
                smtp.stop()
            clock.now = at
            stats = desk.services.notices.run(at, "year")
            assert stats.failed == 0, stats.errors
            new = smtp.take()
            assert len(new) == stats.messages
            assert new == [] or at in smtp_up
            per_pass.append(Counter(str(m["To"]) for m in new))
            messages += new
        rows = desk.notices()
    got = Counter((g.to, g.subject, g.reason, g.late) for g in received(messages))
    want = expected_notices(certs, passes, smtp_up)
    missing, extra = want - got, got - want
    assert not missing and not extra, (sorted(missing)[:5], sorted(extra)[:5])
    assert set(got.values()) == {1}  # none twice
    assert sum(want.values()) > 5000
    assert 300 < sum(late for *_, late in want) < sum(want.values())
    # A digest per contact per pass, never a flood.
    assert all(n == 1 for counts in per_pass for n in counts.values())
    assert any(len(notices_in(m)) > 1 for m in messages)
    ids = [g.notice_id for g in received(messages)]
    assert len(ids) == len(set(ids))
    # The record agrees: one row per notice, all sent, the same ones late.
    assert sorted(n.id for n in rows) == sorted(ids)
    assert {n.status for n in rows} == {"sent"}
    assert {g.notice_id for g in received(messages) if g.late} == {n.id for n in rows if n.late}


# --- outages and bad data ------------------------------------------------------------------


# One SMTP connection, or several at once (CERTDESK_SMTP_CONNECTIONS): the same outcomes.
CONNECTIONS = [pytest.param(n, id=f"R9/{n}-connections") for n in (1, 4)]


@pytest.mark.parametrize("connections", CONNECTIONS)
def test_smtp_down_for_a_while_then_up_notices_arrive_once(
    database_url: str, tmp_path: Path, smtp: SmtpServer, connections: int
) -> None:
    with open_notice_desk(
        database_url, tmp_path, smtp_url=smtp.url, smtp_connections=connections
    ) as desk:
        serials = [desk.issue("dmv", days=100) for _ in range(6)]
        desk.attach(serials[:3], [("Ana", "ana@dmv.ca.gov"), ("Ben", "ben@dmv.ca.gov")])
        desk.attach(serials[3:], [("Cy", "cy@dmv.ca.gov")])
        t0 = moment(desk.cert(serials[0]).not_after, 90) + timedelta(hours=1)
        smtp.stop()
        for hour in range(0, 48, 6):  # two days of passes against a dead server
            stats = desk.services.notices.run(t0 + timedelta(hours=hour), "w")
            assert (stats.sent, stats.failed, stats.retrying) == (0, 0, 9)
            assert "SMTP server unavailable" in stats.errors[-1]
        waiting = desk.services.notices.search(OPERATOR, status="retrying").items
        assert len(waiting) == 9 and all("Connection" in n.last_error for n in waiting)
        smtp.start()
        stats = desk.services.notices.run(t0 + timedelta(hours=48), "w")
        assert (stats.sent, stats.late, stats.messages, stats.digests) == (9, 9, 3, 3)
        desk.services.notices.run(t0 + timedelta(hours=49), "w")
        desk.services.notices.run(t0 + timedelta(days=5), "w")
    got = Counter((g.to, g.subject) for g in received(smtp.inbox.messages))
    assert len(got) == 9 and set(got.values()) == {1}
    assert all(g.late for g in received(smtp.inbox.messages))
    assert all(
        m["Subject"].startswith("certdesk: 3 notices (some late)") for m in smtp.inbox.messages
    )


@pytest.mark.parametrize("connections", CONNECTIONS)
def test_bad_data_is_reported_per_notice_and_does_not_stop_the_others(
    database_url: str, tmp_path: Path, smtp: SmtpServer, connections: int
) -> None:
    override = tmp_path / "templates"
    override.mkdir()
    (override / "expired.html").write_text("{% if %}broken{% endif %}\n")  # a syntax error
    smtp.inbox.refuse["gone@dmv.ca.gov"] = "550 5.1.1 no such mailbox"
    with open_notice_desk(
        database_url,
        tmp_path,
        smtp_url=smtp.url,
        notice_template_dir=override,
        smtp_connections=connections,
    ) as desk:
        fine = desk.issue("dmv", days=100)
        lonely = desk.issue("chp", days=100)  # chp has no contacts at all
        desk.clock.advance(days=85)
        ended = desk.issue("dmv", days=5)
        desk.attach([fine, ended], [("Ana", "ana@dmv.ca.gov"), ("Typo", "ana@@dmv")])
        desk.attach([fine], [("Gone", "gone@dmv.ca.gov")])
        at = desk.cert(ended).not_after + timedelta(hours=1)
        stats = desk.services.notices.run(at, "w")
        rows = {(n.subject, n.reason, n.contact_email): n for n in
                desk.services.notices.search(OPERATOR, limit=500).items}  # fmt: skip

        def row(serial: str, reason: str, to: str) -> tuple[str, str]:
            n = rows[(serial, reason, to)]
            return n.status, n.last_error

        assert row(ended, "expired", "ana@dmv.ca.gov")[0] == "failed"
        assert (
            "template expired.html: TemplateSyntaxError"
            in row(ended, "expired", "ana@dmv.ca.gov")[1]
        )
        assert row(fine, "expiry.14", "ana@@dmv") == (
            "failed",
            "'ana@@dmv' is not a valid email address",
        )
        assert row(fine, "expiry.14", "gone@dmv.ca.gov")[0] == "failed"
        assert "no such mailbox" in row(fine, "expiry.14", "gone@dmv.ca.gov")[1]
        assert row(lonely, "expiry.90", "")[0] == "failed"
        assert "no contact to notify" in row(lonely, "expiry.90", "")[1]
        assert row(fine, "expiry.14", "ana@dmv.ca.gov")[0] == "sent"
        assert row(ended, "expiry.1", "ana@dmv.ca.gov")[0] == "sent"
        assert stats.failed == sum(n.status == "failed" for n in rows.values())
        failed = desk.services.notices.search(OPERATOR, status="failed").items
        assert {n.id for n in failed} == {n.id for n in rows.values() if n.status == "failed"}
    got = received(smtp.inbox.messages)
    assert {g.to for g in got} == {"ana@dmv.ca.gov"}
    assert ("expired" not in {g.reason for g in got}) and len(got) == len(set(got))
    (msg,) = smtp.inbox.messages
    assert fine in text_of(msg) and "&lt;" not in msg["Subject"]
    assert "<!DOCTYPE html>" in html_of(msg)


# --- several processes ------------------------------------------------------------------------


def _spawn(env: dict[str, str], now: datetime, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [str(CERTDESK), "notices", "run", "--now", now.isoformat(), "--json"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@POSTGRES
def test_two_processes_at_once_then_killed_mid_run_still_send_each_notice_once(
    database_url: str, tmp_path: Path, smtp: SmtpServer
) -> None:
    """Two ``certdesk notices run`` processes start together on PostgreSQL, both are killed
    with SIGKILL while messages are going out, and a pass restarted after their claims ran
    out finishes the job: every notice arrives, and only a message a dying process had in
    flight or had not yet marked sent can arrive twice (the documented at-least-once window:
    accepted messages are marked in batches of at most MARK_EVERY), same Message-ID."""
    # Every worker of one installation runs with the same settings: no digests here, so that
    # there are 120 messages to be in the middle of.
    with open_notice_desk(database_url, tmp_path, smtp_url=smtp.url, notice_digest=False) as desk:
        serials = [desk.issue("dmv", days=100) for _ in range(60)]
        for i, serial in enumerate(serials):
            desk.attach([serial], [("Ana", "ana@dmv.ca.gov"), (f"P{i}", f"p{i}@dmv.ca.gov")])
        at = moment(desk.cert(serials[-1]).not_after, 90) + timedelta(hours=1)
        env = {
            **certdesk_env(notice_settings(database_url, tmp_path)),
            "CERTDESK_SMTP_URL": smtp.url,
            "CERTDESK_MAIL_FROM": desk.rt.settings.mail_from,
            "CERTDESK_NOTICE_DIGEST": "false",
        }
        smtp.inbox.delay = 0.02
        logs = [tmp_path / f"run{i}.log" for i in range(2)]
        procs = [_spawn(env, at, log) for log in logs]
        try:
            # One of them claims everything (the other finds it all claimed and exits 0).
            wait_until(lambda: len(smtp.inbox.messages) >= 20, timeout=90, what="20 messages")
            for p in procs:
                if p.poll() is None:
                    os.kill(p.pid, signal.SIGKILL)
            for p in procs:
                p.wait(timeout=10)
            assert -signal.SIGKILL in [p.returncode for p in procs]  # killed mid-run
        finally:
            for p in procs:
                stop(p)
        smtp.inbox.delay = 0
        at_kill = Counter((g.to, g.subject) for g in received(smtp.inbox.messages))
        assert set(at_kill.values()) == {1}  # two processes at once: nothing twice
        before = len(smtp.inbox.messages)
        assert 20 <= before < 120
        # Too early: the dead processes' claims still stand; nobody sends their notices.
        assert desk.services.notices.run(at + timedelta(minutes=1), "restarted").sent == 0
        stats = desk.services.notices.run(at + CLAIM_LEASE + timedelta(minutes=2), "restarted")
        assert stats.sent >= 120 - before and stats.failed == 0
        assert {n.status for n in desk.notices()} == {"sent"}
    got = Counter((g.to, g.subject) for g in received(smtp.inbox.messages))
    assert len(got) == 120  # none missing
    twice = [k for k, n in got.items() if n > 1]
    assert len(twice) <= len(procs) * MARK_EVERY and set(got.values()) <= {1, 2}
    for to, subject in twice:
        ids = {
            m["Message-ID"]
            for m in smtp.inbox.messages
            if (to, subject) in {(g.to, g.subject) for g in notices_in(m)}
        }
        assert len(ids) == 1, ids
