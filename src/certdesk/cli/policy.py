"""``certdesk policy check`` and ``certdesk csr …``."""

from __future__ import annotations

from typing import Annotated

import typer

from certdesk.cli.common import (
    OPERATOR,
    emit_json,
    read_input,
    read_text,
    services,
    write_output,
)
from certdesk.errors import InvalidInput
from certdesk.services.pki.csrs import parse_key_type

policy_app = typer.Typer(help="Name policy (R1 allowed names, R2 grants).", no_args_is_help=True)
csr_app = typer.Typer(help="Keys and certificate signing requests (R12).", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
    app.add_typer(csr_app, name="csr")


@policy_app.command("check")
def check(
    names: Annotated[list[str], typer.Argument(help="DNS names to judge.")],
    org: Annotated[
        str | None, typer.Option("--org", help="Judge against this organization's grants.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """One line per name; exit 0 only if every name is allowed."""
    verdicts = services().policy.check(OPERATOR, org, names)
    if json_out:
        emit_json([v.as_dict() for v in verdicts])
    else:
        for v in verdicts:
            typer.echo(v.line())
    if not all(v.allowed for v in verdicts):
        raise typer.Exit(1)


@csr_app.command("validate")
def validate(
    file: Annotated[str, typer.Argument(help="CSR file (PEM or DER), or - for stdin.")],
    org: Annotated[
        str | None, typer.Option("--org", help="Also judge names against this org's grants.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Check key type and size, signature and names; exit 0 only if the CSR is acceptable."""
    report = services().csrs.validate(OPERATOR, read_input(file), org)
    if json_out:
        emit_json(report.as_dict())
    else:
        f = report.facts
        typer.echo(
            f"key: {f.key_type}  signature: {f.signature_hash}  subject: {f.subject or '(empty)'}"
        )
        for v in report.verdicts:
            typer.echo(v.line())
        typer.echo("acceptable" if report.acceptable else "not acceptable")
    if not report.acceptable:
        raise typer.Exit(1)


@csr_app.command("new")
def new(
    name: Annotated[list[str], typer.Option("--name", help="DNS name; repeat for a SAN list.")],
    out_key: Annotated[str, typer.Option("--out-key", help="Where to write the private key.")],
    out_csr: Annotated[str, typer.Option("--out-csr", help="Where to write the CSR.")],
    key: Annotated[
        str, typer.Option("--key", help="ec256, ec384, rsa2048, rsa3072 or rsa4096.")
    ] = "ec256",
    passphrase: Annotated[
        str | None,
        typer.Option(
            "--passphrase",
            help="Encrypt the key (visible in process lists; prefer --passphrase-file).",
        ),
    ] = None,
    passphrase_file: Annotated[
        str | None, typer.Option("--passphrase-file", help="File holding the passphrase.")
    ] = None,
) -> None:
    """Generate a key and a CSR for the given names (names checked against R1)."""
    if passphrase and passphrase_file:
        raise InvalidInput("csr.passphrase", "give --passphrase or --passphrase-file, not both")
    secret = passphrase
    if passphrase_file:
        secret = read_text(passphrase_file).strip()
        if not secret:
            raise InvalidInput("csr.passphrase", f"{passphrase_file} is empty")
    made = services().csrs.generate(name, parse_key_type(key), secret)
    write_output(out_key, made.key_pem, private=True)
    write_output(out_csr, made.csr_pem)
    enc = "encrypted" if secret else "unencrypted"
    typer.echo(
        f"wrote {key} key ({enc}, mode 0600) to {out_key} and CSR for "
        f"{', '.join(made.names)} to {out_csr}"
    )
