"""Discovery jobs (R18): queued by a request, claimed under a lease by one runner (a serve
process's pool or a worker), their progress and result written by that runner only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from certdesk.store.models import DiscoveryJob

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


def add(s: Session, row: DiscoveryJob) -> DiscoveryJob:
    s.add(row)
    s.flush()
    return row


def by_id(s: Session, job_id: int) -> DiscoveryJob | None:
    return s.get(DiscoveryJob, job_id)


def _claimable(now: datetime) -> Any:
    return or_(
        DiscoveryJob.state == QUEUED,
        (DiscoveryJob.state == RUNNING) & (DiscoveryJob.lease_until < now),
    )


def claimable(s: Session, now: datetime, limit: int) -> list[int]:
    """Jobs nobody runs: queued, or running under a lease that ended (its runner died)."""
    q = select(DiscoveryJob.id).where(_claimable(now)).order_by(DiscoveryJob.id).limit(limit)
    return list(s.scalars(q))


def claim(s: Session, job_id: int, runner: str, now: datetime, lease_until: datetime) -> bool:
    """Take job ``job_id`` for ``runner`` if nobody holds it (one conditional update: of two
    runners, one wins)."""
    done = s.execute(
        update(DiscoveryJob)
        .where(DiscoveryJob.id == job_id, _claimable(now))
        .values(
            state=RUNNING,
            runner=runner,
            lease_until=lease_until,
            attempts=DiscoveryJob.attempts + 1,
            started_at=now,
            tried=0,
            found=0,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def progress(
    s: Session, job_id: int, runner: str, tried: int, found: int, lease_until: datetime
) -> bool:
    """Record how far ``runner`` is and extend its lease; False when it lost the job."""
    done = s.execute(
        update(DiscoveryJob)
        .where(
            DiscoveryJob.id == job_id,
            DiscoveryJob.runner == runner,
            DiscoveryJob.state == RUNNING,
        )
        .values(tried=tried, found=found, lease_until=lease_until)
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def finish(
    s: Session,
    job_id: int,
    runner: str,
    now: datetime,
    *,
    state: str,
    tried: int,
    found: int,
    result: dict[str, Any] | None,
    error: str = "",
) -> bool:
    done = s.execute(
        update(DiscoveryJob)
        .where(
            DiscoveryJob.id == job_id,
            DiscoveryJob.runner == runner,
            DiscoveryJob.state == RUNNING,
        )
        .values(
            state=state,
            tried=tried,
            found=found,
            result=result,
            error=error[:2000],
            lease_until=None,
            finished_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]
