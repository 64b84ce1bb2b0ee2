"""``certdesk contact …``: an organization's certificate contacts (R9).

The command line runs with cert services' authority (the local operator); every change is
audited with the old and new values.
"""

from __future__ import annotations

from typing import Annotated

import typer

from certdesk.cli.common import OPERATOR, emit_json, services
from certdesk.services.casework.contacts import ContactChange, ContactInput, ContactView

contact_app = typer.Typer(
    help="Certificate contacts of an organization (R9); every change is audited.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def register(app: typer.Typer) -> None:
    app.add_typer(contact_app, name="contact")


def _print_contact(c: ContactView) -> None:
    where = f"\t{c.case_number} submittal {c.submittal_id}" if c.submittal_id else ""
    typer.echo(f"{c.id}\t{c.kind}\t{c.name}\t{c.email}\t{c.phone or '-'}{where}")


OrgOpt = Annotated[str, typer.Option("--org", help="Organization code.")]


@contact_app.command("list")
def list_contacts(
    org: OrgOpt,
    include_submittals: Annotated[
        bool, typer.Option("--all", help="Also the contacts on the organization's submittals.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """The organization's contacts."""
    found = services().contacts.list(OPERATOR, org, with_submittals=include_submittals)
    if json_out:
        emit_json([c.as_dict() for c in found])
        return
    for c in found:
        _print_contact(c)


@contact_app.command("add")
def add_contact(
    org: OrgOpt,
    kind: Annotated[str, typer.Option("--kind", help="technical, administrative or billing.")],
    name: Annotated[str, typer.Option("--name")],
    email: Annotated[str, typer.Option("--email")],
    phone: Annotated[str, typer.Option("--phone")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Add an organization contact."""
    view = services().contacts.add(OPERATOR, org, ContactInput(kind, name, email, phone))
    if json_out:
        emit_json(view.as_dict())
    else:
        _print_contact(view)


@contact_app.command("change")
def change_contact(
    org: OrgOpt,
    contact_id: Annotated[int, typer.Argument(help="Contact id (see contact list --all).")],
    kind: Annotated[str | None, typer.Option("--kind")] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    email: Annotated[str | None, typer.Option("--email")] = None,
    phone: Annotated[str | None, typer.Option("--phone")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Change a contact (of the organization or of a submittal); audited old → new (R9)."""
    view = services().contacts.change(
        OPERATOR, org, contact_id, ContactChange(kind=kind, name=name, email=email, phone=phone)
    )
    if json_out:
        emit_json(view.as_dict())
    else:
        _print_contact(view)


@contact_app.command("remove")
def remove_contact(
    org: OrgOpt,
    contact_id: Annotated[int, typer.Argument(help="Contact id.")],
    json_out: JsonOpt = False,
) -> None:
    """Remove a contact."""
    view = services().contacts.remove(OPERATOR, org, contact_id)
    if json_out:
        emit_json(view.as_dict())
    else:
        _print_contact(view)
