"""Prometheus metrics, on a registry owned by the running app (no module-level state).

Two kinds of metric, so that ``serve --workers N`` reports one truth from every process:

- **Instruments** (counters and histograms: issuance latency, HTTP requests, OCSP and CRL
  requests) are counted by the process that did the work. Under ``serve --workers N`` the
  server processes run in prometheus_client's multiprocess mode: each writes its values to
  files in a private directory (:func:`shared_directory`), and whichever process answers a
  scrape adds up every process's files. Without it, a scrape would show the counts of the
  process that happened to answer, and a counter would jump back and forth. Any counter,
  histogram or summary put on :attr:`Metrics.registry` is added up the same way; a gauge
  there is shown as this process has it (a constant, such as build information).
- **Gauges read at scrape time** (inventory, workers, notices, CA and CRL dates) come from the
  shared database, through collectors on :attr:`Metrics.registry`; the answering process
  reads them once, so they appear once, never per process.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from certdesk.core.certificates import BOOKKEEPING, CertStatus
from certdesk.core.notices import NoticeState
from certdesk.release import python_version, version

# prometheus_client's own variable: it reads it once, when it is first imported.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Label values of methods outside this set are folded into "other" (a client chooses them).
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The route label of a request no route matched: never the raw path, which a client chooses.
UNMATCHED = "unmatched"

_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


@dataclass(frozen=True)
class CaDates:
    """A built-in CA's certificate ``notAfter`` and its current CRL's ``nextUpdate``."""

    issuer: str  # the CA's slug, as in /crl/<slug>.crl
    not_after: datetime
    crl_next_update: datetime | None  # None: no CRL published yet


@dataclass(frozen=True)
class OrderCount:
    """How many of a vendor issuer's orders are in one state (ordering, pending …)."""

    issuer: str  # the issuer's name (slug)
    state: str
    count: int


@dataclass(frozen=True)
class WorkerFigure:
    """One worker process's heartbeat, as /metrics shows it (ages in seconds)."""

    worker_id: str
    beat_age: float
    last_pass_age: float | None  # None: no pass finished yet
    last_pass_seconds: float | None
    jobs_done: int
    healthy: bool


@dataclass(frozen=True)
class WorkerFigures:
    """What the lifecycle workers' gauges show, read from the database at scrape time and
    handed over by the services (:meth:`Metrics.watch_workers`): this module imports none."""

    workers: tuple[WorkerFigure, ...]
    job_lag: dict[str, float]  # job -> age of its oldest item not done (0: nothing waiting)
    outbox: dict[str, int]  # account mail by status: pending, sent, failed
    overdue_cases: int


class Metrics:
    """The instruments of this process and the collectors that read the shared database."""

    def __init__(self, inventory_counts: Callable[[], dict[str, int]] | None = None) -> None:
        self.registry = CollectorRegistry()
        self._shared_dir = _multiprocess_dir()
        self.issuance_seconds = Histogram(
            "certdesk_issuance_seconds",
            "Time of one issuance through the pipeline (policy to stored certificate).",
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.http_request_seconds = Histogram(
            "certdesk_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template.",
            labelnames=("method", "route", "status"),
            buckets=(*_SECONDS, 10),
            registry=self.registry,
        )
        self.ocsp_requests = Counter(
            "certdesk_ocsp_requests",
            "OCSP requests answered, by answer: good, revoked, unknown (successful responses)"
            " or the unsuccessful responseStatus (malformed_request, unauthorized, ...).",
            labelnames=("status",),
            registry=self.registry,
        )
        self.crl_requests = Counter(
            "certdesk_crl_requests",
            "CRL downloads served (/crl/<issuer>.crl).",
            registry=self.registry,
        )
        self.registry.register(_BuildInfoCollector(version(), python_version()))
        if inventory_counts is not None:
            self.registry.register(_InventoryCollector(inventory_counts))
        self._workers_watched = False
        self._authority_watched = False
        self._orders_watched = False

    def observe_request(self, method: str, route: str | None, status: int, seconds: float) -> None:
        """One HTTP request; ``route`` is its template, None when no route matched."""
        self.http_request_seconds.labels(
            method if method in HTTP_METHODS else "other",
            route if route is not None else UNMATCHED,
            str(status),
        ).observe(seconds)

    def exposition(self) -> bytes:
        """The text format of every metric, as one answer to /metrics."""
        if self._shared_dir is None:
            return generate_latest(self.registry)
        return generate_latest(_Exposed(self._shared_dir, self.registry))

    def close(self) -> None:
        """At the end of a server process: forget its live gauges (multiprocess mode)."""
        if self._shared_dir is not None:
            mark_process_dead(os.getpid(), str(self._shared_dir))  # type: ignore[no-untyped-call]

    def watch_workers(self, snapshot: Callable[[], WorkerFigures]) -> None:
        """Export the lifecycle workers' heartbeats and job lag (once per registry)."""
        if not self._workers_watched:
            self.registry.register(_WorkerCollector(snapshot))
            self._workers_watched = True

    def watch_authority(self, dates: Callable[[], list[CaDates]]) -> None:
        """Export each CA's ``notAfter`` and CRL ``nextUpdate`` (once per registry)."""
        if not self._authority_watched:
            self.registry.register(_AuthorityCollector(dates))
            self._authority_watched = True

    def watch_orders(self, counts: Callable[[], list[OrderCount]]) -> None:
        """Export the vendor orders by issuer and state (once per registry)."""
        if not self._orders_watched:
            self.registry.register(_OrderCollector(counts))
            self._orders_watched = True


@contextmanager
def shared_directory(data_dir: Path) -> Iterator[Path]:
    """Multiprocess mode for the server processes ``serve --workers N`` starts.

    Sets PROMETHEUS_MULTIPROC_DIR, for the processes started inside the block, to a new
    directory of this ``serve`` process (DATA_DIR/run/metrics/<pid>, mode 0700), and removes
    it afterwards. Directories of ``serve`` processes that no longer run are removed first:
    their counts are of a server that is gone.
    """
    root = data_dir / "run" / "metrics"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for private in (root.parent, root):
        private.chmod(0o700)
    for old in root.iterdir():
        if not old.name.isdigit() or not _running(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    mine = root / str(os.getpid())
    shutil.rmtree(mine, ignore_errors=True)
    mine.mkdir(mode=0o700)
    before = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = str(mine)
    try:
        yield mine
    finally:
        if before is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = before
        shutil.rmtree(mine, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def _multiprocess_dir() -> Path | None:
    # prometheus_client chose where values live when it was first imported: in this process's
    # memory, or in the shared files when PROMETHEUS_MULTIPROC_DIR was set then (the server
    # processes `serve --workers N` starts). Both must agree.
    path = os.environ.get(MULTIPROC_ENV)
    if not path or values.ValueClass is values.MutexValue:
        return None
    return Path(path)


class _Exposed:
    """What a scrape shows in multiprocess mode: every counter, histogram and summary added
    up over the processes' shared files, and the rest from this process's registry."""

    # Process-additive types; a gauge in the files would come once per process, with a pid
    # label, so gauges are taken from this process (a constant such as build information)
    # or from the database (the collectors).
    ADDITIVE = frozenset({"counter", "histogram", "summary"})

    def __init__(self, path: Path, local: CollectorRegistry) -> None:
        self._files = MultiProcessCollector(None, path=str(path))  # type: ignore[no-untyped-call]
        self._local = local

    def collect(self) -> Iterable[Metric]:
        shared = [
            family
            for family in self._files.collect()  # type: ignore[no-untyped-call]
            if family.type in self.ADDITIVE
        ]
        yield from shared
        summed = {family.name for family in shared}
        for family in self._local.collect():
            if family.name not in summed:  # an instrument's share of this process only
                yield family


class _BuildInfoCollector(Collector):
    # The usual *_build_info gauge: always 1, the facts in its labels. Built at scrape time
    # from constants, the same in every process: no per-process state to merge.
    def __init__(self, version: str, python: str) -> None:
        self._labels = [version, python]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        info = GaugeMetricFamily(
            "certdesk_build_info",
            "Always 1; the certdesk version and Python version of this process.",
            labels=["version", "python"],
        )
        info.add_metric(self._labels, 1)
        yield info


class _InventoryCollector(Collector):
    # Counts come from the database, so that every server process reports the same totals
    # (a per-process counter would undercount with --workers N).
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterable[GaugeMetricFamily]:
        counts = self._counts()
        issued = GaugeMetricFamily(
            "certdesk_certificates_issued", "Certificates issued (all statuses but void)."
        )
        issued.add_metric([], sum(v for k, v in counts.items() if k not in BOOKKEEPING))
        yield issued
        revoked = GaugeMetricFamily("certdesk_certificates_revoked", "Certificates revoked.")
        revoked.add_metric([], counts.get(CertStatus.REVOKED, 0))
        yield revoked
        by_status = GaugeMetricFamily(
            "certdesk_certificates", "Certificates by status.", labels=["status"]
        )
        for status, n in sorted(counts.items()):
            by_status.add_metric([status], n)
        yield by_status


class _WorkerCollector(Collector):
    # Read from the shared database at scrape time, like the inventory counts: any server
    # process reports every worker process (services/lifecycle/worker_health.py reads them).
    def __init__(self, snapshot: Callable[[], WorkerFigures]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[GaugeMetricFamily]:
        figures = self._snapshot()
        beat = GaugeMetricFamily(
            "certdesk_worker_heartbeat_age_seconds",
            "Seconds since each worker process last showed it is alive.",
            labels=["worker"],
        )
        last_pass = GaugeMetricFamily(
            "certdesk_worker_last_pass_age_seconds",
            "Seconds since each worker process finished its last pass.",
            labels=["worker"],
        )
        duration = GaugeMetricFamily(
            "certdesk_worker_last_pass_duration_seconds",
            "How long each worker process's last pass took.",
            labels=["worker"],
        )
        jobs = GaugeMetricFamily(
            "certdesk_worker_jobs_done",
            "Changes made by each worker process since it started (renewals, expiries, ...).",
            labels=["worker"],
        )
        for w in figures.workers:
            beat.add_metric([w.worker_id], w.beat_age)
            if w.last_pass_age is not None:
                last_pass.add_metric([w.worker_id], w.last_pass_age)
            if w.last_pass_seconds is not None:
                duration.add_metric([w.worker_id], w.last_pass_seconds)
            jobs.add_metric([w.worker_id], w.jobs_done)
        yield from (beat, last_pass, duration, jobs)
        healthy = GaugeMetricFamily(
            "certdesk_workers_healthy",
            "Worker processes with a heartbeat within 3x CERTDESK_WORKER_INTERVAL_SECONDS.",
        )
        healthy.add_metric([], sum(1 for w in figures.workers if w.healthy))
        yield healthy
        lag = GaugeMetricFamily(
            "certdesk_worker_job_lag_seconds",
            "Age of the oldest item each job has not done yet (0: nothing waiting).",
            labels=["job"],
        )
        for job in ("expiry", "window", "notices", "mail"):
            lag.add_metric([job], figures.job_lag.get(job, 0.0))
        yield lag
        # Notices by status are certdesk_notices{status} (services/lifecycle/notices.py).
        outbox = GaugeMetricFamily("certdesk_outbox", "Outbox mail by status.", labels=["status"])
        for status in (NoticeState.PENDING, NoticeState.SENT, NoticeState.FAILED):
            outbox.add_metric([status], figures.outbox.get(status, 0))
        yield outbox
        overdue = GaugeMetricFamily(
            "certdesk_cases_overdue", "Cases past their due date and not delivered (R5)."
        )
        overdue.add_metric([], figures.overdue_cases)
        yield overdue


class _AuthorityCollector(Collector):
    # From the database at scrape time, like the inventory: one answer from any process.
    def __init__(self, dates: Callable[[], list[CaDates]]) -> None:
        self._dates = dates

    def collect(self) -> Iterable[GaugeMetricFamily]:
        not_after = GaugeMetricFamily(
            "certdesk_ca_certificate_not_after_timestamp_seconds",
            "notAfter of each built-in CA certificate (Unix time).",
            labels=["issuer"],
        )
        next_update = GaugeMetricFamily(
            "certdesk_crl_next_update_timestamp_seconds",
            "nextUpdate of each built-in CA's current CRL (Unix time).",
            labels=["issuer"],
        )
        for ca in self._dates():
            not_after.add_metric([ca.issuer], ca.not_after.timestamp())
            if ca.crl_next_update is not None:
                next_update.add_metric([ca.issuer], ca.crl_next_update.timestamp())
        yield not_after
        yield next_update


class _OrderCollector(Collector):
    # From the database at scrape time: every process answers with the same figures.
    def __init__(self, counts: Callable[[], list[OrderCount]]) -> None:
        self._counts = counts

    def collect(self) -> Iterable[GaugeMetricFamily]:
        orders = GaugeMetricFamily(
            "certdesk_vendor_orders",
            "Orders at vendor CAs, by issuer and state (ordering, pending, issued, failed).",
            labels=["issuer", "state"],
        )
        for row in self._counts():
            orders.add_metric([row.issuer, row.state], row.count)
        yield orders
