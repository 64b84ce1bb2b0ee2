"""Worker heartbeats and job lag, for ``/metrics`` and ``certdesk status`` (issue 4, part 4;
issue 9, part 7).

Each worker process owns one ``worker_beats`` row (its id is ``host:pid:start``): written when
it starts, after every job and at the end of every pass; removed when it stops on SIGTERM or
SIGINT and when a one-shot pass (``certdesk worker --once``) ends, so a worker stopped on
purpose is not reported as stale. A worker that was killed leaves its row, and its age shows
it.

A worker is *healthy* when its last beat is within three times
``CERTDESK_WORKER_INTERVAL_SECONDS``; ``certdesk status`` reports the others as stale.
Worker liveness is not part of ``/readyz``: a server serves without a worker.

Rows whose last beat is older than :data:`FORGET_AFTER` are removed by the workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from certdesk.core.calendar import PACIFIC
from certdesk.core.cases import WORKING_STATES
from certdesk.metrics import WorkerFigure, WorkerFigures
from certdesk.services.runtime import Runtime
from certdesk.store import lifecycle as store
from certdesk.store import worker_beats

STALE_FACTOR = 3
FORGET_AFTER = timedelta(days=7)


@dataclass(frozen=True)
class WorkerState:
    worker_id: str
    started_at: datetime
    beat_at: datetime
    last_pass_at: datetime | None
    last_pass_seconds: float | None
    jobs_done: int
    last_error: str
    healthy: bool


@dataclass(frozen=True)
class WorkerHealth:
    """Everything /metrics and ``certdesk status`` show about the workers, read at ``now``."""

    now: datetime
    workers: tuple[WorkerState, ...]
    backlog: store.Backlog
    overdue_cases: int

    @property
    def stale(self) -> tuple[WorkerState, ...]:
        """Workers that ran and stopped beating without leaving (killed, or hung)."""
        return tuple(w for w in self.workers if not w.healthy)


class WorkerHealthService:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    @property
    def stale_after(self) -> timedelta:
        return timedelta(seconds=STALE_FACTOR * self._rt.settings.worker_interval_seconds)

    def beat(
        self,
        worker_id: str,
        started_at: datetime,
        *,
        pass_seconds: float | None = None,
        jobs: int = 0,
        error: str | None = None,
    ) -> None:
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            worker_beats.beat(
                s,
                worker_id,
                now,
                started_at=started_at,
                pass_seconds=pass_seconds,
                jobs=jobs,
                error=error,
            )
            if pass_seconds is not None:
                worker_beats.prune_beats(s, now - FORGET_AFTER)

    def leave(self, worker_id: str) -> None:
        with self._rt.sessions.begin() as s:
            worker_beats.forget_worker(s, worker_id)

    def snapshot(self) -> WorkerHealth:
        now = self._rt.clock()
        stale = self.stale_after
        with self._rt.reads() as s:
            rows = worker_beats.beats(s)
            workers = tuple(
                WorkerState(
                    worker_id=r.worker_id,
                    started_at=r.started_at,
                    beat_at=r.beat_at,
                    last_pass_at=r.last_pass_at,
                    last_pass_seconds=r.last_pass_seconds,
                    jobs_done=r.jobs_done,
                    last_error=r.last_error,
                    healthy=now - r.beat_at <= stale,
                )
                for r in rows
            )
            backlog = store.backlog(s, now)
            overdue = store.overdue_count(
                s, now.astimezone(PACIFIC).date(), [str(st) for st in WORKING_STATES]
            )
        return WorkerHealth(now, workers, backlog, overdue)

    def figures(self) -> WorkerFigures:
        """:meth:`snapshot` as the workers' gauges on /metrics show it."""
        health = self.snapshot()
        now = health.now

        def age(moment: datetime | None) -> float:
            return max(0.0, (now - moment).total_seconds()) if moment else 0.0

        b = health.backlog
        return WorkerFigures(
            workers=tuple(
                WorkerFigure(
                    worker_id=w.worker_id,
                    beat_age=(now - w.beat_at).total_seconds(),
                    last_pass_age=(
                        None if w.last_pass_at is None else (now - w.last_pass_at).total_seconds()
                    ),
                    last_pass_seconds=w.last_pass_seconds,
                    jobs_done=w.jobs_done,
                    healthy=w.healthy,
                )
                for w in health.workers
            ),
            job_lag={
                "expiry": age(b.expiry),
                "window": age(b.windows),
                "notices": age(b.notices),
                "mail": age(b.outbox),
            },
            outbox=dict(b.outbox_by_status),
            overdue_cases=health.overdue_cases,
        )
