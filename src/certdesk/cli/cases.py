"""``certdesk case …``: Cases/Requests from the command line (R3, R4, R5).

The command line runs with cert services' authority (the local operator): it opens cases on
behalf of an organization, fills the ``operator`` approval step and reads everything. Since
nobody approves their own request (R4), a case opened here is approved at the operator step
by another operator (through the API), or after an agency opened it.
"""

from __future__ import annotations

from collections.abc import Callable
from inspect import Parameter, Signature
from typing import Annotated

import typer

from certdesk.cli.casefile import print_case, print_summary
from certdesk.cli.common import MAX_ID, OPERATOR, emit_json, services
from certdesk.cli.submittal_form import (
    CertTypeOpt,
    ContactOpt,
    CsrOpt,
    DeliveryOpt,
    FileOpt,
    KeyOpt,
    NameOpt,
    PlatformOpt,
    SoftwareOpt,
    ValidityOpt,
    VersionOpt,
    from_options,
    optional_date,
    read_form,
)
from certdesk.errors import InvalidInput
from certdesk.services.casework.casefile import CaseView
from certdesk.services.casework.cases import CaseEdit, CaseFilter, CaseInput
from certdesk.services.casework.delegation import AdminInput

case_app = typer.Typer(
    help="Cases/Requests: submittals, approvals, turnaround (R3-R5).", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Number = Annotated[str, typer.Argument(help="Case number, e.g. CS-2026-000123.")]


def register(app: typer.Typer) -> None:
    app.add_typer(case_app, name="case")


def _admin(text: str) -> AdminInput:
    parts = [p.strip() for p in text.split(":")]
    if len(parts) != 3:
        raise InvalidInput("case.admin", f"administrator {text!r} is not NAME:EMAIL:LOGIN")
    return AdminInput(*parts)


# --------------------------------------------------------------------------- cases


@case_app.command("new")
def new(
    org: Annotated[str, typer.Option("--org", help="Organization code.")],
    title: Annotated[str, typer.Option("--title", help="What the case is about.")],
    case_type: Annotated[
        str,
        typer.Option(
            "--type",
            help="new, renewal, change, revoke, delete, csr, question or delegated_admin_setup.",
        ),
    ] = "new",
    description: Annotated[str, typer.Option("--description")] = "",
    requested_delivery: Annotated[
        str | None, typer.Option("--requested-delivery", help="YYYY-MM-DD (R5).")
    ] = None,
    cert: Annotated[
        str | None, typer.Option("--cert", help="Serial of the certificate the case is about.")
    ] = None,
    grant: Annotated[
        list[str] | None, typer.Option("--grant", help="delegated_admin_setup: zone:/host: grant.")
    ] = None,
    admin: Annotated[
        list[str] | None,
        typer.Option("--admin", help="delegated_admin_setup: NAME:EMAIL:LOGIN; repeatable."),
    ] = None,
    submittal_file: FileOpt = None,
    name: NameOpt = None,
    cert_type: CertTypeOpt = None,
    platform: PlatformOpt = None,
    software: SoftwareOpt = "",
    software_version: VersionOpt = "",
    key: KeyOpt = None,
    csr: CsrOpt = None,
    validity_days: ValidityOpt = None,
    delivery: DeliveryOpt = None,
    contact: ContactOpt = None,
    submit: Annotated[bool, typer.Option("--submit", help="Submit the case right away.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Open a case (a draft) for an organization, with its submittals."""
    subs = [read_form(f) for f in submittal_file or []]
    inline = from_options(
        name, cert_type, platform, software, software_version, key, csr, validity_days,
        delivery, contact,
    )  # fmt: skip
    if inline is not None:
        subs.append(inline)
    svc = services()
    view = svc.cases.open(
        OPERATOR,
        CaseInput(
            org_code=org,
            type=case_type,
            title=title,
            description=description,
            requested_delivery=optional_date(requested_delivery, "case.requested_delivery"),
            target_serial=cert,
            grants=tuple(grant or []),
            admins=tuple(_admin(a) for a in admin or []),
            submittals=tuple(subs),
        ),
    )
    if submit:
        view = svc.cases.submit(OPERATOR, view.number)
    if json_out:
        emit_json(view.as_dict())
        return
    typer.echo(view.number)
    typer.echo(f"case {view.number} is {view.state}", err=True)


@case_app.command("edit")
def edit(
    number: Number,
    title: Annotated[str | None, typer.Option("--title")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    requested_delivery: Annotated[
        str | None, typer.Option("--requested-delivery", help="YYYY-MM-DD, or 'none' to clear.")
    ] = None,
    cert: Annotated[str | None, typer.Option("--cert", help="Serial the case is about.")] = None,
    grant: Annotated[list[str] | None, typer.Option("--grant", help="Replaces the grants.")] = None,
    admin: Annotated[
        list[str] | None, typer.Option("--admin", help="NAME:EMAIL:LOGIN; replaces the admins.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Revise a draft or rejected case."""
    clear = requested_delivery is not None and requested_delivery.strip().lower() == "none"
    change = CaseEdit(
        title=title,
        description=description,
        requested_delivery=(
            None if clear else optional_date(requested_delivery, "case.requested_delivery")
        ),
        clear_requested_delivery=clear,
        target_serial=cert,
        grants=tuple(grant) if grant else None,
        admins=tuple(_admin(a) for a in admin) if admin else None,
    )
    print_case(services().cases.edit(OPERATOR, number, change), json_out)


@case_app.command("add-submittal")
def add_submittal(
    number: Number,
    submittal_file: FileOpt = None,
    name: NameOpt = None,
    cert_type: CertTypeOpt = None,
    platform: PlatformOpt = None,
    software: SoftwareOpt = "",
    software_version: VersionOpt = "",
    key: KeyOpt = None,
    csr: CsrOpt = None,
    validity_days: ValidityOpt = None,
    delivery: DeliveryOpt = None,
    contact: ContactOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Attach submittals (files and/or options) to a draft or rejected case."""
    subs = [read_form(f) for f in submittal_file or []]
    inline = from_options(
        name, cert_type, platform, software, software_version, key, csr, validity_days,
        delivery, contact,
    )  # fmt: skip
    if inline is not None:
        subs.append(inline)
    if not subs:
        raise InvalidInput("submittal.none", "give --submittal-file or --name/--csr")
    cases = services().cases
    view = None
    for sub in subs:
        view = cases.add_submittal(OPERATOR, number, sub)
    assert view is not None
    print_case(view, json_out)


@case_app.command("remove-submittal")
def remove_submittal(
    number: Number,
    submittal_id: Annotated[
        int, typer.Argument(help="Submittal id (see case show).", min=1, max=MAX_ID)
    ],
    json_out: JsonOpt = False,
) -> None:
    """Take a submittal off a draft or rejected case."""
    print_case(services().cases.remove_submittal(OPERATOR, number, submittal_id), json_out)


@case_app.command("show")
def show(number: Number, json_out: JsonOpt = False) -> None:
    """A case with its submittals, decisions, comments, history and R5 dates."""
    print_case(services().cases.show(OPERATOR, number), json_out)


@case_app.command("list")
def list_cases(
    org: Annotated[str | None, typer.Option("--org")] = None,
    state: Annotated[str | None, typer.Option("--state")] = None,
    case_type: Annotated[str | None, typer.Option("--type")] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only approved cases past their due date (R5).")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    cursor: Annotated[str | None, typer.Option(help="Continue after a previous page.")] = None,
    search: Annotated[
        str | None,
        typer.Option("--search", help="Any part of the case number, title or a name."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Cases, newest first."""
    page = services().cases.search(
        OPERATOR,
        CaseFilter(
            org_code=org,
            state=state,
            type=case_type,
            overdue=overdue,
            cursor=cursor,
            limit=limit,
            text=search,
        ),
    )
    if json_out:
        emit_json(page.as_dict())
        return
    for item in page.items:
        print_summary(item)
    if page.next_cursor:
        typer.echo(f"(more: --cursor {page.next_cursor})", err=True)


def _step(
    name: str,
    doc: str,
    call: Callable[[str, str], CaseView],
    option: str | None = None,
    help_: str | None = None,
    *,
    required: bool = False,
) -> None:
    """Register ``certdesk case NAME NUMBER [OPTION TEXT] [--json]``: one step of a case that
    takes at most one text, ``call(number, text)``, and prints the case."""

    def command(number: str, text: str = "", json_out: bool = False) -> None:
        print_case(call(number, text), json_out)

    # Typer reads the parameters from the signature: the option is named per step.
    params = [Parameter("number", Parameter.POSITIONAL_OR_KEYWORD, annotation=Number)]
    if option is not None:
        params.append(
            Parameter(
                "text",
                Parameter.POSITIONAL_OR_KEYWORD,
                annotation=Annotated[str, typer.Option(option, help=help_)],
                default=Parameter.empty if required else "",
            )
        )
    params.append(
        Parameter("json_out", Parameter.POSITIONAL_OR_KEYWORD, annotation=JsonOpt, default=False)
    )
    command.__signature__ = Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    command.__doc__ = doc
    case_app.command(name)(command)


_step(
    "submit",
    "Submit a draft (or resubmit a rejected case: a new approval round).",
    lambda n, _: services().cases.submit(OPERATOR, n),
)
_step(
    "approve",
    "Approve the operator step of a case pending approval (R4).",
    lambda n, note: services().approvals.approve(OPERATOR, n, note=note),
    "--note",
    "Optional remark kept with the decision.",
)
_step(
    "reject",
    "Reject a case pending approval; it returns to the requester with the reason (R4).",
    lambda n, why: services().approvals.reject(OPERATOR, n, why),
    "--reason",
    "Why; the requester sees it.",
    required=True,
)
_step(
    "start",
    "Pick up an approved case: it is now in progress.",
    lambda n, note: services().cases.start(OPERATOR, n, note),
    "--note",
    "Optional remark.",
)
_step(
    "comment",
    "Add a comment to a case's thread.",
    lambda n, text: services().cases.comment(OPERATOR, n, text),
    "--text",
    "The comment.",
    required=True,
)
_step(
    "cancel",
    "Cancel a case before work on it has started.",
    lambda n, why: services().cases.cancel(OPERATOR, n, why),
    "--reason",
)
