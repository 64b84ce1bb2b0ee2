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

Every job's progress is a heartbeat (``worker_beats``), read by ``/metrics`` and
``certdesk status`` (:mod:`certdesk.services.lifecycle.worker_health`).

Stopping: SIGTERM or SIGINT sets a flag; the item in progress (one renewal, one batch) is
finished, nothing new is started, the heartbeat row is removed and the process exits 0. A
one-shot pass (:meth:`Worker.once`, ``certdesk worker --once`` from cron) removes its row
when it ends too, so a cron job leaves no heartbeat behind to go stale between runs.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType
from typing import Any, TypeVar

import structlog

from certdesk.notify.smtp import Transport
from certdesk.services.lifecycle.renewals import WORKER, DueRenewal, Outcome
from certdesk.services.pki import signer_identity
from certdesk.services.registry import Services
from certdesk.services.setup import LOCAL_OPERATOR

log = structlog.get_logger("certdesk.worker")

T = TypeVar("T")
CT_PASS_ENTRIES = 100_000  # CT entries read per log and pass: a busy log cannot stall a pass
R = TypeVar("R")
# Report fields a job's debug line leaves out (the pass line has them).
_NOISE = frozenset({"job_seconds", "errors", "worker_id", "now", "seconds", "jobs_done"})


@dataclass
class PassReport:
    """What one pass did (``certdesk worker --once --json`` prints it)."""

    worker_id: str
    now: datetime
    seconds: float = 0.0
    voided: int = 0
    expired: int = 0
    superseded: int = 0
    retired: int = 0  # replaced by an in-window reissue, revoked after the overlap (R8)
    renewals_due: int = 0
    renewals_opened: int = 0
    renewals_adopted: int = 0
    renewals_busy: int = 0
    renewals_advanced: int = 0
    windows_closed: int = 0
    overdue_cases: int = 0
    crls_refreshed: int = 0
    vendor_orders_issued: int = 0
    vendor_orders_pending: int = 0
    vendor_orders_failed: int = 0
    vendor_cases_delivered: int = 0
    renewal_info_checked: int = 0  # vendor certificates whose renewal window was asked
    acme_persist_warned: int = 0  # standing dns-persist-01 records warned about
    contract_warnings: int = 0  # mails queued to warn of a vendor contract's end
    notices: dict[str, Any] | None = None
    endpoints: dict[str, Any] | None = None  # re-checks of installed certificates (R14)
    mail: dict[str, Any] | None = None
    ct: dict[str, Any] | None = None  # the CT monitoring pass: entries read, findings
    webhooks: dict[str, Any] | None = None
    checkpoint: str | None = None  # R15: the signed audit checkpoint written by this pass
    stopped: bool = False  # a stop request cut the pass short
    errors: list[str] = field(default_factory=list)
    job_seconds: dict[str, float] = field(default_factory=dict)  # wall time of each job

    @property
    def jobs_done(self) -> int:
        """Changes made (items, not checks): what the heartbeat's ``jobs_done`` adds up."""
        mail_sent = int((self.mail or {}).get("sent", 0))
        notices_sent = int((self.notices or {}).get("sent", 0))
        hooks_done = int((self.webhooks or {}).get("delivered", 0))
        return (
            self.voided
            + self.expired
            + self.superseded
            + self.retired
            + self.renewals_opened
            + self.renewals_adopted
            + self.renewals_advanced
            + self.windows_closed
            + self.crls_refreshed
            + self.vendor_orders_issued
            + self.vendor_orders_failed
            + self.vendor_cases_delivered
            + notices_sent
            + mail_sent
            + int((self.ct or {}).get("findings", 0))
            + self.acme_persist_warned
            + hooks_done
            + self.contract_warnings
        )

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["now"] = self.now.isoformat().replace("+00:00", "Z")
        out["jobs_done"] = self.jobs_done
        return out


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
        jobs: list[tuple[str, Callable[[PassReport, datetime], None]]] = [
            ("recover", self._recover),
            ("expire", self._expire),
            ("supersede", self._supersede),
            ("retire", self._retire),
            ("renewal-info", self._renewal_info),
            ("renew", self._renew),
            ("advance", self._advance),
            ("windows", self._windows),
            ("overdue", self._overdue),
            ("crl", self._crls),
            ("notices", self._notices),
            ("acme-persist", self._acme_persist),
            ("verify", self._rechecks),
            ("contracts", self._contracts),
            ("mail", self._mail),
            ("webhooks", self._webhooks),
            ("vendor", self._vendor_orders),
            ("ct", self._ct),
            ("discovery", self._discovery_jobs),
            ("deliver", self._deliver_vendor_cases),
            ("checkpoint", self._checkpoint),
        ]
        for name, job in jobs:
            if self.stopping:
                report.stopped = True
                break
            began = time.perf_counter()
            before = report.as_dict()
            log.debug("job started", job=name)
            try:
                job(report, now)
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

    # --- the jobs ------------------------------------------------------------------------------

    def _recover(self, report: PassReport, _now: datetime) -> None:
        report.voided = self._svc.housekeeping.recover()

    def _rechecks(self, report: PassReport, now: datetime) -> None:
        endpoints = {"expiry_mailed": self._svc.rechecks.external_expiry(now)}
        if self._rt.settings.verify_interval_hours:
            endpoints = {**self._svc.rechecks.run(now).as_dict(), **endpoints}
        report.endpoints = endpoints

    def _renewal_info(self, report: PassReport, _now: datetime) -> None:
        report.renewal_info_checked = self._svc.vendor_orders.refresh_renewal_info()

    def _deliver_vendor_cases(self, report: PassReport, _now: datetime) -> None:
        fulfilment = self._svc.fulfilment
        for number in fulfilment.waiting_on_vendors():
            if self.stopping:
                return
            try:
                view = fulfilment.fulfil(WORKER, number)
            except Exception as exc:  # one case's failure does not stop the others
                report.errors.append(f"deliver {number}: {type(exc).__name__}: {exc}")
                continue
            if view.delivered_at is not None:
                report.vendor_cases_delivered += 1

    def _vendor_orders(self, report: PassReport, _now: datetime) -> None:
        self._svc.challenges.purge_expired()
        while not self.stopping:
            run = self._svc.vendor_orders.run_due()
            report.vendor_orders_issued += run.issued
            report.vendor_orders_pending += run.pending
            report.vendor_orders_failed += run.failed
            report.errors.extend(f"vendor: {e}" for e in run.errors)
            # A batch that only found pending orders is done until their retry_after.
            if run.issued + run.failed == 0 or run.due < 20:
                return

    def _expire(self, report: PassReport, now: datetime) -> None:
        while not self.stopping:
            done = self._svc.housekeeping.expire_batch(now)
            report.expired += done
            if done == 0:
                return

    def _supersede(self, report: PassReport, now: datetime) -> None:
        while not self.stopping:
            done = self._svc.renewals.supersede(now)
            report.superseded += done
            if done == 0:
                return

    def _retire(self, report: PassReport, now: datetime) -> None:
        while not self.stopping:
            run = self._svc.retirements.retire_due(now)
            report.retired += run.revoked
            report.errors.extend(f"retire: {e}" for e in run.errors)
            if run.revoked == 0 or run.errors:
                return

    def _renew(self, report: PassReport, now: datetime) -> None:
        renewals = self._svc.renewals

        def counted(items: Iterable[DueRenewal]) -> Iterator[DueRenewal]:
            for item in items:
                report.renewals_due += 1
                yield item

        for item, result in self._each(counted(renewals.due(now)), lambda i: renewals.open(i, now)):
            if isinstance(result, Exception):
                report.errors.append(f"renew {item.serial}: {type(result).__name__}: {result}")
            elif result is Outcome.OPENED:
                report.renewals_opened += 1
            elif result is Outcome.ADOPTED:
                report.renewals_adopted += 1
            elif result is Outcome.BUSY:
                report.renewals_busy += 1

    def _advance(self, report: PassReport, now: datetime) -> None:
        report.renewals_advanced = self._svc.renewals.advance(now)

    def _windows(self, report: PassReport, now: datetime) -> None:
        housekeeping = self._svc.housekeeping
        ended = housekeeping.windows_ended(now)
        for item, result in self._each(ended, lambda i: housekeeping.close_window(i, now)):
            if isinstance(result, Exception):
                report.errors.append(f"close {item.number}: {type(result).__name__}: {result}")
            elif result:
                report.windows_closed += 1

    def _overdue(self, report: PassReport, now: datetime) -> None:
        report.overdue_cases = self._svc.housekeeping.overdue(now)

    def _crls(self, report: PassReport, _now: datetime) -> None:
        report.crls_refreshed = self._svc.housekeeping.refresh_crls()

    def _notices(self, report: PassReport, now: datetime) -> None:
        # The notices service is optional here: it is wired by services/registry.py when
        # present (issue 4, part 3), and the worker runs without it.
        notices = getattr(self._svc, "notices", None)
        if notices is None:
            return
        stats = notices.run(now, self.worker_id)
        report.notices = _as_dict(stats)

    def _acme_persist(self, report: PassReport, now: datetime) -> None:
        report.acme_persist_warned = self._svc.acme_persist.warn(now)

    def _contracts(self, report: PassReport, now: datetime) -> None:
        # Warnings of a vendor contract's end wait in the mail queue for the mail job.
        report.contract_warnings = self._svc.contracts.warn(now)

    def _mail(self, report: PassReport, _now: datetime) -> None:
        if self._transport is None and not self._rt.settings.smtp_url:
            return  # mail waits in the outbox (``certdesk mail send`` or a configured worker)
        sent = self._svc.mail.send(self._transport, due_only=True, worker_id=self.worker_id)
        report.mail = sent.as_dict()

    def _ct(self, report: PassReport, _now: datetime) -> None:
        watched = self._svc.ct_watch.run(
            LOCAL_OPERATOR, max_entries=CT_PASS_ENTRIES, stop=lambda: self.stopping
        )
        if watched.logs:
            report.ct = watched.as_dict()
            report.errors.extend(f"ct: {e}" for e in watched.errors)

    def _discovery_jobs(self, _report: PassReport, _now: datetime) -> None:
        # Discoveries started through the API or console that no server runs (R18).
        self._svc.discovery_jobs.run_due(self.worker_id, stop=lambda: self.stopping)

    def _webhooks(self, report: PassReport, now: datetime) -> None:
        stats = self._svc.webhook_sender.run(now, self.worker_id)
        if stats.delivered or stats.failed or stats.retrying:
            report.webhooks = stats.as_dict()

    def _checkpoint(self, report: PassReport, _now: datetime) -> None:
        # R15: a signed checkpoint of the audit log's head, outside the database, each pass.
        _taken, path = self._svc.checkpoints.write(LOCAL_OPERATOR)
        report.checkpoint = str(path)

    # --- items, one at a time or --concurrency at a time --------------------------------------

    def _each(
        self, items: Iterable[T], work: Callable[[T], R]
    ) -> Iterator[tuple[T, R | Exception]]:
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


def _as_dict(stats: object) -> dict[str, Any]:
    if dataclasses.is_dataclass(stats) and not isinstance(stats, type):
        return dataclasses.asdict(stats)
    as_dict = getattr(stats, "as_dict", None)
    if callable(as_dict):
        result = as_dict()
        return dict(result) if isinstance(result, dict) else {"result": str(result)}
    return {"result": str(stats)}
