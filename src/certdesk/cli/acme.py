"""``certdesk acme eab …`` and ``certdesk acme account …``: the ACME server's EAB keys and
accounts (R17)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from certdesk.cli.common import MAX_ID, OPERATOR, emit_json, services
from certdesk.core.accounts import describe_instant

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]

acme_app = typer.Typer(
    help="The ACME server: EAB keys, accounts and early renewal.", no_args_is_help=True
)
eab_app = typer.Typer(help="External account binding keys.", no_args_is_help=True)
account_app = typer.Typer(help="ACME accounts.", no_args_is_help=True)
acme_app.add_typer(eab_app, name="eab")
acme_app.add_typer(account_app, name="account")


def register(app: typer.Typer) -> None:
    app.add_typer(acme_app, name="acme")


@eab_app.command("create")
def create_eab(
    org: Annotated[str, typer.Option("--org", help="The organization's code.")],
    expires: Annotated[
        int | None,
        typer.Option("--expires", help="Days the key may wait to bind an account.", min=1),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create an EAB key for a self-managed organization; its HMAC key is shown this once."""
    new = services().acme_eab.create(OPERATOR, org, days=expires)
    if json_out:
        emit_json(
            {
                "kid": new.kid,
                "hmac_key": new.hmac_key,
                "org": new.org_code,
                "expires_at": new.expires_at,
            }
        )
        return
    typer.echo(f"kid\t{new.kid}")
    typer.echo(f"hmac_key\t{new.hmac_key}")
    typer.echo(
        f"(for {new.org_code}; the HMAC key is shown once — give both to the ACME client now,"
        " e.g. certbot --eab-kid KID --eab-hmac-key KEY)",
        err=True,
    )


@eab_app.command("list")
def list_eab(
    org: Annotated[str | None, typer.Option("--org", help="Only this organization's.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List EAB keys (never their HMAC keys)."""
    svc = services()
    now = svc.rt.clock()
    found = svc.acme_eab.list(OPERATOR, org)
    if json_out:
        emit_json([k.as_dict(now) for k in found])
        return
    for k in found:
        bound = f"account {k.account_id}" if k.account_id is not None else "-"
        typer.echo(f"{k.kid}\t{k.org_code}\t{k.state(now)}\t{bound}\t{k.created_at.isoformat()}")


@eab_app.command("revoke")
def revoke_eab(
    kid: Annotated[str, typer.Argument(help="The key's kid.")],
    json_out: JsonOpt = False,
) -> None:
    """Revoke an EAB key: it binds no account from now on."""
    svc = services()
    view = svc.acme_eab.revoke(OPERATOR, kid)
    if json_out:
        emit_json(view.as_dict(svc.rt.clock()))
        return
    typer.echo(f"{view.kid}\trevoked")


@account_app.command("list")
def list_accounts(
    org: Annotated[str | None, typer.Option("--org", help="Only this organization's.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List ACME accounts."""
    found = services().acme_accounts.list(OPERATOR, org)
    if json_out:
        emit_json([a.as_dict() for a in found])
        return
    for a in found:
        contacts = ",".join(c.removeprefix("mailto:") for c in a.contacts) or "-"
        typer.echo(f"{a.id}\t{a.org_code}\t{a.status}\t{a.eab_kid}\t{contacts}")


@account_app.command("deactivate")
def deactivate_account(
    account_id: Annotated[int, typer.Argument(help="The account's number.", min=1, max=MAX_ID)],
    json_out: JsonOpt = False,
) -> None:
    """Deactivate an ACME account: it can no longer order, finalize or revoke."""
    view = services().acme_accounts.deactivate(OPERATOR, account_id)
    if json_out:
        emit_json(view.as_dict())
        return
    typer.echo(f"{view.id}\tdeactivated")


@acme_app.command("renew-early")
def renew_early(
    issuer: Annotated[
        str | None, typer.Option("--issuer", help="Every active certificate of this issuer.")
    ] = None,
    org: Annotated[
        str | None, typer.Option("--org", help="Every active certificate of this organization.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Ask ACME clients to renew now: the renewal information (RFC 9773) of every active
    certificate of an issuer or an organization says "renew now" from here on."""
    marked = services().acme_renewal_info.renew_early(OPERATOR, issuer_slug=issuer, org_code=org)
    if json_out:
        emit_json({"marked": marked, "issuer": issuer, "org": org})
        return
    typer.echo(f"{marked} certificate(s) marked for early renewal")


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date (2027-06-30) or a time (2027-06-30T17:00:00-07:00)"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@acme_app.command("persist-record")
def persist_record(
    account: Annotated[
        int, typer.Option("--account", help="The ACME account's number.", min=1, max=MAX_ID)
    ],
    domain: Annotated[
        str, typer.Option("--domain", help="The name to prove (*.NAME for its wildcard too).")
    ],
    wildcard: Annotated[
        bool, typer.Option("--wildcard", help="Let the record prove *.NAME too.")
    ] = False,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="When the record stops proving control (ISO date or time; a date is 00:00"
            " UTC). Default: no end.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the standing DNS record (dns-persist-01) that lets an ACME account prove a name
    without a new challenge; certdesk then uses it for new orders and warns the
    organization's administrators before it ends."""
    view = services().acme_persist.show(
        OPERATOR, account, domain, wildcard=wildcard, persist_until=_instant(until)
    )
    if json_out:
        emit_json(view.as_dict())
        return
    typer.echo(view.zone_line())
    typer.echo(
        f"(publish this TXT record in the DNS of {view.name}; ACME account {view.account_id}"
        " then proves the name with it, no challenge responder needed)",
        err=True,
    )
    if view.republish_since is not None:
        typer.echo(
            f"(the account's key changed at {describe_instant(view.republish_since)}: a record"
            " published before then no longer holds; publish this value in its place)",
            err=True,
        )
