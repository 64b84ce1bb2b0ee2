"""``certdesk notices list|preview|run``: the notices mailed to contacts (R9)."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Annotated

import typer

from certdesk.cli import exits
from certdesk.cli.common import OPERATOR, emit_json, services
from certdesk.core.notices import NoticeState
from certdesk.errors import InvalidInput

notices_app = typer.Typer(help="Notices mailed to certificate contacts (R9).", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def register(app: typer.Typer) -> None:
    app.add_typer(notices_app, name="notices")


@notices_app.command("list")
def list_notices(
    cert: Annotated[
        str | None, typer.Option("--cert", help="Only this certificate (serial).")
    ] = None,
    case: Annotated[str | None, typer.Option("--case", help="Only this case (number).")] = None,
    status: Annotated[
        str | None,
        typer.Option(help="pending, retrying, sending, sent, failed or skipped."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    cursor: Annotated[str | None, typer.Option(help="Continue after a previous page.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Recorded notices, newest first: one per (certificate or case, contact, reason)."""
    page = services().notices.search(
        OPERATOR, cert=cert, case=case, status=status, cursor=cursor, limit=limit
    )
    if json_out:
        emit_json({"items": [n.as_dict() for n in page.items], "next_cursor": page.next_cursor})
        return
    for n in page.items:
        when = n.sent_at or n.next_attempt_at or n.due_at
        flags = " LATE" if n.late else ""
        line = (
            f"#{n.id}\t{n.status}{flags}\t{n.reason}\t{n.subject_type}:{n.subject}\t"
            f"{n.contact_email or '-'}\t{when.isoformat().replace('+00:00', 'Z')}"
        )
        if n.attempts:
            line += f"\tattempts={n.attempts}"
        if n.last_error and n.status != NoticeState.SENT:
            line += f"\t{n.last_error}"
        typer.echo(line)
    if page.next_cursor:
        typer.echo(f"(more: --cursor {page.next_cursor})", err=True)


@notices_app.command("preview")
def preview(
    serial: Annotated[str, typer.Argument(help="The certificate's serial (hex).")],
    reason: Annotated[
        str | None,
        typer.Option(help="expiry.N (e.g. expiry.30) or expired; default: the next one due."),
    ] = None,
    html: Annotated[bool, typer.Option("--html", help="Print the HTML part instead.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Render what each contact of a certificate would receive; nothing is sent or recorded."""
    mails = services().notices.preview(OPERATOR, serial, reason)
    if json_out:
        emit_json([m.as_dict() for m in mails])
        return
    for i, m in enumerate(mails):
        if i:
            typer.echo("\n" + "=" * 72 + "\n")
        if m.problem:
            typer.echo(f"To: {m.to or '(nobody)'}\n(not sent: {m.problem})")
            continue
        typer.echo(f"To: {m.to}\nSubject: {m.subject}\n")
        typer.echo(m.html if html else m.text, nl=False)


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("notice.now", f"cannot read {text!r} as an ISO 8601 instant") from None
    if value.tzinfo is None:
        raise InvalidInput("notice.now", f"{text!r} has no time zone; add Z or +00:00")
    return value


@notices_app.command("run")
def run(
    now: Annotated[
        str | None, typer.Option("--now", help="Plan as of this instant (ISO 8601, with zone).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Claim at most this many.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """One pass: plan the notices due, send them; exit 1 if any failed or waits for a retry."""
    svc = services()
    at = _instant(now) if now is not None else svc.rt.clock()
    stats = svc.notices.run(at, f"cli:{socket.gethostname()}:{os.getpid()}", limit=limit)
    if json_out:
        emit_json(stats.as_dict())
    else:
        typer.echo(
            f"planned {stats.planned}, sent {stats.sent} ({stats.late} late) in "
            f"{stats.messages} messages ({stats.digests} digests), retrying {stats.retrying}, "
            f"failed {stats.failed}"
        )
        for error in stats.errors:
            typer.echo(f"error: {error}", err=True)
    code = exits.delivery_code(failed=stats.failed, retrying=stats.retrying)
    if code:
        raise typer.Exit(code)
