"""The worker's jobs on the inventory (DESIGN §3.2, R6, R8): recover intents, expire, supersede,
retire, ask vendors for renewal windows, open and advance renewal cases."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from certdesk.jobs.context import JobContext
from certdesk.jobs.report import PassReport
from certdesk.services.lifecycle.renewals import DueRenewal, Outcome


def recover(ctx: JobContext, report: PassReport, _now: datetime) -> None:
    report.voided = ctx.svc.housekeeping.recover()


def expire(ctx: JobContext, report: PassReport, now: datetime) -> None:
    while not ctx.stopping:
        done = ctx.svc.housekeeping.expire_batch(now)
        report.expired += done
        if done == 0:
            return


def supersede(ctx: JobContext, report: PassReport, now: datetime) -> None:
    while not ctx.stopping:
        done = ctx.svc.renewals.supersede(now)
        report.superseded += done
        if done == 0:
            return


def retire(ctx: JobContext, report: PassReport, now: datetime) -> None:
    while not ctx.stopping:
        run = ctx.svc.retirements.retire_due(now)
        report.retired += run.revoked
        report.errors.extend(f"retire: {e}" for e in run.errors)
        if run.revoked == 0 or run.errors:
            return


def renewal_info(ctx: JobContext, report: PassReport, _now: datetime) -> None:
    report.renewal_info_checked = ctx.svc.vendor_orders.refresh_renewal_info()


def renew(ctx: JobContext, report: PassReport, now: datetime) -> None:
    renewals = ctx.svc.renewals

    def counted(items: Iterable[DueRenewal]) -> Iterator[DueRenewal]:
        for item in items:
            report.renewals_due += 1
            yield item

    for item, result in ctx.each(counted(renewals.due(now)), lambda i: renewals.open(i, now)):
        if isinstance(result, Exception):
            report.errors.append(f"renew {item.serial}: {type(result).__name__}: {result}")
        elif result is Outcome.OPENED:
            report.renewals_opened += 1
        elif result is Outcome.ADOPTED:
            report.renewals_adopted += 1
        elif result is Outcome.BUSY:
            report.renewals_busy += 1


def advance(ctx: JobContext, report: PassReport, now: datetime) -> None:
    report.renewals_advanced = ctx.svc.renewals.advance(now)
