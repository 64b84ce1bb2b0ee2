"""External certificates (R18): certificates certdesk did not issue, imported from files or
found on the network. Cert services upload files here and adopt a certificate (a case that
replaces it with a managed one); agencies see their own."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from certdesk.core.access import Action, Actor
from certdesk.errors import CertdeskError, InvalidInput
from certdesk.verify.formats import MAX_FILE_BYTES
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep

router = APIRouter()
MAX_UPLOADS = 100


def external_page(
    request: Request,
    c: Console,
    who: Actor,
    *,
    error: CertdeskError | None = None,
    targets: str = "",
) -> Response:
    context: dict[str, Any] = {
        "title": "External certificates",
        "items": c.services.external.list(who),
        "may_manage": who.may(Action.EXTERNAL_MANAGE),
        "discover_targets": targets,
    }
    if error is not None:
        return c.refused(request, "external.html", error, **context)
    return c.page(request, "external.html", **context)


@router.get("/external")
def external(request: Request, c: ConsoleDep, who: ViewerDep) -> Response:
    return external_page(request, c, who)


@router.post("/external/import")
async def import_files(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    files: Annotated[list[UploadFile], File()],
    password: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        if len(files) > MAX_UPLOADS:
            raise InvalidInput("import.too_many", f"at most {MAX_UPLOADS} files at once")
        blobs = [(f.filename or "upload", await f.read(MAX_FILE_BYTES + 1)) for f in files]
        report = c.services.external.import_files(
            who, blobs, password=password.encode() if password else None
        )
    except CertdeskError as exc:
        return external_page(request, c, who, error=exc)
    words = f"{len(report.added)} certificate(s) added, {report.duplicates} already known"
    if report.errors:
        words += ". Not read: " + "; ".join(report.errors)
    return c.redirect("/external", flash=words + ".")


@router.post("/external/{external_id}/adopt")
def adopt(request: Request, c: ConsoleDep, who: ViewerDep, external_id: str) -> Response:
    try:
        if not external_id.isdigit() or len(external_id) > 18:
            raise InvalidInput("external.bad_id", "no such external certificate")
        view = c.services.external.adopt(who, int(external_id))
    except CertdeskError as exc:
        return external_page(request, c, who, error=exc)
    return c.redirect(
        f"/cases/{view.adopted_case}",
        flash=f"Case {view.adopted_case} replaces the external certificate.",
    )
