"""R9 expiry notices planned from the stored bound (issue 16): the pass reads what may be due
(``certificates.notice_due_at``), and finds exactly what the walk of the inventory found.

The reference is the planning query certdesk ran before: every certificate within N days of
its expiry without an ``expiry.N`` row (``store.notices.expiry_candidates`` and
``expired_candidates``), checked by the core rule. Each test drives a worker's notice passes
over an inventory through time — on time, late after days down, with a ``limit``, with
certificates revoked, renewed (superseded), expired or added between passes — and compares
the two before every pass, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from certdesk.core.lifecycle import (
    REASON_EXPIRED,
    expiry_notice_at,
    expiry_notices_due,
    expiry_reason,
)
from certdesk.services.lifecycle.notice_roles import Audience
from certdesk.services.pki.revocation import Reason
from certdesk.store import notice_due
from certdesk.store import notices as store
from certdesk.store.models import CertificateRow
from conftest import OPERATOR
from world.desk import Desk
from world.mail import FakeTransport
from world.notices import START, Snapshots, open_notice_desk

Pair = tuple[int, str]  # (certificate id, reason)


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshots]:
    made = Snapshots(tmp_path_factory.mktemp("notice-due-snapshots"))
    yield made
    made.close()


@pytest.fixture
def database_url(backend: str, tmp_path: Path, snapshots: Snapshots) -> str:
    return snapshots.clone(backend, tmp_path)


@pytest.fixture
def desk(database_url: str, tmp_path: Path) -> Iterator[Desk]:
    with open_notice_desk(database_url, tmp_path, transport=FakeTransport()) as d:
        yield d


def walked(desk: Desk, now: datetime) -> set[Pair]:
    """The reference: the walk of every certificate near a threshold (before issue 16)."""
    policy = desk.services.notices.policy
    with desk.rt.reads() as s:
        ids: set[int] = set()
        for days in policy.notice_days:
            ids.update(store.expiry_candidates(s, expiry_reason(days), days, now))
        ids.update(store.expired_candidates(s, REASON_EXPIRED, now))
        facts = store.cert_facts(s, sorted(ids))
        recorded = store.recorded_reasons(s, store.CERTIFICATE, sorted(ids))
    return {
        (f.id, due.reason)
        for f in facts
        if f.status in store.NOTICE_CERT_STATUSES
        for due in expiry_notices_due(
            f.not_after, now, recorded[f.id], policy, issued_at=f.tracked_from
        )
    }


def planned(desk: Desk, now: datetime) -> set[Pair]:
    """What the planner finds from the stored bounds (storing the bounds it moves)."""
    planner = desk.services.notices.planner
    with desk.rt.reads() as s:
        found = planner.certificates(s, now, Audience(s, desk.rt.settings), desk.rt.sessions.begin)
    return {(p.subject_id, p.due.reason) for p in found}


def pass_at(desk: Desk, now: datetime, limit: int | None = None) -> set[Pair]:
    """One worker pass's part that matters here: expire, then plan, record and send."""
    desk.at(now)
    desk.services.housekeeping.expire_batch(now)
    expected = walked(desk, now)
    assert planned(desk, now) == expected, f"at {now.isoformat()}"
    desk.services.notices.run(now, "w1", limit=limit)
    return expected


def _set_status(desk: Desk, serial: str, status: str) -> None:
    # Test data: a renewal delivered in the past leaves the old certificate superseded.
    with desk.rt.sessions.begin() as s:
        s.execute(
            update(CertificateRow).where(CertificateRow.serial == serial).values(status=status)
        )


def moments(desk: Desk, serial: str) -> list[datetime]:
    """Every R9 moment of one certificate (each threshold and its expiry)."""
    end = desk.cert(serial).not_after
    days = desk.services.notices.policy.notice_days
    return sorted([*(expiry_notice_at(end, n) for n in days), end])


VALIDITIES = (1, 7, 10, 46, 90, 100, 199)
Step = Callable[[Desk, list[str]], None]


def _revoke_second(desk: Desk, serials: list[str]) -> None:
    desk.services.revocation.revoke(OPERATOR, serials[1], Reason.KEY_COMPROMISE)


def _supersede_third(desk: Desk, serials: list[str]) -> None:
    _set_status(desk, serials[2], "superseded")


def _add_one(desk: Desk, serials: list[str]) -> None:
    serials.append(desk.issue("dmv", days=10))


def _nothing(desk: Desk, serials: list[str]) -> None:
    pass


@pytest.mark.parametrize(
    ("schedule", "limit", "between"),
    [
        pytest.param("on-time", None, _nothing, id="R9/on-time-every-moment"),
        pytest.param("late", None, _nothing, id="R9/late-worker-down-for-days"),
        pytest.param("late", 2, _nothing, id="R9/late-with-a-limit-per-pass"),
        pytest.param("on-time", None, _revoke_second, id="R9/revoked-between-passes"),
        pytest.param("late", None, _supersede_third, id="R9/renewed-superseded-between-passes"),
        pytest.param("on-time", 3, _add_one, id="R9/added-between-passes"),
    ],
)
def test_the_stored_bound_finds_exactly_what_the_walk_found(
    desk: Desk, schedule: str, limit: int | None, between: Step
) -> None:
    serials = [desk.issue("dmv", days=d) for d in VALIDITIES]
    if schedule == "on-time":
        # A minute before and after every moment of every certificate.
        instants = sorted(
            i
            for i in {
                m + timedelta(seconds=d)
                for s in serials
                for m in moments(desk, s)
                for d in (-60, 60)
            }
            if i > START
        )
    else:
        # Down for 17 days at a time: every notice found is late, several at once.
        instants = [START + timedelta(days=17 * k, hours=1) for k in range(14)]
    every: set[Pair] = set()
    for k, now in enumerate(instants):
        if k == len(instants) // 3:
            between(desk, serials)
        every |= pass_at(desk, now, limit)
    # Whatever a limit held back goes out in the passes after the last instant.
    tail = instants[-1]
    while found := pass_at(desk, tail := tail + timedelta(minutes=1), limit):
        every |= found
    assert every, "the schedule found nothing to compare"
    with desk.rt.reads() as s:
        recorded = store.recorded_reasons(s, store.CERTIFICATE, sorted(i for i, _ in every))
    expiry = {(i, r) for i, rs in recorded.items() for r in rs if r.startswith("expir")}
    assert every == expiry  # each recorded once (the unique key), none lost


def test_a_pass_reads_only_the_certificates_whose_bound_has_come(desk: Desk) -> None:
    serials = [desk.issue("dmv", days=d) for d in VALIDITIES]
    pass_at(desk, START + timedelta(hours=1))
    with desk.rt.reads() as s:
        read = [c.id for page in notice_due.candidates(s, START + timedelta(hours=2)) for c in page]
        rows = s.execute(select(CertificateRow.serial, CertificateRow.notice_due_at)).all()
        bounds = {serial: at for serial, at in rows}
    assert read == []  # nothing due an hour later: nothing read
    soonest = min(bounds[s] for s in serials)
    assert soonest > START + timedelta(hours=2)
    with desk.rt.reads() as s:
        read = [c.id for page in notice_due.candidates(s, soonest) for c in page]
    assert len(read) >= 1
    assert all(bounds[s] is not None for s in serials)


def test_changing_the_thresholds_plans_every_certificate_again(
    database_url: str, tmp_path: Path
) -> None:
    with open_notice_desk(database_url, tmp_path, transport=FakeTransport()) as desk:
        serials = [desk.issue("dmv", days=d) for d in VALIDITIES]
        pass_at(desk, START + timedelta(days=40))
    # The operator adds a 45-day notice: the walk would find every missed expiry.45.
    with open_notice_desk(
        database_url, tmp_path, transport=FakeTransport(), notice_days=(90, 60, 45, 30, 14, 7, 1)
    ) as desk:
        due = {i for i, _ in planned(desk, START + timedelta(days=41))}
        with desk.rt.reads() as s:  # one planning stored every bound but of what is due
            unplanned = s.scalars(
                select(CertificateRow.id).where(
                    CertificateRow.notice_due_at.is_(None),
                    CertificateRow.status.in_(store.NOTICE_CERT_STATUSES),
                )
            ).all()
        assert set(unplanned) == due
        found = pass_at(desk, START + timedelta(days=41))
        ids = {desk.cert(s).id: s for s in serials}
        assert {r for i, r in found if i in ids} >= {"expiry.45"}
        pass_at(desk, START + timedelta(days=41, hours=1))
