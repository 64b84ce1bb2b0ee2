"""/api/v1/orgs/{code}/contacts: certificate contacts (R9); every change is audited."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field

from certdesk.services.casework.contacts import ContactChange, ContactInput, use_as_dict
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.identifiers import OrgCode
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(
    prefix="/api/v1/orgs/{code}/contacts", tags=["contacts"], responses=AUTHENTICATED
)

Kind = Literal["technical", "administrative", "billing"]
ContactId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class ContactIn(BaseModel):
    kind: Kind
    name: str = Field(min_length=1, max_length=200, examples=["Ana Lee"])
    email: str = Field(min_length=3, max_length=254, examples=["ana.lee@dmv.ca.gov"])
    phone: str = Field(default="", max_length=40, examples=["916-555-0100"])


class ContactPatch(BaseModel):
    """Fields to change; absent fields stay as they are."""

    kind: Kind | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, min_length=3, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    org_wide: bool | None = Field(
        default=None,
        description="Hears about every certificate and case of the organization (true) or"
        " only about the submittals naming it (false)",
    )


class ContactOut(BaseModel):
    id: int
    kind: Kind
    name: str
    email: str
    phone: str
    org_wide: bool = Field(description="Hears about every certificate of the organization")
    submittal_id: int | None = Field(description="Set for a contact on a submittal")
    case: str | None = Field(description="The case of that submittal")
    updated_at: datetime


@router.get("", response_model=list[ContactOut], responses=problems(404, 422))
def list_contacts(
    code: OrgCode, svc: ServicesDep, who: ActorDep, include_submittals: bool = False
) -> list[dict[str, object]]:
    """The organization's contacts; ``include_submittals`` adds those on its submittals."""
    return [c.as_dict() for c in svc.contacts.list(who, code, with_submittals=include_submittals)]


@router.post(
    "",
    response_model=ContactOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 409, 422),
)
def add_contact(
    code: OrgCode, body: ContactIn, svc: ServicesDep, who: ActorDep
) -> dict[str, object]:
    return svc.contacts.add(
        who, code, ContactInput(body.kind, body.name, body.email, body.phone)
    ).as_dict()


class UseOut(BaseModel):
    submittal_id: int
    kind: Kind
    case: str
    case_state: str
    certificate: str | None
    certificate_status: str | None


class ContactDetail(ContactOut):
    named_on: list[UseOut] = Field(description="The submittals naming the contact")


class ReplaceIn(BaseModel):
    old: str = Field(min_length=1, max_length=254, description="Contact id or email leaving")
    new: str = Field(min_length=1, max_length=254, description="Contact id or email taking over")


class ReplaceOut(BaseModel):
    old: ContactOut
    new: ContactOut
    submittals: list[int]
    cases: list[str]
    certificates: list[str]
    old_removed: bool


@router.post("/replace", response_model=ReplaceOut, responses=problems(403, 404, 409, 422))
def replace_contact(
    code: OrgCode, body: ReplaceIn, svc: ServicesDep, who: ActorDep
) -> dict[str, object]:
    """Replace contact ``old`` by ``new`` on every open case and certificate in force, as one
    audited change (R9); ``old`` is removed when nothing else names it."""
    return svc.contact_replacing.replace(who, code, body.old, body.new).as_dict()


@router.get("/{contact_id}", response_model=ContactDetail, responses=problems(404, 422))
def show_contact(
    code: OrgCode, contact_id: ContactId, svc: ServicesDep, who: ActorDep
) -> dict[str, object]:
    """A contact and the submittals naming it."""
    view, uses = svc.contacts.show(who, code, str(contact_id))
    return {
        **view.as_dict(),
        "named_on": [use_as_dict(u) for u in uses],
    }


@router.patch("/{contact_id}", response_model=ContactOut, responses=problems(403, 404, 409, 422))
def change_contact(
    code: OrgCode, contact_id: ContactId, body: ContactPatch, svc: ServicesDep, who: ActorDep
) -> dict[str, object]:
    """Change a contact, on every submittal naming it (audited, R9)."""
    change = ContactChange(
        kind=body.kind, name=body.name, email=body.email, phone=body.phone, org_wide=body.org_wide
    )
    return svc.contacts.change(who, code, contact_id, change).as_dict()


@router.delete("/{contact_id}", response_model=ContactOut, responses=problems(403, 404, 409, 422))
def remove_contact(
    code: OrgCode, contact_id: ContactId, svc: ServicesDep, who: ActorDep
) -> dict[str, object]:
    return svc.contacts.remove(who, code, contact_id).as_dict()
