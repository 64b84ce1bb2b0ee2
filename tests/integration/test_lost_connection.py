"""A database that drops its connections under load: 503 with Retry-After, never a 500
(issue 9, part 8).

A real ``certdesk serve`` on a PostgreSQL database of its own serves a few threads that issue
and read certificates, while the test terminates every server backend of that database
(``pg_terminate_backend``, what a PostgreSQL restart or failover does to the server) several
times. Every answer must be a success or an RFC 9457 503 with ``Retry-After``; afterwards
the server answers again without a restart, and every certificate it answered 201 for is in
the database, active.

Recovery is the pool's (store/db.py): the first statement on a dead connection fails and
SQLAlchemy invalidates every connection of that generation, so the next checkout connects
afresh; a connection idle for a while is pinged at checkout.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from certdesk.config import Settings
from certdesk.store.models import CertificateRow
from conftest import PG_ADMIN, scratch_pg
from world.csr import csr_text
from world.processes import certdesk_env, free_port, run_cli, serving

pytestmark = pytest.mark.postgres

API = "/api/v1"
TERMINATIONS = 4
LOAD_THREADS = {"issue": 2, "read": 2}
PAUSE_BETWEEN_TERMINATIONS = 0.7  # seconds of load between two terminations


def terminate_backends(dbname: str) -> int:
    """Close every connection the server holds to ``dbname``, from the server side."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        ).fetchall()
    return sum(1 for (done,) in rows if done)


@dataclass
class Answers:
    """What the clients saw; filled by several threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[int] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)  # anything but a 2xx or a proper 503
    issued: list[str] = field(default_factory=list)  # serials answered 201

    def judge(self, what: str, resp: httpx.Response) -> None:
        with self.lock:
            self.statuses[resp.status_code] += 1
            if not resp.is_success and not _proper_503(what, resp):
                self.wrong.append(f"{what}: {resp.status_code} {resp.headers} {resp.text[:300]}")


def _proper_503(what: str, resp: httpx.Response) -> bool:
    """A 503 with Retry-After and a body that says why: an RFC 9457 problem document, or
    /readyz's own report."""
    retry_after = resp.headers.get("retry-after", "")
    if resp.status_code != 503 or not retry_after.isdigit() or int(retry_after) <= 0:
        return False
    if what == "readyz":
        return bool(resp.json().get("status") == "not ready")
    problem = resp.json() if resp.headers["content-type"] == "application/problem+json" else {}
    return problem.get("status") == 503 and bool(problem.get("code"))


def issue(client: httpx.Client, answers: Answers, name: str) -> None:
    resp = client.post(f"{API}/certificates", json={"org": "dmv", "csr": csr_text([name])})
    answers.judge("issue", resp)
    if resp.status_code == 201:
        with answers.lock:
            answers.issued.append(resp.json()["serial"])


def read(client: httpx.Client, answers: Answers, _name: str) -> None:
    answers.judge("list", client.get(f"{API}/certificates", params={"limit": 20}))
    with answers.lock:
        serial = answers.issued[-1] if answers.issued else None
    if serial is not None:
        answers.judge("show", client.get(f"{API}/certificates/{serial}"))


def test_terminated_backends_are_503s_then_the_server_recovers(tmp_path: Path) -> None:
    with scratch_pg("lost") as url:
        port = free_port()
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=url,
            base_url=f"http://127.0.0.1:{port}",
            ca_passphrase="lost-connection-passphrase",
        )
        env = certdesk_env(settings)
        token = run_cli(["init"], env)["operator_token"]
        with (
            serving(env, tmp_path, port) as server,
            httpx.Client(
                base_url=settings.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as main,
        ):
            resp = main.post(
                f"{API}/orgs", json={"code": "dmv", "name": "DMV", "grants": ["zone:dmv.ca.gov"]}
            )
            assert resp.status_code == 201, resp.text

            answers = Answers()
            done = threading.Event()
            failures: list[BaseException] = []

            def load(job: Callable[[httpx.Client, Answers, str], None], tag: str) -> None:
                n = 0
                try:
                    with httpx.Client(
                        base_url=main.base_url, headers=main.headers, timeout=30
                    ) as c:
                        while not done.is_set():
                            n += 1
                            job(c, answers, f"{tag}-{n}.dmv.ca.gov")
                except BaseException as exc:  # a transport error: the server went away
                    failures.append(exc)

            jobs = {"issue": issue, "read": read}
            threads = [
                threading.Thread(target=load, args=(jobs[kind], f"{kind}{i}"))
                for kind, count in LOAD_THREADS.items()
                for i in range(count)
            ]
            for t in threads:
                t.start()
            terminated = 0
            try:
                for _ in range(TERMINATIONS):
                    time.sleep(PAUSE_BETWEEN_TERMINATIONS)
                    terminated += terminate_backends(make_url(url).database or "")
                    # At once, a request of our own: whatever it meets is a 2xx or a 503.
                    answers.judge("readyz", main.get("/readyz"))
                    issue(main, answers, f"probe{terminated}.dmv.ca.gov")
                time.sleep(PAUSE_BETWEEN_TERMINATIONS)
            finally:
                done.set()
                for t in threads:
                    t.join(60)
            print(f"terminated {terminated} backends; answers {dict(answers.statuses)}")
            assert failures == []
            assert terminated >= TERMINATIONS  # the server held connections each time
            assert answers.wrong == []
            assert answers.statuses[500] == 0

            # A readiness probe right after a termination is not fooled by the dead pooled
            # connection: it pings once more on a fresh one.
            terminate_backends(make_url(url).database or "")
            probe = main.get("/readyz")
            assert probe.status_code == 200, probe.text

            # The server recovers by itself: after one more termination the first request
            # may meet a dead connection (a 503 at worst); the pool has replaced it for
            # every request after that.
            terminate_backends(make_url(url).database or "")
            after = Answers()
            issue(main, after, "after0.dmv.ca.gov")
            assert after.wrong == []
            first = after.statuses.copy()
            for i in range(1, 4):
                issue(main, after, f"after{i}.dmv.ca.gov")
            assert after.statuses - first == Counter({201: 3}), after.statuses
            assert main.get("/readyz").status_code == 200

        # Nothing a client was told it got is missing: every 201 is an active certificate.
        handed_out = answers.issued + after.issued
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                stored = dict(
                    conn.execute(
                        select(CertificateRow.serial, CertificateRow.status).where(
                            CertificateRow.serial.in_(handed_out)
                        )
                    ).all()
                )
        finally:
            engine.dispose()
        assert {s: stored.get(s) for s in handed_out} == dict.fromkeys(handed_out, "active")
        text = server.stdout.read_text(errors="replace") + server.stderr.read_text(errors="replace")
        assert "unhandled error" not in text and "Traceback" not in text, text[-5000:]
        assert "database unavailable" in text or answers.statuses[503] == 0
