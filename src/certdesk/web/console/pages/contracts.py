"""Vendor contracts (cert services only): the contracts with certificate vendors, their
licences bought and in use, and their dates. Add one, change one; every change is audited by
the contract service, which also refuses everybody but cert services.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import Response

from certdesk.core.access import Actor
from certdesk.core.calendar import PACIFIC, parse_day
from certdesk.core.contracts import ContractTerms
from certdesk.errors import CertdeskError, InvalidInput
from certdesk.services.lifecycle.contracts import ContractChange, ContractView
from certdesk.web.console.frame import Console, ConsoleDep, ViewerDep

router = APIRouter()

Short = Annotated[str, Form(max_length=300)]
Notes = Annotated[str, Form(max_length=5000)]
ContractId = Annotated[int, Path(ge=1, le=2**31 - 1)]
FIELDS = ("vendor", "number", "licences_total", "licences_used", "issuer", "starts_on", "ends_on")
BLANK = {**dict.fromkeys(FIELDS, ""), "notes": ""}


def _count(text: str, what: str, *, optional: bool = False) -> int | None:
    value = text.strip().replace(",", "")
    if not value and optional:
        return None
    if not value.isdigit() or len(value) > 9:
        raise InvalidInput("contract.licences", f"{what} must be a whole number")
    return int(value)


def _terms(form: dict[str, str]) -> ContractTerms:
    return ContractTerms(
        vendor=form["vendor"],
        number=form["number"],
        licences_total=_count(form["licences_total"], "licences bought") or 0,
        licences_used=_count(form["licences_used"], "licences in use", optional=True),
        starts_on=parse_day(form["starts_on"], "contract.dates", "the start date"),
        ends_on=parse_day(form["ends_on"], "contract.dates", "the end date"),
        notes=form["notes"],
    )


def _form_of(view: ContractView) -> dict[str, str]:
    return {
        "vendor": view.vendor,
        "number": view.number,
        "licences_total": str(view.licences_total),
        "licences_used": "" if view.used_from_inventory or view.licences_used is None
        else str(view.licences_used),
        "issuer": view.issuer or "",
        "starts_on": view.starts_on.isoformat(),
        "ends_on": view.ends_on.isoformat(),
        "notes": view.notes,
    }  # fmt: skip


def _context(c: Console, who: Actor, form: dict[str, str]) -> dict[str, Any]:
    vendors = [(v.name, v.title) for v in c.services.vendors.list(who)]
    return {
        "form": form,
        "issuers": [("", "None: I record the licences in use"), *vendors],
        "today": c.services.rt.clock().astimezone(PACIFIC).date(),
    }


def _list_page(
    request: Request,
    c: Console,
    who: Actor,
    *,
    form: dict[str, str] | None = None,
    error: CertdeskError | None = None,
) -> Response:
    context = {"contracts": c.services.contracts.list(who), **_context(c, who, form or BLANK)}
    if error is not None:
        return c.refused(request, "contracts.html", error, **context)
    return c.page(request, "contracts.html", **context)


def _posted(
    vendor: Short = "",
    number: Short = "",
    licences_total: Short = "",
    licences_used: Short = "",
    issuer: Short = "",
    starts_on: Short = "",
    ends_on: Short = "",
    notes: Notes = "",
) -> dict[str, str]:
    """The contract form as posted, by field (adding and changing post the same form)."""
    return {
        "vendor": vendor,
        "number": number,
        "licences_total": licences_total,
        "licences_used": licences_used,
        "issuer": issuer,
        "starts_on": starts_on,
        "ends_on": ends_on,
        "notes": notes,
    }


Posted = Annotated[dict[str, str], Depends(_posted)]


@router.get("/contracts")
def contracts(request: Request, c: ConsoleDep, who: ViewerDep) -> Response:
    return _list_page(request, c, who)


@router.post("/contracts")
def contract_add(request: Request, c: ConsoleDep, who: ViewerDep, form: Posted) -> Response:
    try:
        added = c.services.contracts.add(who, _terms(form), form["issuer"])
    except CertdeskError as exc:
        return _list_page(request, c, who, form=form, error=exc)
    return c.redirect(f"/contracts/{added.id}", flash=f"Contract {added.number} is recorded.")


def _edit_page(
    request: Request,
    c: Console,
    who: Actor,
    contract_id: int,
    *,
    form: dict[str, str] | None = None,
    error: CertdeskError | None = None,
) -> Response:
    view = c.services.contracts.get(who, contract_id)
    context = {"contract": view, **_context(c, who, form or _form_of(view))}
    if error is not None:
        return c.refused(request, "contract.html", error, **context)
    return c.page(request, "contract.html", **context)


@router.get("/contracts/{contract_id}")
def contract(request: Request, c: ConsoleDep, who: ViewerDep, contract_id: ContractId) -> Response:
    return _edit_page(request, c, who, contract_id)


@router.post("/contracts/{contract_id}")
def contract_change(
    request: Request,
    c: ConsoleDep,
    who: ViewerDep,
    contract_id: ContractId,
    form: Posted,
) -> Response:
    try:
        current = c.services.contracts.get(who, contract_id)
        terms = _terms(form)
        view = c.services.contracts.update(
            who,
            current.number,
            ContractChange(
                vendor=terms.vendor,
                number=terms.number,
                issuer=form["issuer"],
                licences_total=terms.licences_total,
                licences_used=terms.licences_used,
                starts_on=terms.starts_on,
                ends_on=terms.ends_on,
                notes=terms.notes,
            ),
        )
    except CertdeskError as exc:
        return _edit_page(request, c, who, contract_id, form=form, error=exc)
    return c.redirect(f"/contracts/{view.id}", flash=f"Contract {view.number} is saved.")
