"""Root of the command tree and the single place errors become exit codes."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError, ProgrammingError
from typer.main import get_command

from certdesk import logs
from certdesk.cli import (
    acme,
    approvals,
    attachments,
    audit,
    backup,
    cases,
    certs,
    completion,
    contacts,
    contracts,
    ct,
    endpoints,
    exits,
    exports,
    fulfilment,
    issuers,
    notices,
    orgs,
    policy,
    reports,
    schema,
    server,
    status,
    users,
    webhooks,
    worker,
)
from certdesk.cli.common import program
from certdesk.config import Settings, SettingsError, bad_setting, check_environment
from certdesk.core.text import check_text
from certdesk.errors import CertdeskError, InvalidInput
from certdesk.release import version

app = typer.Typer(
    name="certdesk",
    help="certdesk: certificates for the agencies of a state data center.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
server.register(app)
orgs.register(app)
policy.register(app)
certs.register(app)
issuers.register(app)
audit.register(app)
users.register(app)
cases.register(app)
contacts.register(app)
approvals.register(app)
fulfilment.register(app)
reports.register(app)
notices.register(app)
worker.register(app)
schema.register(app)
backup.register(app)
completion.register(app)
status.register(app)
acme.register(app)
ct.register(app)
endpoints.register(app)
webhooks.register(app)
attachments.register(app)
contracts.register(app)
exports.register(app)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"certdesk {version()}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print certdesk's version and exit.",
        ),
    ] = False,
) -> None:
    # Options of the program itself, before any command; each acts in its callback.
    pass


def run(argv: list[str]) -> int:
    """Run the CLI; an error prints one line on stderr and gives its exit code (0-4)."""
    try:
        check_environment(os.environ)
        # No NUL or lone surrogate in any argument (an argument that is not UTF-8 arrives
        # with lone surrogates): refused before any command sees it, as the web layer does.
        try:
            for number, arg in enumerate(argv, start=1):
                check_text(arg, f"argument {number}")
        except InvalidInput as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            return exits.USAGE
        # Warnings and up unless CERTDESK_LOG_LEVEL is set; serve and worker configure again.
        logs.configure(Settings(), one_shot=True)
        # Not standalone: usage mistakes come out as exceptions, so that they are reported in
        # the same one-line form as our own errors (click would print a usage block and a
        # Rich panel); typer.Exit comes back as the exit code.
        rv = get_command(app).main(args=argv, prog_name="certdesk", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        return exits.REFUSED
    except typer.TyperException as exc:
        # Unknown option, missing or malformed argument: a usage error. A group called
        # without a command has printed its help already and carries no message.
        message = " ".join(exc.format_message().split())
        if message:
            ctx = getattr(exc, "ctx", None)
            where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            typer.echo(f"error: {message}{where}", err=True)
        return exits.USAGE
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        return exits.USAGE
    except CertdeskError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        return exits.exit_code(exc)
    except ValidationError as exc:
        # A CERTDESK_* variable that does not parse: name it, without a traceback.
        typer.echo(f"error: {bad_setting(exc)}", err=True)
        return exits.USAGE
    except (OperationalError, ProgrammingError) as exc:
        # A missing table or unreachable server: say what to do, not a traceback.
        typer.echo(
            f"error: database not usable ({exc.orig.__class__.__name__}: "
            f"{str(exc.orig).splitlines()[0] if exc.orig else ''}); "
            f"check CERTDESK_DATABASE_URL and run '{program()} init'",
            err=True,
        )
        return exits.UNAVAILABLE
    return rv if isinstance(rv, int) else exits.OK
