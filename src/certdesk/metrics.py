"""Prometheus metrics, on a registry owned by the running app (no module-level state)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from certdesk.release import python_version, version

if TYPE_CHECKING:
    from certdesk.services.worker_health import WorkerHealth


class Metrics:
    """Issuance latency (per process) and inventory counts (from the shared database)."""

    def __init__(self, inventory_counts: Callable[[], dict[str, int]] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.issuance_seconds = Histogram(
            "certdesk_issuance_seconds",
            "Time of one issuance through the pipeline (policy to stored certificate).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.registry.register(_BuildInfoCollector(version(), python_version()))
        if inventory_counts is not None:
            self.registry.register(_InventoryCollector(inventory_counts))
        self._workers_watched = False

    def watch_workers(self, snapshot: Callable[[], WorkerHealth]) -> None:
        """Export the lifecycle workers' heartbeats and job lag (once per registry)."""
        if not self._workers_watched:
            self.registry.register(_WorkerCollector(snapshot))
            self._workers_watched = True


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
        issued.add_metric([], sum(v for k, v in counts.items() if k not in ("signing", "void")))
        yield issued
        revoked = GaugeMetricFamily("certdesk_certificates_revoked", "Certificates revoked.")
        revoked.add_metric([], counts.get("revoked", 0))
        yield revoked
        by_status = GaugeMetricFamily(
            "certdesk_certificates", "Certificates by status.", labels=["status"]
        )
        for status, n in sorted(counts.items()):
            by_status.add_metric([status], n)
        yield by_status


class _WorkerCollector(Collector):
    # Read from the shared database at scrape time, like the inventory counts: any server
    # process reports every worker process (services/worker_health.py).
    def __init__(self, snapshot: Callable[[], WorkerHealth]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[GaugeMetricFamily]:
        health = self._snapshot()
        now = health.now
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
        for w in health.workers:
            beat.add_metric([w.worker_id], (now - w.beat_at).total_seconds())
            if w.last_pass_at is not None:
                last_pass.add_metric([w.worker_id], (now - w.last_pass_at).total_seconds())
            if w.last_pass_seconds is not None:
                duration.add_metric([w.worker_id], w.last_pass_seconds)
            jobs.add_metric([w.worker_id], w.jobs_done)
        yield from (beat, last_pass, duration, jobs)
        healthy = GaugeMetricFamily(
            "certdesk_workers_healthy",
            "Worker processes with a heartbeat within 3x CERTDESK_WORKER_INTERVAL_SECONDS.",
        )
        healthy.add_metric([], sum(1 for w in health.workers if w.healthy))
        yield healthy
        lag = GaugeMetricFamily(
            "certdesk_worker_job_lag_seconds",
            "Age of the oldest item each job has not done yet (0: nothing waiting).",
            labels=["job"],
        )
        b = health.backlog
        for job, oldest in (
            ("expiry", b.expiry),
            ("window", b.windows),
            ("notices", b.notices),
            ("mail", b.outbox),
        ):
            lag.add_metric([job], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        yield lag
        # Notices by status are certdesk_notices{status} (services/notices.py), not here.
        outbox = GaugeMetricFamily("certdesk_outbox", "Outbox mail by status.", labels=["status"])
        for status in ("pending", "sent", "failed"):
            outbox.add_metric([status], b.outbox_by_status.get(status, 0))
        yield outbox
        overdue = GaugeMetricFamily(
            "certdesk_cases_overdue", "Cases past their due date and not delivered (R5)."
        )
        overdue.add_metric([], health.overdue_cases)
        yield overdue
