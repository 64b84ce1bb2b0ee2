"""``certdesk org …`` and ``certdesk token …``."""

from __future__ import annotations

from typing import Annotated

import typer

from certdesk.cli.common import OPERATOR, emit_json, services
from certdesk.errors import InvalidInput
from certdesk.services.people.orgs import OrgView
from certdesk.services.people.tokens import parse_role

org_app = typer.Typer(help="Organizations (agencies) and their grants (R2).", no_args_is_help=True)
token_app = typer.Typer(help="API bearer tokens.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def register(app: typer.Typer) -> None:
    app.add_typer(org_app, name="org")
    app.add_typer(token_app, name="token")


def _print(org: OrgView, json_out: bool) -> None:
    if json_out:
        emit_json(org.as_dict())
        return
    service = "self-managed" if org.self_managed else "managed"
    issuer = f"\tissuer {org.issuer}" if org.issuer != "builtin" else ""
    issuer += "".join(f"\t{grant} by {name}" for grant, name in org.grant_issuers)
    typer.echo(
        f"{org.code}\t{org.name}\t{service}\t{' '.join(org.grants) or '(no grants)'}{issuer}"
    )


@org_app.command("create")
def create(
    code: Annotated[str, typer.Argument(help="Short code, e.g. dmv.")],
    name: Annotated[str, typer.Option("--name", help="Full name of the organization.")],
    self_managed: Annotated[
        bool,
        typer.Option("--self-managed/--managed", help="R11 service option (default managed)."),
    ] = False,
    grant: Annotated[
        list[str] | None, typer.Option("--grant", help="zone:NAME or host:NAME; repeatable.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create an organization, optionally with grants."""
    org = services().orgs.create(
        OPERATOR, code, name, self_managed=self_managed, grants=list(grant or [])
    )
    _print(org, json_out)


@org_app.command("grant")
def grant(
    code: Annotated[str, typer.Argument()],
    grant: Annotated[str, typer.Argument(help="zone:NAME or host:NAME")],
    json_out: JsonOpt = False,
) -> None:
    """Add a grant to an organization."""
    _print(services().orgs.add_grant(OPERATOR, code, grant), json_out)


@org_app.command("revoke-grant")
def revoke_grant(
    code: Annotated[str, typer.Argument()],
    grant: Annotated[str, typer.Argument(help="zone:NAME or host:NAME")],
    json_out: JsonOpt = False,
) -> None:
    """Remove a grant from an organization."""
    _print(services().orgs.remove_grant(OPERATOR, code, grant), json_out)


@org_app.command("grant-issuer")
def grant_issuer(
    code: Annotated[str, typer.Argument()],
    grant: Annotated[str, typer.Argument(help="zone:NAME or host:NAME")],
    issuer: Annotated[
        str,
        typer.Option(
            "--issuer",
            help="A vendor's name, builtin (certdesk's CA), or organization (the"
            " organization's issuer again).",
        ),
    ],
    json_out: JsonOpt = False,
) -> None:
    """Choose the issuer of certificates under one grant (audited); it outranks the
    organization's issuer and yields to a submittal's."""
    svc = services()
    # The issuer is looked up first: an unknown one changes nothing.
    issuer_id = svc.vendors.grant_choice(OPERATOR, issuer)
    _print(
        svc.orgs.set_grant_issuer(OPERATOR, code, grant, issuer_id, issuer.strip().lower()),
        json_out,
    )


@org_app.command("set")
def set_service(
    code: Annotated[str, typer.Argument()],
    self_managed: Annotated[
        bool,
        typer.Option(
            "--self-managed", help="Self-managed: delegated administration, no cost (R11)."
        ),
    ] = False,
    managed: Annotated[
        bool, typer.Option("--managed", help="Managed by cert services, at a cost (R11).")
    ] = False,
    issuer: Annotated[
        str | None,
        typer.Option(
            "--issuer", help="Issuer of its certificates: a vendor's name, or builtin (R16)."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Switch an organization between managed and self-managed service, or choose the
    issuer of its certificates (audited)."""
    if self_managed and managed:
        raise InvalidInput("org.service", "give exactly one of --self-managed or --managed")
    if not (self_managed or managed or issuer is not None):
        raise InvalidInput(
            "org.service",
            "give exactly one of --self-managed or --managed, or --issuer NAME (or builtin)",
        )
    svc = services()
    # The issuer is looked up first: an unknown one changes nothing.
    issuer_id = svc.vendors.choose(OPERATOR, issuer) if issuer is not None else None
    view = None
    if self_managed or managed:
        view = svc.orgs.set_service(OPERATOR, code, self_managed=self_managed)
    if issuer is not None:
        view = svc.orgs.set_issuer(OPERATOR, code, issuer_id, issuer.strip().lower())
    assert view is not None
    _print(view, json_out)


@org_app.command("list")
def list_orgs(json_out: JsonOpt = False) -> None:
    """List organizations."""
    found = services().orgs.list_all(OPERATOR)
    if json_out:
        emit_json([o.as_dict() for o in found])
        return
    for org in found:
        _print(org, False)


@org_app.command("show")
def show(code: Annotated[str, typer.Argument()], json_out: JsonOpt = False) -> None:
    """Show one organization."""
    _print(services().orgs.get(OPERATOR, code), json_out)


@token_app.command("create")
def create_token(
    role: Annotated[
        str, typer.Option("--role", help="requester, delegated_admin, operator or auditor.")
    ],
    org: Annotated[str | None, typer.Option("--org", help="Organization code.")] = None,
    label: Annotated[str, typer.Option("--label", help="What the token is for.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Create an API token; its secret is printed this once and stored only as a hash."""
    new = services().tokens.create(OPERATOR, role=parse_role(role), org_code=org, label=label)
    if json_out:
        emit_json(
            {"token": new.secret, "prefix": new.prefix, "role": str(new.role), "org": new.org_code}
        )
        return
    typer.echo(new.secret)
    typer.echo(
        f"({new.role} token{' for ' + new.org_code if new.org_code else ''}; "
        "shown once — store it now)",
        err=True,
    )


@token_app.command("list")
def list_tokens(
    org: Annotated[str | None, typer.Option("--org", help="Only this organization's.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List API tokens (never their secrets; login sessions are not listed)."""
    found = services().tokens.list(OPERATOR, org)
    if json_out:
        emit_json([t.as_dict() for t in found])
        return
    for t in found:
        state = f"revoked {t.revoked_at.isoformat()}" if t.revoked_at else "active"
        typer.echo(
            f"{t.prefix}\t{t.role}\t{t.org_code or '-'}\t{t.created_at.isoformat()}"
            f"\t{state}\t{t.label}"
        )


@token_app.command("revoke")
def revoke_token(
    prefix: Annotated[str, typer.Argument(help="The token's prefix (cd_<prefix>_...).")],
    json_out: JsonOpt = False,
) -> None:
    """Revoke an API token; it stops working at once."""
    view = services().tokens.revoke(OPERATOR, prefix)
    if json_out:
        emit_json(view.as_dict())
        return
    typer.echo(f"{view.prefix}\trevoked")
