"""``certdesk case fulfil|complete|close|certificates|download-key|revoke|reissue|renew``.

Cert services' side of a case (R8, R11, R12) on the command line, which acts as the local
operator: fulfil a case, complete or close it, read and download what it delivered, act
inside its R8 window, and open a renewal case for a certificate by hand.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from certdesk.cli.casefile import print_case
from certdesk.cli.cases import JsonOpt, Number, case_app
from certdesk.cli.common import (
    MAX_ID,
    OPERATOR,
    emit_json,
    read_input,
    read_text,
    services,
    write_output,
)
from certdesk.errors import InvalidInput
from certdesk.services.casework.window import Delivery, Reissue
from certdesk.services.pki.revocation import Reason, parse_reason

ReasonOpt = Annotated[
    str | None,
    typer.Option(
        "--reason",
        help="keyCompromise, superseded, cessationOfOperation, affiliationChanged, unspecified.",
    ),
]


def register(app: typer.Typer) -> None:
    """The commands join ``certdesk case`` (the group :mod:`certdesk.cli.cases` adds)."""
    del app  # they hang on the case group, not on the root
    case_app.command("fulfil")(fulfil)
    case_app.command("issuer")(issuer)
    case_app.command("complete")(complete)
    case_app.command("close")(close)
    case_app.command("certificates")(certificates)
    case_app.command("download-key")(download_key)
    case_app.command("revoke")(revoke)
    case_app.command("reissue")(reissue)
    case_app.command("renew")(renew)


def _reason(text: str | None) -> Reason | None:
    return parse_reason(text.strip()) if text else None


def _print_delivery(view: Delivery, json_out: bool) -> None:
    if json_out:
        emit_json(view.as_dict())
        return
    window = (
        f"window open until {view.window_ends_at:%Y-%m-%d %H:%M}Z"
        if view.window_open and view.window_ends_at
        else "window closed"
        if view.window_ends_at
        else "not delivered"
    )
    typer.echo(f"{view.number}  {view.state}  {window}")
    for c in view.certificates:
        current = f"submittal {c.submittal_id}" if c.submittal_id else "replaced"
        cost = f"{c.cost_cents / 100:.2f}" if c.cost_cents is not None else "-"
        typer.echo(
            f"{c.serial}\t{c.status}\t{current}\t{c.platform}\tkey {c.key}\tcost {cost}"
            f"\t{', '.join(c.names)}"
        )


def fulfil(number: Number, json_out: JsonOpt = False) -> None:
    """Issue every submittal's certificate and deliver the case (opens the R8 window)."""
    svc = services()
    view = svc.fulfilment.fulfil(OPERATOR, number)
    if json_out:
        emit_json(view.as_dict())
        return
    if view.delivered_at is None:
        # A vendor CA's certificates come later: the worker delivers the case then.
        typer.echo(f"case {view.number} is {view.state}; waiting for vendor orders", err=True)
    else:
        typer.echo(
            f"case {view.number} is {view.state}; window ends {view.window_ends_at}", err=True
        )
    for sub in view.submittals:
        got = sub.certificate_serial or (
            f"ordering at {sub.order.issuer} ({sub.order.state})" if sub.order else "-"
        )
        typer.echo(f"{got}\tsubmittal {sub.id}\t{', '.join(sub.names)}")


def issuer(
    number: Number,
    submittal: Annotated[
        int, typer.Argument(help="Submittal id (see case show).", min=1, max=MAX_ID)
    ],
    name: Annotated[
        str, typer.Option("--issuer", help="A vendor issuer's name, or 'builtin' (certdesk's CA).")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Choose the issuer of one submittal's certificate, before it is issued or ordered."""
    svc = services()
    chosen = svc.vendors.choose(OPERATOR, name)
    print_case(svc.fulfilment.choose_issuer(OPERATOR, number, submittal, chosen), json_out)


def complete(
    number: Number,
    reason: ReasonOpt = None,
    comment: Annotated[
        str, typer.Option("--comment", help="The answer to a question; a remark otherwise.")
    ] = "",
    json_out: JsonOpt = False,
) -> None:
    """Finish a revoke, delete, question or delegated administrator set-up case."""
    view = services().fulfilment.complete(OPERATOR, number, reason=_reason(reason), comment=comment)
    print_case(view, json_out)


def close(number: Number, json_out: JsonOpt = False) -> None:
    """Close a delivered case (ends its R8 window; a change case's old certificate is revoked)."""
    print_case(services().fulfilment.close(OPERATOR, number), json_out)


def certificates(
    number: Number,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Directory to write SERIAL.pem (leaf and chain) files into."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """The certificates a case delivered, with their chains."""
    view = services().window.certificates_of_case(OPERATOR, number)
    if out is not None:
        try:
            is_dir = out.is_dir()
        except OSError as exc:  # a name too long for the file system
            raise InvalidInput(
                "file.unwritable", f"cannot write into {out}: {exc.strerror}"
            ) from None
        if not is_dir:
            raise InvalidInput("file.unwritable", f"{out} is not a directory")
        for c in view.certificates:
            write_output(str(out / f"{c.serial}.pem"), c.fullchain_pem.encode())
    _print_delivery(view, json_out)


def download_key(
    number: Number,
    submittal: Annotated[int, typer.Option("--submittal", help="Submittal id.", min=1, max=MAX_ID)],
    password_file: Annotated[
        str, typer.Option("--password-file", help="File holding the PKCS#12 password; - stdin.")
    ],
    out: Annotated[str, typer.Option("--out", help="The .p12 file to create (0600), - stdout.")],
) -> None:
    """The generated private key with its certificate as a PKCS#12 — once (R12)."""
    password = read_text(password_file).rstrip("\r\n")
    if out != "-":
        # The key is erased as it is handed out: make sure it can be written first.
        target = Path(out)
        try:
            exists = target.exists()
        except OSError as exc:  # a name too long for the file system
            raise InvalidInput("file.unwritable", f"cannot write {out}: {exc.strerror}") from None
        if exists:
            raise InvalidInput("file.exists", f"{out} exists; refusing to overwrite a key")
        if not os.access(target.parent if str(target.parent) else Path("."), os.W_OK):
            raise InvalidInput("file.unwritable", f"cannot write {out}: no such writable directory")
    bundle = services().window.download_key(OPERATOR, number, submittal, password)
    write_output(out, bundle, private=True)
    if out != "-":
        typer.echo(
            f"wrote {out}; the stored key is erased and cannot be downloaded again", err=True
        )


def revoke(
    number: Number,
    serial: Annotated[str, typer.Option("--serial", help="A certificate of the case.")],
    reason: ReasonOpt = "unspecified",
    json_out: JsonOpt = False,
) -> None:
    """Revoke a certificate of the case inside its R8 window."""
    view = services().window.revoke(OPERATOR, number, serial, _reason(reason) or Reason.UNSPECIFIED)
    _print_delivery(view, json_out)


def reissue(
    number: Number,
    submittal: Annotated[int, typer.Option("--submittal", help="Submittal id.", min=1, max=MAX_ID)],
    csr: Annotated[str | None, typer.Option("--csr", help="New CSR file; - for stdin.")] = None,
    name: Annotated[
        list[str] | None, typer.Option("--name", help="New names (repeat); default: the same.")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="Key type of a new generated key.")
    ] = None,
    platform: Annotated[str | None, typer.Option("--platform", help="dedicated|virtual")] = None,
    validity_days: Annotated[int | None, typer.Option("--validity-days")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Replace a submittal's certificate, with changes, inside the R8 window."""
    change = Reissue(
        submittal_id=submittal,
        names=tuple(name or ()),
        csr=read_input(csr) if csr is not None else None,
        key_type=key,
        platform=platform,
        validity_days=validity_days,
    )
    _print_delivery(services().window.reissue(OPERATOR, number, change), json_out)


def renew(
    serial: Annotated[str, typer.Argument(help="Serial of the certificate to renew.")],
    json_out: JsonOpt = False,
) -> None:
    """Open a renewal case pre-filled from the certificate's submittal (R6)."""
    view = services().fulfilment.open_renewal(OPERATOR, serial)
    if json_out:
        emit_json(view.as_dict())
        return
    typer.echo(view.number)
    typer.echo(f"renewal case {view.number} is {view.state}", err=True)
