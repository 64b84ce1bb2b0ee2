"""The worker's jobs that publish and watch (R15, R18): CRLs, Certificate Transparency logs,
the signed audit checkpoint."""

from __future__ import annotations

from datetime import datetime

from certdesk.jobs.context import JobContext
from certdesk.jobs.report import PassReport
from certdesk.services.setup import LOCAL_OPERATOR

CT_PASS_ENTRIES = 100_000  # CT entries read per log and pass: a busy log cannot stall a pass


def crls(ctx: JobContext, report: PassReport, _now: datetime) -> None:
    report.crls_refreshed = ctx.svc.housekeeping.refresh_crls()


def ct(ctx: JobContext, report: PassReport, _now: datetime) -> None:
    watched = ctx.svc.ct_watch.run(
        LOCAL_OPERATOR, max_entries=CT_PASS_ENTRIES, stop=lambda: ctx.stopping
    )
    if watched.logs:
        report.ct = watched.as_dict()
        report.errors.extend(f"ct: {e}" for e in watched.errors)


def discovery_jobs(ctx: JobContext, _report: PassReport, _now: datetime) -> None:
    # Discoveries started through the API or console that no server runs (R18).
    ctx.svc.discovery_jobs.run_due(ctx.worker_id, stop=lambda: ctx.stopping)


def checkpoint(ctx: JobContext, report: PassReport, _now: datetime) -> None:
    # R15: a signed checkpoint of the audit log's head, outside the database, each pass.
    _taken, path = ctx.svc.checkpoints.write(LOCAL_OPERATOR)
    report.checkpoint = str(path)
