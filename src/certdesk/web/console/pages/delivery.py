"""Cert services' work on a case and the agency's R8 window in the console (R8, R12).

Start, fulfil, complete and close a case; revoke or reissue inside the 25-day window;
download a generated key once. Each is a small POST form on the case page
(:mod:`certdesk.web.console.pages.casework`), answered the same way: 303 back to the case with
a flash message, or the page again with the refusal.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from certdesk.errors import CertdeskError, InvalidInput
from certdesk.services.casework.casefile import CaseView
from certdesk.services.casework.window import Delivery, Reissue
from certdesk.services.pki.revocation import Reason, parse_reason
from certdesk.web.console.frame import ConsoleDep, ViewerDep
from certdesk.web.console.pages.cases import FormDep, csr_given, kept, names_of, text, whole
from certdesk.web.console.pages.casework import (
    CaseAction,
    Note,
    SubmittalId,
    act,
    add_actions,
    case_page,
)

router = APIRouter()


# --- cert services' work -------------------------------------------------------------------


add_actions(
    router,
    CaseAction(
        "start",
        "The case is in progress.",
        lambda c, who, n, note: c.services.cases.start(who, n, note),
        field="start_note",
    ),
    CaseAction(
        "fulfil",
        "The certificates are issued and the case is delivered.",
        lambda c, who, n, _: c.services.fulfilment.fulfil(who, n),
    ),
    CaseAction(
        "close",
        "The case is closed; its 25-day window has ended.",
        lambda c, who, n, _: c.services.fulfilment.close(who, n),
    ),
)


@router.post("/cases/{number}/complete")
def complete_case(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    number: str,
    complete_reason: Annotated[str, Form(max_length=40)] = "",
    complete_comment: Note = "",
) -> Response:
    def call() -> CaseView:
        reason = parse_reason(complete_reason) if complete_reason else None
        return c.services.fulfilment.complete(who, number, reason=reason, comment=complete_comment)

    return act(
        request,
        c,
        who,
        number,
        call,
        "The case is completed and closed.",
        {"complete_comment": complete_comment},
    )


# --- the R8 window and the R12 key ----------------------------------------------------------


@router.post("/cases/{number}/revoke")
def revoke_in_window(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    number: str,
    serial: Annotated[str, Form(max_length=80)] = "",
    reason: Annotated[str, Form(max_length=40)] = str(Reason.UNSPECIFIED),
) -> Response:
    return act(
        request,
        c,
        who,
        number,
        lambda: c.services.window.revoke(who, number, serial, parse_reason(reason)),
        f"Certificate {serial} is revoked.",
    )


@router.post("/cases/{number}/reissue")
def reissue(
    request: Request, c: ConsoleDep, who: ViewerDep, number: str, form: FormDep
) -> Response:
    """Replace a submittal's certificate with changes inside the window (R8)."""
    values = kept(form)

    def call() -> Delivery:
        sub_id = whole(text(form, "submittal_id"), "submittal.unknown", "submittal")
        if sub_id is None:
            raise InvalidInput("submittal.unknown", "which submittal? (submittal_id)")
        software = text(form, "server_software")
        version = text(form, "server_version")
        change = Reissue(
            submittal_id=sub_id,
            names=names_of(text(form, "names")),
            csr=csr_given(form, "", "the reissue"),
            key_type=text(form, "key_type").strip() or None,
            platform=text(form, "platform").strip() or None,
            validity_days=whole(text(form, "validity_days"), "submittal.validity", "validity"),
            server_software=software if software.strip() else None,
            server_version=version if version.strip() else None,
        )
        return c.services.window.reissue(who, number, change)

    return act(
        request,
        c,
        who,
        number,
        call,
        "The replacement certificate is issued; the one it replaces is revoked (superseded).",
        values,
    )


@router.post("/cases/{number}/submittals/{submittal_id}/key")
def download_key(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    number: str,
    submittal_id: SubmittalId,
    password: Annotated[str, Form(max_length=1024)] = "",
    confirm_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """The key certdesk generated, once, as a PKCS#12 protected by the password (R12)."""
    try:
        if password != confirm_password:
            raise InvalidInput(
                "password.mismatch", "the two passwords differ; type the PKCS#12 password again"
            )
        bundle = c.services.window.download_key(who, number, submittal_id, password)
    except CertdeskError as exc:
        return case_page(request, c, who, number, exc)
    name = f"{number.strip().upper()}-{submittal_id}.p12"
    return Response(
        bundle,
        media_type="application/x-pkcs12",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
