"""``certdesk backup --out FILE`` and ``certdesk restore FILE``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from certdesk.cli.common import emit_json, read_input, schema_in_change, services
from certdesk.errors import InvalidInput
from certdesk.services.backup import BackupService

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
PassphraseOpt = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="File holding the backup passphrase (one line); without it, asked on the terminal.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)


def backup(
    out: Annotated[Path, typer.Option("--out", help="The backup file to write (mode 0600).")],
    passphrase_file: PassphraseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Back up the database, CA keys and secrets into one encrypted file, while certdesk runs."""
    phrase = _passphrase(passphrase_file, confirm=True)
    report = BackupService(services().rt).create(out, phrase)
    manifest = report.manifest
    if json_out:
        emit_json({"file": str(report.path), **_summary(manifest)})
        return
    rows = sum(manifest["tables"].values())
    typer.echo(
        f"backup written: {report.path} ({len(manifest['tables'])} tables, {rows} rows,"
        f" {sum(1 for m in manifest['members'] if m.startswith('files/'))} key and secret files;"
        f" schema {manifest['schema_revision']})"
    )
    if manifest["ca_passphrase"] == "setting":
        typer.echo(
            "note: the CA keys are locked with CERTDESK_CA_PASSPHRASE, which is not in the"
            " backup: keep it with the backup passphrase",
            err=True,
        )


def restore(
    file: Annotated[Path, typer.Argument(help="A file made by 'certdesk backup'.")],
    passphrase_file: PassphraseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Restore a backup into an empty data directory and an empty database."""
    phrase = _passphrase(passphrase_file, confirm=False)
    with schema_in_change():  # the database is empty: no schema to check yet
        svc = services()
    report = BackupService(svc.rt).restore(file, phrase)
    if json_out:
        emit_json({"file": str(file), "restored_files": report.files, **_summary(report.manifest)})
        return
    manifest = report.manifest
    typer.echo(
        f"restored {file}: backup of {manifest['created_at']} ({manifest['backend']}, schema"
        f" {manifest['schema_revision']}), {sum(manifest['tables'].values())} rows,"
        f" {len(report.files)} key and secret files"
    )
    typer.echo("next: run 'certdesk init' (voids issuances the backup caught mid-way), then start")


def _summary(manifest: dict[str, object]) -> dict[str, object]:
    keys = ("certdesk_version", "schema_revision", "backend", "created_at", "tables")
    return {k: manifest[k] for k in keys}


def _passphrase(path: Path | None, *, confirm: bool) -> bytes:
    """The passphrase: the first line of ``--passphrase-file`` (without its line ending), or
    typed on a terminal (twice for a new backup); never an option's value, which other users
    could read in the process list."""
    if path is not None:
        lines = read_input(str(path)).splitlines()
        if not lines or not lines[0]:
            raise InvalidInput("backup.passphrase", f"{path} is empty: write the passphrase in it")
        return lines[0]
    if not sys.stdin.isatty():
        raise typer.BadParameter(
            "no terminal to ask for the passphrase on; give --passphrase-file",
            param_hint="--passphrase-file",
        )
    typed: str = typer.prompt(
        "Backup passphrase", hide_input=True, confirmation_prompt=confirm, err=True
    )
    return typed.encode()
