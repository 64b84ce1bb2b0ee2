"""Mail by role and event, and outbound webhooks (issue 14), through the worker, against a
real SMTP server (aiosmtpd on loopback) and a real HTTP receiver on loopback.

One case goes the whole way — submitted, a reminder to whoever still has to approve, a
question and its answer, rejected, resubmitted, approved, in progress, late, delivered, the
window closing — and every moment must reach exactly the people its role names, once, in
plain language; passes repeated afterwards send nothing more. Then a revocation, password
warnings 14 and 3 days ahead, a certificate nobody can be told about (escalated), a
self-managed agency's expiry notice, and each person's preferences (daily digest, off,
safety notices never off). The webhook receiver answers 500 first and must get every event
again after the backoff, signed with the secret shown once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from certdesk.errors import InvalidInput
from certdesk.jobs.worker import Worker
from certdesk.services.casework.contacts import ContactInput
from certdesk.services.pki.revocation import Reason
from certdesk.store.models import Notice, User
from conftest import OPERATOR
from world.desk import DMV, Desk, open_desk, sub
from world.mail import SENDER, SmtpServer, html_of, received, text_of
from world.webhooks import Receiver

PACIFIC = ZoneInfo("America/Los_Angeles")
BASE = "https://certdesk.cdt.ca.gov"
DECIDERS = ["abe@example.ca.gov", "bea@example.ca.gov"]
OPERATORS = ["opal@example.ca.gov", "otto@example.ca.gov"]
# The requester, the submittal's technical contact and the organization's contact.
TOLD = sorted(["ana@example.ca.gov", "ana@dmv.ca.gov", "olga@dmv.ca.gov"])


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def desk(backend: str, tmp_path: Path, smtp: SmtpServer) -> Iterator[Desk]:
    with open_desk(
        backend,
        tmp_path,
        smtp_url=smtp.url,
        mail_from=SENDER,
        base_url=BASE,
        approval_reminder_days=2,
        webhook_retry_seconds=60,
    ) as d:
        d.services.contacts.add(
            OPERATOR, "dmv", ContactInput("administrative", "Olga Org", "olga@dmv.ca.gov")
        )
        yield d


class Passes:
    """The worker's passes, and what each one mailed."""

    def __init__(self, desk: Desk, smtp: SmtpServer) -> None:
        self.desk = desk
        self.smtp = smtp
        self.worker = Worker(desk.services, worker_id="w1")
        self.seen = 0

    def step(self, **advance: float) -> list[tuple[str, str]]:
        if advance:
            self.desk.clock.advance(**advance)
        report = self.worker.run_pass()
        assert not [e for e in report.errors if not e.startswith("webhooks")], report.errors
        new = self.smtp.inbox.messages[self.seen :]
        self.seen = len(self.smtp.inbox.messages)
        return sorted((g.to, g.reason.split("#")[0]) for g in received(new))

    def last(self, to: str, family: str) -> EmailMessage:
        for msg in reversed(self.smtp.inbox.messages):
            if any(g.to == to and g.reason.split("#")[0] == family for g in received([msg])):
                return msg
        raise AssertionError(f"no {family} mail to {to}")


def plain(msg: EmailMessage) -> str:
    """The mail as a person reads it: never a rule number or a raw code."""
    text = text_of(msg) + html_of(msg) + str(msg["Subject"])
    for leak in ("R4", "R5", "R8", "R9", "R10", "pending_approval", "in_progress", "user:"):
        assert leak not in text, f"{leak!r} in a mail: {msg['Subject']}"
    return text


def to(addresses: list[str], family: str) -> list[tuple[str, str]]:
    return sorted((a, family) for a in addresses)


def test_every_case_moment_reaches_its_roles_once_and_webhooks_get_signed_events(
    desk: Desk, smtp: SmtpServer
) -> None:
    svc = desk.services
    run = Passes(desk, smtp)
    with Receiver() as hook_rx:
        hook = svc.webhooks.add(OPERATOR, hook_rx.url, org_code="dmv", label="Teams bridge")
        hook_rx.codes = [500]  # the receiver fails the first delivery
        # --- submitted: the organization's approvers and cert services
        view = desk.pending("ana")
        assert run.step(minutes=5) == to(DECIDERS + OPERATORS, "case.submitted")
        msg = run.last("abe@example.ca.gov", "case.submitted")
        assert "needs your decision" in plain(msg)
        assert f"{BASE}/cases/{view.number}" in text_of(msg)
        # --- a question and its answer
        svc.cases.comment(desk["ana"], view.number, "Can the certificate cover the API host?")
        assert run.step(minutes=5) == to(OPERATORS, "case.question")
        assert "API host" in plain(run.last("opal@example.ca.gov", "case.question"))
        svc.cases.comment(desk["opal"], view.number, "Yes: add it to the submittal.")
        assert run.step(minutes=5) == to(["ana@example.ca.gov"], "case.answered")
        assert "add it to the submittal" in plain(run.last("ana@example.ca.gov", "case.answered"))
        # --- waiting for you: after 2 business days (Thanksgiving Thursday, the Friday after
        # is a state holiday: Monday and Tuesday), only whoever has not approved yet
        svc.approvals.approve(desk["abe"], view.number)
        assert run.step(days=4) == []  # Monday
        got = run.step(days=1)  # Tuesday
        assert got == to(OPERATORS, "case.waiting"), got
        assert "still waiting for your decision" in plain(
            run.last("otto@example.ca.gov", "case.waiting")
        )
        assert run.step(days=3) == []  # once per round
        # --- rejected with the reason: the requester and the contacts
        svc.approvals.reject(desk["opal"], view.number, "the server software is unsupported")
        assert run.step(minutes=5) == to(TOLD, "case.rejected")
        assert "server software is unsupported" in plain(
            run.last("ana@example.ca.gov", "case.rejected")
        )
        # --- resubmitted (a new round), approved
        svc.cases.submit(desk["ana"], view.number)
        assert run.step(minutes=5) == to(DECIDERS + OPERATORS, "case.submitted")
        svc.approvals.approve(desk["abe"], view.number)
        approved = svc.approvals.approve(desk["opal"], view.number)
        assert run.step(minutes=5) == to(TOLD, "case.approved")
        # --- in progress: the requester
        svc.cases.start(desk["opal"], view.number)
        assert run.step(minutes=5) == to(["ana@example.ca.gov"], "case.started")
        assert "started work" in plain(run.last("ana@example.ca.gov", "case.started"))
        # --- overdue (R5): cert services and the requester, from 00:00 Pacific after the due day
        due = approved.summary.due_date
        assert due is not None
        desk.clock.now = datetime.combine(
            due + timedelta(days=1), datetime.min.time(), tzinfo=PACIFIC
        ).astimezone(UTC) + timedelta(minutes=1)
        assert run.step() == to([*OPERATORS, "ana@example.ca.gov"], "case.overdue")
        # --- delivered, with the download link
        delivered = svc.fulfilment.fulfil(desk["opal"], view.number)
        got = run.step(minutes=5)
        assert [g for g in got if g[1] == "case.delivered"] == to(TOLD, "case.delivered")
        text = plain(run.last("ana@example.ca.gov", "case.delivered"))
        serial = delivered.summary.serial if hasattr(delivered.summary, "serial") else None
        assert f"{BASE}/certificates/" in text and "/download" in text, serial
        # --- the window closing, 3 days before it ends
        assert delivered.window_ends_at is not None
        desk.clock.now = delivered.window_ends_at - timedelta(days=3) + timedelta(minutes=1)
        assert run.step() == to(TOLD, "window.closing")
        assert "(R8)" not in plain(run.last("olga@dmv.ca.gov", "window.closing"))
        # --- nothing twice: more passes, and a worker restarted, send nothing
        assert run.step(minutes=5) == []
        run.worker = Worker(svc, worker_id="w2")
        assert run.step(hours=1) == []
        with svc.rt.reads() as s:
            rows = list(s.scalars(select(Notice).where(Notice.subject_type == "case")))
        assert len({(n.contact_email, n.reason) for n in rows}) == len(rows)
        assert {n.status for n in rows} == {"sent"}

        # --- webhooks: every moment as a signed event; the first delivery's 500 retried
        events = hook_rx.events(hook.secret)
        types = [e["type"] for e in events]
        assert types.count("case.submitted") == 3  # the 500, its retry, the second round
        assert {
            "case.question",
            "case.answered",
            "case.waiting",
            "case.rejected",
            "case.approved",
            "case.in_progress",
            "case.overdue",
            "case.delivered",
            "case.window_closing",
        } <= set(types)
        assert len({e["id"] for e in events}) == len(events) - 1  # only the retry repeats
        log = svc.webhooks.deliveries(OPERATOR, hook.webhook.id)
        assert {d.status for d in log} == {"delivered"}
        first = min(log, key=lambda d: d.id)
        assert first.attempts == 2 and first.last_status == 200
        assert all(e["organization"]["code"] == "dmv" for e in events)
        assert events[-1]["case"]["number"] == view.number


def test_revocation_password_warnings_escalation_and_self_managed_notices(
    desk: Desk, smtp: SmtpServer
) -> None:
    svc = desk.services
    run = Passes(desk, smtp)
    # --- a revocation reaches the certificate's contacts
    desk.org_contact("chp", "Cy Contact", "cy@chp.ca.gov")
    serial = desk.issue("chp", days=60)
    svc.revocation.revoke(OPERATOR, serial, Reason.KEY_COMPROMISE)
    assert run.step(minutes=5) == to(["cy@chp.ca.gov"], "revoked")
    assert "was revoked" in plain(run.last("cy@chp.ca.gov", "revoked"))
    # --- the password warnings 14 and 3 days before it expires (90 days), once each
    with svc.rt.sessions.begin() as s:
        s.execute(
            update(User)
            .where(User.login_id == "ana")
            .values(password_hash="$argon2id$test", password_changed_at=desk.clock())
        )
    assert run.step(days=75) == []
    assert run.step(days=1, minutes=1) == to(["ana@example.ca.gov"], "password.14")
    warning = run.last("ana@example.ca.gov", "password.14")
    assert "expires on" in plain(warning) and f"{BASE}/password" in text_of(warning)
    assert run.step(days=1) == []
    assert run.step(days=10) == to(["ana@example.ca.gov"], "password.3")
    assert run.step(days=1) == []
    # --- nobody to tell: an EDD certificate without contacts goes to its administrators
    # (no delegated administrator: its approver) and cert services, each told why
    lone = desk.issue("edd", days=9)
    assert run.step(minutes=5) == []
    got = run.step(days=3)  # 7 days before it expires (17:00 Pacific)
    assert got == to(["eli@example.ca.gov", *OPERATORS], "expiry.7"), got
    escalated = plain(run.last("eli@example.ca.gov", "expiry.7"))
    assert "no contact" in escalated and lone in escalated
    with svc.rt.reads() as s:
        failed = s.scalars(select(Notice).where(Notice.status == "failed")).all()
    assert failed == []
    # --- a self-managed agency is told to renew itself, never that cert services will
    svc.orgs.create(OPERATOR, "sm", "Self Managed", self_managed=True, grants=["zone:sm.ca.gov"])
    desk.org_contact("sm", "Sam Admin", "sam@sm.ca.gov")
    desk.issue("sm", days=9)
    assert run.step(days=3) == to(["sam@sm.ca.gov"], "expiry.7")
    said = plain(run.last("sam@sm.ca.gov", "expiry.7"))
    assert "Renew it yourself" in said and "ACME" in said
    assert "opens the renewal case" not in said
    # --- the worker opens a renewal (R6): the certificate's contacts hear of it, once
    view = desk.approved(DMV, submittals=(sub("renew.dmv.ca.gov", validity_days=30),))
    svc.fulfilment.fulfil(desk["opal"], view.number)
    got = run.step(days=25)
    assert [g for g in got if g[1] == "case.renewal"] == to(
        ["ana@dmv.ca.gov", "olga@dmv.ca.gov"], "case.renewal"
    ), got
    assert "renewal case was opened" in plain(run.last("olga@dmv.ca.gov", "case.renewal"))
    assert [g for g in run.step(days=1) if g[1] == "case.renewal"] == []


def test_preferences_digest_off_and_safety_notices(desk: Desk, smtp: SmtpServer) -> None:
    svc = desk.services
    run = Passes(desk, smtp)
    prefs = svc.mail_preferences
    # Safety notices can go to the digest but never off; a refused change changes nothing.
    with pytest.raises(InvalidInput) as refused:
        prefs.set(desk["bea"], {"submitted": "off", "expiry": "off"})
    assert refused.value.code == "prefs.safety"
    assert {p.kind: p.mode for p in prefs.show(desk["bea"])}["submitted"] == "immediate"
    prefs.set(desk["bea"], {"submitted": "off"})
    prefs.set(desk["abe"], {"submitted": "digest"})
    first = desk.pending("ana")
    second = desk.pending("ana")
    # bea hears nothing (recorded as skipped); abe waits for the digest; cert services at once
    assert run.step(minutes=5) == to(OPERATORS * 2, "case.submitted")
    with svc.rt.reads() as s:
        bea = s.scalars(select(Notice).where(Notice.contact_email == "bea@example.ca.gov")).all()
    assert sorted(n.status for n in bea) == ["skipped", "skipped"]
    # The digest goes out at 07:00 Pacific the next day: one message with both cases.
    desk.clock.now = datetime.combine(
        desk.clock().astimezone(PACIFIC).date() + timedelta(days=1),
        datetime.min.time().replace(hour=7),
        tzinfo=PACIFIC,
    ).astimezone(UTC) - timedelta(minutes=1)
    assert run.step() == []
    new_start = len(smtp.inbox.messages)
    assert run.step(minutes=2) == to(["abe@example.ca.gov"] * 2, "case.submitted")
    digest = smtp.inbox.messages[new_start:]
    assert len(digest) == 1
    body = plain(digest[0])
    assert first.number in body and second.number in body
    assert run.step(days=1) == []
