"""Cases in the console (R3, R4, R5): the list, the new-case form with several submittals,
and renewal cases opened from a certificate (R6). An organization's approval policy (R4) is
shown and set on its organization page (orgs.py).

The case page and everything done on one case live in :mod:`.casework`. Both only translate
forms into the calls the API makes (``services.cases``, ``approvals``, ``fulfilment``) and
show the result or the domain error; the services authorize and decide.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from certdesk.core.access import Action, Actor
from certdesk.core.calendar import parse_day
from certdesk.core.cases import MAX_SUBMITTALS
from certdesk.core.keys import KeyType
from certdesk.core.messages import state_label
from certdesk.core.workflow import CaseType, State, Step
from certdesk.errors import CertdeskError, Forbidden, InvalidInput
from certdesk.services.casework.cases import MAX_PAGE, CaseInput
from certdesk.services.casework.contacts import ContactInput
from certdesk.services.casework.delegation import AdminInput
from certdesk.services.casework.submittals import CertType, SubmittalInput
from certdesk.services.people.orgs import OrgView
from certdesk.services.pki.issuance import Platform
from certdesk.web.console.case_form import TYPE_HINTS, field_of, kept_csrs, parts_of
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep, plain_error
from certdesk.web.console.guard import CSRF_FIELD
from certdesk.web.console.list_filters import CaseFiltersDep

router = APIRouter()

PAGE = 50
FIELDSETS = 1  # blank submittal forms on a new case: one, and "add another" adds one
# Read at most this much of an uploaded CSR; the service refuses anything over 64 KiB with
# ``csr.too_large`` (the API's transport bound is the same).
UPLOAD_LIMIT = 1024 * 1024

TYPE_LABELS = {
    CaseType.NEW: "New certificates",
    CaseType.RENEWAL: "Renewal of a certificate",
    CaseType.CHANGE: "Change to a certificate",
    CaseType.REVOKE: "Revoke a certificate",
    CaseType.DELETE: "Delete (retire) a certificate",
    CaseType.CSR: "Certificates from our CSR files",
    CaseType.QUESTION: "A question",
    CaseType.DELEGATED_ADMIN_SETUP: "Delegated administrator set-up",
}
TYPE_OPTIONS = [(str(t), TYPE_LABELS[t]) for t in CaseType]
STATE_OPTIONS = [(str(s), state_label(s)) for s in State]
CERT_TYPE_OPTIONS = [
    ("", "From the names"),
    (str(CertType.SINGLE), "Single name"),
    (str(CertType.SAN), "SAN: several names on one certificate"),
    (str(CertType.WILDCARD), "Wildcard (*.zone)"),
]
PLATFORM_OPTIONS = [
    (str(Platform.VIRTUAL), "Virtual server"),
    (str(Platform.DEDICATED), "Dedicated server"),
]
KEY_OPTIONS = [
    ("", "The CSR's key; without a CSR, EC P-256"),
    (str(KeyType.EC256), "EC P-256"),
    (str(KeyType.EC384), "EC P-384"),
    (str(KeyType.RSA2048), "RSA 2048"),
    (str(KeyType.RSA3072), "RSA 3072"),
    (str(KeyType.RSA4096), "RSA 4096"),
]
STEP_LABELS = {Step.ORG_APPROVER: "an approver of the organization", Step.OPERATOR: "cert services"}

# The typed fields of one submittal fieldset: a fieldset with none of them filled (and no
# file) is a blank form and is left out. The selects always carry a value, so they do not count.
SUBMITTAL_TEXT = (
    "names",
    "server_software",
    "server_version",
    "requested_delivery",
    "validity_days",
    "csr_pem",
    "contact_name",
    "contact_email",
    "contact_phone",
)
SUBMITTAL_CHOICES = ("cert_type", "platform", "key_type")


async def posted(request: Request) -> AsyncIterator[FormData]:
    """The posted form as it came (fields whose number depends on the form, and files).

    FastAPI closes the uploaded files of the forms it parses for ``Form`` parameters; this
    form it does not parse, so its temporary files are closed here once the page is done."""
    form = await request.form()
    try:
        yield form
    finally:
        await form.close()


FormDep = Annotated[FormData, Depends(posted)]


# --- reading forms ----------------------------------------------------------------------------


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def upload(form: FormData, name: str) -> bytes | None:
    """The bytes of a chosen file, or None when no file was chosen."""
    value = form.get(name)
    if not isinstance(value, UploadFile) or not value.filename:
        return None
    value.file.seek(0)  # it may have been read already (a refused form keeps it)
    return value.file.read(UPLOAD_LIMIT + 1)


def kept(form: FormData) -> dict[str, str]:
    """What a re-rendered form shows again: every text value, never a file's content."""
    return {k: v for k, v in form.multi_items() if isinstance(v, str) and k != CSRF_FIELD}


def names_of(value: str) -> tuple[str, ...]:
    """DNS names typed one per line or separated by commas."""
    return tuple(n for n in re.split(r"[\s,]+", value) if n)


def day(value: str, code: str, what: str) -> date | None:
    return parse_day(value, code, what) if value.strip() else None


def whole(value: str, code: str, what: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 6:
        raise InvalidInput(code, f"{what} {value!r} is not a whole number")
    return int(value)


def csr_given(form: FormData, prefix: str, where: str) -> bytes | None:
    """The CSR of a form: an uploaded file or pasted PEM, not both."""
    sent = upload(form, prefix + "csr_file")
    pasted = text(form, prefix + "csr_pem").strip()
    if sent is not None and pasted:
        raise InvalidInput("submittal.csr", f"{where}: give the CSR as a file or pasted, not both")
    return sent if sent is not None else (pasted.encode() if pasted else None)


def submittal_of(form: FormData, prefix: str, where: str) -> SubmittalInput | None:
    """The submittal of one fieldset (fields ``{prefix}names`` …), None when left blank."""
    values = {f: text(form, prefix + f) for f in SUBMITTAL_TEXT + SUBMITTAL_CHOICES}
    csr = csr_given(form, prefix, where)
    if csr is None and not any(values[f].strip() for f in SUBMITTAL_TEXT):
        return None
    contact = [values[f].strip() for f in ("contact_name", "contact_email", "contact_phone")]
    return SubmittalInput(
        names=names_of(values["names"]),
        cert_type=values["cert_type"].strip() or None,
        platform=values["platform"].strip() or str(Platform.VIRTUAL),
        server_software=values["server_software"],
        server_version=values["server_version"],
        key_type=values["key_type"].strip() or None,
        requested_delivery=day(
            values["requested_delivery"], "submittal.delivery", f"{where}: requested delivery"
        ),
        validity_days=whole(values["validity_days"], "submittal.validity", f"{where}: validity"),
        csr=csr,
        # R9: the technical contact typed here; none typed: the organization's are copied.
        contacts=(ContactInput("technical", *contact),) if any(contact) else (),
    )


def admins_of(value: str) -> tuple[AdminInput, ...]:
    """Delegated administrators, one per line as ``Name:email:login`` (as the CLI takes)."""
    out = []
    for line in (ln.strip() for ln in value.splitlines()):
        if not line:
            continue
        parts = [p.strip() for p in line.split(":")]
        if len(parts) != 3:
            raise InvalidInput(
                "case.admin", f"administrator {line!r} is not Name:email:login (one per line)"
            )
        out.append(AdminInput(*parts))
    return tuple(out)


def lines_of(value: str) -> tuple[str, ...]:
    return tuple(ln.strip() for ln in value.splitlines() if ln.strip())


def fieldset_count(value: object, default: int = FIELDSETS) -> int:
    try:
        wanted = int(str(value))
    except ValueError:
        wanted = default
    return max(1, min(MAX_SUBMITTALS, wanted))


def case_url(number: str) -> str:
    return "/cases/" + urllib.parse.quote(number.strip().upper(), safe="")


def orgs_for(c: Console, who: Actor) -> list[OrgView]:
    """The organizations ``who`` may name: every one for cert services, else their own."""
    return c.services.orgs.list_all(who)


# --- the list ---------------------------------------------------------------------------------


@router.get("/cases")
def case_list(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    filters: CaseFiltersDep,
    cursor: Annotated[str, Query(max_length=40)] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE,
) -> Response:
    context: dict[str, Any] = {
        "filters": filters.shown(),
        "filtered": filters.filtered,
        "export_query": filters.query(),
        "org_options": [("", "Every organization")]
        + [(o.code, f"{o.code} — {o.name}") for o in orgs_for(c, who)]
        if who.is_global
        else [],
        "states": STATE_OPTIONS,
        "types": TYPE_OPTIONS,
        "may_open": who.may(Action.CASE_OPEN),
    }
    try:
        query = replace(filters.to_filter(), cursor=cursor or None, limit=limit)
        page = c.services.cases.search(who, query)
    except CertdeskError as exc:
        return c.refused(request, "cases.html", exc, rows=[], next_url=None, **context)
    next_url = None
    if page.next_cursor:
        more = {"cursor": page.next_cursor}
        if limit != PAGE:
            more["limit"] = str(limit)
        next_url = "/cases?" + filters.query(**more)
    return c.page(request, "cases.html", rows=page.items, next_url=next_url, **context)


# --- a new case -------------------------------------------------------------------------------


def _new_page(
    request: Request,
    c: Console,
    who: Actor,
    *,
    count: int,
    values: dict[str, str],
    error: CertdeskError | None = None,
    fieldsets: Sequence[int] = (),
) -> Response:
    """The new-case form of one type (its parts only), or the choice of type first."""
    if not who.may(Action.CASE_OPEN):
        raise Forbidden("auth.forbidden", "your role does not open cases; a requester does")
    orgs = orgs_for(c, who)
    chosen = values.get("type", "").strip()
    kind = CaseType(chosen) if chosen in {str(t) for t in CaseType} else None
    field = field_of(error, fieldsets) if error is not None else None
    context: dict[str, Any] = {
        "orgs": orgs,
        "org_options": [(o.code, f"{o.code} — {o.name}") for o in orgs],
        "fixed_org": None if who.is_global else (orgs[0] if orgs else None),
        "types": TYPE_OPTIONS,
        "type_hints": [(str(t), TYPE_LABELS[t], TYPE_HINTS[t]) for t in CaseType],
        "kind": str(kind) if kind else "",
        "kind_label": TYPE_LABELS[kind] if kind else "",
        "parts": parts_of(kind) if kind else None,
        "count": count,
        "values": values,
        "cert_types": CERT_TYPE_OPTIONS,
        "platforms": PLATFORM_OPTIONS,
        "keys": KEY_OPTIONS,
        "field_errors": {"f-" + field: plain_error(error)} if field and error else {},
    }
    if error is not None:
        return c.refused(request, "case_new.html", error, **context)
    return c.page(request, "case_new.html", **context)


@router.get("/cases/new")
def new_case_form(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    submittals: Annotated[int, Query(ge=1, le=MAX_SUBMITTALS)] = FIELDSETS,
    kind: Annotated[str, Query(alias="type", max_length=40)] = "",
) -> Response:
    values = {"type": kind} if kind else {}
    return _new_page(request, c, who, count=submittals, values=values)


def _case_input(form: FormData, count: int, fieldsets: list[int]) -> CaseInput:
    """The case of the form; ``fieldsets`` receives the fieldset of each submittal sent."""
    subs = []
    for i in range(count):
        try:
            found = submittal_of(form, f"s{i}_", f"submittal {i + 1}")
        except CertdeskError as exc:
            exc.extra.setdefault("fieldset", i)  # shown beside that fieldset's field
            raise
        if found is not None:
            subs.append(found)
            fieldsets.append(i)
    return CaseInput(
        org_code=text(form, "org"),
        type=text(form, "type") or str(CaseType.NEW),
        title=text(form, "title"),
        description=text(form, "description"),
        requested_delivery=day(
            text(form, "requested_delivery"), "case.requested_delivery", "requested delivery"
        ),
        target_serial=text(form, "target_certificate").strip() or None,
        grants=lines_of(text(form, "grants")),
        admins=admins_of(text(form, "admins")),
        submittals=tuple(subs),
    )


@router.post("/cases/new")
def new_case(request: Request, c: ConsoleDep, who: ViewerDep, form: FormDep) -> Response:
    """Open the case as a draft; "submit" also hands it in for approval (R3, R4)."""
    count = fieldset_count(form.get("fieldsets"))
    action = text(form, "action")
    # A chosen CSR file comes back as pasted text: a browser cannot be handed a file again.
    values = kept(form) | kept_csrs(form, count, UPLOAD_LIMIT)
    values.setdefault("type", str(CaseType.NEW))  # the service's default too
    values["type"] = values["type"] or str(CaseType.NEW)
    if action == "more":
        return _new_page(request, c, who, count=min(count + 1, MAX_SUBMITTALS), values=values)
    svc = c.services
    fieldsets: list[int] = []
    try:
        view = svc.cases.open(who, _case_input(form, count, fieldsets))
    except CertdeskError as exc:
        return _new_page(
            request, c, who, count=count, values=values, error=exc, fieldsets=fieldsets
        )
    if action != "submit":
        return c.redirect(
            case_url(view.number),
            flash=f"Case {view.number} is saved as a draft. Check it, then submit it for approval.",
        )
    try:
        view = svc.cases.submit(who, view.number)
    except CertdeskError as exc:
        return c.redirect(
            case_url(view.number),
            flash=f"Case {view.number} is saved as a draft but not submitted: "
            + " ".join(part for part in plain_error(exc) if part),
        )
    return c.redirect(
        case_url(view.number),
        flash=f"Case {view.number} is submitted ({state_label(view.state).lower()}).",
    )


@router.post("/cases/renewal")
def open_renewal(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    renew_serial: Annotated[str, Form(max_length=80)] = "",
) -> Response:
    """A draft renewal case pre-filled from the certificate's submittal (R6)."""
    try:
        view = c.services.fulfilment.open_renewal(who, renew_serial)
    except CertdeskError as exc:
        return _new_page(
            request, c, who, count=FIELDSETS, values={"renew_serial": renew_serial}, error=exc
        )
    return c.redirect(
        case_url(view.number),
        flash=f"Renewal case {view.number} is open as a draft, pre-filled from the certificate."
        " Check it, then submit it for approval.",
    )


@router.get("/cases/approval-policy")
def approval_policy(
    c: ConsoleDep, who: ViewerDep, org: Annotated[str, Query(max_length=64)] = ""
) -> Response:
    """R4: an organization's approval policy lives on its page (orgs.py); this address, once
    a page of its own, leads there."""
    if not org and not who.is_global:
        orgs = orgs_for(c, who)
        org = orgs[0].code if orgs else ""
    if not org:
        return c.redirect("/orgs")
    return c.redirect("/orgs/" + urllib.parse.quote(org.strip().lower(), safe=""))
