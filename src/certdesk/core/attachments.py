"""Case attachments: what a stored file is, and the name it is stored under.

Whatever an uploader says a file is counts for nothing: the type is recognised from the
file's first bytes among a short list of document and image formats, and everything else is
``application/octet-stream``. Nothing is ever recognised as HTML, SVG or script, so a file
cannot run in a browser that opens it; it is served as a download anyway
(``Content-Disposition: attachment`` and ``nosniff``, web layer).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from certdesk.core.access import Action, Actor
from certdesk.core.workflow import State
from certdesk.errors import Conflict, Forbidden, InvalidInput, TooLarge

OCTET_STREAM = "application/octet-stream"
MAX_FILENAME = 200

# Magic numbers (the formats' own specifications: ISO 32000 §7.5.2, PNG §5.2, JFIF, GIF89a,
# APPNOTE.TXT §4.3.7, OLE2/CFB) → type.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
)
# Office Open XML documents are ZIP files; their extension says which kind.
_OOXML = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NAME_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MARKUP = re.compile(rb"^\s*<", re.ASCII)


def sniff(data: bytes, filename: str = "") -> str:
    """The content type recognised in ``data`` (``filename``'s extension only tells ZIP
    kinds apart). Text is ``text/plain`` (a PEM file ``application/x-pem-file``) when it is
    UTF-8 without control characters and does not start like markup."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            if kind == "application/zip":
                return _OOXML.get(filename.rpartition(".")[2].lower(), kind)
            return kind
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return OCTET_STREAM
    if _TEXT_CONTROL.search(text) or _MARKUP.match(data):
        return OCTET_STREAM
    if text.lstrip().startswith("-----BEGIN "):
        return "application/x-pem-file"
    return "text/plain"


@dataclass(frozen=True)
class AttachmentLimits:
    max_bytes: int
    max_per_case: int


def check_upload(data: bytes, limits: AttachmentLimits, already: int) -> None:
    """Raise unless ``data`` may be attached to a case holding ``already`` files."""
    if not data:
        raise InvalidInput("attachment.empty", "the file is empty")
    if len(data) > limits.max_bytes:
        raise too_large(len(data), limits.max_bytes)
    if already >= limits.max_per_case:
        raise InvalidInput(
            "attachment.too_many", f"a case holds at most {limits.max_per_case} files"
        )


def too_large(size: int, limit: int, *, more: bool = False) -> TooLarge:
    """The refusal of a file past the limit (HTTP 413); ``more``: only known to exceed it."""
    has = f"more than {limit:,}" if more else f"{size:,}"
    return TooLarge(
        "attachment.too_large",
        f"the file has {has} bytes; at most {limit:,} are accepted",
        limit=limit,
    )


# A finished case's files are its record: they stay as they were when it ended.
FINISHED = frozenset({State.CLOSED, State.CANCELLED})


def removal_refusal(
    actor: Actor, case_state: State, uploader_org_id: int | None
) -> Forbidden | Conflict | None:
    """Why ``actor`` may not delete a file attached by ``uploader_org_id``'s people (None:
    cert services) to a case in ``case_state``, or None when they may.

    Cert services may delete any file; an organization's case editors (those who may open
    and edit its cases) may delete the files their organization attached, never cert
    services' nor another party's. Nobody deletes from a closed or cancelled case.
    """
    staff = actor.is_global and actor.may(Action.CASE_WORK)
    editor = (
        actor.may(Action.CASE_OPEN)
        and uploader_org_id is not None
        and actor.org_id == uploader_org_id
    )
    if not (staff or editor):
        return Forbidden(
            "attachment.not_yours",
            "only the case editors of the organization that attached a file, and certificate"
            " services, may delete it",
        )
    if case_state in FINISHED:
        return Conflict(
            "attachment.case_finished",
            f"the case is {case_state.value}: its files stay as they are",
        )
    return None


def check_removal(actor: Actor, case_state: State, uploader_org_id: int | None) -> None:
    """Raise :func:`removal_refusal`'s refusal, if any."""
    refusal = removal_refusal(actor, case_state, uploader_org_id)
    if refusal is not None:
        raise refusal


def clean_filename(name: str) -> str:
    """The name a file is stored and offered under: the last part of any path, without
    control characters, NFC, at most 200 characters (the extension kept); ``attachment``
    when nothing is left."""
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFC", _NAME_CONTROL.sub("", base))
    base = " ".join(base.split()).strip(" .")
    if not base:
        return "attachment"
    if len(base) > MAX_FILENAME:
        stem, dot, ext = base.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            base = stem[: MAX_FILENAME - len(ext) - 1] + "." + ext
        else:
            base = base[:MAX_FILENAME]
    return base
