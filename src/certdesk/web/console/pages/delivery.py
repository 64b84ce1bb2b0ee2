"""Cert services' work on a case and the agency's R8 window in the console (R8, R12).

Start, fulfil, complete and close a case; revoke or reissue inside the 25-day window;
download a generated key once. Each is a small POST form on the case page
(:mod:`certdesk.web.console.pages.casework`), answered the same way: 303 back to the case with
a flash message, or the page again with the refusal.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from certdesk.core.access import Actor
from certdesk.core.wall_clock import pacific_time
from certdesk.core.workflow import retire_at
from certdesk.errors import CertdeskError, Conflict, InvalidInput, NotFound
from certdesk.services.casework.casefile import CaseView
from certdesk.services.casework.window import Delivery, Reissue
from certdesk.services.pki.revocation import Reason, parse_reason
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep
from certdesk.web.console.pages.cases import (
    FormDep,
    case_url,
    csr_given,
    kept,
    names_of,
    text,
    whole,
)
from certdesk.web.console.pages.casework import (
    CaseAction,
    Note,
    SubmittalId,
    act,
    add_actions,
    case_page,
    context,
)
from certdesk.web.console.pages.certificates import REASONS

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


# Refusals about the case as a whole (its window): shown on the case page, not the action's.
_CASE_LEVEL = frozenset({"case.window_closed", "case.not_delivered", "case.unknown"})


def _window_page(
    request: Request,
    c: Console,
    who: Actor,
    number: str,
    template: str,
    *,
    serial: str = "",
    submittal_id: str = "",
    error: CertdeskError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """A window action's own page (R8): what it will do, then the form. Another
    organization's case is not found; a serial or submittal not of this case neither."""
    ctx = context(c, who, number)
    delivery = ctx["delivery"]
    if delivery is None or not ctx["may"].window:
        raise Conflict("case.window_closed", "the window of this case is not open")
    # Without a choice yet, the page lists what may be chosen.
    ctx["cert"] = ctx["sub"] = None
    if template == "case_revoke.html":
        active = [x for x in delivery.certificates if x.status == "active"]
        ctx["choices"] = active
        wanted = serial.strip().lower()
        found = [x for x in active if x.serial == wanted]
        if wanted and not found:
            if error is not None:  # e.g. revoked meanwhile: the case page says so
                return case_page(request, c, who, number, error)
            raise NotFound("cert.unknown", f"no active certificate {serial!r} on this case")
        ctx["cert"] = found[0] if found else None
        ctx["title"] = "Revoke a certificate of this case"
    else:
        delivered = [x for x in ctx["case"].submittals if x.certificate_serial]
        ctx["choices"] = delivered
        subs = [x for x in delivered if str(x.id) == submittal_id.strip()]
        if submittal_id.strip() and not subs:
            if error is not None:
                return case_page(request, c, who, number, error, values)
            raise NotFound("submittal.unknown", f"no delivered submittal {submittal_id!r}")
        ctx["sub"] = subs[0] if subs else None
        ctx["title"] = "Reissue a certificate of this case"
        now = c.services.rt.clock()
        ctx["old_until"] = retire_at(
            delivery.window_ends_at, now, c.services.rt.settings.reissue_overlap_hours
        )
    ctx["values"] = values or {}
    ctx["chosen_reason"] = (values or {}).get("reason", str(Reason.UNSPECIFIED))
    ctx["revoke_reasons"] = [(str(r), label, hint) for r, label, hint in REASONS]
    if error is not None:
        return c.refused(request, template, error, **ctx)
    return c.page(request, template, **ctx)


@router.get("/cases/{number}/revoke")
def revoke_confirm(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    number: str,
    serial: Annotated[str, Query(max_length=80)] = "",
) -> Response:
    return _window_page(request, c, who, number, "case_revoke.html", serial=serial)


@router.post("/cases/{number}/revoke")
def revoke_in_window(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    number: str,
    serial: Annotated[str, Form(max_length=80)] = "",
    reason: Annotated[str, Form(max_length=40)] = str(Reason.UNSPECIFIED),
) -> Response:
    try:
        c.services.window.revoke(who, number, serial, parse_reason(reason))
    except CertdeskError as exc:
        if exc.code in _CASE_LEVEL:
            return case_page(request, c, who, number, exc)
        return _window_page(
            request,
            c,
            who,
            number,
            "case_revoke.html",
            serial=serial,
            error=exc,
            values={"reason": reason},
        )
    return c.redirect(case_url(number.strip()), flash=f"Certificate {serial} is revoked.")


@router.get("/cases/{number}/reissue")
def reissue_form(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    number: str,
    submittal_id: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return _window_page(request, c, who, number, "case_reissue.html", submittal_id=submittal_id)


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

    try:
        done = call()
    except CertdeskError as exc:
        if exc.code in _CASE_LEVEL:
            return case_page(request, c, who, number, exc, values)
        return _window_page(
            request,
            c,
            who,
            number,
            "case_reissue.html",
            submittal_id=text(form, "submittal_id"),
            error=exc,
            values=values,
        )
    replaced = [x for x in done.certificates if x.retire_at is not None]
    if replaced:
        until = pacific_time(max(x.retire_at for x in replaced if x.retire_at))
        flash = (
            "The replacement certificate is issued. The one it replaces stays valid until"
            f" {until}, then it is revoked automatically: install the new one before then."
        )
    else:
        flash = "The replacement certificate is issued; the one it replaces is revoked."
    return c.redirect(case_url(done.number), flash=flash)


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
