"""Two ``certdesk worker`` processes on one PostgreSQL database, one SIGKILLed mid-run and
restarted: every renewal case is opened exactly once and every expiry marked once (issue 4).

The inventory is made with the real pipeline on the real clock (the worker processes cannot
share a test's clock):

* 100 certificates delivered by two cases of 50 submittals, valid for one day: a
  certificate that short is due for renewal from its ``notBefore`` (R6: every other
  candidate falls before it). Two organizations: one approves renewals automatically;
* 100 certificates issued directly and then — test data, changed in SQL — dated as if they
  had expired an hour ago.

Then two workers run at once; one is killed with SIGKILL once the renewals are under way and
is started again; when the work is done both get SIGTERM and must exit 0 promptly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from certdesk.clock import system_clock
from certdesk.config import Settings
from certdesk.services.casework.cases import CaseInput
from certdesk.services.casework.contacts import ContactInput
from certdesk.services.casework.submittals import SubmittalInput
from certdesk.services.lifecycle.renewals import WORKER
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize
from certdesk.store.models import Approval, AuditRow, Case, CertificateRow, WorkerBeat
from conftest import OPERATOR, scratch_pg
from world.csr import make_csr
from world.desk import settings_for
from world.processes import CERTDESK, certdesk_env, stop, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

AUTO, MANUAL = "dmv", "chp"  # AUTO approves unchanged renewals automatically
CASES = {AUTO: 1, MANUAL: 1}  # renewal-due cases per organization, 50 submittals each
PER_CASE = 50
EXPIRING = 100
DUE = sum(CASES.values()) * PER_CASE


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    with scratch_pg("worker") as url:
        yield settings_for(url, tmp_path)


def build_inventory(svc: Services) -> tuple[set[str], set[str]]:
    """(serials due for renewal, serials past notAfter)."""
    due: set[str] = set()
    for org, cases in CASES.items():
        svc.orgs.create(
            OPERATOR, org, org.upper(), self_managed=False, grants=[f"zone:{org}.ca.gov"]
        )
        svc.approvals.set_policy(OPERATOR, org, "new", "")
        for c in range(cases):
            subs = tuple(
                SubmittalInput(
                    names=(f"h{c}-{i}.{org}.ca.gov",),
                    validity_days=1,
                    contacts=(ContactInput("technical", "Tech", f"tech@{org}.ca.gov", ""),),
                )
                for i in range(PER_CASE)
            )
            view = svc.cases.open(
                OPERATOR, CaseInput(org_code=org, type="new", title="Batch", submittals=subs)
            )
            svc.cases.submit(OPERATOR, view.number)
            done = svc.fulfilment.fulfil(OPERATOR, view.number)
            due.update(s.certificate_serial or "" for s in done.submittals)
    svc.renewals.set_auto_approve(OPERATOR, AUTO, True)
    expiring = {
        svc.issuance.issue(
            OPERATOR,
            IssueCommand(org_code=MANUAL, csr=make_csr([f"x{i}.{MANUAL}.ca.gov"]), days=1),
        ).serial
        for i in range(EXPIRING)
    }
    # Test data: these certificates are made to have expired an hour ago.
    now = datetime.now(UTC).replace(microsecond=0)
    with svc.rt.sessions.begin() as s:
        s.execute(
            update(CertificateRow)
            .where(CertificateRow.serial.in_(expiring))
            .values(not_before=now - timedelta(days=1, hours=1), not_after=now - timedelta(hours=1))
        )
    assert len(due) == DUE
    return due, expiring


def _passes(log: Path) -> int:
    """Passes a worker logged (one summary line each)."""
    return log.read_text(errors="replace").count("renewals opened") if log.exists() else 0


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [str(CERTDESK), "worker", "--concurrency", "3", "--interval", "0.5"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_two_workers_one_killed_still_exactly_once(settings: Settings, tmp_path: Path) -> None:
    svc = Services(Runtime.open(settings, system_clock))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        initialize(svc, with_token=False)
        due, expiring = build_inventory(svc)

        def linked() -> int:
            with svc.rt.reads() as s:
                return (
                    s.scalar(
                        select(func.count())
                        .select_from(CertificateRow)
                        .where(CertificateRow.renewal_case_id.is_not(None))
                    )
                    or 0
                )

        def finished() -> bool:
            with svc.rt.reads() as s:
                expired = s.scalar(
                    select(func.count())
                    .select_from(CertificateRow)
                    .where(CertificateRow.status == "expired")
                )
                waiting = s.scalar(
                    select(func.count())
                    .select_from(Case)
                    .where(
                        Case.type == "renewal",
                        (Case.state == "draft")
                        | ((Case.state == "pending_approval") & (Case.org_id == auto_org)),
                    )
                )
            return linked() == DUE and expired == EXPIRING and waiting == 0

        auto_org = svc.orgs.get(OPERATOR, AUTO).id
        env = certdesk_env(settings)
        logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
        procs = [start_worker(env, logs[0]), start_worker(env, logs[1])]
        alive = list(zip(procs, logs, strict=True))

        wait_until(lambda: linked() >= 10, timeout=90, what="renewals under way", alive=alive)
        os.kill(procs[0].pid, signal.SIGKILL)
        procs[0].wait(10)
        at_kill = linked()
        print(f"killed worker A with {at_kill} of {DUE} renewals linked")  # shown on failure
        assert at_kill < DUE, "the workers finished before the kill: the test proved nothing"
        passes_before = _passes(logs[0])
        procs[0] = start_worker(env, logs[0])
        alive = list(zip(procs, logs, strict=True))

        wait_until(finished, timeout=120, what="all renewals and expiries", alive=alive)
        # The restarted worker may still be starting when B has done the rest (a loaded
        # machine): SIGTERM is about a running worker, so wait for its first pass.
        wait_until(
            lambda: _passes(logs[0]) > passes_before,
            timeout=60,
            what="the restarted worker's first pass",
            alive=alive,
        )

        # SIGTERM: the item in progress is finished and the process exits 0, promptly.
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        codes = [proc.wait(20) for proc in procs]
        assert codes == [0, 0], [log.read_text(errors="replace")[-3000:] for log in logs]
        assert time.monotonic() - started < 15

        check_exactly_once(svc, due, expiring, auto_org)
    finally:
        for proc in procs:
            stop(proc)
        svc.rt.close()


def check_exactly_once(svc: Services, due: set[str], expiring: set[str], auto_org: int) -> None:
    with svc.rt.reads() as s:
        certs = {
            r.serial: r
            for r in s.scalars(select(CertificateRow).where(CertificateRow.serial.in_(due)))
        }
        cases = list(s.scalars(select(Case).where(Case.type == "renewal")))
        audits = Counter(
            (r.action, r.object_id)
            for r in s.scalars(
                select(AuditRow).where(
                    AuditRow.action.in_(
                        ("cert.renewal_open", "cert.expire", "case.approve", "case.submit")
                    )
                )
            )
        )
        approvals = Counter(
            r.case_id for r in s.scalars(select(Approval).where(Approval.actor == WORKER.name))
        )
        statuses = Counter(
            s.scalars(
                select(CertificateRow.status).where(CertificateRow.serial.in_(expiring))
            ).all()
        )
        beats = s.scalars(select(WorkerBeat.worker_id)).all()
        verified, broken = svc.audit.verify(OPERATOR)

    # Every due certificate has exactly one renewal case, and every renewal case is one's.
    assert len(cases) == DUE
    by_id = {c.id: c for c in cases}
    assert sorted(r.renewal_case_id or 0 for r in certs.values()) == sorted(by_id)
    for serial, row in certs.items():
        case = by_id[row.renewal_case_id or 0]
        assert case.target_cert_id == row.id
        assert case.opened_by == WORKER.name
        assert audits[("cert.renewal_open", serial)] == 1
        assert audits[("case.submit", case.number)] == 1
        if case.org_id == auto_org:
            assert case.state == "approved"
            assert approvals[case.id] == 2  # org_approver and operator, once each
            assert audits[("case.approve", case.number)] == 1
        else:
            assert case.state == "pending_approval"
            assert approvals[case.id] == 0
    # Every expiry marked once.
    assert statuses == Counter({"expired": EXPIRING})
    assert all(audits[("cert.expire", serial)] == 1 for serial in expiring)
    assert sum(n for (action, _), n in audits.items() if action == "cert.expire") == EXPIRING
    # The chain of audit events is intact; the killed worker's heartbeat stays behind.
    assert broken is None and verified > 0
    assert len(beats) == 1
