"""``certdesk db upgrade`` and ``certdesk db current``: the schema, under the set-up lock."""

from __future__ import annotations

from typing import Annotated

import typer

from certdesk.cli.common import emit_json, program, schema_in_change, services
from certdesk.services.startup import schema_state, upgrade_schema

db_app = typer.Typer(
    help="The database schema: see its revision, upgrade it.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade_cmd(json_out: JsonOpt = False) -> None:
    """Migrate the database to this certdesk's schema (safe with several hosts at once)."""
    with schema_in_change():
        svc = services()
    was, now = upgrade_schema(svc)
    before, after = was.current, now.current
    if json_out:
        emit_json({"before": before, "after": after, "changed": before != after})
        return
    if before == after:
        typer.echo(f"schema already at {after}")
    else:
        typer.echo(f"schema upgraded from {before or 'empty'} to {after}")
        if before is None:
            typer.echo(f"the database was empty: run '{program()} init' to create the CA")


@db_app.command("current")
def current_cmd(json_out: JsonOpt = False) -> None:
    """Show the schema revision of the database and the one this certdesk needs."""
    with schema_in_change():
        svc = services()
    schema = schema_state(svc)
    current, head, state = schema.current, schema.head, schema.state
    if json_out:
        emit_json({"current": current, "head": head, "state": state})
        return
    next_step = {
        "empty": f"; run '{program()} init'",
        "upgrade needed": f"; run '{program()} db upgrade'",
        "newer": " than this certdesk; install the certdesk release that upgraded it",
    }.get(state, "")
    typer.echo(f"schema {current or 'none'} (this certdesk: {head}): {state}{next_step}")
