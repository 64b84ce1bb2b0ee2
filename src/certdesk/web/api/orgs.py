"""/api/v1/orgs: organizations and grants (R2, R11)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.identifiers import ISSUER_NAME_PATTERN, OrgCode
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(prefix="/api/v1/orgs", tags=["organizations"], responses=AUTHENTICATED)


class OrgOut(BaseModel):
    code: str
    name: str
    service: Literal["managed", "self-managed"]
    grants: list[str] = Field(description="zone:NAME or host:NAME")
    issuer: str = Field(description="The issuer of its certificates: a vendor's name, or builtin")
    grant_issuers: dict[str, str] = Field(
        default_factory=dict,
        description="Grants whose certificates come from their own issuer (grant -> issuer)",
    )


class OrgCreate(BaseModel):
    code: str = Field(min_length=1, max_length=64, examples=["dmv"])
    name: str = Field(min_length=1, max_length=200, examples=["Department of Motor Vehicles"])
    service: Literal["managed", "self-managed"] = "managed"
    grants: list[str] = Field(
        default_factory=list, max_length=500, examples=[["zone:dmv.ca.gov", "host:permits.ca.gov"]]
    )


class ServiceIn(BaseModel):
    """R11: the organization's service option, and R16: the issuer of its certificates
    (cert services); at least one of them."""

    model_config = ConfigDict(extra="forbid")

    self_managed: StrictBool | None = Field(
        default=None,
        description="true: self-managed (delegated administration, no cost); false: managed"
        " by cert services",
        examples=[False],
    )
    issuer: str | None = Field(
        default=None,
        max_length=32,
        pattern=ISSUER_NAME_PATTERN,
        description="A vendor issuer's name, or builtin for the built-in CA",
        examples=["builtin"],
    )

    @model_validator(mode="after")
    def _something(self) -> ServiceIn:
        if self.self_managed is None and self.issuer is None:
            raise ValueError("give self_managed, issuer or both")
        return self


class GrantIn(BaseModel):
    grant: str = Field(min_length=1, max_length=300, examples=["zone:dmv.ca.gov"])


class GrantIssuerIn(BaseModel):
    """R16: the issuer of certificates under one grant (cert services)."""

    model_config = ConfigDict(extra="forbid")

    grant: str = Field(min_length=1, max_length=300, examples=["zone:dmv.ca.gov"])
    issuer: str = Field(
        min_length=1,
        max_length=64,
        description="A vendor's name, builtin (certdesk's CA), or organization (the"
        " organization's issuer again)",
        examples=["builtin"],
    )


@router.get("", response_model=list[OrgOut])
def list_orgs(svc: ServicesDep, who: ActorDep) -> list[dict[str, object]]:
    """Every organization (operator, auditor) or the caller's own."""
    return [o.as_dict() for o in svc.orgs.list_all(who)]


@router.post(
    "",
    response_model=OrgOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 409, 422),
)
def create_org(body: OrgCreate, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    return svc.orgs.create(
        who,
        body.code,
        body.name,
        self_managed=body.service == "self-managed",
        grants=body.grants,
    ).as_dict()


@router.get("/{code}", response_model=OrgOut, responses=problems(404, 422))
def get_org(code: OrgCode, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    return svc.orgs.get(who, code).as_dict()


@router.patch("/{code}", response_model=OrgOut, responses=problems(403, 404, 409, 422))
def set_service(
    code: OrgCode, body: ServiceIn, svc: ServicesDep, who: ActorDep
) -> dict[str, object]:
    """Switch the organization between managed and self-managed service, or choose the
    issuer of its certificates (cert services)."""
    # The issuer is looked up first: an unknown one changes nothing.
    issuer_id = svc.vendors.choose(who, body.issuer) if body.issuer is not None else None
    view = None
    if body.self_managed is not None:
        view = svc.orgs.set_service(who, code, self_managed=body.self_managed)
    if body.issuer is not None:
        view = svc.orgs.set_issuer(who, code, issuer_id, body.issuer.strip().lower())
    assert view is not None
    return view.as_dict()


@router.post(
    "/{code}/grants",
    response_model=OrgOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 409, 422),
)
def add_grant(code: OrgCode, body: GrantIn, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    return svc.orgs.add_grant(who, code, body.grant).as_dict()


@router.delete("/{code}/grants/{grant}", response_model=OrgOut, responses=problems(403, 404, 422))
def remove_grant(code: OrgCode, grant: str, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    return svc.orgs.remove_grant(who, code, grant).as_dict()


@router.put(
    "/{code}/grants/issuer", response_model=OrgOut, responses=problems(403, 404, 409, 422, 503)
)
def set_grant_issuer(
    code: OrgCode, body: GrantIssuerIn, svc: ServicesDep, who: ActorDep
) -> dict[str, object]:
    """Choose the issuer of certificates under one grant (cert services, audited); it
    outranks the organization's issuer and yields to a submittal's."""
    issuer_id = svc.vendors.grant_choice(who, body.issuer)
    return svc.orgs.set_grant_issuer(
        who, code, body.grant, issuer_id, body.issuer.strip().lower()
    ).as_dict()
