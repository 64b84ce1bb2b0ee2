"""``certdesk worker``: one pass of every lifecycle job, repeated (issue 4, parts 1, 2 and 5).

The worker decides nothing itself: what is due comes from the database and the pure rules
(:mod:`certdesk.core.lifecycle`), and each job is a service call that changes an item at most
once (:mod:`certdesk.services.lifecycle.renewals`,
:mod:`certdesk.services.lifecycle.housekeeping`). So any number
of worker processes may run against one PostgreSQL database (or one SQLite file), be killed
at any instant and restarted: an interrupted transaction rolls back and its item is found
again by the next pass, by this worker or another.

One pass, in order (each job's failure is reported and the pass goes on with the next job;
a failing item does not stop the other items of its job):

1. ``recover`` — void issuance intents of processes that died (DESIGN §3.2); vendor orders
   are not intents of a signing step and are never voided: ``vendor`` carries them on;
2. ``expire`` — active certificates past ``notAfter`` become ``expired``;
3. ``supersede`` — certificates whose renewal was delivered become ``superseded``;
4. ``renewal-info`` — ask the vendor CAs for their certificates' renewal windows (RFC 9773),
   which can move a renewal earlier; ``renew`` — open the renewal case of every certificate
   due (R6), ``--concurrency`` at a time; then ``advance`` submits/auto-approves renewal
   cases a crash left behind;
5. ``windows`` — close delivered cases whose R8 window ended;
6. ``overdue`` — count overdue cases (R5; the notices service mails them);
7. ``crl`` — republish CRLs from half their life on;
8. ``notices`` — ``services.notices.run(now, worker_id)`` when the notices service exists;
   ``acme-persist`` — queue the warnings to organizations' administrators before a
   standing dns-persist-01 record's persistUntil (30, 7 and 1 days before);
9. ``verify`` — expiry notices of external certificates (R9, R18), and when
   ``CERTDESK_VERIFY_INTERVAL_HOURS`` is set, re-check the names of
   active certificates not checked for that long, and mail "renewed but the old one is
   still served" and "not in the inventory" once (services/discovery/rechecks.py);
   ``mail`` — send the account mail that is due (the mail queue's outbox) when
   ``CERTDESK_SMTP_URL`` is set; ``webhooks`` — deliver the webhook events that are due,
   signed, with backoff (services/lifecycle/webhook_queue.py);
10. ``vendor`` — drive the open vendor orders that are due (R16): each under a lease, so
    two workers never drive the same order; ``retry_after`` respected, backing off after
    failures (services/pki/vendor_issuance.py); expired http-01 answers are purged;
11. ``ct`` — read the Certificate Transparency logs followed from their saved positions (at
    most ``CT_PASS_ENTRIES`` entries per log and pass) and record findings (R18), whose mail
    goes out in the next ``mail`` job (services/transparency/watch.py);
12. ``deliver`` — fulfil again the cases whose vendor orders have all been issued, which
    links and delivers their certificates (the fulfilment lease keeps two workers apart).

Each job is a function in the module of its concern (:mod:`certdesk.jobs.certificates`,
:mod:`certdesk.jobs.cases`, :mod:`certdesk.jobs.mail`, :mod:`certdesk.jobs.publishing`),
given this worker as its :class:`certdesk.jobs.context.JobContext`.

Every job's progress is a heartbeat (``worker_beats``), read by ``/metrics`` and
``certdesk status`` (:mod:`certdesk.services.lifecycle.worker_health`).

Stopping: SIGTERM or SIGINT sets a flag; the item in progress (one renewal, one batch) is
finished, nothing new is started, the heartbeat row is removed and the process exits 0. A
one-shot pass (:meth:`Worker.once`, ``certdesk worker --once`` from cron) removes its row
when it ends too, so a cron job leaves no heartbeat behind to go stale between runs.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import FrameType
from typing import Any, TypeVar

import structlog

from certdesk.jobs import cases, certificates, mail, publishing
from certdesk.jobs.context import Job
from certdesk.jobs.publishing import CT_PASS_ENTRIES
from certdesk.jobs.report import PassReport
from certdesk.notify.smtp import Transport
from certdesk.services.pki import signer_identity
from certdesk.services.registry import Services

__all__ = ["CT_PASS_ENTRIES", "PassReport", "Worker"]

log = structlog.get_logger("certdesk.worker")

T = TypeVar("T")
R = TypeVar("R")
# Report fields a job's debug line leaves out (the pass line has them).
_NOISE = frozenset({"job_seconds", "errors", "worker_id", "now", "seconds", "jobs_done"})
# The pass, in order (see the module text).
JOBS: tuple[tuple[str, Job], ...] = (
    ("recover", certificates.recover),
    ("expire", certificates.expire),
    ("supersede", certificates.supersede),
    ("retire", certificates.retire),
    ("renewal-info", certificates.renewal_info),
    ("renew", certificates.renew),
    ("advance", certificates.advance),
    ("windows", cases.windows),
    ("overdue", cases.overdue),
    ("crl", publishing.crls),
    ("notices", mail.notices),
    ("acme-persist", mail.acme_persist),
    ("verify", mail.rechecks),
    ("contracts", mail.contracts),
    ("mail", mail.outbox),
    ("webhooks", mail.webhooks),
    ("vendor", cases.vendor_orders),
    ("ct", publishing.ct),
    ("discovery", publishing.discovery_jobs),
    ("deliver", cases.deliver_vendor_cases),
    ("checkpoint", publishing.checkpoint),
)


class Worker:
    """Runs passes over the lifecycle jobs for one process (see the module text)."""

    def __init__(
        self,
        services: Services,
        *,
        concurrency: int = 1,
        worker_id: str | None = None,
        transport: Transport | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._svc = services
        self._rt = services.rt
        self._concurrency = concurrency
        self._transport = transport
        self.worker_id = worker_id or signer_identity.current()
        self.started_at = self._rt.clock()
        self._stop = threading.Event()

    # --- what the jobs use (certdesk.jobs.context.JobContext) --------------------------------

    @property
    def svc(self) -> Services:
        return self._svc

    @property
    def transport(self) -> Transport | None:
        return self._transport

    # --- stopping -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the item in progress, start nothing new (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # --- the loop ------------------------------------------------------------------------------

    def run(self, interval: float, *, on_pass: Callable[[PassReport], None] | None = None) -> None:
        """Pass, pause ``interval`` seconds, repeat — until :meth:`stop` (or SIGTERM/SIGINT
        when called on the main thread)."""
        restore = self._install_signal_handlers()
        try:
            while not self.stopping:
                report = self.run_pass()
                if on_pass is not None:
                    on_pass(report)
                self._stop.wait(interval)
        finally:
            restore()
            self._leave()

    def once(self) -> PassReport:
        """One pass, then remove this worker's heartbeat (``certdesk worker --once``).

        SIGTERM or SIGINT (on the main thread) cuts the pass short after the item in
        progress, as in :meth:`run`; the row goes however the pass ends.
        """
        restore = self._install_signal_handlers()
        try:
            return self.run_pass()
        finally:
            restore()
            self._leave()

    def _leave(self) -> None:
        try:
            self._svc.worker_health.leave(self.worker_id)
        except Exception:  # the row goes stale instead; nothing else depends on it
            log.warning("could not remove the heartbeat", worker=self.worker_id)

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("stopping after the current item", signal=signal.Signals(signum).name)
            self.stop()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore

    # --- one pass ------------------------------------------------------------------------------

    def run_pass(self) -> PassReport:
        """Run every job once, at the clock's ``now``; each job's error is reported, not raised."""
        # Every line of the pass, the services' too, names this worker.
        with structlog.contextvars.bound_contextvars(worker=self.worker_id):
            return self._pass()

    def _pass(self) -> PassReport:
        started = time.perf_counter()
        now = self._rt.clock()
        report = PassReport(worker_id=self.worker_id, now=now)
        self._beat()
        for name, job in JOBS:
            if self.stopping:
                report.stopped = True
                break
            began = time.perf_counter()
            before = report.as_dict()
            log.debug("job started", job=name)
            try:
                job(self, report, now)
            except Exception as exc:
                report.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                log.exception("job failed", job=name)
            report.job_seconds[name] = time.perf_counter() - began
            # What this job changed in the report: its counts (renewals opened, CRLs, ...).
            after = report.as_dict()
            log.debug(
                "job done",
                job=name,
                seconds=round(report.job_seconds[name], 4),
                **{k: v for k, v in after.items() if v != before.get(k) and k not in _NOISE},
            )
            self._beat()
        report.seconds = time.perf_counter() - started
        self._beat(
            pass_seconds=report.seconds,
            jobs=report.jobs_done,
            error="; ".join(report.errors)[:2000],
        )
        log.info("pass", **{k: v for k, v in report.as_dict().items() if v and k != "job_seconds"})
        return report

    def _beat(self, **kw: Any) -> None:
        try:
            self._svc.worker_health.beat(self.worker_id, self.started_at, **kw)
        except Exception:  # a heartbeat never stops the work; /readyz shows it missing
            log.warning("heartbeat failed", worker=self.worker_id, exc_info=True)

    # --- items, one at a time or --concurrency at a time --------------------------------------

    def each(self, items: Iterable[T], work: Callable[[T], R]) -> Iterator[tuple[T, R | Exception]]:
        """``work(item)`` for each item until a stop request; an item's exception is yielded
        as its result. At most ``concurrency`` items run at once, each in its own thread and
        transactions; nothing is read ahead beyond what runs."""
        source = iter(items)
        if self._concurrency == 1:
            for item in source:
                if self.stopping:
                    return
                yield item, _attempt(work, item)
            return
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="worker") as pool:
            running: dict[Future[R | Exception], T] = {}
            exhausted = False
            while running or not exhausted:
                while not exhausted and not self.stopping and len(running) < self._concurrency:
                    try:
                        item = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    running[pool.submit(_attempt, work, item)] = item
                if self.stopping:
                    exhausted = True
                if not running:
                    return
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield running.pop(future), future.result()


def _attempt(work: Callable[[T], R], item: T) -> R | Exception:
    try:
        return work(item)
    except Exception as exc:
        log.warning("item failed", item=repr(item)[:200], exc_info=True)
        return exc
