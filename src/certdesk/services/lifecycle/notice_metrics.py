"""The notice counts on /metrics (R9): read from the shared database at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from certdesk.core.notices import LISTED_STATES


class NoticeCollector(Collector):
    """``certdesk_notices{status=…}`` and ``certdesk_notices_sent_late`` for /metrics.

    Read from the shared database at scrape time (like the inventory counts), so every
    server process reports what every worker did.
    """

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterable[GaugeMetricFamily]:
        counts = self._counts()
        by_status = GaugeMetricFamily(
            "certdesk_notices",
            "Notices by status (R9); retrying: waiting for a retry after a failure.",
            labels=["status"],
        )
        for status in LISTED_STATES:
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status
        late = GaugeMetricFamily("certdesk_notices_sent_late", "Notices sent late (R9).")
        late.add_metric([], counts.get("sent_late", 0))
        yield late


def watch_notices(registry: CollectorRegistry, counts: Callable[[], dict[str, int]]) -> None:
    """Export the notice counts on ``registry`` (once; a second call changes nothing)."""
    try:
        registry.register(NoticeCollector(counts))
    except ValueError:
        pass  # already registered on this registry: prometheus refuses duplicate names
