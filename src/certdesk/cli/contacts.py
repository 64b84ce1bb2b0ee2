"""``certdesk contact …``: an organization's certificate contacts (R9).

The command line runs with cert services' authority (the local operator); every change is
audited with the old and new values.
"""

from __future__ import annotations

from typing import Annotated

import typer

from certdesk.cli.common import OPERATOR, emit_json, services
from certdesk.services.casework.contacts import (
    ContactChange,
    ContactInput,
    ContactView,
    use_as_dict,
)

contact_app = typer.Typer(
    help="Certificate contacts of an organization (R9); every change is audited.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def register(app: typer.Typer) -> None:
    app.add_typer(contact_app, name="contact")


def _print_contact(c: ContactView) -> None:
    if c.submittal_id:
        where = f"\t{c.case_number} submittal {c.submittal_id}"
    else:
        where = "\tevery certificate" if c.org_wide else "\twhere named"
    typer.echo(f"{c.id}\t{c.kind}\t{c.name}\t{c.email}\t{c.phone or '-'}{where}")


RefArg = Annotated[str, typer.Argument(help="Contact id or email address.")]


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
    contact_id: RefArg,
    kind: Annotated[str | None, typer.Option("--kind")] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    email: Annotated[str | None, typer.Option("--email")] = None,
    phone: Annotated[str | None, typer.Option("--phone")] = None,
    org_wide: Annotated[
        bool | None,
        typer.Option(
            "--org-wide/--only-where-named",
            help="Hear about every certificate and case of the organization, or only about"
            " the submittals naming the contact.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Change a contact, on every submittal naming it; audited old → new (R9)."""
    view = services().contacts.change(
        OPERATOR,
        org,
        contact_id,
        ContactChange(kind=kind, name=name, email=email, phone=phone, org_wide=org_wide),
    )
    if json_out:
        emit_json(view.as_dict())
    else:
        _print_contact(view)


@contact_app.command("remove")
def remove_contact(
    org: OrgOpt,
    contact_id: RefArg,
    json_out: JsonOpt = False,
) -> None:
    """Remove a contact no open case or certificate in force names (else: replace it)."""
    view = services().contacts.remove(OPERATOR, org, contact_id)
    if json_out:
        emit_json(view.as_dict())
    else:
        _print_contact(view)


@contact_app.command("show")
def show_contact(org: OrgOpt, contact_id: RefArg, json_out: JsonOpt = False) -> None:
    """A contact and the submittals naming it (case, role, certificate)."""
    view, uses = services().contacts.show(OPERATOR, org, contact_id)
    if json_out:
        emit_json(
            {
                **view.as_dict(),
                "named_on": [use_as_dict(u) for u in uses],
            }
        )
        return
    _print_contact(view)
    for u in uses:
        cert = f"\t{u.cert_serial} ({u.cert_status})" if u.cert_serial else ""
        typer.echo(
            f"  {u.case_number} ({u.case_state})\tsubmittal {u.submittal_id}\t{u.kind}{cert}"
        )


@contact_app.command("replace")
def replace_contact(
    org: OrgOpt,
    old: Annotated[str, typer.Argument(help="The contact leaving (id or email).")],
    new: Annotated[str, typer.Argument(help="The contact taking over (id or email).")],
    json_out: JsonOpt = False,
) -> None:
    """Replace a contact by another on every open case and certificate in force, as one
    audited change; the old contact is removed when nothing else names it."""
    done = services().contact_replacing.replace(OPERATOR, org, old, new)
    if json_out:
        emit_json(done.as_dict())
        return
    typer.echo(
        f"{done.new.name} <{done.new.email}> replaces {done.old.name} <{done.old.email}> on"
        f" {len(done.submittals)} submittal(s) of {len(done.cases)} case(s)"
        f" and {len(done.certificates)} certificate(s)"
        + ("; the old contact is removed" if done.old_removed else "")
    )
