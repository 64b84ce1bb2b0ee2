"""Group commit: concurrent callers' writes committed together, one transaction per batch.

A caller hands :meth:`GroupCommit.run` a job, a function of a Core connection that writes
in the transaction it is given. The first caller to arrive while no batch is being written
becomes the *leader*: it takes every job waiting (at most ``max_batch``), runs them one
after another in one transaction, commits, and only then answers each job's caller. Callers
that arrive meanwhile wait; when the leader is done, the first of them leads the next batch.
An uncontended caller therefore commits its own job at once on its own thread (no thread hop,
no added wait), and ``N`` concurrent callers share about ``N / 2`` commits instead of ``N``.
A caller waits at most for the batch being written and then its own.

Durability is unchanged: a job's caller is answered after the COMMIT of the transaction
that holds its writes returned, exactly as with a transaction of its own.

Jobs must raise a :class:`CertdeskError` (or another exception listed in ``refusals``)
*before* writing anything: such a refusal is handed to its caller and the batch carries on
without it. Any other exception (a database error, say) rolls the whole batch back; then
each of its jobs is run again in a transaction of its own, so that one job's failure is
its own caller's only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from certdesk.errors import CertdeskError
from certdesk.services.runtime import Runtime

T = TypeVar("T")

MAX_BATCH = 64


@dataclass(eq=False)
class _Job(Generic[T]):
    fn: Callable[[Connection], T]
    flush: bool
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to lead the next batch, not because the job is done
    result: Any = None
    error: BaseException | None = None


class GroupCommit:
    def __init__(
        self,
        rt: Runtime,
        *,
        max_batch: int = MAX_BATCH,
        refusals: tuple[type[BaseException], ...] = (),
    ) -> None:
        self._rt = rt
        self._max_batch = max_batch
        self._refusals: tuple[type[BaseException], ...] = (CertdeskError, *refusals)
        self._lock = threading.Lock()
        self._waiting: list[_Job[Any]] = []
        self._leading = False
        # What the bench and the tests read: batches committed, jobs in them.
        self.batches = 0
        self.jobs = 0

    def run(self, fn: Callable[[Connection], T], *, flush: bool = True) -> T:
        """Run ``fn`` in a transaction shared with concurrent callers; return once committed.

        ``flush=False``: this job alone would not force the commit to disk (Runtime.transaction);
        a batch is forced when any of its jobs asks.
        """
        job: _Job[T] = _Job(fn, flush)
        with self._lock:
            self._waiting.append(job)
            lead = not self._leading
            self._leading = True
        if not lead:
            job.done.wait()
            if job.lead:  # the previous leader handed over: this thread writes the next batch
                job.done.clear()
                lead = True
        if lead:
            self._lead()
        if job.error is not None:
            raise job.error
        result: T = job.result
        return result

    def _lead(self) -> None:
        """Write one batch (this thread's own job is in it), answer it, then hand over."""
        with self._lock:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
        try:
            self._write(batch)
        finally:
            with self._lock:
                successor = self._waiting[0] if self._waiting else None
                self._leading = successor is not None
            for job in batch:
                job.done.set()
            if successor is not None:
                # The oldest waiting caller leads next, on its own thread; this one returns.
                successor.lead = True
                successor.done.set()

    def _write(self, batch: list[_Job[Any]]) -> None:
        try:
            flush = any(job.flush for job in batch)
            with self._rt.transaction(flush=flush) as conn:
                for job in batch:
                    try:
                        job.result = job.fn(conn)
                    except self._refusals as exc:
                        job.error = exc
        except Exception as exc:
            if len(batch) == 1:
                batch[0].result, batch[0].error = None, exc
                return
            # One job's failure is its own: each again, alone.
            for job in batch:
                job.result, job.error = None, None
                self._write([job])
            return
        except BaseException as exc:  # interrupted: no caller is left waiting for an answer
            for job in batch:
                job.result, job.error = None, exc
            raise
        self.batches += 1
        self.jobs += len(batch)
