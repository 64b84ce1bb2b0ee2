"""/api/v1/issuers: vendor CAs reached over ACME with External Account Binding (R16).

Cert services add, list, show and disable them; auditors may read. The EAB HMAC key is
accepted once, in the body of the add, and is never part of an answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from certdesk.core.issuers import Solver
from certdesk.services.pki.vendor_settings import SolverSettings
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.identifiers import ISSUER_NAME_PATTERN, IssuerName
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(prefix="/api/v1/issuers", tags=["issuers"], responses=AUTHENTICATED)

_PEM = 64_000  # a CA bundle or a set of trust anchors, PEM


class Dns01In(BaseModel):
    """dns-01 by RFC 2136 dynamic update with TSIG."""

    model_config = ConfigDict(extra="forbid")

    server: str = Field(min_length=1, max_length=100, description="Primary server address")
    port: int = Field(default=53, ge=1, le=65535)
    zones: list[str] = Field(min_length=1, max_length=50, examples=[["dmv.ca.gov"]])
    tsig_key_name: str = Field(min_length=1, max_length=255)
    tsig_algorithm: Literal["hmac-sha256", "hmac-sha384", "hmac-sha512"] = "hmac-sha256"
    tsig_secret: str = Field(
        min_length=1, max_length=512, description="base64; sealed, never shown again"
    )


class IssuerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=32, pattern=ISSUER_NAME_PATTERN, examples=["vendor"])
    acme_directory: str = Field(
        min_length=9,
        max_length=500,
        pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[!-~]*)?$",
        examples=["https://acme.vendor.example/directory"],
    )
    eab_kid: str = Field(min_length=1, max_length=200)
    eab_hmac_key: str = Field(
        min_length=1,
        max_length=512,
        description="The vendor's EAB HMAC key (base64url); used once, never stored or shown",
        json_schema_extra={"writeOnly": True},
    )
    ca_bundle: str | None = Field(
        default=None, max_length=_PEM, description="PEM CA bundle for the directory's HTTPS"
    )
    trust_anchors: str | None = Field(
        default=None,
        max_length=_PEM,
        description="PEM roots the vendor's chains must build to (default: the system store)",
    )
    solver: Solver = Solver.NONE
    dns01: Dns01In | None = None
    webroot: str | None = Field(default=None, max_length=500, description="http-01 webroot")
    profiles: dict[str, str] = Field(
        default_factory=dict,
        max_length=20,
        description="certdesk certificate type -> the vendor's ACME profile",
    )
    lint_tolerate: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list,
        max_length=20,
        description="Pre-storage lint findings this (lab) CA's certificates may carry",
    )


class IssuerOut(BaseModel):
    name: str
    title: str
    backend: Literal["acme"]
    active: bool
    directory_url: str
    eab_kid: str
    account_url: str
    solver: Solver
    solver_config: dict[str, Any]
    profiles: dict[str, str]
    lint_tolerate: list[str]
    trust_anchors: list[str] = Field(description="Subjects of the trust anchors")
    custom_ca_bundle: bool
    created_at: datetime


def _solver(body: IssuerIn) -> SolverSettings:
    dns = body.dns01
    return SolverSettings(
        kind=body.solver,
        dns_server=dns.server if dns else None,
        dns_port=dns.port if dns else 53,
        zones=tuple(dns.zones) if dns else (),
        tsig_name=dns.tsig_key_name if dns else None,
        tsig_algorithm=dns.tsig_algorithm if dns else "hmac-sha256",
        tsig_secret=dns.tsig_secret if dns else None,
        webroot=body.webroot,
    )


@router.get("", response_model=list[IssuerOut], responses=problems(403))
def list_issuers(svc: ServicesDep, who: ActorDep) -> list[dict[str, Any]]:
    """Every vendor CA (cert services and auditors)."""
    return [v.as_dict() for v in svc.vendors.list(who)]


@router.post(
    "",
    response_model=IssuerOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 409, 422),
)
def add_issuer(body: IssuerIn, svc: ServicesDep, who: ActorDep) -> dict[str, Any]:
    """Register certdesk's account at the vendor with EAB and add it (cert services)."""
    return svc.vendors.add(
        who,
        body.name,
        directory_url=body.acme_directory,
        eab_kid=body.eab_kid,
        eab_hmac_key=body.eab_hmac_key,
        ca_bundle_pem=body.ca_bundle,
        anchors_pem=body.trust_anchors,
        solver=_solver(body),
        profiles=body.profiles,
        lint_tolerate=body.lint_tolerate,
    ).as_dict()


@router.get("/{name}", response_model=IssuerOut, responses=problems(403, 404, 422))
def get_issuer(name: IssuerName, svc: ServicesDep, who: ActorDep) -> dict[str, Any]:
    return svc.vendors.show(who, name).as_dict()


@router.post("/{name}/disable", response_model=IssuerOut, responses=problems(403, 404, 422))
def disable_issuer(name: IssuerName, svc: ServicesDep, who: ActorDep) -> dict[str, Any]:
    """No new orders through this vendor; open orders still finish (cert services)."""
    return svc.vendors.disable(who, name).as_dict()


@router.post(
    "/{name}/rollover", response_model=IssuerOut, responses=problems(403, 404, 409, 422, 503)
)
def rollover_issuer(name: IssuerName, svc: ServicesDep, who: ActorDep) -> dict[str, Any]:
    """Replace the vendor account's key (RFC 8555 §7.3.5; cert services): a new key is
    generated and sealed, the vendor switches to it, the old key is refused from then on."""
    return svc.vendors.rollover(who, name).as_dict()
