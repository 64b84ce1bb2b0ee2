"""Notices (R9) through the service layer on SQLite and PostgreSQL, with a fake transport.

The fake records what would reach the SMTP server and fails on demand the way smtplib does
(refusals, an unreachable server, a process killed before or after the server accepted a
message), so each failure path is driven deterministically. The same rules against a real
SMTP server are in tests/integration/test_notice_mail.py.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from certdesk.core.access import Role
from certdesk.errors import InvalidInput, NotFound
from certdesk.services.casework.contacts import ContactInput
from certdesk.services.lifecycle.notices import CLAIM_LEASE, NoticeRunStats, NoticeService
from certdesk.services.registry import Services
from certdesk.store.models import Contact, Notice
from conftest import OPERATOR, org_actor
from world.desk import Desk
from world.desk import open_desk as open_case_desk
from world.mail import Crash, FakeTransport, html_of, notices_in, received, text_of
from world.notices import START, Snapshots, moment, open_notice_desk

PACIFIC = ZoneInfo("America/Los_Angeles")
ANA = ("Ana Admin", "ana@dmv.ca.gov")
BEN = ("Ben Tech", "ben@dmv.ca.gov")


@pytest.fixture
def fake() -> FakeTransport:
    return FakeTransport()


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshots]:
    made = Snapshots(tmp_path_factory.mktemp("notice-snapshots"))
    yield made
    made.close()


@pytest.fixture
def database_url(backend: str, tmp_path: Path, snapshots: Snapshots) -> str:
    """An initialized certdesk of its own (overrides conftest's empty database)."""
    return snapshots.clone(backend, tmp_path)


@pytest.fixture
def desk(database_url: str, tmp_path: Path, fake: FakeTransport) -> Iterator[Desk]:
    with open_notice_desk(database_url, tmp_path, transport=fake) as d:
        yield d


def run(desk: Desk, at: datetime | None = None, worker: str = "w1", **kw: int) -> NoticeRunStats:
    if at is not None:
        desk.clock.now = at
    return desk.services.notices.run(desk.clock(), worker, **kw)


def reasons(fake: FakeTransport) -> list[str]:
    return [g.reason for g in received(fake.sent)]


# --- R9 thresholds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        pytest.param(
            199,
            ["expiry.90", "expiry.60", "expiry.30", "expiry.14", "expiry.7", "expiry.1", "expired"],
            id="R9/199-day-every-threshold-then-expired",
        ),
        pytest.param(
            46,
            ["expiry.30", "expiry.14", "expiry.7", "expiry.1", "expired"],
            id="R9/46-day-no-90-or-60",
        ),
        pytest.param(10, ["expiry.7", "expiry.1", "expired"], id="R9/10-day-only-7-and-1"),
    ],
)
def test_each_threshold_goes_out_at_its_moment_and_not_before(
    desk: Desk, fake: FakeTransport, days: int, expected: list[str]
) -> None:
    serial = desk.issue("dmv", days=days)
    desk.attach([serial], [ANA])
    not_after = desk.cert(serial).not_after
    for reason in expected:
        at = not_after if reason == "expired" else moment(not_after, int(reason.split(".")[1]))
        before = len(fake.sent)
        run(desk, at - timedelta(minutes=1))
        assert len(fake.sent) == before, f"{reason} went out before its moment"
        stats = run(desk, at + timedelta(hours=1))
        (msg,) = fake.sent[before:]
        (got,) = notices_in(msg)
        assert (got.reason, got.late, got.to) == (reason, False, ANA[1])
        assert got.subject == f"certificate {serial}"
        assert stats.sent == 1
    assert reasons(fake) == expected
    run(desk, not_after + timedelta(days=30))
    assert reasons(fake) == expected  # nothing twice, not even long after expiry


def test_subject_names_the_certificate_and_the_days_left(desk: Desk, fake: FakeTransport) -> None:
    serial = desk.issue("dmv", "portal.dmv.ca.gov", "www.portal.dmv.ca.gov", days=100)
    desk.attach([serial], [ANA])
    for days in (90, 60, 30):
        run(desk, moment(desk.cert(serial).not_after, days) + timedelta(hours=2))
    msg = fake.sent[-1]
    assert msg["Subject"] == f"Certificate portal.dmv.ca.gov ({serial}) expires in 30 days"
    text = text_of(msg)
    assert "Hello Ana Admin," in text
    assert "portal.dmv.ca.gov, www.portal.dmv.ca.gov" in text and serial in text
    assert "in 30 days" in text and "late" not in text
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["From"] == "certdesk@cdt.ca.gov"


def test_worker_down_over_thresholds_sends_each_missed_notice_once_marked_late(
    desk: Desk, fake: FakeTransport
) -> None:
    serial = desk.issue("dmv", days=100)
    desk.attach([serial], [ANA])
    not_after = desk.cert(serial).not_after
    run(desk, START + timedelta(hours=1))
    assert fake.sent == []
    # Down from day 1 until 10 days before expiry: 90, 60, 30 and 14 all passed meanwhile.
    stats = run(desk, not_after - timedelta(days=10))
    (digest,) = fake.sent
    got = notices_in(digest)
    assert [g.reason for g in got] == ["expiry.90", "expiry.60", "expiry.30", "expiry.14"]
    assert all(g.late for g in got)
    assert stats.late == 4 and stats.digests == 1
    assert digest["Subject"].startswith("certdesk: 4 notices (some late): [late] Certificate")
    assert "expires in 10 days" in digest["Subject"]
    assert all(n.late and n.status == "sent" for n in desk.notices())
    run(desk, not_after - timedelta(days=10))
    run(desk, not_after - timedelta(days=9))
    assert len(fake.sent) == 1  # replayed passes find nothing new


def test_on_time_within_grace_is_not_late(desk: Desk, fake: FakeTransport) -> None:
    serial = desk.issue("dmv", days=100)
    desk.attach([serial], [ANA])
    run(desk, moment(desk.cert(serial).not_after, 90) + timedelta(hours=23, minutes=59))
    assert [g.late for g in received(fake.sent)] == [False]


# --- recipients --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("submittal", "org", "sent_to", "failed"),
    [
        pytest.param([ANA, BEN], [("Olga Org", "olga@dmv.ca.gov")], {ANA[1], BEN[1]}, {},
                     id="R9/submittal-contacts-first"),
        pytest.param([], [("Olga Org", "olga@dmv.ca.gov")], {"olga@dmv.ca.gov"}, {},
                     id="R9/org-contacts-when-submittal-has-none"),
        pytest.param([ANA, ("Ana Again", "ANA@DMV.CA.GOV")], [], {ANA[1]}, {},
                     id="R9/one-notice-per-address-whatever-its-case"),
        pytest.param([ANA, ("Nobody", "not-an-address")], [], {ANA[1]},
                     {"not-an-address": "not a valid email address"},
                     id="R9/bad-address-fails-alone"),
        pytest.param([], [], set(), {"": "no contact to notify"},
                     id="R9/nobody-to-tell-is-a-failed-notice"),
    ],
)  # fmt: skip
def test_recipients(
    desk: Desk,
    fake: FakeTransport,
    submittal: list[tuple[str, str]],
    org: list[tuple[str, str]],
    sent_to: set[str],
    failed: dict[str, str],
) -> None:
    serial = desk.issue("dmv", days=100)
    if submittal:
        desk.attach([serial], submittal)
    for name, email in org:
        desk.org_contact("dmv", name, email)
    stats = run(desk, moment(desk.cert(serial).not_after, 90) + timedelta(hours=1))
    assert {g.to for g in received(fake.sent)} == sent_to
    rows = desk.notices()
    assert {n.contact_email: n.status for n in rows} == {
        **{e: "sent" for e in sent_to},
        **{e: "failed" for e in failed},
    }
    for n in rows:
        if n.contact_email in failed:
            assert failed[n.contact_email] in n.last_error
    assert stats.failed == len(failed)
    run(desk, moment(desk.cert(serial).not_after, 90) + timedelta(hours=2))
    assert len(desk.notices()) == len(rows)  # a failed notice is recorded once, not retried


@pytest.mark.parametrize(
    ("digest", "messages"),
    [pytest.param(True, 1, id="R9/digest-one-mail"), pytest.param(False, 3, id="R9/no-digest")],
)
def test_a_contact_with_many_certificates_due_gets_one_digest(
    database_url: str, tmp_path: Path, fake: FakeTransport, digest: bool, messages: int
) -> None:
    with open_notice_desk(database_url, tmp_path, transport=fake, notice_digest=digest) as desk:
        serials = [desk.issue("dmv", days=100) for _ in range(3)]
        desk.attach(serials, [ANA])
        desk.attach([desk.issue("dmv", days=100)], [BEN])
        stats = run(desk, moment(desk.cert(serials[0]).not_after, 90) + timedelta(hours=2))
        to_ana = [m for m in fake.sent if m["To"] == ANA[1]]
        assert len(to_ana) == messages
        assert sorted(g.subject for g in received(to_ana)) == sorted(
            f"certificate {s}" for s in serials
        )
        assert stats.sent == 4 and stats.digests == (1 if digest else 0)
        assert {n.status for n in desk.notices()} == {"sent"}  # each recorded on its own
        if digest:
            (msg,) = to_ana
            assert all(s in text_of(msg) for s in serials)
            assert msg["Message-ID"].startswith("<certdesk.digest.")


# --- SMTP failures -------------------------------------------------------------------------------


def test_permanent_refusal_fails_that_notice_and_the_others_go_out(
    desk: Desk, fake: FakeTransport
) -> None:
    serial = desk.issue("dmv", days=100)
    desk.attach([serial], [ANA, BEN])
    fake.refuse[BEN[1]] = (550, "5.1.1 no such mailbox")
    stats = run(desk, moment(desk.cert(serial).not_after, 90) + timedelta(hours=1))
    assert [g.to for g in received(fake.sent)] == [ANA[1]]
    by = {n.contact_email: n for n in desk.notices()}
    assert by[BEN[1]].status == "failed" and "no such mailbox" in by[BEN[1]].last_error
    assert by[BEN[1]].attempts == 1
    assert by[ANA[1]].status == "sent"
    assert (stats.sent, stats.failed) == (1, 1)
    failed = desk.services.notices.search(OPERATOR, status="failed").items
    assert [n.contact_email for n in failed] == [BEN[1]]


def test_temporary_refusal_retries_with_backoff_until_accepted(
    desk: Desk, fake: FakeTransport
) -> None:
    serial = desk.issue("dmv", days=100)
    desk.attach([serial], [ANA])
    t0 = moment(desk.cert(serial).not_after, 90) + timedelta(hours=1)
    fake.refuse[ANA[1]] = (451, "4.3.0 try again later")
    stats = run(desk, t0)
    assert stats.retrying == 1
    (row,) = desk.notices()
    assert (row.status, row.attempts, row.next_attempt_at) == (
        "pending",
        1,
        t0 + timedelta(minutes=1),
    )
    assert [n.status for n in desk.services.notices.search(OPERATOR, status="retrying").items] == [
        "retrying"
    ]
    run(desk, t0 + timedelta(seconds=30))  # not yet due again
    assert fake.attempts == 1
    run(desk, t0 + timedelta(seconds=61))  # second failure: the delay doubles
    (row,) = desk.notices()
    assert (row.attempts, row.next_attempt_at) == (2, t0 + timedelta(seconds=61 + 120))
    del fake.refuse[ANA[1]]
    run(desk, t0 + timedelta(seconds=61 + 121))
    (row,) = desk.notices()
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, "")
    assert [g.reason for g in received(fake.sent)] == ["expiry.90"]


def test_temporary_refusals_give_up_after_max_attempts(
    database_url: str, tmp_path: Path, fake: FakeTransport
) -> None:
    with open_notice_desk(database_url, tmp_path, transport=fake, notice_max_attempts=2) as desk:
        serial = desk.issue("dmv", days=100)
        desk.attach([serial], [ANA])
        t0 = moment(desk.cert(serial).not_after, 90) + timedelta(hours=1)
        fake.refuse[ANA[1]] = (452, "4.2.2 mailbox full")
        run(desk, t0)
        stats = run(desk, t0 + timedelta(hours=1))
        (row,) = desk.notices()
        assert (row.status, row.attempts) == ("failed", 2)
        assert "gave up after 2 attempts" in row.last_error
        assert stats.failed == 1


def test_unreachable_server_fails_nothing_and_everything_goes_out_after_recovery(
    desk: Desk, fake: FakeTransport
) -> None:
    serials = [desk.issue("dmv", days=100) for _ in range(3)]
    desk.attach(serials[:2], [ANA])
    desk.attach(serials[2:], [BEN])
    t0 = moment(desk.cert(serials[-1]).not_after, 90) + timedelta(hours=1)
    fake.down = True
    for day in range(5):  # down for days: never failed, attempts only for the one tried
        stats = run(desk, t0 + timedelta(days=day))
        assert stats.retrying == 3 and stats.failed == 0
    assert {n.status for n in desk.notices()} == {"pending"}
    assert all(n.last_error for n in desk.notices())
    assert fake.attempts == 5  # one connection attempt per pass, then the pass stops
    fake.down = False
    stats = run(desk, t0 + timedelta(days=5))
    assert stats.sent == 3 and stats.late == 3
    assert Counter((g.to, g.subject) for g in received(fake.sent)) == Counter(
        {(ANA[1], f"certificate {s}"): 1 for s in serials[:2]}
        | {(BEN[1], f"certificate {serials[2]}"): 1}
    )
    run(desk, t0 + timedelta(days=6))
    assert len(received(fake.sent)) == 3


# --- crashes: the exactly-once guarantee and its one at-least-once window ----------------


def test_crash_before_sending_leaves_a_claim_that_runs_out_then_sends_once(
    desk: Desk, fake: FakeTransport
) -> None:
    serial = desk.issue("dmv", days=100)
    desk.attach([serial], [ANA])
    t0 = moment(desk.cert(serial).not_after, 90) + timedelta(hours=1)
    fake.crash_before = 0
    with pytest.raises(Crash):
        run(desk, t0, worker="dying")
    (row,) = desk.notices()
    assert (row.status, row.claimed_by) == ("sending", "dying")
    run(desk, t0 + timedelta(minutes=1), worker="other")  # the claim still protects it
    assert fake.sent == []
    stats = run(desk, t0 + CLAIM_LEASE + timedelta(seconds=1), worker="other")
    assert stats.sent == 1
    (row,) = desk.notices()
    assert (row.status, row.attempts) == ("sent", 2)  # the interrupted attempt counts
    assert len(fake.sent) == 1


def test_crash_after_the_server_accepted_resends_the_same_message_id(
    desk: Desk, fake: FakeTransport
) -> None:
    """The documented at-least-once window: accepted by SMTP, not yet marked sent."""
    serial = desk.issue("dmv", days=100)
    desk.attach([serial], [ANA])
    t0 = moment(desk.cert(serial).not_after, 90) + timedelta(hours=1)
    fake.crash_after = 0
    with pytest.raises(Crash):
        run(desk, t0, worker="dying")
    run(desk, t0 + CLAIM_LEASE + timedelta(seconds=1), worker="other")
    first, second = fake.sent
    assert (
        first["Message-ID"]
        == second["Message-ID"]
        == f"<certdesk.notice.{desk.notices()[0].id}@cdt.ca.gov>"
    )
    assert notices_in(first) == notices_in(second)
    assert desk.notices()[0].status == "sent"


def test_a_crash_before_a_batch_of_marks_resends_that_batch_with_the_same_message_ids(
    desk: Desk, fake: FakeTransport
) -> None:
    """Accepted messages are marked sent in batches (MARK_EVERY or MARK_WITHIN): a process
    that dies before its batch is committed leaves those notices claimed; once the claims run
    out they are sent again, each repeat with its first copy's Message-ID, and none is
    skipped."""
    serial = desk.issue("dmv", days=100)
    people = [(f"P{i}", f"p{i}@dmv.ca.gov") for i in range(5)]
    desk.attach([serial], people)
    t0 = moment(desk.cert(serial).not_after, 90) + timedelta(hours=1)
    fake.crash_after = 2  # three messages accepted, none of them marked yet
    with pytest.raises(Crash):
        run(desk, t0, worker="dying")
    assert len(fake.sent) == 3 and {n.status for n in desk.notices()} == {"sending"}
    fake.crash_after = None
    stats = run(desk, t0 + CLAIM_LEASE + timedelta(seconds=1), worker="other")
    assert stats.sent == 5 and {n.status for n in desk.notices()} == {"sent"}
    first, again = fake.sent[:3], fake.sent[3:]
    assert sorted(str(m["To"]) for m in again) == [p[1] for p in people]  # none skipped
    ids = {str(m["To"]): m["Message-ID"] for m in again}
    assert all(ids[str(m["To"])] == m["Message-ID"] for m in first)


def test_a_digest_interrupted_after_acceptance_is_repeated_whole_and_alone(
    desk: Desk, fake: FakeTransport
) -> None:
    """Taken-over notices keep their group: the repeat has the same Message-ID, and a new
    notice for the same contact goes in a message of its own."""
    first = [desk.issue("dmv", days=100) for _ in range(2)]
    desk.attach(first, [ANA])
    t0 = moment(desk.cert(first[0]).not_after, 90) + timedelta(hours=1)
    fake.crash_after = 0
    with pytest.raises(Crash):
        run(desk, t0, worker="dying")
    desk.clock.now = t0 + timedelta(minutes=5)
    later = desk.issue("dmv", days=100)
    desk.attach([later], [ANA])
    fake.crash_after = None
    run(desk, moment(desk.cert(later).not_after, 90) + CLAIM_LEASE, worker="other")
    original, repeat, fresh = fake.sent
    assert original["Message-ID"] == repeat["Message-ID"] != fresh["Message-ID"]
    assert [g.notice_id for g in notices_in(original)] == [g.notice_id for g in notices_in(repeat)]
    assert [g.subject for g in notices_in(fresh)] == [f"certificate {later}"]
    assert {n.status for n in desk.notices()} == {"sent"}


def test_a_long_pass_renews_its_claims(desk: Desk, fake: FakeTransport) -> None:
    serial = desk.issue("dmv", days=100)
    people = [(f"P{i}", f"p{i}@dmv.ca.gov") for i in range(4)]
    desk.attach([serial], people)
    t0 = moment(desk.cert(serial).not_after, 90) + timedelta(hours=1)
    desk.clock.now = t0
    fake.on_send = lambda _n: desk.clock.advance(minutes=4)  # a slow SMTP server
    stats = run(desk, t0)
    assert (stats.sent, stats.errors) == (4, [])
    assert {n.status for n in desk.notices()} == {"sent"}


def test_a_pass_frozen_past_its_lease_loses_its_claims_to_another(
    desk: Desk, fake: FakeTransport
) -> None:
    """A process frozen for longer than the lease (suspended mid-send) is the other way into
    the at-least-once window: the message it was sending can go out twice, never another."""
    serial = desk.issue("dmv", days=100)
    desk.attach([serial], [(f"P{i}", f"p{i}@dmv.ca.gov") for i in range(3)])
    t0 = moment(desk.cert(serial).not_after, 90) + timedelta(hours=1)
    desk.clock.now = t0

    def freeze(n: int) -> None:
        if n == 0:
            desk.clock.advance(minutes=11)
            desk.services.notices.run(desk.clock(), "other")  # takes over the lapsed claims

    fake.on_send = freeze
    stats = run(desk, t0, worker="frozen")
    assert stats.sent == 0 and "claim lost while sending" in " ".join(stats.errors)
    got = Counter((g.to, g.notice_id) for g in received(fake.sent))
    assert len(got) == 3 and sorted(got.values()) == [1, 1, 2]
    (twice,) = [k for k, v in got.items() if v == 2]
    ids = {m["Message-ID"] for m in fake.sent if m["To"] == twice[0]}
    assert len(ids) == 1
    assert {n.status for n in desk.notices()} == {"sent"}


def test_concurrent_passes_send_every_notice_once(desk: Desk, fake: FakeTransport) -> None:
    serials = [desk.issue("dmv", days=100) for _ in range(12)]
    for i, serial in enumerate(serials):
        desk.attach([serial], [ANA, (f"P{i}", f"p{i}@dmv.ca.gov")])
    at = moment(desk.cert(serials[-1]).not_after, 90) + timedelta(hours=1)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            barrier.wait()
            desk.services.notices.run(at, f"thread-{n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = Counter((g.to, g.subject, g.reason) for g in received(fake.sent))
    assert len(got) == 24 and set(got.values()) == {1}
    assert {n.status for n in desk.notices()} == {"sent"}


def test_limit_bounds_a_pass_and_never_splits_a_notices_recipients(
    desk: Desk, fake: FakeTransport
) -> None:
    serials = [desk.issue("dmv", days=100) for _ in range(5)]
    desk.attach(serials[:1], [ANA, BEN, ("Cy", "cy@dmv.ca.gov")])
    desk.attach(serials[1:], [ANA])
    at = moment(desk.cert(serials[-1]).not_after, 90) + timedelta(hours=1)
    # All three recipients of the first certificate's notice, although the limit is 2: once
    # one of them is recorded the reason counts as planned, so they go together.
    assert run(desk, at, limit=2).planned == 3
    assert run(desk, at, limit=2).planned == 2
    assert run(desk, at, limit=2).planned == 2
    assert run(desk, at).planned == 0
    assert len(received(fake.sent)) == 7


def test_without_smtp_notices_wait_and_go_out_late_once_configured(
    database_url: str, tmp_path: Path, fake: FakeTransport
) -> None:
    with open_notice_desk(database_url, tmp_path) as desk:  # CERTDESK_SMTP_URL not set
        serial = desk.issue("dmv", days=100)
        desk.attach([serial], [ANA])
        t0 = moment(desk.cert(serial).not_after, 90) + timedelta(hours=1)
        stats = run(desk, t0)
        assert (stats.planned, stats.retrying, stats.sent) == (1, 1, 0)
        (row,) = desk.notices()
        assert row.status == "pending" and "CERTDESK_SMTP_URL" in row.last_error
        desk.services.notices = NoticeService(desk.rt, transport=lambda: fake)
        stats = run(desk, t0 + timedelta(days=2))
        assert (stats.sent, stats.late) == (1, 1)
        assert [g.late for g in received(fake.sent)] == [True]


# --- templates ---------------------------------------------------------------------------------


def test_template_error_fails_those_notices_and_not_the_others(
    database_url: str, tmp_path: Path, fake: FakeTransport
) -> None:
    override = tmp_path / "templates"
    override.mkdir()
    (override / "expired.txt").write_text("{{ certificate.no_such_field }}\n")
    with open_notice_desk(
        database_url, tmp_path, transport=fake, notice_template_dir=override
    ) as desk:
        soon = desk.issue("dmv", days=100)
        desk.clock.advance(days=80)
        gone = desk.issue("dmv", days=10)
        desk.attach([soon, gone], [ANA])
        stats = run(desk, moment(desk.cert(soon).not_after, 7) + timedelta(hours=1))
        by = {(n.subject_id, n.reason): n for n in desk.notices()}
        broken = by[(desk.cert(gone).id, "expired")]
        assert broken.status == "failed" and "template expired.txt" in broken.last_error
        assert "no_such_field" in broken.last_error
        assert {g.reason for g in received(fake.sent)} >= {"expiry.7"}
        assert "expired" not in {g.reason for g in received(fake.sent)}
        assert stats.failed == 1


def test_override_templates_replace_the_packaged_ones_by_name(
    database_url: str, tmp_path: Path, fake: FakeTransport
) -> None:
    override = tmp_path / "templates"
    override.mkdir()
    (override / "expiry.subject.txt").write_text(
        "[DMV] {{ certificate.primary_name }} expires in {{ certificate.days_left }} days\n"
    )
    (override / "digest.txt").write_text("{{ items[0].nope }}")  # broken digest
    with open_notice_desk(
        database_url, tmp_path, transport=fake, notice_template_dir=override
    ) as desk:
        serials = [desk.issue("dmv", f"a{i}.dmv.ca.gov", days=100) for i in range(2)]
        desk.attach(serials, [ANA])
        stats = run(desk, moment(desk.cert(serials[1]).not_after, 90) + timedelta(hours=1))
        # The digest template is broken: its notices go out one by one instead.
        subjects = sorted(m["Subject"] for m in fake.sent)
        assert subjects == [
            "[DMV] a0.dmv.ca.gov expires in 90 days",
            "[DMV] a1.dmv.ca.gov expires in 90 days",
        ]
        assert stats.sent == 2
        assert any("digest" in e for e in stats.errors)


def test_html_is_escaped_and_subjects_stay_one_line(desk: Desk, fake: FakeTransport) -> None:
    serial = desk.issue("dmv", days=100)
    desk.attach([serial], [("<script>alert(1)</script>", "ana@dmv.ca.gov")])
    run(desk, moment(desk.cert(serial).not_after, 90) + timedelta(hours=1))
    (msg,) = fake.sent
    html = html_of(msg)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" in text_of(msg)  # plain text is not HTML


# --- case events (R9): submitted, approved, rejected, delivered, overdue, window closing ----


def test_case_events_are_mailed_once_each_to_the_roles_they_concern(
    backend: str, tmp_path: Path, fake: FakeTransport
) -> None:
    """R4/R5/R8/R9 by role: approvers and cert services hear of a submission; the requester
    and the contacts of a decision, a delivery and the window closing; cert services and the
    requester of a late case."""
    with open_case_desk(backend, tmp_path) as cd:
        svc = cd.services
        svc.notices = NoticeService(svc.rt, transport=lambda: fake)
        svc.contacts.add(
            OPERATOR, "dmv", ContactInput("administrative", "Olga Org", "olga@dmv.ca.gov")
        )

        def step(**advance: float) -> list[tuple[str, str]]:
            cd.clock.advance(**advance)
            before = len(fake.sent)
            svc.notices.run(cd.clock(), "w1")
            return sorted((g.to, g.reason.split("#")[0]) for g in received(fake.sent[before:]))

        deciders = ["abe@example.ca.gov", "bea@example.ca.gov"]
        operators = ["opal@example.ca.gov", "otto@example.ca.gov"]
        told = sorted(["ana@example.ca.gov", "ana@dmv.ca.gov", "olga@dmv.ca.gov"])
        view = cd.pending("ana")
        assert step(minutes=5) == [(t, "case.submitted") for t in sorted(deciders + operators)]
        svc.approvals.approve(cd["abe"], view.number)
        assert step(minutes=5) == []  # one of two approvals: not news yet
        svc.approvals.reject(cd["opal"], view.number, "wrong server software")
        assert step(minutes=5) == [(t, "case.rejected") for t in told]
        rejected = [m for m in fake.sent if "rejected" in m["Subject"]]
        assert "wrong server software" in text_of(rejected[0])
        svc.cases.submit(cd["ana"], view.number)
        assert step(minutes=5) == [(t, "case.submitted") for t in sorted(deciders + operators)]
        svc.approvals.approve(cd["abe"], view.number)
        approved = svc.approvals.approve(cd["opal"], view.number)
        assert step(minutes=5) == [(t, "case.approved") for t in told]
        assert step(minutes=5) == []
        # R5: overdue from 00:00 Pacific the day after the due date; mailed once.
        due = approved.summary.due_date
        assert due is not None
        cd.clock.now = datetime.combine(
            due + timedelta(days=1), datetime.min.time(), tzinfo=PACIFIC
        ).astimezone(UTC) - timedelta(minutes=1)
        assert step() == []
        late = sorted(["ana@example.ca.gov", *operators])
        assert step(minutes=2) == [(t, "case.overdue") for t in late]
        assert step(days=1) == []
        delivered = svc.fulfilment.fulfil(cd["opal"], view.number)
        got = step(minutes=5)
        assert [x for x in got if x[1] == "case.delivered"] == [(t, "case.delivered") for t in told]
        # R8: "window closing" 3 days before the 25-day window ends; once.
        assert delivered.window_ends_at is not None
        cd.clock.now = delivered.window_ends_at - timedelta(days=3, minutes=1)
        assert step() == []
        assert step(minutes=2) == [(t, "window.closing") for t in told]
        assert step(days=5) == []
        rows = [n for n in _all_notices(svc) if n.subject_type == "case"]
        assert {n.status for n in rows} == {"sent"}
        assert len({(n.contact_email, n.reason) for n in rows}) == len(rows)


def _all_notices(svc: Services) -> list[Notice]:
    with svc.rt.reads() as s:
        return list(s.scalars(select(Notice).order_by(Notice.id)))


# --- visibility ---------------------------------------------------------------------------------


def test_list_filters_and_organization_scope(desk: Desk, fake: FakeTransport) -> None:
    dmv = desk.issue("dmv", days=100)
    chp = desk.issue("chp", days=100)
    desk.attach([dmv], [ANA])
    desk.attach([chp], [("Carl", "carl@chp.ca.gov")])
    fake.refuse["carl@chp.ca.gov"] = (450, "4.2.1 busy")
    run(desk, moment(desk.cert(dmv).not_after, 90) + timedelta(hours=1))
    svc = desk.services.notices
    assert {n.subject for n in svc.search(OPERATOR).items} == {dmv, chp}
    assert [n.subject for n in svc.search(OPERATOR, cert=chp).items] == [chp]
    assert [n.status for n in svc.search(OPERATOR, status="retrying").items] == ["retrying"]
    assert [n.subject for n in svc.search(OPERATOR, status="sent").items] == [dmv]
    requester = org_actor(desk.services, "dmv", Role.REQUESTER)
    assert [n.subject for n in svc.search(requester).items] == [dmv]
    with pytest.raises(NotFound):
        svc.search(requester, cert=chp)  # another organization's certificate: unknown
    with pytest.raises(InvalidInput):
        svc.search(OPERATOR, status="lost")
    first = svc.search(OPERATOR, limit=1)
    assert first.next_cursor is not None
    second = svc.search(OPERATOR, limit=1, cursor=first.next_cursor)
    assert {first.items[0].id, second.items[0].id} == {n.id for n in desk.notices()}
    counts = svc.status_counts()
    assert (counts["sent"], counts["retrying"], counts["failed"]) == (1, 1, 0)


def test_preview_renders_without_sending_or_recording(desk: Desk, fake: FakeTransport) -> None:
    serial = desk.issue("dmv", days=100)
    desk.attach([serial], [ANA, ("Nobody", "nope")])
    (ok, bad) = desk.services.notices.preview(OPERATOR, serial)
    assert ok.reason == "expiry.90" and ok.to == ANA[1] and ok.problem is None
    primary = desk.cert(serial).names.split(",")[0]
    assert ok.subject == f"Certificate {primary} ({serial}) expires in 90 days"
    assert bad.problem is not None and "not a valid email address" in bad.problem
    (ok7, _) = desk.services.notices.preview(OPERATOR, serial, "expiry.7")
    assert "expires in 7 days" in ok7.subject and "<table>" in ok7.html
    (gone, _) = desk.services.notices.preview(OPERATOR, serial, "expired")
    assert "expired on" in gone.subject
    with pytest.raises(InvalidInput):
        desk.services.notices.preview(OPERATOR, serial, "case.approved#1")
    with pytest.raises(NotFound):
        desk.services.notices.preview(org_actor(desk.services, "chp", Role.REQUESTER), serial)
    assert fake.sent == [] and desk.notices() == []


def test_contact_rows_with_bad_data_from_before_validation_are_reported(
    desk: Desk, fake: FakeTransport
) -> None:
    """Contacts are validated when entered; rows that predate it are still reported."""
    serial = desk.issue("dmv", days=100)
    desk.attach([serial], [ANA, BEN])
    with desk.rt.sessions.begin() as s:
        s.execute(update(Contact).where(Contact.email == BEN[1]).values(email="ben at dmv"))
    run(desk, moment(desk.cert(serial).not_after, 90) + timedelta(hours=1))
    by = {n.contact_email: n for n in desk.notices()}
    assert by["ben at dmv"].status == "failed" and by[ANA[1]].status == "sent"


def test_clock_must_be_aware(desk: Desk) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        desk.services.notices.run(datetime(2027, 1, 1), "w1")


# --- issue 14: role notices keep the once-only guarantee --------------------------------------


def test_a_question_notice_interrupted_by_a_crash_is_sent_once_by_the_next_worker(
    backend: str, tmp_path: Path
) -> None:
    """A worker dies before the SMTP server saw the question to cert services; its claim
    runs out and a restarted worker sends it, once; later passes record nothing new."""
    fake = FakeTransport(crash_before=0)
    with open_case_desk(backend, tmp_path) as cd:
        svc = cd.services
        svc.notices = NoticeService(svc.rt, transport=lambda: fake)
        view = cd.draft("ana")
        svc.cases.comment(cd["ana"], view.number, "Which server software do you support?")
        cd.clock.advance(minutes=1)
        with pytest.raises(Crash):
            svc.notices.run(cd.clock(), "w1")
        assert fake.sent == []
        svc.notices.run(cd.clock() + timedelta(minutes=1), "w2")  # w1's claim still holds
        assert fake.sent == []
        svc.notices.run(cd.clock() + CLAIM_LEASE + timedelta(minutes=1), "w2")
        svc.notices.run(cd.clock() + CLAIM_LEASE + timedelta(minutes=5), "w3")
        got = sorted((g.to, g.reason.split("#")[0]) for g in received(fake.sent))
        assert got == [
            ("opal@example.ca.gov", "case.question"),
            ("otto@example.ca.gov", "case.question"),
        ]
        rows = [n for n in _all_notices(svc) if n.reason.startswith("case.question")]
        assert sorted(n.status for n in rows) == ["sent", "sent"]
