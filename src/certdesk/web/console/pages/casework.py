"""One case in the console (R3, R4, R5, R8, R12): its page and every action on it.

The page shows the case as ``services.cases.show`` gives it — facts, R5 dates, submittals,
approvals (and what is still needed), comments, history — and what it delivered
(``services.window.certificates_of_case``). Each action is a small POST form calling the same
service method as the API; success answers 303 back to the page with a flash message, a
domain error re-renders the page with the error and nothing changed.

Which forms are offered is asked of :func:`certdesk.core.cases.offers` — the same rules the
services apply — only so that nobody is offered a button that cannot work; the service decides
every call, a forged form included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from inspect import Parameter, Signature
from typing import Annotated, Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response

from certdesk.core.access import Action, Actor
from certdesk.core.attachments import removal_refusal
from certdesk.core.cases import offers
from certdesk.core.messages import state_label
from certdesk.core.workflow import CaseType
from certdesk.errors import CertdeskError, InvalidInput, NotFound
from certdesk.services.casework.casefile import CaseView
from certdesk.services.casework.cases import CaseEdit
from certdesk.services.pki.revocation import Reason
from certdesk.services.visibility import parse_serial
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep
from certdesk.web.console.pages.cases import (
    CERT_TYPE_OPTIONS,
    KEY_OPTIONS,
    PLATFORM_OPTIONS,
    STEP_LABELS,
    TYPE_LABELS,
    FormDep,
    admins_of,
    case_url,
    day,
    kept,
    lines_of,
    submittal_of,
    text,
)
from certdesk.web.status import status_of

router = APIRouter()

Note = Annotated[str, Form(max_length=20_000)]
SubmittalId = Annotated[int, Path(ge=1, le=2**31 - 1)]
REASON_OPTIONS = [(str(r), state_label(r)) for r in Reason]
# Default revocation reasons of revoke and delete cases, as services/fulfilment.py applies them.
COMPLETE_REASONS = [("", "The case's default"), *REASON_OPTIONS]


class _Numbered(Protocol):
    @property
    def number(self) -> str: ...


def context(c: Console, who: Actor, number: str) -> dict[str, Any]:
    """Everything the case page shows; raises the service's error (404 for another
    organization's case)."""
    svc = c.services
    view = svc.cases.show(who, number)
    attachments = svc.attachments.list(who, view.number)
    delivery = (
        svc.window.certificates_of_case(who, view.number) if view.delivered_at is not None else None
    )
    may = offers(
        who,
        view.facts,
        steps=view.steps,
        decisions=view.current_decisions,
        window_open=delivery is not None and delivery.window_open,
    )
    return {
        "title": f"Case {view.number}",
        "case": view,
        "delivery": delivery,
        "may": may,
        "type_label": TYPE_LABELS[CaseType(view.summary.type)],
        "takes_submittals": may.takes_submittals,
        "may_target": may.may_target,
        "delegated": may.delegated,
        "revokes": may.revokes,
        "question": may.question,
        "step_labels": {str(k): v for k, v in STEP_LABELS.items()},
        "cert_types": CERT_TYPE_OPTIONS,
        "platforms": PLATFORM_OPTIONS,
        "keys": KEY_OPTIONS,
        "reasons": REASON_OPTIONS,
        "complete_reasons": COMPLETE_REASONS,
        "min_password": svc.rt.settings.password_min_length,
        # Files attached to the case (web/console/pages/attachments.py).
        "attachments": attachments,
        "may_attach": who.may(Action.CASE_COMMENT),
        "deletable": {
            a.id
            for a in attachments
            if removal_refusal(who, view.summary.state, a.uploader_org_id) is None
        },
        "attachment_max": svc.attachments.limits.max_bytes,
    }


def case_page(
    request: Request,
    c: Console,
    who: Actor,
    number: str,
    error: CertdeskError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """The case page; with ``error``, the page again showing why an action was refused."""
    try:
        ctx = context(c, who, number)
    except CertdeskError as hidden:
        # The case itself is not there for this viewer (404) — the refusal says no more.
        return c.error_page(request, status_of(hidden), hidden.code, hidden.detail)
    ctx["values"] = values or {}
    if error is not None:
        return c.refused(request, "case.html", error, **ctx)
    return c.page(request, "case.html", **ctx)


def act(
    request: Request,
    c: Console,
    who: Actor,
    number: str,
    call: Callable[[], _Numbered],
    flash: str,
    values: dict[str, str] | None = None,
) -> Response:
    """Run one action; 303 back to the case with ``flash``, or the page with the error."""
    try:
        done = call()
    except CertdeskError as exc:
        return case_page(request, c, who, number, exc, values)
    return c.redirect(case_url(done.number), flash=flash)


@dataclass(frozen=True)
class CaseAction:
    """A POST form on the case page with at most one text field (``field``), answered by
    :func:`act`: ``call(console, viewer, case number, the field's text)``."""

    path: str  # /cases/{number}/<path>
    flash: str
    call: Callable[[Console, Actor, str, str], _Numbered]
    field: str | None = None


def add_actions(router: APIRouter, *actions: CaseAction) -> None:
    """Register each action's route on ``router``."""
    for action in actions:
        router.post(f"/cases/{{number}}/{action.path}", name=f"case_{action.path}")(
            _action_route(action)
        )


def _action_route(action: CaseAction) -> Callable[..., Response]:
    def route(request: Request, c: Console, who: Actor, number: str, text: str = "") -> Response:
        values = {action.field: text} if action.field else None
        return act(
            request, c, who, number, lambda: action.call(c, who, number, text), action.flash, values
        )

    # FastAPI reads the parameters from the signature: the form field is named per action.
    params = [
        Parameter("request", Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        Parameter("c", Parameter.POSITIONAL_OR_KEYWORD, annotation=ConsoleDep),
        Parameter("who", Parameter.POSITIONAL_OR_KEYWORD, annotation=ViewerDep),
        Parameter("number", Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
    ]
    if action.field is not None:
        note = Annotated[str, Form(alias=action.field, max_length=20_000)]
        params.append(
            Parameter("text", Parameter.POSITIONAL_OR_KEYWORD, default="", annotation=note)
        )
    route.__signature__ = Signature(params, return_annotation=Response)  # type: ignore[attr-defined]
    route.__name__ = f"case_{action.path}"
    return route


# --- reading -------------------------------------------------------------------------------


@router.get("/cases/{number}")
def show_case(request: Request, c: ConsoleDep, who: ViewerDep, number: str) -> Response:
    return case_page(request, c, who, number)


@router.get("/cases/{number}/certificates/{serial}")
def case_certificate(
    c: ConsoleDep,
    who: ViewerDep,
    number: str,
    serial: str,
    fmt: Annotated[str, Query(alias="format", max_length=8)] = "chain",
) -> Response:
    """A delivered certificate as PEM: the leaf (``pem``) or leaf and issuing CA (``chain``)."""
    if fmt not in ("pem", "chain"):
        raise InvalidInput("download.format", f"format {fmt!r}: use pem or chain")
    delivery = c.services.window.certificates_of_case(who, number)
    wanted = parse_serial(serial)
    found = next((x for x in delivery.certificates if x.serial == wanted), None)
    if found is None:
        raise NotFound("cert.unknown", f"case {delivery.number} has no certificate {serial}")
    body = found.fullchain_pem
    if fmt == "pem":
        leaf = x509.load_pem_x509_certificates(body.encode())[0]
        body = leaf.public_bytes(serialization.Encoding.PEM).decode()
    name = f"{found.serial}{'-chain' if fmt == 'chain' else ''}.pem"
    return Response(
        body,
        media_type="application/x-pem-file",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- the requester's side: revise, submit, cancel ------------------------------------------


@router.post("/cases/{number}/edit")
def edit_case(
    request: Request, c: ConsoleDep, who: ViewerDep, number: str, form: FormDep
) -> Response:
    """Revise a draft or rejected case; fields absent from the form stay as they are."""
    values = kept(form)

    def call() -> CaseView:
        wanted = text(form, "requested_delivery")
        return c.services.cases.edit(
            who,
            number,
            CaseEdit(
                title=text(form, "title") if "title" in form else None,
                description=text(form, "description") if "description" in form else None,
                requested_delivery=day(wanted, "case.requested_delivery", "requested delivery"),
                clear_requested_delivery="requested_delivery" in form and not wanted.strip(),
                target_serial=text(form, "target_certificate").strip() or None,
                grants=lines_of(text(form, "grants")) if "grants" in form else None,
                admins=admins_of(text(form, "admins")) if "admins" in form else None,
            ),
        )

    return act(request, c, who, number, call, "The case is revised.", values)


@router.post("/cases/{number}/submittals")
def add_submittal(
    request: Request, c: ConsoleDep, who: ViewerDep, number: str, form: FormDep
) -> Response:
    """Attach a submittal (its CSR is checked on upload: R1, R2, R12)."""
    values = kept(form)

    def call() -> CaseView:
        spec = submittal_of(form, "s0_", "the submittal")
        if spec is None:
            raise InvalidInput(
                "submittal.names", "a submittal names at least one DNS name or carries a CSR (R3)"
            )
        return c.services.cases.add_submittal(who, number, spec)

    return act(request, c, who, number, call, "The submittal is added.", values)


@router.post("/cases/{number}/submittals/{submittal_id}/remove")
def remove_submittal(
    request: Request, c: ConsoleDep, who: ViewerDep, number: str, submittal_id: SubmittalId
) -> Response:
    return act(
        request,
        c,
        who,
        number,
        lambda: c.services.cases.remove_submittal(who, number, submittal_id),
        f"Submittal {submittal_id} is removed.",
    )


# --- approvals (R4) ------------------------------------------------------------------------


# The case's own steps (R3) and the approvals (R4): one optional text field, one call each.
add_actions(
    router,
    CaseAction(
        "submit", "The case is submitted.", lambda c, who, n, _: c.services.cases.submit(who, n)
    ),
    CaseAction(
        "cancel",
        "The case is cancelled.",
        lambda c, who, n, why: c.services.cases.cancel(who, n, why),
        field="cancel_reason",
    ),
    CaseAction(
        "comment",
        "Your comment is added.",
        lambda c, who, n, text: c.services.cases.comment(who, n, text),
        field="comment",
    ),
    CaseAction(
        "approve",
        "You approved the case.",
        lambda c, who, n, note: c.services.approvals.approve(who, n, note=note),
        field="approve_note",
    ),
    CaseAction(
        "reject",
        "You rejected the case; it returns to the requester with your reason.",
        lambda c, who, n, why: c.services.approvals.reject(who, n, why),
        field="reject_reason",
    ),
)
