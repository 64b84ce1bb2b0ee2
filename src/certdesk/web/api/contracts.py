"""/api/v1/contracts: cert services' vendor contracts (operators only; audited)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field

from certdesk.core.contracts import ContractTerms
from certdesk.services.lifecycle.contracts import ContractChange
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(prefix="/api/v1/contracts", tags=["contracts"], responses=AUTHENTICATED)

ContractNumber = Annotated[str, Path(min_length=1, max_length=100, examples=["V-2026-01"])]


class ContractIn(BaseModel):
    vendor: str = Field(min_length=1, max_length=200, examples=["Example CA Inc."])
    number: str = Field(min_length=1, max_length=100, examples=["V-2026-01"])
    licences_total: int = Field(ge=0, description="Licences bought")
    licences_used: int | None = Field(
        default=None, ge=0, description="Licences in use, when not counted from the inventory"
    )
    issuer: str = Field(
        default="",
        max_length=32,
        description="The vendor CA whose certificates in force count as licences used",
    )
    starts_on: date
    ends_on: date
    notes: str = Field(default="", max_length=5000)


class ContractPatch(BaseModel):
    """Fields to change; absent fields stay as they are (``issuer`` "" unlinks)."""

    vendor: str | None = Field(default=None, min_length=1, max_length=200)
    number: str | None = Field(default=None, min_length=1, max_length=100)
    licences_total: int | None = Field(default=None, ge=0)
    licences_used: int | None = Field(default=None, ge=0)
    issuer: str | None = Field(default=None, max_length=32)
    starts_on: date | None = None
    ends_on: date | None = None
    notes: str | None = Field(default=None, max_length=5000)


class ContractOut(BaseModel):
    id: int
    vendor: str
    number: str
    issuer: str | None
    licences_total: int
    licences_used: int | None
    used_from_inventory: bool = Field(
        description="licences_used counts the issuer's certificates in force"
    )
    starts_on: date
    ends_on: date
    notes: str
    updated_at: datetime


@router.get("", response_model=list[ContractOut], responses=problems(403))
def list_contracts(svc: ServicesDep, who: ActorDep) -> list[dict[str, object]]:
    """Every contract, the one ending first first."""
    return [c.as_dict() for c in svc.contracts.list(who)]


@router.post(
    "",
    response_model=ContractOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 409, 422),
)
def add_contract(body: ContractIn, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    terms = ContractTerms(
        vendor=body.vendor,
        number=body.number,
        licences_total=body.licences_total,
        licences_used=body.licences_used,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        notes=body.notes,
    )
    return svc.contracts.add(who, terms, body.issuer).as_dict()


@router.get("/{contract}", response_model=ContractOut, responses=problems(403, 404, 422))
def show_contract(contract: ContractNumber, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    return svc.contracts.show(who, contract).as_dict()


@router.patch("/{contract}", response_model=ContractOut, responses=problems(403, 404, 409, 422))
def change_contract(
    contract: ContractNumber, body: ContractPatch, svc: ServicesDep, who: ActorDep
) -> dict[str, object]:
    change = ContractChange(
        vendor=body.vendor,
        number=body.number,
        issuer=body.issuer,
        licences_total=body.licences_total,
        licences_used=body.licences_used,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        notes=body.notes,
    )
    return svc.contracts.update(who, contract, change).as_dict()
