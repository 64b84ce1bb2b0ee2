"""``certdesk ct …``: Certificate Transparency monitoring (R18).

``ct log add`` follows a log (RFC 6962, or static-CT with ``--tiled``) from ``--start``
(``head``, the default: from its current signed tree head on; ``0``: every entry; or an
entry number), ``ct log list`` shows
how far each is read, ``ct watch`` reads them (``--once``: one pass, for cron; otherwise a
pass every interval until SIGINT/SIGTERM), and ``ct findings`` lists the certificates for
state names that certdesk did not issue.
"""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from certdesk import logs
from certdesk.cli import exits
from certdesk.cli.common import OPERATOR, emit_json, read_input, services, show_pass
from certdesk.services.transparency.logs import HEAD, LogView
from certdesk.services.transparency.watch import WatchReport

ct_app = typer.Typer(help="Certificate Transparency monitoring.", no_args_is_help=True)
log_app = typer.Typer(help="The CT logs certdesk follows.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def register(app: typer.Typer) -> None:
    app.add_typer(ct_app, name="ct")
    ct_app.add_typer(log_app, name="log")


def _show_log(v: LogView) -> str:
    head = "-" if v.head_size is None else str(v.head_size)
    state = f"error: {v.last_error}" if v.last_error else "ok"
    kind = "static-ct" if v.tiled else "rfc6962"
    return (
        f"{v.name:16} {kind:9} from {v.first_entry} read {v.position}/{head}"
        f" proven {v.verified_size} "
        f"findings {v.findings}  {state}  {v.url}"
    )


@log_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Short name of the log, e.g. argon2027h1.")],
    url: Annotated[
        str,
        typer.Option(
            "--url", help="RFC 6962: the prefix before /ct/v1/; --tiled: the monitoring prefix."
        ),
    ],
    public_key: Annotated[
        str, typer.Option("--public-key", help="The log's public key, PEM or DER file (- : stdin).")
    ],
    tiled: Annotated[
        bool, typer.Option("--tiled", help="A static-CT log (checkpoint and data tiles).")
    ] = False,
    start: Annotated[
        str,
        typer.Option(
            "--start",
            help="Where to start reading: head (the log's current signed tree head: only"
            " entries logged from now on), 0 (every entry) or an entry number.",
        ),
    ] = HEAD,
    json_out: JsonOpt = False,
) -> None:
    """Follow a log (cert services); by default from its current head, since a real log
    already holds billions of entries. Anything but --start 0 asks the log for its head now
    (exit 4 when it cannot be reached)."""
    view = services().ct_logs.add(
        OPERATOR, name, url, read_input(public_key), tiled=tiled, start=start
    )
    if json_out:
        emit_json(view.as_dict())
    else:
        typer.echo(
            f"following log {view.name} ({view.url}) from entry {view.first_entry},"
            f" log id {view.log_id}"
        )


@log_app.command("list")
def list_logs(json_out: JsonOpt = False) -> None:
    """The logs followed: entries read of the last head seen, entries proven, findings."""
    views = services().ct_logs.list(OPERATOR)
    if json_out:
        emit_json([v.as_dict() for v in views])
        return
    if not views:
        typer.echo("no CT logs are followed (add one with 'certdesk ct log add')")
    for v in views:
        typer.echo(_show_log(v))


def _summary(r: WatchReport) -> str:
    parts = [
        f"{p.log}: read {p.read} (to {p.position} of {p.head_size or 0}),"
        f" {p.state_names} for state names, {p.known} certdesk's, {p.findings} new findings"
        for p in r.logs
    ]
    return "; ".join(parts) or "no CT logs are followed"


def _exit_code(r: WatchReport) -> int:
    codes = {p.code for p in r.logs if p.code}
    if not codes:
        return exits.OK
    return exits.UNAVAILABLE if codes == {"ct.unreachable"} else exits.REFUSED


@ct_app.command("watch")
def watch(
    once: Annotated[
        bool, typer.Option("--once", help="One pass over the logs, then exit.")
    ] = False,
    log_name: Annotated[str | None, typer.Option("--log", help="Only this log.")] = None,
    max_entries: Annotated[
        int | None,
        typer.Option("--max-entries", min=1, help="At most this many entries per log and pass."),
    ] = None,
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=100_000, help="Entries recorded per transaction.")
    ] = 1000,
    interval: Annotated[
        float | None,
        typer.Option(
            min=0.0, help="Seconds between passes; default CERTDESK_WORKER_INTERVAL_SECONDS."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Read the followed logs from their saved positions and record findings.

    With --once, exits 0 when every log was read, 4 when a log could not be reached, 1 when
    a log was refused (a bad signature, a rewritten history, malformed entries).
    """
    svc = services()
    logs.configure(svc.rt.settings, one_shot=once)
    stopping = threading.Event()

    def show(report: WatchReport) -> None:
        show_pass(report, _summary, json_out=json_out)

    def one_pass() -> WatchReport:
        return svc.ct_watch.run(
            OPERATOR, only=log_name, max_entries=max_entries, batch=batch, stop=stopping.is_set
        )

    if once:
        report = one_pass()
        show(report)
        raise typer.Exit(_exit_code(report))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    pause = interval if interval is not None else float(svc.rt.settings.worker_interval_seconds)
    typer.echo(f"certdesk ct watch: a pass every {pause:g}s", err=True)
    while not stopping.is_set():
        show(one_pass())
        stopping.wait(pause)
    typer.echo("certdesk ct watch: stopped", err=True)


@ct_app.command("findings")
def findings(
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="At most this many.")] = 100,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="The previous page's cursor.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Certificates for state names in CT logs that certdesk did not issue, newest first."""
    page = services().ct_findings.search(OPERATOR, cursor=cursor, limit=limit)
    if json_out:
        emit_json({"items": [f.as_dict() for f in page.items], "next_cursor": page.next_cursor})
        return
    if not page.items:
        typer.echo("no findings")
    for f in page.items:
        kind = "precert" if f.precert else "cert"
        org = f.org or "(no grant)"
        typer.echo(
            f"{f.id:6} {f.found_at:%Y-%m-%d} {org:10} {kind:7} {f.headline}  "
            f"issuer {f.issuer}  serial {f.serial}  log {f.log}#{f.entry_index}"
        )
    if page.next_cursor:
        typer.echo(f"more: --cursor {page.next_cursor}")
