"""The worker's jobs that tell people (R9, R14, R18): notices, dns-persist-01 and contract
warnings, endpoint re-checks and external expiries, the mail outbox, webhooks."""

from __future__ import annotations

from datetime import datetime

from certdesk.jobs.context import JobContext
from certdesk.jobs.report import PassReport, as_dict


def notices(ctx: JobContext, report: PassReport, now: datetime) -> None:
    # The notices service is optional here: it is wired by services/registry.py when
    # present (issue 4, part 3), and the worker runs without it.
    service = getattr(ctx.svc, "notices", None)
    if service is None:
        return
    stats = service.run(now, ctx.worker_id)
    report.notices = as_dict(stats)


def acme_persist(ctx: JobContext, report: PassReport, now: datetime) -> None:
    report.acme_persist_warned = ctx.svc.acme_persist.warn(now)


def rechecks(ctx: JobContext, report: PassReport, now: datetime) -> None:
    endpoints = {"expiry_mailed": ctx.svc.rechecks.external_expiry(now)}
    if ctx.svc.rt.settings.verify_interval_hours:
        endpoints = {**ctx.svc.rechecks.run(now).as_dict(), **endpoints}
    report.endpoints = endpoints


def contracts(ctx: JobContext, report: PassReport, now: datetime) -> None:
    # Warnings of a vendor contract's end wait in the mail queue for the mail job.
    report.contract_warnings = ctx.svc.contracts.warn(now)


def outbox(ctx: JobContext, report: PassReport, _now: datetime) -> None:
    if ctx.transport is None and not ctx.svc.rt.settings.smtp_url:
        return  # mail waits in the outbox (``certdesk mail send`` or a configured worker)
    sent = ctx.svc.mail.send(ctx.transport, due_only=True, worker_id=ctx.worker_id)
    report.mail = sent.as_dict()


def webhooks(ctx: JobContext, report: PassReport, now: datetime) -> None:
    stats = ctx.svc.webhook_sender.run(now, ctx.worker_id)
    if stats.delivered or stats.failed or stats.retrying:
        report.webhooks = stats.as_dict()
