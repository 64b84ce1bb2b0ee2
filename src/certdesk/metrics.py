"""Prometheus metrics, on a registry owned by the running app (no module-level state)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


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
        if inventory_counts is not None:
            self.registry.register(_InventoryCollector(inventory_counts))


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
