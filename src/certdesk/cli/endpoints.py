"""``certdesk verify``, ``certdesk import``, ``certdesk discover`` and ``certdesk external …``.

``verify`` exits by the worst finding: 0 nothing worse than a note, 5 a warning, 6 critical;
1 the target is refused (a private address not allowed), 2 usage, 4 not reachable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from certdesk.cli.common import MAX_ID, OPERATOR, emit_json, read_input, services
from certdesk.config import Settings
from certdesk.core.endpoints import exit_code
from certdesk.errors import InvalidInput

external_app = typer.Typer(
    help="External certificates: imported or discovered, not issued here.", no_args_is_help=True
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
PASSWORD_ENV = "CERTDESK_IMPORT_PASSWORD"
MAX_FILES = 10_000


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
    app.command("import")(import_paths)
    app.command("discover")(discover)
    app.add_typer(external_app, name="external")


def verify(
    endpoint: Annotated[str, typer.Argument(help="HOST[:PORT] (port 443 by default).")],
    sni: Annotated[str | None, typer.Option("--sni", help="Server name to ask for.")] = None,
    starttls: Annotated[
        str | None, typer.Option("--starttls", help="smtp, imap or pop3 before TLS.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Check what an endpoint serves: inventory match, chain, name, expiry, protocols,
    OCSP stapling and HSTS. Exit 0 clean, 5 warnings, 6 critical findings."""
    report = services().verification.verify(OPERATOR, endpoint, sni=sni, starttls=starttls)
    if json_out:
        emit_json(report.as_dict())
    else:
        d = report.as_dict()
        cert = d["certificate"]
        inv = d["inventory"]
        typer.echo(f"{d['target']}: {d['severity']}")
        typer.echo(f"  certificate  {cert['sha256'][:16]}…  {', '.join(cert['names'])}")
        typer.echo(f"  expires      {cert['not_after']} ({cert['days_left']} days)")
        where = f"{inv['kind']} {inv['serial']} ({inv['status']})" if inv else "not in inventory"
        typer.echo(f"  inventory    {where}")
        typer.echo(f"  protocols    {', '.join(d['protocols'])} (negotiated {d['negotiated']})")
        for f in d["findings"]:
            typer.echo(f"  {f['severity']:<8} {f['message']}")
    raise typer.Exit(exit_code(report.verdict.severity))


def _walk(paths: list[str]) -> list[tuple[str, bytes]]:
    files: list[tuple[str, bytes]] = []
    for text in paths:
        path = Path(text)
        try:
            if path.is_dir():
                found = sorted(p for p in path.rglob("*") if p.is_file())
            elif path.is_file():
                found = [path]
            else:
                found = None
        except OSError as exc:  # a name too long, a directory that cannot be listed
            raise InvalidInput("file.unreadable", f"cannot read {text}: {exc.strerror}") from None
        if found is None:
            raise InvalidInput("file.unreadable", f"cannot read {text}: no such file or directory")
        for p in found:
            if len(files) >= MAX_FILES:
                raise InvalidInput("import.too_many", f"more than {MAX_FILES} files")
            files.append((str(p), read_input(str(p))))
    return files


def import_paths(
    paths: Annotated[list[str], typer.Argument(help="Files or directories (recursively).")],
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help=f"PKCS#12 password (or set {PASSWORD_ENV}, which keeps it out of ps).",
        ),
    ] = None,
    contact: Annotated[
        list[str] | None,
        typer.Option("--contact", help="E-mail of a contact for every imported certificate."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Import certificates (PEM, DER, PKCS#7, PKCS#12) as external: no key, attributed to
    the organization whose grant covers their names."""
    secret = password if password is not None else (Settings().import_password or None)
    people = [(e.split("@")[0], e) for e in contact or []]
    report = services().external.import_files(
        OPERATOR,
        _walk(paths),
        password=secret.encode() if secret is not None else None,
        contacts=people,
    )
    if json_out:
        emit_json(report.as_dict())
    else:
        for v in report.added:
            owner = v.organization or "unassigned"
            typer.echo(
                f"added {v.id}: {', '.join(v.names)} (expires {v.not_after:%Y-%m-%d}, {owner})"
            )
        typer.echo(
            f"{len(report.added)} added, {report.duplicates} already in the inventory"
            + (f", {len(report.errors)} file(s) not read" if report.errors else "")
        )
        for e in report.errors:
            typer.echo(f"error: {e}", err=True)
    if report.errors and not report.added and not report.duplicates:
        raise typer.Exit(1)


def discover(
    targets: Annotated[
        list[str], typer.Argument(help="HOST[:PORT] or CIDR[:PORT,PORT…] (10.1.2.0/24:443,8443).")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Find the certificates endpoints serve; new ones are imported as external. Runs here,
    with a progress bar (the API and console start a background job instead)."""
    svc = services()
    expanded = svc.discovery.targets(targets)
    console = Console(stderr=True)
    with Progress(
        TextColumn("discovering"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=json_out or not console.is_terminal,
    ) as bar:
        task = bar.add_task("discover", total=len(expanded))
        report = svc.discovery.run(OPERATOR, expanded, progress=lambda _t, _ok: bar.advance(task))
    if json_out:
        emit_json(report.as_dict())
        return
    for f in report.found:
        typer.echo(f"{f['endpoint']}  {f['sha256'][:16]}…  {'new' if f['new'] else 'known'}")
    typer.echo(
        f"{report.endpoints} endpoints: {report.answered} answered, {report.unreachable} "
        f"unreachable, {report.refused} refused; {report.new_external} new external, "
        f"{report.known} known, {len(report.disappeared)} disappeared"
    )


@external_app.command("list")
def list_external(
    unassigned: Annotated[
        bool, typer.Option("--unassigned", help="Only those attributed to no organization.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """External certificates, soonest expiry first."""
    views = services().external.list(OPERATOR, unassigned=unassigned)
    if json_out:
        emit_json([v.as_dict() for v in views])
        return
    for v in views:
        typer.echo(
            f"{v.id:>6}  {v.not_after:%Y-%m-%d}  {v.organization or '-':<10} {', '.join(v.names)}"
            + ("  (gone)" if v.gone_at else "")
        )


@external_app.command("show")
def show_external(
    external_id: Annotated[
        int, typer.Argument(help="The external certificate's number.", min=1, max=MAX_ID)
    ],
    json_out: JsonOpt = False,
) -> None:
    """One external certificate: names, issuer, where it was found, contacts."""
    v = services().external.show(OPERATOR, external_id)
    if json_out:
        emit_json(v.as_dict())
        return
    for key, value in v.as_dict().items():
        if key == "contacts":
            value = ", ".join(f"{c['name']} <{c['email']}>" for c in value)
        elif isinstance(value, list):
            value = ", ".join(value)
        typer.echo(f"{key:<14} {'-' if value in (None, '') else value}")


@external_app.command("contacts")
def contacts(
    external_id: Annotated[
        int, typer.Argument(help="The external certificate's number.", min=1, max=MAX_ID)
    ],
    email: Annotated[list[str], typer.Argument(help="E-mail addresses (replace the list).")],
    json_out: JsonOpt = False,
) -> None:
    """Set who hears of the certificate's expiry and endpoint findings."""
    v = services().external.set_contacts(
        OPERATOR, external_id, [(e.split("@")[0], e) for e in email]
    )
    if json_out:
        emit_json(v.as_dict())
    else:
        typer.echo(f"{v.id}: contacts {', '.join(e for _n, e in v.contacts)}")


@external_app.command("assign")
def assign(
    external_id: Annotated[
        int, typer.Argument(help="The external certificate's number.", min=1, max=MAX_ID)
    ],
    org: Annotated[
        str | None, typer.Option("--org", help="Organization code (omit: none).")
    ] = None,
) -> None:
    """Attribute an external certificate to an organization."""
    v = services().external.assign(OPERATOR, external_id, org)
    typer.echo(f"{v.id}: {v.organization or 'unassigned'}")


@external_app.command("adopt")
def adopt(
    external_id: Annotated[
        int, typer.Argument(help="The external certificate's number.", min=1, max=MAX_ID)
    ],
    json_out: JsonOpt = False,
) -> None:
    """Replace an external certificate with a managed one: opens a new-certificate case."""
    v = services().external.adopt(OPERATOR, external_id)
    if json_out:
        emit_json(v.as_dict())
    else:
        typer.echo(f"{v.id}: case {v.adopted_case} opened to replace it")
        typer.echo(
            f"(or an ACME client of {v.organization} orders {', '.join(v.names)} at "
            f"{Settings().base_url.rstrip('/')}/acme/directory)"
        )
