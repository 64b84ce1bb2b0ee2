"""Group commit (services/pki/group_commit.py): concurrent issuances share transactions, and
every caller is answered only after the transaction holding its writes committed.

Proved on both backends with the real issuance pipeline: 16 threads issue at once; every
certificate handed out is ``active`` with its audit event (R15) in a transaction that
committed before the caller got it, fewer transactions than issuances were committed, and
a refused request in a batch (R2) leaves the others untouched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, event, func, select, text

from certdesk.core.access import Actor, Role
from certdesk.core.keys import KeyType
from certdesk.errors import CertdeskError, NotFound
from certdesk.services.pki.group_commit import GroupCommit
from certdesk.services.pki.issuance import IssueCommand, Issued
from certdesk.services.registry import Services
from certdesk.services.setup import LOCAL_OPERATOR as OPERATOR
from certdesk.store.models import AuditRow, CertificateRow
from conftest import org_actor

THREADS = 16


def _in_threads(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(i)`` on ``n`` threads released together; results (or exceptions) in order."""
    out: list[Any] = [None] * n
    go = threading.Barrier(n)

    def run(i: int) -> None:
        go.wait()
        try:
            out[i] = fn(i)
        except Exception as exc:  # handed back to the test, which checks each
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


@pytest.fixture
def orgs(services: Services) -> tuple[Actor, Actor]:
    services.orgs.create(OPERATOR, "dmv", "Motor Vehicles", self_managed=True,
                         grants=["zone:dmv.ca.gov"])  # fmt: skip
    services.orgs.create(OPERATOR, "cdt", "Technology", self_managed=True,
                         grants=["zone:cdt.ca.gov"])  # fmt: skip
    return (
        org_actor(services, "dmv", Role.DELEGATED_ADMIN),
        org_actor(services, "cdt", Role.DELEGATED_ADMIN),
    )


def test_concurrent_issuances_share_commits_and_each_is_durable_before_delivery(
    services: Services, orgs: tuple[Actor, Actor]
) -> None:
    """DESIGN 3.2 + R15: delivered only once active and audited; fewer commits than steps."""
    dmv, cdt = orgs
    csrs = [
        services.csrs.generate([f"w{i}.dmv.ca.gov"], KeyType.EC256).csr_pem for i in range(THREADS)
    ]
    commits = 0
    engine = services.rt.engine

    def count(_conn: Any) -> None:
        nonlocal commits
        commits += 1

    event.listen(engine, "commit", count)
    try:
        # One request in four asks for names its organization was not granted (R2): refused
        # inside a shared batch, without disturbing the others.
        def issue(i: int) -> Issued:
            actor = cdt if i % 4 == 0 else dmv
            org = "cdt" if i % 4 == 0 else "dmv"
            issued = services.issuance.issue(actor, IssueCommand(org, csrs[i]))
            # Delivered: the row is active and audited, read on a connection of its own.
            with services.rt.reads() as s:
                status = s.scalar(
                    select(CertificateRow.status).where(CertificateRow.serial == issued.serial)
                )
                events = s.scalar(
                    select(func.count()).select_from(AuditRow).where(
                        AuditRow.action == "cert.issue", AuditRow.object_id == issued.serial
                    )
                )  # fmt: skip
            assert (status, events) == ("active", 1)
            return issued

        results = _in_threads(THREADS, issue)
    finally:
        event.remove(engine, "commit", count)
    refused = [r for i, r in enumerate(results) if i % 4 == 0]
    issued = [r for i, r in enumerate(results) if i % 4 != 0]
    assert all(isinstance(r, CertdeskError) and r.code == "name.not_granted" for r in refused)
    assert all(isinstance(r, Issued) for r in issued)
    with services.rt.reads() as s:
        rows = s.scalars(select(CertificateRow.status)).all()
    assert sorted(rows) == ["active"] * len(issued)  # nothing recorded for a refusal
    # Two write steps per issuance: shared when they overlapped (never more than one each).
    assert commits <= 2 * len(issued) + len(refused)


def test_a_failing_job_is_its_callers_alone(services: Services) -> None:
    """A database error in one job rolls its batch back; the others are written alone."""
    commits = GroupCommit(services.rt)
    with services.rt.transaction() as conn:
        conn.execute(text("CREATE TABLE gc_probe (id INTEGER PRIMARY KEY)"))

    def job(i: int) -> Callable[[Connection], int]:
        def write(conn: Connection) -> int:
            if i == 3:
                conn.execute(text("INSERT INTO gc_missing VALUES (1)"))  # no such table
            if i == 5:
                raise NotFound("probe.unknown", "refused before writing")
            conn.execute(text("INSERT INTO gc_probe (id) VALUES (:id)"), {"id": i})
            return i

        return write

    results = _in_threads(8, lambda i: commits.run(job(i)))
    assert [type(r).__name__ for r in results][3] != "int"
    assert isinstance(results[5], NotFound)
    assert [r for i, r in enumerate(results) if i not in (3, 5)] == [0, 1, 2, 4, 6, 7]
    with services.rt.reading() as conn:
        stored = sorted(conn.execute(text("SELECT id FROM gc_probe")).scalars())
    assert stored == [0, 1, 2, 4, 6, 7]


def test_callers_arriving_during_a_commit_share_the_next_one(services: Services) -> None:
    """8 callers at once, each job slow: the first commits alone, the rest together."""
    commits = GroupCommit(services.rt)

    def slow(conn: Connection) -> int:
        conn.execute(text("SELECT 1"))
        time.sleep(0.05)
        return 1

    assert _in_threads(8, lambda _i: commits.run(slow)) == [1] * 8
    assert commits.jobs == 8
    assert commits.batches < 8
