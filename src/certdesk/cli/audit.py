"""``certdesk audit list`` and ``certdesk audit verify`` (R15)."""

from __future__ import annotations

from typing import Annotated

import typer

from certdesk.cli.common import OPERATOR, emit_json, services

audit_app = typer.Typer(help="The hash-chained audit log (R15).", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("list")
def list_events(
    object_type: Annotated[str | None, typer.Option("--type", help="e.g. certificate")] = None,
    object_id: Annotated[str | None, typer.Option("--object", help="e.g. a serial")] = None,
    actor: Annotated[str | None, typer.Option("--actor")] = None,
    action: Annotated[str | None, typer.Option("--action", help="e.g. cert.revoke")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    cursor: Annotated[str | None, typer.Option(help="Continue after a previous page.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Audit events, newest first."""
    events, next_cursor = services().audit.search(
        OPERATOR,
        object_type=object_type,
        object_id=object_id,
        by=actor,
        action=action,
        cursor=cursor,
        limit=limit,
    )
    if json_out:
        emit_json({"items": [e.as_dict() for e in events], "next_cursor": next_cursor})
        return
    for e in events:
        typer.echo(
            f"#{e.seq}\t{e.at}\t{e.actor}\t{e.action}\t{e.object_type}:{e.object_id}\t{e.summary}"
        )
    if next_cursor:
        typer.echo(f"(more: --cursor {next_cursor})", err=True)


@audit_app.command("verify")
def verify(json_out: JsonOpt = False) -> None:
    """Walk the hash chain; exit 1 naming the first bad event if any row was altered,
    removed or reordered."""
    count, broken = services().audit.verify(OPERATOR)
    if json_out:
        emit_json(
            {
                "events": count,
                "intact": broken is None,
                "first_bad_event": broken.seq if broken else None,
                "reason": broken.reason if broken else None,
            }
        )
    elif broken is None:
        typer.echo(f"audit log intact: {count} events verified")
    else:
        where = f"event #{broken.seq}" if broken.seq is not None else "the chain head"
        typer.echo(f"audit log BROKEN at {where}: {broken.reason}", err=True)
    if broken is not None:
        raise typer.Exit(1)
