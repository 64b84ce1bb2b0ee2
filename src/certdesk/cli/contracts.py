"""``certdesk contract add|list|show|update``: cert services' vendor contracts and licences.

The command line runs with cert services' authority; every change is audited.
"""

from __future__ import annotations

from typing import Annotated

import typer

from certdesk.cli.common import OPERATOR, emit_json, services
from certdesk.cli.submittal_form import parse_date
from certdesk.core.contracts import ContractTerms
from certdesk.services.lifecycle.contracts import ContractChange, ContractView

contract_app = typer.Typer(
    help="Vendor contracts: licences bought and used, dates; warned before one ends.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
NumberArg = Annotated[str, typer.Argument(help="The contract number.")]
IssuerOpt = Annotated[
    str | None,
    typer.Option(
        "--issuer",
        help="The vendor CA (issuer name) whose certificates in force count as licences used;"
        ' "" unlinks it.',
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(contract_app, name="contract")


def _used(c: ContractView) -> str:
    if c.licences_used is None:
        return f"?/{c.licences_total}"
    return f"{c.licences_used}/{c.licences_total}" + ("*" if c.used_from_inventory else "")


def _print(c: ContractView) -> None:
    typer.echo(f"{c.number}\t{c.vendor}\t{_used(c)}\t{c.starts_on}\t{c.ends_on}\t{c.issuer or '-'}")


def _emit(c: ContractView, json_out: bool) -> None:
    if json_out:
        emit_json(c.as_dict())
    else:
        _print(c)


@contract_app.command("add")
def add(
    number: NumberArg,
    vendor: Annotated[str, typer.Option("--vendor", help="The vendor's name.")],
    licences: Annotated[int, typer.Option("--licences", help="Licences bought.")],
    starts: Annotated[str, typer.Option("--starts", help="First day, YYYY-MM-DD.")],
    ends: Annotated[str, typer.Option("--ends", help="Last day, YYYY-MM-DD.")],
    used: Annotated[
        int | None, typer.Option("--used", help="Licences in use (without --issuer).")
    ] = None,
    issuer: IssuerOpt = None,
    notes: Annotated[str, typer.Option("--notes")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Record a vendor contract."""
    terms = ContractTerms(
        vendor=vendor,
        number=number,
        licences_total=licences,
        licences_used=used,
        starts_on=parse_date(starts, "--starts"),
        ends_on=parse_date(ends, "--ends"),
        notes=notes,
    )
    _emit(services().contracts.add(OPERATOR, terms, issuer or ""), json_out)


@contract_app.command("list")
def list_contracts(json_out: JsonOpt = False) -> None:
    """Every contract, the one ending first first: number, vendor, used/bought (* counted
    from the inventory), start, end, vendor CA."""
    found = services().contracts.list(OPERATOR)
    if json_out:
        emit_json([c.as_dict() for c in found])
        return
    for c in found:
        _print(c)


@contract_app.command("show")
def show(number: NumberArg, json_out: JsonOpt = False) -> None:
    """One contract."""
    c = services().contracts.show(OPERATOR, number)
    if json_out:
        emit_json(c.as_dict())
        return
    _print(c)
    if c.notes:
        typer.echo(c.notes)


@contract_app.command("update")
def update(
    number: NumberArg,
    vendor: Annotated[str | None, typer.Option("--vendor")] = None,
    new_number: Annotated[str | None, typer.Option("--number", help="A new number.")] = None,
    licences: Annotated[int | None, typer.Option("--licences", help="Licences bought.")] = None,
    used: Annotated[int | None, typer.Option("--used", help="Licences in use.")] = None,
    starts: Annotated[str | None, typer.Option("--starts", help="YYYY-MM-DD.")] = None,
    ends: Annotated[str | None, typer.Option("--ends", help="YYYY-MM-DD.")] = None,
    issuer: IssuerOpt = None,
    notes: Annotated[str | None, typer.Option("--notes")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Change a contract's record (audited old → new)."""
    change = ContractChange(
        vendor=vendor,
        number=new_number,
        issuer=issuer,
        licences_total=licences,
        licences_used=used,
        starts_on=parse_date(starts, "--starts") if starts else None,
        ends_on=parse_date(ends, "--ends") if ends else None,
        notes=notes,
    )
    _emit(services().contracts.update(OPERATOR, number, change), json_out)
