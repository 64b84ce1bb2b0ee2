"""Files attached to a case, on the case page: attach one, download one, delete one.

Only the case's parties see them (the case service answers another agency's case as not
found); a file always comes back as a download, in the type certdesk recognised. A file past
the limit is refused with 413 and the page saying so in plain words; downloads and deletions
are audited by the service.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from certdesk.core.access import Actor
from certdesk.core.attachments import too_large
from certdesk.errors import CertdeskError, InvalidInput
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep
from certdesk.web.console.pages.cases import case_url
from certdesk.web.console.pages.casework import case_page
from certdesk.web.downloads import download_headers

router = APIRouter()

AttachmentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/cases/{number}/attachments")
async def attach(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    number: str,
    attachment: Annotated[UploadFile | None, File()] = None,
) -> Response:
    limit = c.services.attachments.limits.max_bytes
    name, data = "", b""
    if attachment is not None and attachment.filename:
        name, data = attachment.filename, await attachment.read(limit + 1)
    return await run_in_threadpool(_attach, request, c, who, number, name, data, limit)


def _attach(
    request: Request, c: Console, who: Actor, number: str, name: str, data: bytes, limit: int
) -> Response:
    try:
        if not name:
            raise InvalidInput("attachment.missing", "choose a file to attach")
        if len(data) > limit:
            raise too_large(len(data), limit, more=True)
        view = c.services.attachments.attach(who, number, name, data)
    except CertdeskError as exc:
        return case_page(request, c, who, number, exc)
    return c.redirect(
        case_url(view.case_number) + "#attachments", flash=f"{view.filename} is attached."
    )


@router.get("/cases/{number}/attachments/{attachment_id}")
def download(c: ConsoleDep, who: ViewerDep, number: str, attachment_id: AttachmentId) -> Response:
    view, data = c.services.attachments.fetch(who, number, attachment_id)
    return Response(data, media_type=view.content_type, headers=download_headers(view.filename))


@router.post("/cases/{number}/attachments/{attachment_id}/delete")
def delete(
    request: Request, c: ConsoleDep, who: ViewerDep, number: str, attachment_id: AttachmentId
) -> Response:
    try:
        view = c.services.attachments.delete(who, number, attachment_id)
    except CertdeskError as exc:
        return case_page(request, c, who, number, exc)
    return c.redirect(
        case_url(view.case_number) + "#attachments", flash=f"{view.filename} is deleted."
    )
