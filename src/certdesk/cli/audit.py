"""``certdesk audit list`` and ``certdesk audit verify`` (R15)."""

from __future__ import annotations

from typing import Annotated

import typer

from certdesk.cli.common import OPERATOR, emit_json, read_input, services, write_output

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


@audit_app.command("checkpoint")
def checkpoint(
    out: Annotated[
        str | None,
        typer.Option("--out", help="Write it here ('-': stdout); default: the checkpoint dir."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Sign the audit log's head (events, newest hash, time) with a key the database does
    not hold; keep the file where the database's writers cannot reach it."""
    svc = services()
    if out is None:
        taken, path = svc.checkpoints.write(OPERATOR)
        where = str(path)
    else:
        taken = svc.checkpoints.take(OPERATOR)
        write_output(out, taken.to_bytes())
        where = out
    if json_out:
        emit_json(taken.as_dict() | {"file": where})
    elif out != "-":
        c = taken.checkpoint
        typer.echo(f"checkpoint of {c.seq} events (head {c.hash[:16]}…) written to {where}")


@audit_app.command("verify")
def verify(
    checkpoint_file: Annotated[
        str | None,
        typer.Option("--checkpoint", help="Also prove the log against this signed checkpoint."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Walk the keyed hash chain; exit 1 naming the first bad event if any row was altered,
    removed or reordered (and, with --checkpoint, if the log no longer holds what the
    checkpoint saw)."""
    svc = services()
    seen = None
    if checkpoint_file is not None:
        seen, against = svc.checkpoints.verify(OPERATOR, read_input(checkpoint_file))
    count, broken = svc.audit.verify(OPERATOR)
    if broken is None and seen is not None:
        broken = against
    if json_out:
        emit_json(
            {
                "events": count,
                "intact": broken is None,
                "first_bad_event": broken.seq if broken else None,
                "reason": broken.reason if broken else None,
                "checkpoint": {"seq": seen.seq, "hash": seen.hash, "at": seen.at} if seen else None,
            }
        )
    elif broken is None:
        proof = f", the checkpoint of {seen.at:%Y-%m-%d %H:%M} UTC holds" if seen else ""
        typer.echo(f"audit log intact: {count} events verified{proof}")
    else:
        where = f"event #{broken.seq}" if broken.seq is not None else "the chain head"
        typer.echo(f"audit log BROKEN at {where}: {broken.reason}", err=True)
    if broken is not None:
        raise typer.Exit(1)
