"""``certdesk org approvals``: the approvals an organization's cases need (R4)."""

from __future__ import annotations

from typing import Annotated

import typer

from certdesk.cli.common import OPERATOR, emit_json, services
from certdesk.cli.orgs import org_app
from certdesk.errors import InvalidInput
from certdesk.services.casework.approvals import PolicyView

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def register(app: typer.Typer) -> None:
    org_app.command("approvals")(approvals)


def _print_policy(view: PolicyView, json_out: bool) -> None:
    if json_out:
        emit_json(view.as_dict())
        return
    for entry in view.entries:
        steps = ",".join(entry.steps) or "(none: approved on submission)"
        typer.echo(
            f"{view.org_code}\t{entry.case_type}\t{steps}{' (default)' if entry.default else ''}"
        )


def approvals(
    code: Annotated[str, typer.Argument(help="Organization code.")],
    case_type: Annotated[str | None, typer.Option("--type", help="Case type to configure.")] = None,
    steps: Annotated[
        str | None,
        typer.Option("--steps", help="org_approver,operator | operator | org_approver | ''"),
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Back to the default (org_approver,operator).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Show or set the approvals an organization's cases need (R4)."""
    svc = services().approvals
    if steps is None and not default:
        if case_type is not None:
            raise InvalidInput("approval.steps", "--type needs --steps or --default")
        _print_policy(svc.policy(OPERATOR, code), json_out)
        return
    if case_type is None:
        raise InvalidInput("approval.type", "--steps and --default need --type")
    if steps is not None and default:
        raise InvalidInput("approval.steps", "give --steps or --default, not both")
    _print_policy(svc.set_policy(OPERATOR, code, case_type, None if default else steps), json_out)
