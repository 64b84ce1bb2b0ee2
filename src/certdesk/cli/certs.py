"""``certdesk cert …``: issue, list, show, export, revoke."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from certdesk.cli.common import OPERATOR, emit_json, read_input, services, write_output
from certdesk.cli.exits import UNAVAILABLE
from certdesk.cli.issuers import print_order
from certdesk.errors import Conflict, InvalidInput
from certdesk.services.pki.inventory import CertView, parse_duration, parse_format
from certdesk.services.pki.issuance import IssueCommand, parse_platform
from certdesk.services.pki.issued import Ordered
from certdesk.services.pki.revocation import parse_reason

cert_app = typer.Typer(help="Certificates of the inventory.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def register(app: typer.Typer) -> None:
    app.add_typer(cert_app, name="cert")


@cert_app.command("issue")
def issue(
    org: Annotated[str, typer.Option("--org", help="Organization code.")],
    csr: Annotated[str, typer.Option("--csr", help="CSR file (PEM or DER), or - for stdin.")],
    platform: Annotated[str, typer.Option(help="dedicated or virtual (R11).")] = "virtual",
    days: Annotated[
        int | None, typer.Option(help="Validity in days (default: the R13 maximum).")
    ] = None,
    renewal_of: Annotated[
        str | None, typer.Option("--renewal-of", help="Serial this certificate replaces.")
    ] = None,
    out: Annotated[
        str | None, typer.Option("--out", help="Write leaf + chain PEM here (default stdout).")
    ] = None,
    issuer: Annotated[
        str | None,
        typer.Option("--issuer", help="A vendor's name for this certificate (default: R16)."),
    ] = None,
    no_wait: Annotated[
        bool,
        typer.Option("--no-wait", help="Through a vendor: print the order, do not wait."),
    ] = False,
    wait: Annotated[
        int,
        typer.Option(
            "--wait", min=1, max=24 * 3600, help="Through a vendor: seconds to wait (300)."
        ),
    ] = 300,
    json_out: JsonOpt = False,
) -> None:
    """Issue a certificate from a CSR through the organization's issuer (the built-in CA or
    a vendor: then it waits for the chain); prints the serial."""
    if issuer is not None and issuer.strip().lower() == "builtin":
        raise InvalidInput(
            "issuer.choice", "--issuer takes a vendor's name; leave it out for the usual issuer"
        )
    svc = services()
    result = svc.issuance.request(
        OPERATOR,
        IssueCommand(
            org_code=org,
            csr=read_input(csr),
            platform=parse_platform(platform),
            days=days,
            renewal_of=renewal_of,
            issuer_id=svc.vendors.choose(OPERATOR, issuer) if issuer else None,
        ),
        wait=None if no_wait else timedelta(seconds=wait),
    )
    if isinstance(result, Ordered):
        if result.state == "failed":
            detail = (result.problem or {}).get("detail") or "no reason given"
            raise Conflict(
                "vendor.refused", f"the vendor {result.issuer} refused the order: {detail}"
            )
        print_order(result, json_out)
        if not no_wait:
            typer.echo(
                f"the order at {result.issuer} is still {result.vendor_status or result.state};"
                f" the worker completes it (certdesk issuer order {result.order_id})",
                err=True,
            )
            raise typer.Exit(UNAVAILABLE)
        return
    issued = result
    fullchain = (issued.pem() + issued.chain_pem()).encode()
    if json_out:
        if out:
            write_output(out, fullchain)
        emit_json(
            {
                "serial": issued.serial,
                "organization": issued.org_code,
                "names": list(issued.names),
                "not_before": issued.not_before,
                "not_after": issued.not_after,
                "issuer": issued.issuer or "builtin",
                "fullchain": fullchain.decode(),
            }
        )
        return
    if out:
        write_output(out, fullchain)
        typer.echo(issued.serial)
        typer.echo(
            f"issued {', '.join(issued.names)} until "
            f"{issued.not_after.isoformat()} ; leaf + chain in {out}",
            err=True,
        )
    else:
        write_output(None, fullchain)
        typer.echo(f"serial {issued.serial}", err=True)


def _line(c: CertView) -> str:
    return (
        f"{c.serial}\t{c.status}\t{c.org_code}\t{c.not_after:%Y-%m-%d %H:%MZ}\t{','.join(c.names)}"
        f"\t{c.issuer}"
    )


@cert_app.command("list")
def list_certs(
    org: Annotated[str | None, typer.Option("--org")] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Certificates holding this name.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="active, superseded, revoked, expired, void, signing."),
    ] = None,
    expiring_within: Annotated[
        str | None, typer.Option("--expiring-within", help="e.g. 30d, 2w.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    cursor: Annotated[str | None, typer.Option(help="Continue after a previous page.")] = None,
    search: Annotated[
        str | None,
        typer.Option("--search", help="Any part of a name or the serial (dmv.ca.gov)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """List certificates, newest first."""
    page = services().inventory.search(
        OPERATOR,
        org_code=org,
        name=name,
        text=search,
        status=status,
        expiring_within=parse_duration(expiring_within) if expiring_within else None,
        cursor=cursor,
        limit=limit,
    )
    if json_out:
        emit_json({"items": [c.as_dict() for c in page.items], "next_cursor": page.next_cursor})
        return
    for c in page.items:
        typer.echo(_line(c))
    if page.next_cursor:
        typer.echo(f"(more: --cursor {page.next_cursor})", err=True)


@cert_app.command("show")
def show(serial: Annotated[str, typer.Argument()], json_out: JsonOpt = False) -> None:
    """Show one certificate."""
    view = services().inventory.show(OPERATOR, serial)
    if json_out:
        emit_json(view.as_dict())
        return
    for key, value in view.as_dict().items():
        if isinstance(value, list):
            value = ", ".join(value)
        typer.echo(f"{key:20} {value if value is not None else '-'}")


@cert_app.command("export")
def export(
    serial: Annotated[str, typer.Argument()],
    format: Annotated[str, typer.Option("--format", help="pem, der, chain or p7b.")] = "pem",
    out: Annotated[str | None, typer.Option("--out", help="File (default stdout).")] = None,
) -> None:
    """Export a certificate (leaf PEM/DER, leaf + chain PEM, or PKCS#7)."""
    write_output(out, services().inventory.export(OPERATOR, serial, parse_format(format)))


@cert_app.command("revoke")
def revoke(
    serial: Annotated[str, typer.Argument()],
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            help="keyCompromise, superseded, cessationOfOperation, "
            "affiliationChanged or unspecified.",
        ),
    ] = "unspecified",
    json_out: JsonOpt = False,
) -> None:
    """Revoke a certificate; the CRL is republished at once and OCSP answers revoked."""
    view = services().revocation.revoke(OPERATOR, serial, parse_reason(reason))
    if json_out:
        emit_json(view.as_dict())
        return
    at = view.as_dict()["revoked_at"]
    typer.echo(f"revoked {view.serial} ({view.revocation_reason}) at {at}")
