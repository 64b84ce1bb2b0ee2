"""Discovery as a background job (R18): what the API and the console start.

A discovery of a range can take minutes (``CERTDESK_VERIFY_TIMEOUT_SECONDS`` per silent
address), longer than a request should be held. So a request only checks the targets (the
same expansion and limits as ``certdesk discover``) and queues a job; it answers at once with
the job, which shows its progress (endpoints tried, certificates found) and, once done, the
discovery's report.

Who runs it: the serve process that queued it, in a small pool of daemon threads
(:meth:`DiscoveryJobs.run_soon`), and any worker (``certdesk worker``'s ``discovery`` job,
:meth:`DiscoveryJobs.run_due`). A runner claims a job with one conditional update and holds
it under a lease that its progress extends; a job whose runner died (a restarted server)
is claimed again once the lease ends and run from the start — discovery only adds what the
inventory lacks and records sightings, so a second run changes nothing twice.

A job belongs to its requester's organization (cert services' jobs to none): another
organization's job answers like one that does not exist. It runs with the requester's
roles, and the network's safety holds as for any discovery: addresses in private ranges are
refused unless ``CERTDESK_VERIFY_ALLOW_NETWORKS`` names them.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from certdesk.core.access import Action, Actor, Role, authorize
from certdesk.core.accounts import primary_role
from certdesk.core.endpoints import Target
from certdesk.errors import CertdeskError, InvalidInput, NotFound
from certdesk.services.discovery.discovery import Discovery
from certdesk.services.runtime import Runtime
from certdesk.store import discovery_jobs as store
from certdesk.store.models import DiscoveryJob

__all__ = ["DiscoveryJobs", "JobView"]

log = structlog.get_logger("certdesk.discovery")

LEASE = timedelta(minutes=5)  # extended by every progress write
PROGRESS_EVERY = 0.5  # seconds between progress writes (and at the end)
POOL_THREADS = 2  # jobs one serve process runs at once; more wait in its queue


@dataclass(frozen=True)
class JobView:
    id: int
    state: str  # queued, running, done, failed
    targets: list[str]
    total: int  # endpoints the targets expand to
    tried: int
    found: int  # endpoints that served a certificate
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str
    result: dict[str, Any] | None

    @property
    def finished(self) -> bool:
        return self.state in (store.DONE, store.FAILED)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _view(row: DiscoveryJob) -> JobView:
    return JobView(
        row.id,
        row.state,
        list(row.targets),
        row.total,
        row.tried,
        row.found,
        row.requested_by,
        row.created_at,
        row.started_at,
        row.finished_at,
        row.error,
        row.result,
    )


def _requester(row: DiscoveryJob) -> Actor:
    roles = frozenset(Role(r) for r in row.roles.split(",") if r)
    primary = primary_role(roles)
    return Actor(row.requested_by, primary, org_id=row.org_id, also=roles - {primary})


class DiscoveryJobs:
    def __init__(self, rt: Runtime, discovery: Discovery) -> None:
        self._rt = rt
        self._discovery = discovery
        self._queue: queue.Queue[int] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # --- requests ------------------------------------------------------------------------

    def start(self, actor: Actor, texts: Sequence[str]) -> JobView:
        """Queue a discovery of ``texts`` (refused at once when a target is malformed or the
        run too large, or when ``actor`` may not discover)."""
        authorize(actor, Action.ENDPOINT_VERIFY, None)
        authorize(actor, Action.EXTERNAL_MANAGE, None)
        targets = self._discovery.targets(texts)
        if not targets:
            raise InvalidInput("endpoint.bad_target", "name at least one endpoint or range")
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            row = store.add(
                s,
                DiscoveryJob(
                    org_id=None if actor.is_global else actor.org_id,
                    requested_by=actor.name,
                    roles=",".join(sorted(actor.roles)),
                    targets=[t.strip() for t in texts],
                    total=len(targets),
                    state=store.QUEUED,
                    tried=0,
                    found=0,
                    error="",
                    runner="",
                    attempts=0,
                    created_at=now,
                ),
            )
            return _view(row)

    def get(self, actor: Actor, job_id: int) -> JobView:
        """One job, for its organization's people who may discover (cert services: all)."""
        with self._rt.reads() as s:
            row = store.by_id(s, job_id) if 0 < job_id < 2**31 else None
            if row is None or not (actor.is_global or actor.org_id == row.org_id):
                raise NotFound("discovery.unknown_job", f"no discovery job {job_id}")
            authorize(actor, Action.ENDPOINT_VERIFY, row.org_id, hide=True)
            return _view(row)

    # --- runners -------------------------------------------------------------------------

    def run_soon(self, job_id: int) -> None:
        """Run the job in this process's pool (daemon threads: a stopped server leaves the
        job to a worker or its next start, once the lease ends)."""
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < POOL_THREADS:
                thread = threading.Thread(
                    target=self._serve, name="certdesk-discovery", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        self._queue.put(job_id)

    def _serve(self) -> None:
        runner = f"serve:{os.getpid()}:{threading.get_ident()}"
        while True:
            job_id = self._queue.get()
            try:
                self.run(job_id, runner)
            except Exception:  # the job stays claimable; the pool goes on
                log.exception("discovery job failed", job=job_id)

    def run_due(self, runner: str, *, stop: Callable[[], bool] = lambda: False) -> int:
        """Run every job nobody runs (the worker's ``discovery`` job); how many were run."""
        ran = 0
        while not stop():
            with self._rt.reads() as s:
                due = store.claimable(s, self._rt.clock(), 1)
            if not due or not self.run(due[0], runner):
                return ran
            ran += 1
        return ran

    def run(self, job_id: int, runner: str) -> bool:
        """Claim job ``job_id`` and run it to its end; False when another runner has it."""
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            if not store.claim(s, job_id, runner, now, now + LEASE):
                return False
            row = store.by_id(s, job_id)
            assert row is not None
            actor, texts = _requester(row), list(row.targets)
        counts = {"tried": 0, "found": 0}
        last = [time.monotonic()]

        def progress(_target: Target, served: bool) -> None:
            counts["tried"] += 1
            counts["found"] += int(served)
            if time.monotonic() - last[0] >= PROGRESS_EVERY:
                last[0] = time.monotonic()
                at = self._rt.clock()
                with self._rt.sessions.begin() as s:
                    store.progress(s, job_id, runner, counts["tried"], counts["found"], at + LEASE)

        try:
            report = self._discovery.run(actor, self._discovery.targets(texts), progress=progress)
        except CertdeskError as exc:
            self._finish(job_id, runner, counts, None, f"{exc.code}: {exc.detail}")
            return True
        except Exception as exc:
            log.exception("discovery job failed", job=job_id)
            self._finish(job_id, runner, counts, None, f"internal: {type(exc).__name__}")
            return True
        self._finish(job_id, runner, counts, report.as_dict(), "")
        return True

    def _finish(
        self,
        job_id: int,
        runner: str,
        counts: dict[str, int],
        result: dict[str, Any] | None,
        error: str,
    ) -> None:
        with self._rt.sessions.begin() as s:
            store.finish(
                s,
                job_id,
                runner,
                self._rt.clock(),
                state=store.FAILED if error else store.DONE,
                tried=counts["tried"],
                found=counts["found"],
                result=result,
                error=error,
            )
