"""``certdesk mail send``: deliver the account mail waiting in the mail queue (the outbox)
over ``CERTDESK_SMTP_URL``, now, without waiting for its retry moment."""

from __future__ import annotations

from typing import Annotated

import typer

from certdesk.cli import exits
from certdesk.cli.common import emit_json, services

mail_app = typer.Typer(help="Mail waiting in the outbox.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(mail_app, name="mail")


@mail_app.command("send")
def send(
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Send pending mail; exit 1 if any message could not be sent this time."""
    svc = services()
    report = svc.mail.send()
    if json_out:
        emit_json(report.as_dict())
    else:
        typer.echo(f"sent {report.sent}, retrying {report.retrying}, failed {report.failed}")
        for error in report.errors:
            typer.echo(f"error: {error}", err=True)
    code = exits.delivery_code(failed=report.failed, retrying=report.retrying)
    if code:
        raise typer.Exit(code)
