"""Worker heartbeats: one row per worker process, written only by that process (the
lifecycle worker's health on ``certdesk status`` and ``/metrics``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from certdesk.store.models import WorkerBeat


def beat(
    s: Session,
    worker_id: str,
    now: datetime,
    *,
    started_at: datetime,
    pass_seconds: float | None = None,
    jobs: int = 0,
    error: str | None = None,
) -> None:
    """Record that ``worker_id`` is alive at ``now`` (and, with ``pass_seconds``, that it
    finished a pass); one row per worker process, written only by that process."""
    row = s.get(WorkerBeat, worker_id)
    if row is None:
        row = WorkerBeat(worker_id=worker_id, started_at=started_at, jobs_done=0, last_error="")
        s.add(row)
    row.beat_at = now
    if pass_seconds is not None:
        row.last_pass_at = now
        row.last_pass_seconds = pass_seconds
        row.jobs_done = (row.jobs_done or 0) + jobs
    if error is not None:
        row.last_error = error[:2000]


def beats(s: Session) -> list[WorkerBeat]:
    return list(s.scalars(select(WorkerBeat).order_by(WorkerBeat.worker_id)))


def forget_worker(s: Session, worker_id: str) -> None:
    s.execute(delete(WorkerBeat).where(WorkerBeat.worker_id == worker_id))


def prune_beats(s: Session, older_than: datetime) -> int:
    result = s.execute(delete(WorkerBeat).where(WorkerBeat.beat_at < older_than))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
