"""``certdesk user prefs LOGIN [--set KIND=MODE …]``: a person's mail preferences (issue 14).

Without ``--set`` it shows every kind of mail and how the person receives it; each ``--set``
changes one kind to ``immediate``, ``digest`` (the daily digest) or ``off``. Expiry,
revocation and password notices cannot be turned off. All changes apply together or none.
"""

from __future__ import annotations

from typing import Annotated

import typer

from certdesk.cli.common import OPERATOR, emit_json, services
from certdesk.errors import InvalidInput


def attach(user_app: typer.Typer) -> None:
    user_app.command("prefs")(prefs)


def prefs(
    login_id: Annotated[str, typer.Argument(help="The login ID, e.g. jdoe.")],
    choice: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="KIND=MODE, e.g. submitted=digest or waiting=off; repeatable."
            " MODE: immediate, digest or off.",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Show or change how a person receives each kind of mail."""
    svc = services().mail_preferences
    if choice:
        wanted: dict[str, str] = {}
        for item in choice:
            kind, sep, mode = item.partition("=")
            if not sep or not kind.strip() or not mode.strip():
                raise InvalidInput(
                    "prefs.choice", f"{item!r}: write KIND=MODE, e.g. waiting=digest"
                )
            wanted[kind.strip()] = mode.strip()
        shown = svc.set(OPERATOR, wanted, login_id)
    else:
        shown = svc.show(OPERATOR, login_id)
    if json_out:
        emit_json([p.as_dict() for p in shown])
        return
    for p in shown:
        typer.echo(f"{p.kind}\t{p.mode}\t{p.label}")
