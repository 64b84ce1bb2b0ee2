"""``certdesk worker`` (the lifecycle loop) and ``certdesk renewal …`` (R6 settings and plans)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from certdesk import logs
from certdesk.cli.common import OPERATOR, emit_json, services, show_pass
from certdesk.core.calendar import parse_day
from certdesk.jobs.worker import PassReport, Worker

renewal_app = typer.Typer(help="Renewals (R6): plans, requested dates, auto-approval.")


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.add_typer(renewal_app, name="renewal")


def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Run one full pass and exit (for cron).")
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option(
            min=1,
            max=8,
            help="Items (renewals, window closings) at a time; each holds up to two database"
            " connections.",
        ),
    ] = 1,
    interval: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Seconds between passes; default CERTDESK_WORKER_INTERVAL_SECONDS ('certdesk"
            " status' calls a worker stale without a heartbeat within three times that"
            " setting).",
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print each pass's report as JSON.")
    ] = False,
) -> None:
    """Run the lifecycle jobs: renewals, expiry, the R8 window, CRLs, notices and mail.

    Several workers may run at once (PostgreSQL or SQLite); SIGTERM or SIGINT finishes the
    item in progress and exits 0. With --once, exits 1 if a job reported an error. Either
    way a worker that ends removes its heartbeat: only a killed worker shows as stale.
    """
    svc = services()
    # A pass at a time (cron) shows warnings and up unless CERTDESK_LOG_LEVEL is set; the
    # long-running worker logs at its level.
    logs.configure(svc.rt.settings, one_shot=once)
    runner = Worker(svc, concurrency=concurrency)

    def show(report: PassReport) -> None:
        show_pass(report, _summary, json_out=json_out)

    if once:
        report = runner.once()
        show(report)
        if report.errors:
            raise typer.Exit(1)
        return
    pause = interval if interval is not None else float(svc.rt.settings.worker_interval_seconds)
    typer.echo(f"certdesk worker {runner.worker_id}: a pass every {pause:g}s", err=True)
    runner.run(pause, on_pass=show)
    typer.echo(f"certdesk worker {runner.worker_id}: stopped", err=True)


def _summary(r: PassReport) -> str:
    parts = [
        f"expired {r.expired}",
        f"superseded {r.superseded}",
        f"renewals opened {r.renewals_opened + r.renewals_adopted} of {r.renewals_due} due",
        f"windows closed {r.windows_closed}",
        f"overdue {r.overdue_cases}",
        f"CRLs {r.crls_refreshed}",
    ]
    if r.voided:
        parts.insert(0, f"voided {r.voided}")
    if r.notices is not None:
        parts.append(f"notices sent {r.notices.get('sent', 0)}")
    if r.mail is not None:
        parts.append(f"mail sent {r.mail.get('sent', 0)}")
    return f"pass {r.seconds:.2f}s: " + ", ".join(parts)


# --- certdesk renewal … -------------------------------------------------------------------


@renewal_app.command("show")
def show_renewal(
    serial: Annotated[str, typer.Argument(help="Certificate serial (hex).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """When a certificate's renewal case opens, and which rule decided it (R6)."""
    view = services().renewals.show(OPERATOR, serial)
    if json_out:
        emit_json(view.as_dict())
        return
    data = view.as_dict()
    for key in ("serial", "status", "not_after", "renews_by_case", "opens_at", "basis"):
        typer.echo(f"{key}: {data[key]}")
    for key in ("deliver_by", "requested", "renewal_case"):
        if data[key] is not None:
            typer.echo(f"{key}: {data[key]}")
    if not view.renews_by_case:
        typer.echo("issued outside a case: renewed by whoever issued it; contacts get notices")


@renewal_app.command("request")
def request_renewal(
    case: Annotated[str, typer.Argument(help="The case that delivered the certificates.")],
    on: Annotated[str, typer.Argument(help="YYYY-MM-DD: renew from this date; 'none' withdraws.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the case as JSON.")] = False,
) -> None:
    """Ask for an earlier renewal of the certificates a case delivered (R6)."""
    day = _date(on)
    view = services().renewals.request_date(OPERATOR, case, day)
    if json_out:
        emit_json(view.as_dict())
    else:
        typer.echo(f"{view.number}: renewal requested for {day}" if day else f"{view.number}: ok")


@renewal_app.command("auto-approve")
def auto_approve(
    org: Annotated[str, typer.Argument(help="Organization code.")],
    enabled: Annotated[bool, typer.Option("--on/--off", help="Approve or not.")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Approve an organization's unchanged renewals automatically (R4, R6), or stop."""
    result = services().renewals.set_auto_approve(OPERATOR, org, enabled)
    if json_out:
        emit_json({"organization": org.strip().lower(), "auto_approve_renewals": result})
    else:
        typer.echo(f"{org.strip().lower()}: auto-approve renewals {'on' if result else 'off'}")


def _date(text: str) -> date | None:
    if text.strip().lower() == "none":
        return None
    return parse_day(text, "renewal.date")
