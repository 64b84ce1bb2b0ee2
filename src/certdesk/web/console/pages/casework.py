"""One case in the console (R3, R4, R5, R8, R12): its page and every action on it.

The page shows the case as ``services.cases.show`` gives it — facts, R5 dates, submittals,
approvals (and what is still needed), comments, history — and what it delivered
(``services.window.certificates_of_case``). Each action is a small POST form calling the same
service method as the API; success answers 303 back to the page with a flash message, a
domain error re-renders the page with the error and nothing changed.

Which forms are offered is read from the state machine (:data:`certdesk.core.workflow.RULES`)
and the viewer's roles, only so that nobody is offered a button that cannot work; the service
decides every call, a forged form included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response

from certdesk.core.access import Action, Actor, Role
from certdesk.core.workflow import (
    CERTIFICATE_TYPES,
    RULES,
    CaseType,
    Event,
    Party,
    State,
    Step,
)
from certdesk.errors import CertdeskError, InvalidInput, NotFound
from certdesk.services.casework.casefile import CaseView
from certdesk.services.casework.cases import MAY_TARGET, TAKES_SUBMITTALS, CaseEdit
from certdesk.services.casework.window import Delivery, Reissue
from certdesk.services.pki.revocation import Reason, parse_reason
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
    csr_given,
    day,
    kept,
    lines_of,
    names_of,
    submittal_of,
    text,
    whole,
)
from certdesk.web.status import STATUS

router = APIRouter()

Note = Annotated[str, Form(max_length=20_000)]
SubmittalId = Annotated[int, Path(ge=1, le=2**31 - 1)]
REASON_OPTIONS = [(str(r), str(r)) for r in Reason]
# Default revocation reasons of revoke and delete cases, as services/fulfilment.py applies them.
COMPLETE_REASONS = [("", "The case's default"), *REASON_OPTIONS]


class _Numbered(Protocol):
    @property
    def number(self) -> str: ...


@dataclass(frozen=True)
class Offered:
    """The forms the page offers the viewer (the service still decides each one)."""

    edit: bool = False
    submit: bool = False
    cancel: bool = False
    comment: bool = False
    decide: bool = False  # approve or reject (R4)
    own_request: bool = False  # pending, and the viewer opened it: another person decides
    start: bool = False
    fulfil: bool = False
    complete: bool = False
    close: bool = False
    window: bool = False  # R8: revoke or reissue inside the window
    keys: bool = False  # R12: download a generated key
    renew: bool = False


def parties(who: Actor) -> frozenset[Party]:
    """Who the viewer is relative to a case they can see (as casefile.parties_of decides):
    an agency person sees only their own organization's cases."""
    out: set[Party] = set()
    if who.has(Role.OPERATOR):
        out.add(Party.OPERATOR)
    if not who.is_global:
        if who.has(Role.REQUESTER) or who.has(Role.DELEGATED_ADMIN):
            out.add(Party.REQUESTER)
        if who.has(Role.APPROVER):
            out.add(Party.APPROVER)
    return frozenset(out)


def offered(who: Actor, view: CaseView, delivery: Delivery | None) -> Offered:
    state = State(view.state)
    kind = CaseType(view.summary.type)
    mine = parties(who)

    def can(event: Event) -> bool:
        rule = RULES[event]
        return state in rule.source and bool(rule.parties & mine)

    opener = who.may(Action.CASE_OPEN)
    worker = who.may(Action.CASE_WORK)
    eligible = set()
    if who.has(Role.APPROVER) and not who.is_global:
        eligible.add(str(Step.ORG_APPROVER))
    if who.has(Role.OPERATOR):
        eligible.add(str(Step.OPERATOR))
    decided = {a["actor"] for a in view.approvals if a["round"] == view.approval_round}
    own = who.user_id is not None and who.user_id == view.requester_id
    may_decide = (
        can(Event.APPROVE)
        and who.may(Action.CASE_APPROVE)
        and bool(eligible & set(view.outstanding))
        and who.name not in decided
    )
    window_open = delivery is not None and delivery.window_open
    return Offered(
        edit=opener and can(Event.EDIT),
        submit=opener and can(Event.SUBMIT),
        cancel=opener and can(Event.CANCEL),
        comment=who.may(Action.CASE_COMMENT),
        decide=may_decide and not own,
        own_request=may_decide and own,
        start=worker and can(Event.START),
        fulfil=worker and can(Event.FULFIL) and kind in CERTIFICATE_TYPES,
        complete=worker
        and can(Event.COMPLETE)
        and kind not in CERTIFICATE_TYPES
        and (state is not State.SUBMITTED or kind is CaseType.QUESTION),
        close=opener and can(Event.CLOSE),
        window=opener and window_open and kind in CERTIFICATE_TYPES,
        keys=opener and state in (State.DELIVERED, State.CLOSED),
        renew=opener,
    )


def context(c: Console, who: Actor, number: str) -> dict[str, Any]:
    """Everything the case page shows; raises the service's error (404 for another
    organization's case)."""
    svc = c.services
    view = svc.cases.show(who, number)
    delivery = (
        svc.window.certificates_of_case(who, view.number) if view.delivered_at is not None else None
    )
    kind = CaseType(view.summary.type)
    return {
        "title": f"Case {view.number}",
        "case": view,
        "delivery": delivery,
        "may": offered(who, view, delivery),
        "type_label": TYPE_LABELS[kind],
        "takes_submittals": kind in TAKES_SUBMITTALS,
        "may_target": kind in MAY_TARGET,
        "delegated": kind is CaseType.DELEGATED_ADMIN_SETUP,
        "revokes": kind in (CaseType.REVOKE, CaseType.DELETE),
        "question": kind is CaseType.QUESTION,
        "step_labels": {str(k): v for k, v in STEP_LABELS.items()},
        "cert_types": CERT_TYPE_OPTIONS,
        "platforms": PLATFORM_OPTIONS,
        "keys": KEY_OPTIONS,
        "reasons": REASON_OPTIONS,
        "complete_reasons": COMPLETE_REASONS,
        "min_password": svc.rt.settings.password_min_length,
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
        return c.error_page(request, STATUS[hidden.kind], hidden.code, hidden.detail)
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


@router.post("/cases/{number}/submit")
def submit_case(request: Request, c: ConsoleDep, who: ViewerDep, number: str) -> Response:
    return act(
        request,
        c,
        who,
        number,
        lambda: c.services.cases.submit(who, number),
        "The case is submitted.",
    )


@router.post("/cases/{number}/cancel")
def cancel_case(
    request: Request, c: ConsoleDep, who: ViewerDep, number: str, cancel_reason: Note = ""
) -> Response:
    return act(
        request,
        c,
        who,
        number,
        lambda: c.services.cases.cancel(who, number, cancel_reason),
        "The case is cancelled.",
        {"cancel_reason": cancel_reason},
    )


@router.post("/cases/{number}/comment")
def comment_case(
    request: Request, c: ConsoleDep, who: ViewerDep, number: str, comment: Note = ""
) -> Response:
    return act(
        request,
        c,
        who,
        number,
        lambda: c.services.cases.comment(who, number, comment),
        "Your comment is added.",
        {"comment": comment},
    )


# --- approvals (R4) ------------------------------------------------------------------------


@router.post("/cases/{number}/approve")
def approve_case(
    request: Request, c: ConsoleDep, who: ViewerDep, number: str, approve_note: Note = ""
) -> Response:
    return act(
        request,
        c,
        who,
        number,
        lambda: c.services.approvals.approve(who, number, note=approve_note),
        "You approved the case.",
        {"approve_note": approve_note},
    )


@router.post("/cases/{number}/reject")
def reject_case(
    request: Request, c: ConsoleDep, who: ViewerDep, number: str, reject_reason: Note = ""
) -> Response:
    return act(
        request,
        c,
        who,
        number,
        lambda: c.services.approvals.reject(who, number, reject_reason),
        "You rejected the case; it returns to the requester with your reason.",
        {"reject_reason": reject_reason},
    )


# --- cert services' work -------------------------------------------------------------------


@router.post("/cases/{number}/start")
def start_case(
    request: Request, c: ConsoleDep, who: ViewerDep, number: str, start_note: Note = ""
) -> Response:
    return act(
        request,
        c,
        who,
        number,
        lambda: c.services.cases.start(who, number, start_note),
        "The case is in progress.",
        {"start_note": start_note},
    )


@router.post("/cases/{number}/fulfil")
def fulfil_case(request: Request, c: ConsoleDep, who: ViewerDep, number: str) -> Response:
    return act(
        request,
        c,
        who,
        number,
        lambda: c.services.fulfilment.fulfil(who, number),
        "The certificates are issued and the case is delivered.",
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


@router.post("/cases/{number}/close")
def close_case(request: Request, c: ConsoleDep, who: ViewerDep, number: str) -> Response:
    return act(
        request,
        c,
        who,
        number,
        lambda: c.services.fulfilment.close(who, number),
        "The case is closed; its 25-day window has ended.",
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
