"""Lifecycle worker benchmark (issue 4): one worker pass over a synthetic inventory of 10k, 100k
and 1M certificates, on PostgreSQL and SQLite, and notices delivered to a loopback SMTP server.

What is measured, per backend and size (each in a fresh database):

* **planning** — the read side of every job of a pass: the renewals due (SQL candidates +
  ``core.lifecycle.renewal_plan``), certificates to expire, renewals delivered (superseded),
  windows ended, overdue cases and the notices due (the notices service's planner). This is
  what a pass costs when nothing is due; target < 30 s at 1M on PostgreSQL;
* **first pass** — ``Worker.run_pass()`` with a backlog to do: :data:`RENEWAL_BACKLOG`
  renewal cases to open, :data:`EXPIRY_BACKLOG` certificates to mark expired, the notices
  due; gives renewals/s and expiries/s;
* **steady pass** — the next pass, with nothing left to do;
* **notices/s** — :data:`NOTICES` notices made due (their sent records removed) and delivered
  by ``NoticeService.run`` to an aiosmtpd server on 127.0.0.1, digests off (one message per
  notice and contact), then on; target ≥ 500/s;
* **memory** — peak RSS (``ru_maxrss``) of the process running the passes (a child process,
  so that the loader's memory does not count), and its RSS before the first pass.

THE INVENTORY IS TEST DATA, bulk-loaded straight into the tables (PostgreSQL ``COPY``,
SQLite ``executemany``), not issued: certificates have no DER, no names table and no audit
events. It is a steady state a year into operation, fixed at ``NOW``: 100 organizations with
two contacts each and one delivered case each; validity 200 days (80 %), 100 (10 %) and 47
(10 %) at uniformly spread ages; 10 % issued directly (no case: they only expire); certificates
past their renewal point are ``superseded`` (renewed in the past), direct ones past ``notAfter``
are ``expired``; every notice whose moment passed before the last minute is recorded ``sent``.
So a pass finds what a real minute-by-minute worker would, plus the backlog above.

Run: ``make bench-lifecycle`` or ``.venv/bin/python bench/lifecycle.py [--sizes 10000,100000]
[--backends postgresql,sqlite] [--sqlite-max 100000]``. SQLite at 1M is skipped unless
``--sqlite-max`` allows it (loading it takes minutes). PostgreSQL databases
``certdesk_bench_lc_*`` are created on 127.0.0.1:5432 (``CERTDESK_BENCH_PG``) and dropped.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from certdesk.config import Settings
from certdesk.core import lifecycle as core_lifecycle
from certdesk.core.calendar import PACIFIC, BusinessCalendar, expiry_instant
from certdesk.core.lifecycle import DEFAULT_NOTICE_DAYS, LifecyclePolicy, renewal_plan
from issuance import pg_database  # CERTDESK_BENCH_PG, the same throw-away databases

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # a Monday, 10:00 Pacific
BAND = timedelta(minutes=1)  # what the previous pass (a minute ago) already did
ORGS = 100
RENEWAL_BACKLOG = 50
EXPIRY_BACKLOG = 200
NOTICES = 1000  # records made due again; each goes to the organization's two contacts
RAW_MESSAGES = 1000
VALIDITY = (200,) * 8 + (100, 47)  # days, by i % 10
DIRECT_EVERY = 10  # every 10th certificate was issued directly (no case)
PASSPHRASE = "bench-passphrase"

CERT_COLUMNS: list[str] = (
    "id serial issuer_id org_id status names key_type platform not_before not_after tbs_sha256"
    " requested_by signer signing_started_at issued_at case_id"
).split()
# Issue 16: each certificate's expiry-notice bound (certificates.notice_due_at), loaded as a
# worker that ran all year would have left it; absent from trees before it.
BOUNDS = hasattr(core_lifecycle, "next_expiry_notice_at")
if BOUNDS:
    CERT_COLUMNS.append("notice_due_at")
NOTICE_COLUMNS = (
    "subject_type subject_id contact_email reason due_at late status attempts last_error"
    " subject created_at sent_at body_text body_html role digest"
).split()


# --- the synthetic inventory ----------------------------------------------------------------


@dataclass(frozen=True)
class Fixtures:
    issuer_id: int
    first_id: int
    org_ids: list[int]
    case_of: dict[int, int]  # org id -> its delivered case
    contacts: dict[int, list[str]]  # org id -> contact emails


class Population:
    """Certificates and the notices already sent for them (see the module text)."""

    def __init__(self, n: int, fx: Fixtures) -> None:
        self.n = n
        self.fx = fx
        self.calendar = BusinessCalendar()
        self.policy = LifecyclePolicy()
        self._turnaround: dict[date, datetime] = {}
        self._expiry: dict[date, datetime] = {}
        self.renewals_due = 0
        self.expiries_due = 0

    def _expiry_at(self, day: date) -> datetime:
        if day not in self._expiry:
            self._expiry[day] = expiry_instant(day)
        return self._expiry[day]

    def _opens_at(self, nb: datetime, na: datetime) -> datetime:
        day = na.astimezone(PACIFIC).date()
        if day not in self._turnaround:
            far = na - timedelta(days=3000)
            self._turnaround[day] = renewal_plan(far, na, self.calendar, self.policy).turnaround_at
        lifetime = (nb + (na - nb) * self.policy.lifetime_fraction).replace(microsecond=0)
        return max(min(self._turnaround[day], lifetime), nb)

    def rows(self) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
        rng = random.Random(20261130)
        fx = self.fx
        cutoff = NOW - BAND
        for k in range(self.n):
            cid = fx.first_id + k
            org = fx.org_ids[k % ORGS]
            days = VALIDITY[k % 10]
            direct = k % DIRECT_EVERY == DIRECT_EVERY - 1
            # A direct certificate is not renewed through certdesk: a third of them are past
            # their notAfter (expired, or the backlog to mark).
            span = days * 1.5 if direct else days
            age = timedelta(seconds=int(rng.random() * span * 86400))
            nb = NOW - age
            final = (nb.astimezone(PACIFIC) + timedelta(days=days - 1)).date()
            na = self._expiry_at(final)
            status = "active"
            if direct:
                if na <= NOW and self.expiries_due < EXPIRY_BACKLOG:
                    self.expiries_due += 1  # backlog: past notAfter, not marked yet
                elif na <= cutoff:
                    status = "expired"
            elif self._opens_at(nb, na) <= cutoff:
                if self.renewals_due < RENEWAL_BACKLOG and na > NOW:
                    self.renewals_due += 1  # backlog: renewal due, not opened yet
                else:
                    status = "superseded"  # renewed in the past
            elif self._opens_at(nb, na) <= NOW:
                self.renewals_due += 1  # came due within the last minute
            cert: tuple[Any, ...] = (
                cid,
                format(0x5E00000000 + cid, "x"),
                fx.issuer_id,
                org,
                status,
                f"h{cid}.org{k % ORGS}.ca.gov",
                "ec256",
                "virtual",
                nb,
                na,
                "0" * 64,
                "bench",
                "bench",
                nb,
                nb,
                None if direct else fx.case_of[org],
            )
            notices: list[tuple[Any, ...]] = []
            if status in ("active", "expired"):
                email = fx.contacts[org][0]
                for n in DEFAULT_NOTICE_DAYS:
                    moment = self._expiry_at(final - timedelta(days=n))
                    if nb < moment <= cutoff:
                        notices.append(_notice(cid, email, f"expiry.{n}", moment))
                if status == "expired" and nb < na <= cutoff:
                    notices.append(_notice(cid, email, "expired", na))
            if BOUNDS:
                done = {row[3] for row in notices}
                bound = core_lifecycle.next_expiry_notice_at(na, done, self.policy, issued_at=nb)
                cert = (*cert, bound or datetime(9999, 1, 1, tzinfo=UTC))
            yield cert, notices


def _notice(cert_id: int, email: str, reason: str, moment: datetime) -> tuple[Any, ...]:
    return (
        "certificate", cert_id, email, reason, moment, False, "sent", 1, "", "", moment, moment,
        "", "", "contact", False,
    )  # fmt: skip


# --- databases and loading ------------------------------------------------------------------


@contextmanager
def database(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'certdesk.db'}"
        return
    with pg_database("lc") as url:
        yield url


def settings_for(url: str, tmp: Path, smtp_port: int, digest: bool = True) -> Settings:
    return Settings(
        data_dir=tmp / "data",
        database_url=url,
        ca_passphrase=PASSPHRASE,
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        notice_digest=digest,
    )


def fixtures(settings: Settings) -> Fixtures:
    """``certdesk init`` plus the organizations, contacts and cases, through the services."""
    from sqlalchemy import func, select

    from certdesk.services.registry import Services
    from certdesk.services.runtime import Runtime
    from certdesk.services.setup import initialize
    from certdesk.store.models import Case, CertificateRow, Contact, Issuer, Organization

    svc = Services(Runtime.open(settings, lambda: NOW))
    try:
        initialize(svc, with_token=False)
        with svc.rt.sessions.begin() as s:
            issuer = s.scalars(select(Issuer).where(Issuer.is_root.is_(False))).one()
            orgs = [
                Organization(code=f"org{k}", name=f"Agency {k}", self_managed=False, created_at=NOW)
                for k in range(ORGS)
            ]
            s.add_all(orgs)
            s.flush()
            contacts: dict[int, list[str]] = {}
            case_of: dict[int, int] = {}
            for k, org in enumerate(orgs):
                emails = [f"tech{k}@org{k}.ca.gov", f"admin{k}@org{k}.ca.gov"]
                contacts[org.id] = emails
                s.add_all(
                    Contact(
                        org_id=org.id,
                        kind="technical",
                        name=f"Contact {e}",
                        email=e,
                        address=e.lower(),
                        phone="",
                        created_at=NOW,
                        updated_at=NOW,
                    )
                    for e in emails
                )
                case = Case(
                    number=f"CS-2025-{900000 + k:06d}",
                    org_id=org.id,
                    type="new",
                    state="closed",
                    title="Synthetic delivered case",
                    opened_by="bench",
                    created_at=NOW - timedelta(days=400),
                    updated_at=NOW - timedelta(days=370),
                    delivered_at=NOW - timedelta(days=400),
                    closed_at=NOW - timedelta(days=370),
                )
                s.add(case)
                s.flush()
                case_of[org.id] = case.id
            last = s.scalar(select(func.max(CertificateRow.id))) or 0
            result = Fixtures(issuer.id, last + 1, [o.id for o in orgs], case_of, contacts)
        return result
    finally:
        svc.rt.close()


def _insert(table: str, columns: list[str]) -> str:
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


# The thresholds the loaded bounds were computed for (store/notice_due.py's PLAN_FACT).
_PLAN_FACT = (
    "INSERT INTO installation (name, value, recorded_at) VALUES ('notices.expiry_plan', "
    f"'expiry:{','.join(str(n) for n in DEFAULT_NOTICE_DAYS)}', ?)"
)


def load(url: str, pop: Population) -> tuple[int, int]:
    """Bulk-load the population; returns (certificates, notices)."""
    certs = notices = 0
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))

        def utc(v: Any) -> Any:
            # The text SQLAlchemy's SQLite DateTime writes (store/types.py: naive UTC).
            if isinstance(v, datetime):
                return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            return v

        cert_sql = _insert("certificates", CERT_COLUMNS)
        notice_sql = _insert("notices", NOTICE_COLUMNS)
        batch_c: list[tuple[Any, ...]] = []
        batch_n: list[tuple[Any, ...]] = []
        with conn:
            for cert, rows in pop.rows():
                batch_c.append(tuple(utc(v) for v in cert))
                batch_n.extend(tuple(utc(v) for v in r) for r in rows)
                if len(batch_c) >= 20000:
                    conn.executemany(cert_sql, batch_c)
                    conn.executemany(notice_sql, batch_n)
                    certs, notices = certs + len(batch_c), notices + len(batch_n)
                    batch_c, batch_n = [], []
            conn.executemany(cert_sql, batch_c)
            conn.executemany(notice_sql, batch_n)
            certs, notices = certs + len(batch_c), notices + len(batch_n)
        if BOUNDS:
            with conn:
                conn.execute(_PLAN_FACT, (utc(NOW),))
        conn.execute("ANALYZE")
        conn.close()
        return certs, notices
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    # Two connections, two COPY streams side by side: nothing is held in memory.
    with (
        psycopg.connect(dsn) as cert_conn,
        psycopg.connect(dsn) as notice_conn,
        cert_conn.cursor() as cert_cur,
        notice_conn.cursor() as notice_cur,
    ):
        with (
            cert_cur.copy(f"COPY certificates ({', '.join(CERT_COLUMNS)}) FROM STDIN") as c_copy,
            notice_cur.copy(f"COPY notices ({', '.join(NOTICE_COLUMNS)}) FROM STDIN") as n_copy,
        ):
            for cert, rows in pop.rows():
                c_copy.write_row(cert)
                certs += 1
                for row in rows:
                    n_copy.write_row(row)
                    notices += 1
        cert_cur.execute(
            "SELECT setval(pg_get_serial_sequence('certificates', 'id'), max(id)) FROM certificates"
        )
        if BOUNDS:
            cert_cur.execute(_PLAN_FACT.replace("?", "%s"), (NOW,))
        cert_conn.commit()
        notice_conn.commit()
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("VACUUM ANALYZE")
    return certs, notices


# --- the measured process ---------------------------------------------------------------------


def child(url: str, data_dir: str, smtp_port: int) -> dict[str, Any]:
    """Runs in its own process: planning, first pass, steady pass, notices; prints JSON."""
    from sqlalchemy import delete, func, select

    from certdesk.core.cases import WORKING_STATES
    from certdesk.jobs.worker import Worker
    from certdesk.services.registry import Services
    from certdesk.services.runtime import Runtime
    from certdesk.store import lifecycle as lc
    from certdesk.store import renewals
    from certdesk.store.models import CertificateRow, Notice

    def rss_mb(field: str = "VmHWM") -> float:
        # VmHWM is this process image's peak (ru_maxrss would carry over the parent's peak
        # across fork and exec); VmRSS is the resident size now.
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    out: dict[str, Any] = {}
    settings = settings_for(url, Path(data_dir).parent, smtp_port)
    svc = Services(Runtime.open(settings, lambda: NOW))
    out["rss_start_mb"] = rss_mb("VmRSS")

    # 1. Planning: the read side of every job.
    timings: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        t = time.perf_counter()
        result = fn()
        timings[name] = time.perf_counter() - t
        return result

    due = timed("renewals", lambda: sum(1 for _ in svc.renewals.due(NOW)))
    with svc.rt.reads() as s:
        expiring = timed(
            "expiry",
            lambda: s.scalar(
                select(func.count())
                .select_from(CertificateRow)
                .where(CertificateRow.status == "active", CertificateRow.not_after < NOW)
            ),
        )
        timed("supersede", lambda: renewals.replaced_certificates(s, 500))
        timed("windows", lambda: lc.windows_ended(s, NOW, 1000))
        timed("overdue", lambda: lc.overdue_count(s, NOW.date(), [str(w) for w in WORKING_STATES]))
        planned = timed("notices", lambda: svc.notices.planner.due(s, NOW))
    out["planning"] = timings
    out["planning_s"] = sum(timings.values())
    out["renewals_due"], out["expiries_due"] = due, expiring
    out["notices_due"] = sum(len(p.recipients) for p in planned)

    # 2. The first pass does the backlog; 3. the next one finds nothing left.
    worker = Worker(svc, worker_id="bench")
    first = worker.run_pass()
    out["first_pass"] = first.as_dict()
    steady = worker.run_pass()
    out["steady_pass"] = steady.as_dict()

    # 4. Notices: NOTICES loaded records (never claimed by a worker) are removed, so their
    # notices are due again (late), and delivered: digests off, then another NOTICES on.
    from certdesk.services.lifecycle.notices import NoticeService

    with svc.rt.reads() as s:
        loaded = s.scalars(
            select(Notice.id)
            .where(Notice.claimed_by.is_(None), Notice.reason.like("expiry.%"))
            .order_by(Notice.id.desc())
            .limit(2 * NOTICES)
        ).all()
    for digest, part in ((False, loaded[:NOTICES]), (True, loaded[NOTICES:])):
        with svc.rt.sessions.begin() as s:
            subjects = list(s.scalars(select(Notice.subject_id).where(Notice.id.in_(part))))
            s.execute(delete(Notice).where(Notice.id.in_(part)))
            if BOUNDS:  # the bounds assumed those notices sent: plan them again
                from certdesk.store import notice_due

                notice_due.reset(s, sorted(set(subjects)))
        svc.rt.settings.notice_digest = digest
        notices = NoticeService(svc.rt)
        t = time.perf_counter()
        stats = notices.run(NOW, "bench-notices")
        seconds = time.perf_counter() - t
        out[f"notices_digest_{'on' if digest else 'off'}"] = {
            "records": len(part),
            "seconds": seconds,
            "sent": stats.sent,
            "messages": stats.messages,
            "failed": stats.failed,
            "retrying": stats.retrying,
        }
    out["rss_peak_mb"] = rss_mb()
    svc.rt.close()
    out["raw_smtp"] = raw_smtp(smtp_port)
    return out


def raw_smtp(port: int) -> dict[str, float]:
    """The ceiling: the same server fed by a bare smtplib loop on one connection."""
    import smtplib
    from email.message import EmailMessage

    with smtplib.SMTP("127.0.0.1", port) as client:
        t = time.perf_counter()
        for i in range(RAW_MESSAGES):
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "bench@localhost", "x@org0.ca.gov", f"raw {i}"
            msg.set_content("Your certificate expires in 30 days.\n" * 20)
            client.send_message(msg)
        seconds = time.perf_counter() - t
    return {"seconds": seconds, "messages": RAW_MESSAGES}


# --- the loopback SMTP server -----------------------------------------------------------------


class _Sink:
    def __init__(self) -> None:
        self.messages = 0

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages += 1
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, _Sink]]:
    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


# --- the driver -----------------------------------------------------------------------------


def run_one(backend: str, n: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="certdesk-bench-lc-") as tmp_name,
        smtp_server() as (port, sink),
    ):
        tmp = Path(tmp_name)
        with database(backend, tmp) as url:
            settings = settings_for(url, tmp, port)
            t = time.perf_counter()
            fx = fixtures(settings)
            pop = Population(n, fx)
            certs, notices = load(url, pop)
            loaded = time.perf_counter() - t
            done = subprocess.run(
                [sys.executable, __file__, "--child", url, str(settings.data_dir), str(port)],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            if done.returncode != 0:
                raise SystemExit(f"child failed ({backend}, {n}):\n{done.stderr[-4000:]}")
            result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
            result.update(
                backend=backend,
                n=n,
                load_s=loaded,
                certificates=certs,
                notices_loaded=notices,
                smtp_messages=sink.messages,
                backlog_renewals=pop.renewals_due,
                backlog_expiries=pop.expiries_due,
            )
            return result


def _rate(count: float, seconds: float) -> str:
    return f"{count / seconds:,.0f}" if seconds > 0 and count else "-"


def _table(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("| --- |" + " ---: |" * (len(header) - 1))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def report(results: list[dict[str, Any]]) -> None:
    print()
    _table(
        [
            "backend",
            "certificates",
            "load s",
            "planning s",
            "first pass s",
            "steady pass s",
            "renewals/s",
            "expiries/s",
            "notices/s (msgs/s), digest off",
            "notices/s (msgs/s), digest on",
            "raw SMTP msgs/s",
            "RSS start MB",
            "RSS peak MB",
        ],
        [
            [
                r["backend"],
                f"{r['n']:,}",
                f"{r['load_s']:.1f}",
                f"{r['planning_s']:.2f}",
                f"{r['first_pass']['seconds']:.2f}",
                f"{r['steady_pass']['seconds']:.2f}",
                _rate(
                    r["first_pass"]["renewals_opened"] + r["first_pass"]["renewals_adopted"],
                    r["first_pass"]["job_seconds"]["renew"],
                ),
                _rate(r["first_pass"]["expired"], r["first_pass"]["job_seconds"]["expire"]),
                _notices(r["notices_digest_off"]),
                _notices(r["notices_digest_on"]),
                _rate(r["raw_smtp"]["messages"], r["raw_smtp"]["seconds"]),
                f"{r['rss_start_mb']:.0f}",
                f"{r['rss_peak_mb']:.0f}",
            ]
            for r in results
        ],
    )
    jobs = list(results[0]["planning"]) if results else []
    print("Planning, seconds per job, and what it found:")
    print()
    _table(
        ["backend", "certificates", *jobs, "renewals due", "expiries due", "notices due"],
        [
            [
                r["backend"],
                f"{r['n']:,}",
                *(f"{r['planning'][j]:.3f}" for j in jobs),
                str(r["renewals_due"]),
                str(r["expiries_due"]),
                str(r["notices_due"]),
            ]
            for r in results
        ],
    )
    print("First pass, work done, and seconds per job (first pass / steady pass):")
    print()
    names = list(results[0]["first_pass"]["job_seconds"]) if results else []
    _table(
        ["backend", "certificates", "renewals opened", "expired", "notices sent", *names],
        [
            [
                r["backend"],
                f"{r['n']:,}",
                str(r["first_pass"]["renewals_opened"] + r["first_pass"]["renewals_adopted"]),
                str(r["first_pass"]["expired"]),
                str((r["first_pass"].get("notices") or {}).get("sent", 0)),
                *(
                    f"{r['first_pass']['job_seconds'][j]:.2f} / "
                    f"{r['steady_pass']['job_seconds'][j]:.2f}"
                    for j in names
                ),
            ]
            for r in results
        ],
    )
    growth = []
    for backend in dict.fromkeys(r["backend"] for r in results):
        rows = [r for r in results if r["backend"] == backend]
        for a, b in itertools.pairwise(rows):
            growth.append(
                [
                    backend,
                    f"{a['n']:,} to {b['n']:,}",
                    f"{b['n'] / a['n']:.0f}",
                    f"{b['planning_s'] / a['planning_s']:.1f}",
                    f"{b['steady_pass']['seconds'] / a['steady_pass']['seconds']:.1f}",
                    f"{b['rss_peak_mb'] / a['rss_peak_mb']:.2f}",
                ]
            )
    if growth:
        print("Growth, each size against the previous one (factors):")
        print()
        _table(["backend", "step", "certificates", "planning", "steady pass", "RSS peak"], growth)


def _notices(r: dict[str, Any]) -> str:
    return f"{_rate(r['sent'], r['seconds'])} ({_rate(r['messages'], r['seconds'])})"


def _stop(signum: int, _frame: object) -> None:
    # SIGTERM ends the run like Ctrl-C: the databases and temporary files are removed.
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--sqlite-max", type=int, default=100_000, help="largest SQLite size run")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, data_dir, port = args.child
        print(json.dumps(child(url, data_dir, int(port)), default=str))
        return
    sizes = [int(x) for x in args.sizes.split(",") if x]
    results = []
    for backend in args.backends.split(","):
        for n in sizes:
            if backend == "sqlite" and n > args.sqlite_max:
                print(f"skipped: sqlite at {n:,} (over --sqlite-max {args.sqlite_max:,})")
                continue
            started = time.perf_counter()
            r = run_one(backend, n)
            results.append(r)
            print(
                f"{backend} {n:,}: load {r['load_s']:.1f}s, planning {r['planning_s']:.2f}s,"
                f" first pass {r['first_pass']['seconds']:.2f}s,"
                f" steady {r['steady_pass']['seconds']:.2f}s, RSS peak {r['rss_peak_mb']:.0f} MB"
                f" ({time.perf_counter() - started:.0f}s in all)",
                flush=True,
            )
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    report(results)


if __name__ == "__main__":
    main()
