"""/api/v1/certificates: issue, list, show, export, revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from certdesk.services.pki.csrs import MAX_CSR_BYTES
from certdesk.services.pki.inventory import ExportFormat, parse_duration
from certdesk.services.pki.issuance import IssueCommand, Platform
from certdesk.services.pki.revocation import Reason
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.identifiers import OrgFilter, Serial
from certdesk.web.lean import LeanRoute
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(prefix="/api/v1/certificates", tags=["certificates"], responses=AUTHENTICATED)


class IssueIn(BaseModel):
    org: str = Field(min_length=1, max_length=64, examples=["dmv"])
    csr: str = Field(min_length=1, max_length=MAX_CSR_BYTES, description="PEM CSR")
    platform: Platform = Platform.VIRTUAL
    days: int | None = Field(
        default=None, ge=1, le=400, description="Validity in days; default the maximum (R13)."
    )
    renewal_of: str | None = Field(
        default=None, max_length=64, description="Serial of the certificate this one replaces."
    )


class IssuedOut(BaseModel):
    serial: str
    organization: str
    names: list[str]
    not_before: datetime
    not_after: datetime
    certificate: str = Field(description="The leaf, PEM")
    chain: str = Field(description="Issuing CA certificate(s), PEM, leaf excluded")
    fullchain: str = Field(description="Leaf then chain, PEM: what a web server is given")
    issuer: str = Field(description="The vendor's name, or builtin for the built-in CA")


class CertOut(BaseModel):
    serial: str
    organization: str
    names: list[str]
    status: str
    key_type: str
    platform: str
    not_before: datetime
    not_after: datetime
    issued_at: datetime | None
    revoked_at: datetime | None
    revocation_reason: str | None
    fingerprint_sha256: str | None
    issuer: str
    requested_by: str
    renewal_of: str | None
    retire_at: datetime | None = Field(
        default=None,
        description="Replaced by an in-window reissue: revoked (superseded) at this instant",
    )


class CertPage(BaseModel):
    items: list[CertOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class RevokeIn(BaseModel):
    reason: Reason = Reason.UNSPECIFIED


# Served on the lean path of web/lean.py (registered below); no docstring, which would
# become the operation's OpenAPI description.
def issue(body: IssueIn, svc: ServicesDep, who: ActorDep) -> IssuedOut:
    issued = svc.issuance.issue(
        who,
        IssueCommand(
            org_code=body.org,
            csr=body.csr.encode(),
            platform=body.platform,
            days=body.days,
            renewal_of=body.renewal_of,
        ),
    )
    leaf, chain = issued.pem(), issued.chain_pem()  # each built once
    return IssuedOut(
        serial=issued.serial,
        organization=issued.org_code,
        names=list(issued.names),
        not_before=issued.not_before,
        not_after=issued.not_after,
        certificate=leaf,
        chain=chain,
        fullchain=leaf + chain,
        issuer=issued.issuer or "builtin",
    )


# The issuing route's requests skip FastAPI's dependency solving and answer serialisation
# (web/lean.py); its contract, OpenAPI included, is the function's above.
router.add_api_route(
    "",
    issue,
    methods=["POST"],
    response_model=IssuedOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 409, 422),
    route_class_override=LeanRoute,
)


@router.get("", response_model=CertPage, responses=problems(404, 422))
def list_certificates(
    svc: ServicesDep,
    who: ActorDep,
    org: OrgFilter = None,
    name: str | None = None,
    status_: Annotated[str | None, Query(alias="status")] = None,
    expiring_within: Annotated[str | None, Query(description="e.g. 30d")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    q: Annotated[
        str | None,
        Query(max_length=253, description="Any part of a name or the serial"),
    ] = None,
) -> dict[str, object]:
    page = svc.inventory.search(
        who,
        org_code=org,
        name=name,
        text=q,
        status=status_,
        expiring_within=parse_duration(expiring_within) if expiring_within else None,
        cursor=cursor,
        limit=limit,
    )
    return {"items": [c.as_dict() for c in page.items], "next_cursor": page.next_cursor}


@router.get("/{serial}", response_model=CertOut, responses=problems(404, 422))
def show(serial: Serial, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    return svc.inventory.show(who, serial).as_dict()


MEDIA = {
    ExportFormat.PEM: ("application/x-pem-file", "pem"),
    ExportFormat.CHAIN: ("application/x-pem-file", "chain.pem"),
    ExportFormat.DER: ("application/pkix-cert", "cer"),
    ExportFormat.P7B: ("application/pkcs7-mime", "p7b"),
}


@router.get(
    "/{serial}/export",
    response_class=Response,
    responses={**problems(404, 422), 200: {"content": {m: {} for m, _ in MEDIA.values()}}},
)
def export(
    serial: Serial, svc: ServicesDep, who: ActorDep, format: ExportFormat = ExportFormat.PEM
) -> Response:
    data = svc.inventory.export(who, serial, format)
    media, ext = MEDIA[format]
    return Response(
        data,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{serial.lower()}.{ext}"'},
    )


@router.post("/{serial}/revoke", response_model=CertOut, responses=problems(403, 404, 409, 422))
def revoke(serial: Serial, body: RevokeIn, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    return svc.revocation.revoke(who, serial, body.reason).as_dict()
