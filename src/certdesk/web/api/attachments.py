"""/api/v1/cases/{number}/attachments: files attached to a case, for the case's parties.

Another agency's case answers like an unknown one, files and all (``case.unknown``, 404).
A file is sent as the request body (any content type; the name in ``filename``) and comes
back as a download whose type certdesk recognised in the bytes. A body past
``CERTDESK_ATTACHMENT_MAX_BYTES`` is refused with 413 (``attachment.too_large``, the limit in
the problem's ``limit``) as soon as it is known to be too large. Every download and every
deletion is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from certdesk.core.attachments import too_large
from certdesk.errors import InvalidInput
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.downloads import download_headers
from certdesk.web.identifiers import CaseNumber
from certdesk.web.inputs import takes_raw_body
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(
    prefix="/api/v1/cases/{number}/attachments", tags=["cases"], responses=AUTHENTICATED
)

AttachmentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class AttachmentOut(BaseModel):
    id: int
    case: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    created_at: datetime


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it grows past ``limit`` bytes (never read
    whole into memory first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(size, limit, more=True)
        chunks.append(chunk)
    return b"".join(chunks)


@router.get("", response_model=list[AttachmentOut], responses=problems(404, 422))
def list_attachments(
    number: CaseNumber, svc: ServicesDep, who: ActorDep
) -> list[dict[str, object]]:
    """The case's files, oldest first."""
    return [a.as_dict() for a in svc.attachments.list(who, number)]


@router.post(
    "",
    response_model=AttachmentOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
@takes_raw_body
async def attach(
    number: CaseNumber,
    request: Request,
    svc: ServicesDep,
    who: ActorDep,
    filename: Annotated[str, Query(min_length=1, max_length=255)],
) -> dict[str, object]:
    """Attach the request body to the case (audited)."""
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        # A browser-style upload wraps the file in form parts: not the file's bytes.
        raise InvalidInput(
            "attachment.form",
            "send the file's bytes as the body (application/octet-stream), not as a form",
        )
    data = await read_limited(request, svc.attachments.limits.max_bytes)
    view = await run_in_threadpool(svc.attachments.attach, who, number, filename, data)
    return view.as_dict()


@router.get(
    "/{attachment_id}",
    response_class=Response,
    responses={
        **problems(404, 422),
        200: {
            # served as the content type it was attached with (a PDF, an image, a CSR …)
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The file",
        },
    },
)
def download(
    number: CaseNumber, attachment_id: AttachmentId, svc: ServicesDep, who: ActorDep
) -> Response:
    """One file of the case, as a download."""
    view, data = svc.attachments.fetch(who, number, attachment_id)
    return Response(data, media_type=view.content_type, headers=download_headers(view.filename))


@router.delete(
    "/{attachment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(403, 404, 409, 422),
)
def delete_attachment(
    number: CaseNumber, attachment_id: AttachmentId, svc: ServicesDep, who: ActorDep
) -> Response:
    """Delete one file of the case and its bytes (audited): cert services any file, the
    case editors of the organization that attached it their own; not once the case is
    closed or cancelled (409)."""
    svc.attachments.delete(who, number, attachment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
