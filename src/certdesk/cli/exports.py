"""``certdesk export certificates|cases|audit``: a list with its filter as one CSV or JSON
file (CSV in Pacific time for people, JSON in the API's UTC shape); ``certdesk case queue``:
the work queue of cert services."""

from __future__ import annotations

from typing import Annotated

import typer

from certdesk.cli.cases import case_app
from certdesk.cli.common import OPERATOR, emit_json, services, write_output
from certdesk.cli.submittal_form import parse_date
from certdesk.core.exports import parse_format
from certdesk.services.casework.case_search import CaseFilter
from certdesk.services.exports import AuditFilter, CertFilter, Export
from certdesk.services.pki.inventory import parse_duration

export_app = typer.Typer(
    help="Export the inventory, the cases or the audit log as CSV or JSON.",
    no_args_is_help=True,
)

FormatOpt = Annotated[str, typer.Option("--format", help="csv (Pacific times) or json.")]
OutOpt = Annotated[
    str | None, typer.Option("--out", help="Write to this file (default: standard output).")
]
SearchOpt = Annotated[
    str | None,
    typer.Option("--search", help="Any part of a name, serial, case number or title."),
]
OrgOpt = Annotated[str | None, typer.Option("--org", help="One organization.")]


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
    case_app.command("queue")(queue)


def _write(export: Export, out: str | None) -> None:
    write_output(out, export.body.encode("utf-8"))
    if out not in (None, "-"):
        typer.echo(f"wrote {out}", err=True)


@export_app.command("certificates")
def certificates(
    format_: FormatOpt = "csv",
    out: OutOpt = None,
    org: OrgOpt = None,
    search: SearchOpt = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    expiring_within: Annotated[
        str | None, typer.Option("--expiring-within", help="e.g. 30d, 2w.")
    ] = None,
) -> None:
    """The certificate inventory, filtered like ``cert list``."""
    query = CertFilter(
        org_code=org,
        text=search,
        status=status,
        expiring_within=parse_duration(expiring_within) if expiring_within else None,
    )
    _write(services().exports.certificates(OPERATOR, query, parse_format(format_)), out)


@export_app.command("cases")
def cases(
    format_: FormatOpt = "csv",
    out: OutOpt = None,
    org: OrgOpt = None,
    search: SearchOpt = None,
    state: Annotated[str | None, typer.Option("--state")] = None,
    case_type: Annotated[str | None, typer.Option("--type")] = None,
    overdue: Annotated[bool, typer.Option("--overdue")] = False,
) -> None:
    """Cases, filtered like ``case list``."""
    query = CaseFilter(org_code=org, text=search, state=state, type=case_type, overdue=overdue)
    _write(services().exports.cases(OPERATOR, query, parse_format(format_)), out)


@export_app.command("audit")
def audit(
    format_: FormatOpt = "csv",
    out: OutOpt = None,
    actor: Annotated[str | None, typer.Option("--actor")] = None,
    action: Annotated[str | None, typer.Option("--action")] = None,
    object_type: Annotated[str | None, typer.Option("--type")] = None,
    object_id: Annotated[str | None, typer.Option("--object")] = None,
    start: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD (Pacific).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD, included.")] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Cases, Certificates, People, Sign-ins, ...")
    ] = None,
    fold_sign_ins: Annotated[
        bool, typer.Option("--without-sign-ins", help="Leave sign-ins and sign-outs out.")
    ] = False,
) -> None:
    """Audit events, filtered like ``audit list``."""
    query = AuditFilter(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        start=parse_date(start, "audit.start") if start else None,
        end=parse_date(end, "audit.end") if end else None,
        kind=kind,
        fold_sign_ins=fold_sign_ins,
    )
    _write(services().exports.audit(OPERATOR, query, parse_format(format_)), out)


def queue(
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Cert services' work queue: awaiting approval, ready to fulfil, overdue, ordering at a
    vendor, mail that could not be sent."""
    found = services().work_queue.of(OPERATOR)
    if json_out:
        emit_json(found.as_dict())
        return
    for section in found.sections:
        rows = getattr(found, section)
        typer.echo(f"{section.replace('_', ' ')}: {len(rows)}")
        for row in rows:
            if hasattr(row, "number"):
                typer.echo(f"  {row.number}  {row.org_code}  {row.state}  {row.title}")
            else:
                typer.echo(f"  {row.contact_email or '-'}  {row.reason}  {row.last_error}")
