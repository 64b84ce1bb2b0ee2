"""The worker's jobs on cases and vendor orders (R5, R8, R16): close ended windows, count
overdue cases, drive vendor orders, deliver the cases whose vendor orders were issued."""

from __future__ import annotations

from datetime import datetime

from certdesk.jobs.context import JobContext
from certdesk.jobs.report import PassReport
from certdesk.services.lifecycle.renewals import WORKER


def windows(ctx: JobContext, report: PassReport, now: datetime) -> None:
    housekeeping = ctx.svc.housekeeping
    ended = housekeeping.windows_ended(now)
    for item, result in ctx.each(ended, lambda i: housekeeping.close_window(i, now)):
        if isinstance(result, Exception):
            report.errors.append(f"close {item.number}: {type(result).__name__}: {result}")
        elif result:
            report.windows_closed += 1


def overdue(ctx: JobContext, report: PassReport, now: datetime) -> None:
    report.overdue_cases = ctx.svc.housekeeping.overdue(now)


def vendor_orders(ctx: JobContext, report: PassReport, _now: datetime) -> None:
    ctx.svc.challenges.purge_expired()
    while not ctx.stopping:
        run = ctx.svc.vendor_orders.run_due()
        report.vendor_orders_issued += run.issued
        report.vendor_orders_pending += run.pending
        report.vendor_orders_failed += run.failed
        report.errors.extend(f"vendor: {e}" for e in run.errors)
        # A batch that only found pending orders is done until their retry_after.
        if run.issued + run.failed == 0 or run.due < 20:
            return


def deliver_vendor_cases(ctx: JobContext, report: PassReport, _now: datetime) -> None:
    fulfilment = ctx.svc.fulfilment
    for number in fulfilment.waiting_on_vendors():
        if ctx.stopping:
            return
        try:
            view = fulfilment.fulfil(WORKER, number)
        except Exception as exc:  # one case's failure does not stop the others
            report.errors.append(f"deliver {number}: {type(exc).__name__}: {exc}")
            continue
        if view.delivered_at is not None:
            report.vendor_cases_delivered += 1
