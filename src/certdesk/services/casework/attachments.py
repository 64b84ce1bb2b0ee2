"""Files attached to a case (the seed keeps "everything attached to the case").

Only the case's parties see them: the requesting organization's people and cert services
(and auditors, who read everything). For anyone else a case's files answer like the case
itself: not found, so another agency cannot tell that a case or a file exists. Attaching is
a change and is audited (``case.attach``, R15) with the file's name, size and SHA-256; so
is each download (``case.attachment_download``: who took which file, when) and each
deletion (``case.attachment_delete``), which removes the file's bytes. Cert services may
delete any file, an organization's case editors the files their organization attached,
while the case is not closed or cancelled (:func:`certdesk.core.attachments.check_removal`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor
from certdesk.core.attachments import (
    AttachmentLimits,
    check_removal,
    check_upload,
    clean_filename,
    sniff,
)
from certdesk.core.workflow import State
from certdesk.errors import InvalidInput, NotFound
from certdesk.services.audit import AuditService
from certdesk.services.casework.casefile import load_case
from certdesk.services.runtime import Runtime
from certdesk.store import attachments as attachment_store
from certdesk.store.models import Case, CaseAttachment


@dataclass(frozen=True)
class AttachmentView:
    id: int
    case_number: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    created_at: datetime
    uploader_org_id: int | None = None  # None: cert services (not in the API's answer)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "case": self.case_number,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "uploaded_by": self.uploaded_by,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }


def _view(row: CaseAttachment, number: str) -> AttachmentView:
    return AttachmentView(
        row.id,
        number,
        row.filename,
        row.content_type,
        row.size,
        row.sha256,
        row.uploaded_by,
        row.created_at,
        row.uploaded_by_org_id,
    )


class AttachmentService:
    def __init__(self, rt: Runtime, audit: AuditService) -> None:
        self._rt = rt
        self._audit = audit

    @property
    def limits(self) -> AttachmentLimits:
        settings = self._rt.settings
        return AttachmentLimits(settings.attachment_max_bytes, settings.attachment_max_per_case)

    def attach(self, actor: Actor, number: str, filename: str, data: bytes) -> AttachmentView:
        """Store ``data`` on case ``number`` (any state, like a comment); audited."""
        name = clean_filename(filename)
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            case = load_case(s, actor, number, Action.CASE_COMMENT, for_update=True)
            check_upload(data, self.limits, attachment_store.count_of_case(s, case.id))
            row = attachment_store.add(
                s,
                CaseAttachment(
                    case_id=case.id,
                    filename=name,
                    content_type=sniff(data, name),
                    size=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                    data=data,
                    uploaded_by=actor.name,
                    uploaded_by_org_id=None if actor.is_global else actor.org_id,
                    created_at=now,
                ),
            )
            view = _view(row, case.number)
            self._audit.record(
                s,
                actor,
                "case.attach",
                "case",
                case.number,
                attachment_id=row.id,
                filename=name,
                content_type=row.content_type,
                size=row.size,
                sha256=row.sha256,
            )
            return view

    def list(self, actor: Actor, number: str) -> list[AttachmentView]:
        with self._rt.reads() as s:
            case = load_case(s, actor, number, Action.CASE_READ)
            return [_view(r, case.number) for r in attachment_store.of_case(s, case.id)]

    def fetch(self, actor: Actor, number: str, attachment_id: int) -> tuple[AttachmentView, bytes]:
        """One file of the case and its bytes; the download is audited (R15: who took which
        file, when), in the transaction that reads it, so no file leaves unrecorded."""
        with self._rt.sessions.begin() as s:
            case, row = self._one(s, actor, number, attachment_id)
            view, data = _view(row, case.number), bytes(row.data)
            self._audit.record(
                s,
                actor,
                "case.attachment_download",
                "case",
                case.number,
                attachment_id=row.id,
                filename=row.filename,
                size=row.size,
                sha256=row.sha256,
            )
            return view, data

    def delete(self, actor: Actor, number: str, attachment_id: int) -> AttachmentView:
        """Delete one file of the case and its bytes (audited with the file's name, size and
        SHA-256); see :func:`certdesk.core.attachments.check_removal` for who may."""
        with self._rt.sessions.begin() as s:
            case, row = self._one(s, actor, number, attachment_id, for_update=True)
            check_removal(actor, State(case.state), row.uploaded_by_org_id)
            view = _view(row, case.number)
            attachment_store.remove(s, row)
            self._audit.record(
                s,
                actor,
                "case.attachment_delete",
                "case",
                case.number,
                attachment_id=view.id,
                filename=view.filename,
                size=view.size,
                sha256=view.sha256,
                uploaded_by=view.uploaded_by,
            )
            return view

    @staticmethod
    def _one(
        s: Session, actor: Actor, number: str, attachment_id: int, *, for_update: bool = False
    ) -> tuple[Case, CaseAttachment]:
        if not 0 < attachment_id < 2**31:
            raise InvalidInput("attachment.id", f"{attachment_id} is not an attachment id")
        case = load_case(s, actor, number, Action.CASE_READ, for_update=for_update)
        row = attachment_store.one(s, case.id, attachment_id)
        if row is None:
            raise NotFound(
                "attachment.unknown", f"case {case.number} has no attachment {attachment_id}"
            )
        return case, row
