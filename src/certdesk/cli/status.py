"""``certdesk status``: the installation at a glance, for a person or a monitoring script.

Exit codes (README "Exit codes"): 0 healthy; 1 something needs attention (a CA near its end,
a CRL past nextUpdate, workers that stopped beating, work waiting for a worker); 4 this host
cannot serve (the database does not answer, the schema is not current, the issuing CA's key
cannot be loaded). What counts as which is decided in :mod:`certdesk.services.status`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from certdesk.cli import exits
from certdesk.cli.common import emit_json, schema_in_change, services
from certdesk.services.status import Level, Status, ago, read_status

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the status as JSON.")]

_EXIT = {None: exits.OK, Level.ATTENTION: exits.REFUSED, Level.UNAVAILABLE: exits.UNAVAILABLE}


def register(app: typer.Typer) -> None:
    app.command("status")(status)


def status(json_out: JsonOpt = False) -> None:
    """Version, schema, CAs, CRLs, workers and backlogs; exit 0 healthy, 1 needs attention,
    4 cannot serve."""
    # Opened without the start-up check: an old schema is something to report, not refuse.
    with schema_in_change():
        svc = services()
    report = read_status(svc)
    if json_out:
        emit_json(report.as_dict())
    else:
        for line in lines(report):
            typer.echo(line)
    code = _EXIT[report.level]
    if code != exits.OK:
        raise typer.Exit(code)


def lines(r: Status) -> list[str]:
    """The human-readable report, one fact a line."""
    verdict = {
        None: "healthy",
        Level.ATTENTION: "needs attention",
        Level.UNAVAILABLE: "unavailable",
    }
    out = [
        f"certdesk {r.version} at {_when(r.now)}: {verdict[r.level]}",
        f"schema: {r.schema.current or 'none'} (this certdesk: {r.schema.head}): {r.schema.state}",
    ]
    if r.workers is None:
        out.append("(nothing more read: the schema is not current)")
    else:
        out.append(f"issuing CA key: {r.ca_key}")
        for ca in r.cas:
            kind = "root" if ca.root else "intermediate"
            retired = "" if ca.active else ", retired"
            out.append(
                f"CA {ca.id}: {ca.name} ({kind}{retired}), notAfter {_when(ca.not_after)},"
                f" {ca.days_left} days left"
            )
        for crl in r.crls:
            if crl.number is None or crl.next_update is None:
                out.append(f"CRL {crl.ca}: none published")
                continue
            due = ", refresh due" if crl.refresh_due else ""
            out.append(f"CRL {crl.ca}: #{crl.number}, nextUpdate {_when(crl.next_update)}{due}")
        if not r.workers.workers:
            out.append("workers: none running (a cron 'worker --once' leaves none between runs)")
        for w in r.workers.workers:
            if w.last_pass_at is None or w.last_pass_seconds is None:
                last = "no pass finished yet"
            else:
                last = (
                    f"last pass {_when(w.last_pass_at)} ({ago(r.now - w.last_pass_at)} ago),"
                    f" took {w.last_pass_seconds:.2f}s"
                )
            health = "healthy" if w.healthy else f"stale: no heartbeat for {ago(r.now - w.beat_at)}"
            out.append(f"worker {w.worker_id}: {last}, {health}")
        outbox = r.outbox
        out.append(f"outbox: {outbox['pending']} pending, {outbox['failed']} failed")
        out.append(
            "notices: " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in r.notices.items())
        )
    for finding in r.findings:
        out.append(f"{finding.level}: {finding.what}")
    return out


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
