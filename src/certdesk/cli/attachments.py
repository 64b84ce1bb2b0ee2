"""``certdesk case attach|attachments|attachment|detach``: files attached to a case.

The command line runs with cert services' authority; every file attached, downloaded or
deleted is audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from certdesk.cli.cases import JsonOpt, Number, case_app
from certdesk.cli.common import MAX_ID, OPERATOR, emit_json, read_input, services, write_output
from certdesk.core.attachments import too_large
from certdesk.errors import InvalidInput
from certdesk.services.casework.attachments import AttachmentView


def register(app: typer.Typer) -> None:
    """The commands join ``certdesk case`` (the group :mod:`certdesk.cli.cases` adds)."""
    del app
    case_app.command("attach")(attach)
    case_app.command("attachments")(attachments)
    case_app.command("attachment")(attachment)
    case_app.command("detach")(detach)


def _line(a: AttachmentView) -> str:
    when = a.created_at.isoformat().replace("+00:00", "Z")
    return f"{a.id}\t{a.filename}\t{a.content_type}\t{a.size}\t{a.uploaded_by}\t{when}"


def attach(
    number: Number,
    file: Annotated[str, typer.Argument(help="The file to attach (- for stdin).")],
    name: Annotated[
        str | None, typer.Option("--name", help="The file's name on the case (default: its own).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Attach a file to a case (at most CERTDESK_ATTACHMENT_MAX_BYTES)."""
    svc = services().attachments
    if file != "-":
        try:
            size = Path(file).stat().st_size
        except OSError as exc:
            raise InvalidInput("file.unreadable", f"cannot read {file}: {exc.strerror}") from None
        if size > svc.limits.max_bytes:  # refused before the file is read
            raise too_large(size, svc.limits.max_bytes)
    data = read_input(file)
    view = svc.attach(OPERATOR, number, name or (Path(file).name if file != "-" else ""), data)
    if json_out:
        emit_json(view.as_dict())
    else:
        typer.echo(_line(view))


def attachments(number: Number, json_out: JsonOpt = False) -> None:
    """The files attached to a case: id, name, type, bytes, who, when."""
    found = services().attachments.list(OPERATOR, number)
    if json_out:
        emit_json([a.as_dict() for a in found])
        return
    for a in found:
        typer.echo(_line(a))


def attachment(
    number: Number,
    attachment_id: Annotated[
        int, typer.Argument(help="Attachment id (see case attachments).", min=1, max=MAX_ID)
    ],
    out: Annotated[
        str | None, typer.Option("-o", "--out", help="Write the file here (default: stdout).")
    ] = None,
) -> None:
    """Download one file of a case (audited)."""
    _view, data = services().attachments.fetch(OPERATOR, number, attachment_id)
    write_output(out, data)


def detach(
    number: Number,
    attachment_id: Annotated[
        int, typer.Argument(help="Attachment id (see case attachments).", min=1, max=MAX_ID)
    ],
    json_out: JsonOpt = False,
) -> None:
    """Delete one file of a case and its bytes (audited; not once the case is closed or
    cancelled: exit 1)."""
    view = services().attachments.delete(OPERATOR, number, attachment_id)
    if json_out:
        emit_json(view.as_dict())
    else:
        typer.echo(f"deleted {view.id}\t{view.filename}\t{view.size}\tsha256 {view.sha256}")
