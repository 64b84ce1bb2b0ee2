"""The lifecycle worker's jobs (issue 4, parts 1, 2, 4 and 5), on SQLite and PostgreSQL.

Every test drives :class:`certdesk.jobs.worker.Worker` passes with the injected clock and
checks the database afterwards: each job acts exactly at the moment the pure rules
(:mod:`certdesk.core.lifecycle`) name, once, and a second pass changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from certdesk.core.calendar import PACIFIC, BusinessCalendar
from certdesk.core.lifecycle import (
    LifecyclePolicy,
    RenewalBasis,
    renewal_opens_at,
)
from certdesk.jobs.worker import PassReport, Worker
from certdesk.notify.messages import Mail
from certdesk.services.casework.cases import CaseInput
from certdesk.services.casework.contacts import ContactInput
from certdesk.services.casework.submittals import SubmittalInput
from certdesk.services.lifecycle.renewals import WORKER
from certdesk.services.people.account_mail import queue_account_mail
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.registry import Services
from certdesk.store.models import (
    Approval,
    AuditRow,
    Case,
    CaseEvent,
    CertificateRow,
    CrlRow,
    WorkerBeat,
)
from certdesk.web.app import create_app
from conftest import OPERATOR, ManualClock
from world.csr import make_csr
from world.mail import FakeTransport

DMV = "dmv"
# The CA is made this early so that 398-day certificates (issued before 2026-03-15, R13)
# can be issued; every test moves the clock forward from here.
START = datetime(2025, 6, 2, 17, 0, tzinfo=UTC)
CONTACT = ContactInput("technical", "Ana Tech", "ana@dmv.ca.gov", "916-555-0100")

# Issuance moments in each CA/B Forum era (R13), with that era's maximum validity, and the
# rule that decides: the lifetime fraction for all of those; the turnaround (R5 + margin)
# for certificates shorter than about 45 days.
ERAS = [
    pytest.param(datetime(2025, 6, 2, 17, 0, tzinfo=UTC), 398, RenewalBasis.LIFETIME, id="398"),
    pytest.param(datetime(2026, 6, 1, 17, 0, tzinfo=UTC), 200, RenewalBasis.LIFETIME, id="200"),
    pytest.param(datetime(2027, 6, 1, 17, 0, tzinfo=UTC), 100, RenewalBasis.LIFETIME, id="100"),
    pytest.param(datetime(2029, 6, 4, 17, 0, tzinfo=UTC), 47, RenewalBasis.LIFETIME, id="47"),
    # Delivered on the Friday before Thanksgiving: weekends and holidays near the plan.
    pytest.param(
        datetime(2027, 11, 19, 18, 0, tzinfo=UTC), 100, RenewalBasis.LIFETIME, id="100-holidays"
    ),
    pytest.param(
        datetime(2026, 6, 1, 17, 0, tzinfo=UTC), 30, RenewalBasis.TURNAROUND, id="30-turnaround"
    ),
    # Expires on Christmas Day: the delivery day and the five business days before it move.
    pytest.param(
        datetime(2026, 11, 25, 18, 0, tzinfo=UTC), 30, RenewalBasis.TURNAROUND, id="30-christmas"
    ),
]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def svc(services: Services) -> Services:
    """A managed organization whose new-certificate cases need no approval (routed straight
    to cert services), so that a test delivers a certificate in three calls."""
    services.orgs.create(
        OPERATOR, DMV, "Motor Vehicles", self_managed=False, grants=["zone:dmv.ca.gov"]
    )
    services.approvals.set_policy(OPERATOR, DMV, "new", "")
    return services


_seq = iter(range(1_000_000))


def deliver(svc: Services, days: int, name: str | None = None) -> tuple[str, str]:
    """A certificate delivered through a case: (case number, serial)."""
    host = name or f"www{next(_seq)}.dmv.ca.gov"
    view = svc.cases.open(
        OPERATOR,
        CaseInput(
            org_code=DMV,
            type="new",
            title=f"Certificate for {host}",
            submittals=(SubmittalInput(names=(host,), validity_days=days, contacts=(CONTACT,)),),
        ),
    )
    svc.cases.submit(OPERATOR, view.number)
    done = svc.fulfilment.fulfil(OPERATOR, view.number)
    serial = done.submittals[0].certificate_serial
    assert done.state == "delivered" and serial is not None
    return done.number, serial


def run(svc: Services, **kw: object) -> PassReport:
    report = Worker(svc, worker_id="test-worker", **kw).run_pass()  # type: ignore[arg-type]
    assert report.errors == []
    return report


def cert(svc: Services, serial: str) -> CertificateRow:
    with svc.rt.reads() as s:
        row = s.scalars(select(CertificateRow).where(CertificateRow.serial == serial)).one()
        s.expunge(row)
        return row


def renewal_cases(svc: Services, serial: str) -> list[Case]:
    with svc.rt.reads() as s:
        row = s.scalars(select(CertificateRow).where(CertificateRow.serial == serial)).one()
        cases = list(
            s.scalars(
                select(Case)
                .where(Case.target_cert_id == row.id, Case.type == "renewal")
                .order_by(Case.id)
            )
        )
        for c in cases:
            s.expunge(c)
        return cases


def audit_count(svc: Services, action: str, object_id: str | None = None) -> int:
    with svc.rt.reads() as s:
        q = select(func.count()).select_from(AuditRow).where(AuditRow.action == action)
        if object_id is not None:
            q = q.where(AuditRow.object_id == object_id)
        return s.scalar(q) or 0


def pacific_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=PACIFIC).astimezone(UTC)


# --------------------------------------------------------------------------- R6 renewals


@pytest.mark.parametrize(("issued", "days", "basis"), ERAS)
def test_renewal_opens_exactly_at_the_planned_moment(
    svc: Services, clock: ManualClock, issued: datetime, days: int, basis: RenewalBasis
) -> None:
    clock.now = issued
    _number, serial = deliver(svc, days)
    row = cert(svc, serial)
    assert (row.not_after - row.not_before) >= timedelta(days=days - 1)
    # The worker plans with the pure rule and the default settings' policy.
    expected = renewal_opens_at(
        row.not_before, row.not_after, BusinessCalendar(), LifecyclePolicy()
    )
    plan = svc.renewals.show(OPERATOR, serial).plan
    assert (plan.opens_at, plan.basis) == (expected, basis)
    assert row.not_before < expected < row.not_after

    clock.now = expected - timedelta(seconds=1)
    assert run(svc).renewals_due == 0
    assert renewal_cases(svc, serial) == []

    clock.now = expected
    report = run(svc)
    assert (report.renewals_due, report.renewals_opened) == (1, 1)
    [case] = renewal_cases(svc, serial)
    assert cert(svc, serial).renewal_case_id == case.id
    # Opened by the system and submitted: waiting for the approvals R4 requires.
    assert (case.state, case.opened_by) == ("pending_approval", WORKER.name)
    view = svc.cases.show(OPERATOR, case.number)
    assert view.target_serial == serial
    [sub] = view.submittals
    assert sub.names == tuple(row.names.split(","))
    assert [c.email for c in sub.contacts] == [CONTACT.email]
    assert audit_count(svc, "cert.renewal_open", serial) == 1

    clock.now = expected + timedelta(days=1)
    again = run(svc)
    assert (again.renewals_due, again.renewals_opened) == (0, 0)
    assert len(renewal_cases(svc, serial)) == 1
    assert audit_count(svc, "cert.renewal_open", serial) == 1


def test_a_requested_earlier_date_opens_the_renewal_that_day(
    svc: Services, clock: ManualClock
) -> None:
    clock.now = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    number, serial = deliver(svc, 200)
    planned = svc.renewals.show(OPERATOR, serial).plan
    wanted = (planned.opens_at - timedelta(days=30)).astimezone(PACIFIC).date()
    svc.renewals.request_date(OPERATOR, number, wanted)
    view = svc.renewals.show(OPERATOR, serial)
    assert view.plan.basis is RenewalBasis.REQUESTED
    assert view.plan.opens_at == pacific_midnight(wanted)
    assert audit_count(svc, "case.renewal_date", number) == 1

    clock.now = pacific_midnight(wanted) - timedelta(seconds=1)
    assert run(svc).renewals_opened == 0
    clock.now = pacific_midnight(wanted)
    assert run(svc).renewals_opened == 1
    assert len(renewal_cases(svc, serial)) == 1


def test_a_later_requested_date_does_not_delay_the_renewal(
    svc: Services, clock: ManualClock
) -> None:
    clock.now = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    number, serial = deliver(svc, 200)
    planned = svc.renewals.show(OPERATOR, serial).plan
    svc.renewals.request_date(OPERATOR, number, cert(svc, serial).not_after.date())
    assert svc.renewals.show(OPERATOR, serial).plan == planned


def test_auto_approval_of_unchanged_renewals(svc: Services, clock: ManualClock) -> None:
    svc.renewals.set_auto_approve(OPERATOR, DMV, True)
    assert audit_count(svc, "org.auto_approve_renewals", DMV) == 1
    clock.now = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    _number, serial = deliver(svc, 200)
    clock.now = svc.renewals.show(OPERATOR, serial).plan.opens_at
    run(svc)
    [case] = renewal_cases(svc, serial)
    assert case.state == "approved"
    assert case.due_date is not None and case.target_date is not None  # R5 from today
    with svc.rt.reads() as s:
        approvals = s.scalars(select(Approval).where(Approval.case_id == case.id)).all()
    assert sorted(a.step for a in approvals) == ["operator", "org_approver"]
    assert {a.actor for a in approvals} == {WORKER.name}
    assert audit_count(svc, "case.approve", case.number) == 1
    run(svc)  # nothing more to approve
    assert audit_count(svc, "case.approve", case.number) == 1


def test_delivered_renewal_supersedes_the_old_certificate(
    svc: Services, clock: ManualClock
) -> None:
    svc.renewals.set_auto_approve(OPERATOR, DMV, True)
    clock.now = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    _number, old = deliver(svc, 200)
    clock.now = svc.renewals.show(OPERATOR, old).plan.opens_at
    run(svc)
    [case] = renewal_cases(svc, old)
    clock.advance(days=1)
    view = svc.fulfilment.fulfil(OPERATOR, case.number)
    new = view.submittals[0].certificate_serial
    assert new is not None
    assert svc.inventory.show(OPERATOR, new).renewal_of == old

    report = run(svc)
    assert report.superseded == 1
    assert svc.inventory.show(OPERATOR, old).status == "superseded"
    assert audit_count(svc, "cert.supersede", old) == 1
    assert run(svc).superseded == 0
    # Still valid (not revoked, not on a CRL) until it expires; never renewed again.
    assert cert(svc, old).revoked_at is None
    clock.now = cert(svc, old).not_after + timedelta(seconds=1)
    late = run(svc)
    assert cert(svc, old).status == "superseded"
    assert audit_count(svc, "cert.expire", old) == 0
    assert len(renewal_cases(svc, old)) == 1
    assert late.errors == []


def test_an_unfinished_renewal_case_is_adopted_not_duplicated(
    svc: Services, clock: ManualClock
) -> None:
    clock.now = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    _a, by_hand = deliver(svc, 200)
    _b, crashed = deliver(svc, 200)
    # Cert services opened one by hand; a worker opened the other and died before linking.
    manual = svc.fulfilment.open_renewal(OPERATOR, by_hand)
    orphan = svc.fulfilment.open_renewal(WORKER, crashed)
    clock.now = svc.renewals.show(OPERATOR, by_hand).plan.opens_at
    report = run(svc)
    assert (report.renewals_adopted, report.renewals_opened) == (2, 0)
    [hand_case] = renewal_cases(svc, by_hand)
    [orphan_case] = renewal_cases(svc, crashed)
    assert (hand_case.number, orphan_case.number) == (manual.number, orphan.number)
    assert cert(svc, by_hand).renewal_case_id == hand_case.id
    assert cert(svc, crashed).renewal_case_id == orphan_case.id
    # The worker moves its own case on, and leaves a person's draft to that person.
    assert (hand_case.state, orphan_case.state) == ("draft", "pending_approval")


def test_direct_issuance_renews_without_a_case(svc: Services, clock: ManualClock) -> None:
    clock.now = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    issued = svc.issuance.issue(
        OPERATOR, IssueCommand(org_code=DMV, csr=make_csr(["api.dmv.ca.gov"]), days=200)
    )
    view = svc.renewals.show(OPERATOR, issued.serial)
    assert not view.renews_by_case
    clock.now = view.plan.opens_at + timedelta(days=30)
    assert run(svc).renewals_due == 0
    assert renewal_cases(svc, issued.serial) == []


def test_renewals_open_once_with_two_concurrent_workers(svc: Services, clock: ManualClock) -> None:
    clock.now = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    serials = [deliver(svc, 200)[1] for _ in range(12)]
    clock.now = svc.renewals.show(OPERATOR, serials[-1]).plan.opens_at
    reports: list[PassReport] = []
    barrier = threading.Barrier(2)

    def one(name: str) -> None:
        barrier.wait()
        reports.append(Worker(svc, worker_id=name, concurrency=3).run_pass())

    threads = [threading.Thread(target=one, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.errors for r in reports] == [[], []]
    assert sum(r.renewals_opened + r.renewals_adopted for r in reports) == 12
    for serial in serials:
        [case] = renewal_cases(svc, serial)
        assert cert(svc, serial).renewal_case_id == case.id
        assert audit_count(svc, "cert.renewal_open", serial) == 1


# --------------------------------------------------------------------------- expiry, R8, CRLs


def test_expired_certificates_are_marked_once(svc: Services, clock: ManualClock) -> None:
    clock.now = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    issued = svc.issuance.issue(
        OPERATOR, IssueCommand(org_code=DMV, csr=make_csr(["old.dmv.ca.gov"]), days=1)
    )
    clock.now = issued.not_after  # notAfter itself is still inside the validity period
    assert run(svc).expired == 0
    assert cert(svc, issued.serial).status == "active"
    clock.now = issued.not_after + timedelta(seconds=1)
    assert run(svc).expired == 1
    assert cert(svc, issued.serial).status == "expired"
    assert run(svc).expired == 0
    assert audit_count(svc, "cert.expire", issued.serial) == 1


def test_the_window_closes_when_it_ends(svc: Services, clock: ManualClock) -> None:
    clock.now = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    number, _serial = deliver(svc, 200)
    ends = svc.cases.show(OPERATOR, number).window_ends_at
    assert ends is not None
    clock.now = ends - timedelta(seconds=1)
    assert run(svc).windows_closed == 0
    assert svc.cases.show(OPERATOR, number).state == "delivered"
    clock.now = ends
    assert run(svc).windows_closed == 1
    view = svc.cases.show(OPERATOR, number)
    assert view.state == "closed" and view.closed_at == ends
    last = view.history[-1]
    assert (last["event"], last["actor"], last["from"], last["to"]) == (
        "close",
        WORKER.name,
        "delivered",
        "closed",
    )
    assert run(svc).windows_closed == 0
    assert audit_count(svc, "case.close", number) == 1


def test_crls_are_republished_from_half_their_life(svc: Services, clock: ManualClock) -> None:
    def numbers() -> list[int]:
        with svc.rt.reads() as s:
            return sorted(
                s.scalars(select(func.max(CrlRow.number)).group_by(CrlRow.issuer_id)).all()
            )

    before = numbers()
    half = timedelta(hours=svc.rt.settings.crl_validity_hours) / 2
    clock.now = START + half - timedelta(seconds=1)
    assert run(svc).crls_refreshed == 0
    clock.now = START + half
    assert run(svc).crls_refreshed == 2  # the root's and the issuing CA's
    assert numbers() == [n + 1 for n in before]
    assert run(svc).crls_refreshed == 0


def test_overdue_cases_are_counted(svc: Services, clock: ManualClock) -> None:
    clock.now = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)  # Monday
    view = svc.cases.open(
        OPERATOR,
        CaseInput(
            org_code=DMV,
            type="new",
            title="Late",
            submittals=(SubmittalInput(names=("late.dmv.ca.gov",), contacts=(CONTACT,)),),
        ),
    )
    due = svc.cases.submit(OPERATOR, view.number).summary.due_date
    assert due is not None
    clock.now = pacific_midnight(due + timedelta(days=1)) - timedelta(seconds=1)
    assert run(svc).overdue_cases == 0
    clock.now = pacific_midnight(due + timedelta(days=1))
    assert run(svc).overdue_cases == 1


# --------------------------------------------------------------------------- notices and mail


class _Notices:
    def __init__(self) -> None:
        self.calls: list[tuple[datetime, str]] = []

    def run(self, now: datetime, worker_id: str) -> dict[str, int]:
        self.calls.append((now, worker_id))
        return {"sent": 3}


def test_each_pass_runs_the_notices_and_sends_the_outbox(
    svc: Services, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    notices = _Notices()
    monkeypatch.setattr(svc, "notices", notices)
    with svc.rt.sessions.begin() as s:
        queue_account_mail(
            s, "ana@dmv.ca.gov", Mail("Hello", "text"), clock.now,
            box=svc.secretbox, user_id=0, reason="account.test#1",
        )  # fmt: skip
    transport = FakeTransport()
    report = run(svc, transport=transport)
    assert notices.calls == [(clock.now, "test-worker")]
    assert report.mail is not None and report.mail["sent"] == 1
    assert [m["To"] for m in transport.sent] == ["ana@dmv.ca.gov"]
    assert run(svc, transport=transport).mail == {
        "sent": 0,
        "retrying": 0,
        "failed": 0,
        "errors": [],
    }


def test_a_failing_job_is_reported_and_the_pass_goes_on(
    svc: Services, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_a: object) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(svc.housekeeping, "refresh_crls", broken)
    issued = svc.issuance.issue(
        OPERATOR, IssueCommand(org_code=DMV, csr=make_csr(["gone.dmv.ca.gov"]), days=1)
    )
    clock.now = issued.not_after + timedelta(hours=1)
    report = Worker(svc, worker_id="test-worker").run_pass()
    assert report.errors == ["crl: RuntimeError: disk on fire"]
    assert report.expired == 1
    with svc.rt.reads() as s:
        beat = s.get(WorkerBeat, "test-worker")
        assert beat is not None and "disk on fire" in beat.last_error


# --------------------------------------------------------------------------- health and loop


@pytest.fixture
def client(svc: Services) -> Iterator[TestClient]:
    with TestClient(create_app(svc)) as c:
        yield c


def test_metrics_report_the_workers_and_readyz_does_not(
    svc: Services, clock: ManualClock, client: TestClient
) -> None:
    assert client.get("/readyz").status_code == 200
    assert "certdesk_workers_healthy 0.0" in client.get("/metrics").text  # none ever ran

    run(svc)
    metrics = client.get("/metrics").text
    assert 'certdesk_worker_last_pass_age_seconds{worker="test-worker"} 0.0' in metrics
    assert 'certdesk_worker_last_pass_duration_seconds{worker="test-worker"}' in metrics
    assert 'certdesk_worker_jobs_done{worker="test-worker"}' in metrics
    assert "certdesk_workers_healthy 1.0" in metrics
    assert 'certdesk_notices{status="failed"} 0.0' in metrics
    assert "certdesk_worker_notices" not in metrics  # one gauge per fact

    interval = svc.rt.settings.worker_interval_seconds
    clock.advance(seconds=3 * interval)
    assert "certdesk_workers_healthy 1.0" in client.get("/metrics").text  # exactly 3x: healthy
    assert svc.worker_health.snapshot().stale == ()
    clock.advance(seconds=1)
    assert "certdesk_workers_healthy 0.0" in client.get("/metrics").text
    assert [w.worker_id for w in svc.worker_health.snapshot().stale] == ["test-worker"]
    # A stale worker is not this server's problem: it still serves (issue 9, part 7).
    ready = client.get("/readyz")
    assert ready.status_code == 200 and "worker" not in ready.json()["checks"]


def test_job_lag_shows_work_left_undone(
    svc: Services, clock: ManualClock, client: TestClient
) -> None:
    issued = svc.issuance.issue(
        OPERATOR, IssueCommand(org_code=DMV, csr=make_csr(["lag.dmv.ca.gov"]), days=1)
    )
    clock.now = issued.not_after + timedelta(hours=2)
    metrics = client.get("/metrics").text
    assert 'certdesk_worker_job_lag_seconds{job="expiry"} 7200.0' in metrics
    run(svc)
    assert 'certdesk_worker_job_lag_seconds{job="expiry"} 0.0' in client.get("/metrics").text


def test_stop_finishes_and_removes_the_heartbeat(svc: Services) -> None:
    worker = Worker(svc, worker_id="looping")
    passes: list[PassReport] = []
    thread = threading.Thread(target=worker.run, args=(3600.0,), kwargs={"on_pass": passes.append})
    thread.start()
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while not passes and datetime.now(UTC) < deadline:
        threading.Event().wait(0.01)
    worker.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert len(passes) == 1 and passes[0].errors == []
    with svc.rt.reads() as s:
        assert s.get(WorkerBeat, "looping") is None
        # Nothing was opened by the system actor while idle.
        assert not s.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.actor == WORKER.name)
        )


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C arriving in the middle of a job (a BaseException: no job catches it)."""


@pytest.mark.parametrize(
    ("crl_job", "ends"),
    [
        pytest.param(None, "report", id="once/clean-pass"),
        pytest.param(RuntimeError("disk on fire"), "report", id="once/a-job-failed"),
        pytest.param(_Interrupted(), "raise", id="once/interrupted-mid-pass"),
    ],
)
def test_a_one_shot_pass_leaves_no_heartbeat(
    svc: Services, monkeypatch: pytest.MonkeyPatch, crl_job: BaseException | None, ends: str
) -> None:
    beating: list[bool] = []
    refresh = svc.housekeeping.refresh_crls

    def crls() -> int:
        with svc.rt.reads() as s:
            beating.append(s.get(WorkerBeat, "one-shot") is not None)
        if crl_job is not None:
            raise crl_job
        return refresh()

    monkeypatch.setattr(svc.housekeeping, "refresh_crls", crls)
    worker = Worker(svc, worker_id="one-shot")
    if ends == "raise":
        with pytest.raises(_Interrupted):
            worker.once()
    else:
        report = worker.once()
        assert [e.split(":")[0] for e in report.errors] == (["crl"] if crl_job else [])
    assert beating == [True]  # it showed itself alive during the pass ...
    with svc.rt.reads() as s:
        assert s.get(WorkerBeat, "one-shot") is None  # ... and left nothing to go stale
    assert svc.worker_health.snapshot().workers == ()
