"""/api/v1/cases/{number}/fulfil|complete|close|certificates|revoke|reissue, the one download
of a generated key (…/submittals/{id}/key), and /api/v1/certificates/{serial}/renewal-case
(R6, R8, R11, R12)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, Field

from certdesk.core.keys import KeyType
from certdesk.services.casework.window import Reissue
from certdesk.services.pki.issuance import Platform
from certdesk.services.pki.revocation import Reason
from certdesk.web.api.cases import CaseOut
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.identifiers import CaseNumber, Serial
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(tags=["cases"], responses=AUTHENTICATED)
CASE = "/api/v1/cases/{number}"
SubmittalId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_MAX_UPLOAD = 1024 * 1024  # transport bound; the service refuses a CSR over 64 KiB


class CompleteIn(BaseModel):
    reason: Reason | None = Field(
        default=None,
        description="revoke/delete cases: the revocation reason (default: unspecified for"
        " revoke, cessationOfOperation for delete)",
    )
    comment: str = Field(
        default="", max_length=20_000, description="The answer of a question (required there)"
    )


class CaseRevokeIn(BaseModel):
    serial: str = Field(min_length=1, max_length=64, description="A certificate of the case")
    reason: Reason = Reason.UNSPECIFIED


class ReissueIn(BaseModel):
    """Changes for the replacement; absent fields keep what the submittal has."""

    submittal_id: int = Field(ge=1, le=2**31 - 1)
    names: list[Annotated[str, Field(max_length=1100)]] = Field(
        default_factory=list, max_length=100, description="New names; [] keeps them"
    )
    csr: str | None = Field(
        default=None, max_length=_MAX_UPLOAD, description="A new PEM CSR (brings its names)"
    )
    key_type: KeyType | None = Field(default=None, description="Of a new generated key")
    platform: Platform | None = None
    validity_days: int | None = Field(default=None, ge=1, le=400)
    server_software: str | None = Field(default=None, max_length=100)
    server_version: str | None = Field(default=None, max_length=50)


class KeyDownloadIn(BaseModel):
    password: str = Field(
        min_length=1,
        max_length=1024,
        description="Protects the PKCS#12 (at least CERTDESK_PASSWORD_MIN_LENGTH characters)",
    )


class DeliveredOut(BaseModel):
    serial: str
    submittal_id: int | None = Field(description="Whose current certificate it is; null: replaced")
    names: list[str]
    status: str
    platform: str
    key_type: str
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None
    revocation_reason: str | None
    renewal_of: str | None = Field(description="The certificate this one replaced")
    retire_at: datetime | None = Field(
        default=None,
        description="Replaced by an in-window reissue: still valid, revoked at this instant",
    )
    cost_cents: int | None = Field(description="R11: recorded at delivery; null: self-managed")
    key: Literal["agency", "stored", "downloaded", "none"] = Field(
        description="agency: from the agency's CSR; stored: certdesk's key, downloadable once"
    )
    fullchain: str = Field(description="Leaf then issuing CA, PEM")


class DeliveryOut(BaseModel):
    number: str
    state: str
    delivered_at: datetime | None
    window_ends_at: datetime | None = Field(description="R8: the end of the 25-day window")
    window_open: bool
    certificates: list[DeliveredOut]


@router.post(CASE + "/fulfil", response_model=CaseOut, responses=problems(403, 404, 409, 422))
def fulfil_case(number: CaseNumber, svc: ServicesDep, who: ActorDep) -> dict[str, Any]:
    """Cert services issues every submittal's certificate and delivers the case (R8)."""
    return svc.fulfilment.fulfil(who, number).as_dict()


@router.post(CASE + "/complete", response_model=CaseOut, responses=problems(403, 404, 409, 422))
def complete_case(
    number: CaseNumber, svc: ServicesDep, who: ActorDep, body: CompleteIn | None = None
) -> dict[str, Any]:
    """Cert services finishes a revoke, delete, question or delegated-admin set-up case."""
    given = body or CompleteIn()
    return svc.fulfilment.complete(
        who, number, reason=given.reason, comment=given.comment
    ).as_dict()


@router.post(CASE + "/close", response_model=CaseOut, responses=problems(403, 404, 409, 422))
def close_case(number: CaseNumber, svc: ServicesDep, who: ActorDep) -> dict[str, Any]:
    """Close a delivered case: its R8 window ends (requester, operator)."""
    return svc.fulfilment.close(who, number).as_dict()


@router.get(CASE + "/certificates", response_model=DeliveryOut, responses=problems(404, 422))
def case_certificates(number: CaseNumber, svc: ServicesDep, who: ActorDep) -> dict[str, Any]:
    """What the case delivered, current and replaced certificates, with their chains."""
    return svc.window.certificates_of_case(who, number).as_dict()


@router.post(
    CASE + "/submittals/{submittal_id}/key",
    response_class=Response,
    responses={
        **problems(403, 404, 409, 422),
        200: {
            "content": {"application/x-pkcs12": {}},
            "description": "PKCS#12: key, certificate and chain, protected by the password",
        },
    },
)
def download_key(
    number: CaseNumber,
    submittal_id: SubmittalId,
    body: KeyDownloadIn,
    svc: ServicesDep,
    who: ActorDep,
) -> Response:
    """The key certdesk generated, once (R12); a second request is ``key.downloaded`` (409)."""
    bundle = svc.window.download_key(who, number, submittal_id, body.password)
    return Response(
        bundle,
        media_type="application/x-pkcs12",
        headers={
            "Content-Disposition": f'attachment; filename="{number.strip().upper()}-'
            f'{submittal_id}.p12"',
            "Cache-Control": "no-store",
        },
    )


@router.post(CASE + "/revoke", response_model=DeliveryOut, responses=problems(403, 404, 409, 422))
def revoke_in_window(
    number: CaseNumber, body: CaseRevokeIn, svc: ServicesDep, who: ActorDep
) -> dict[str, Any]:
    """Revoke a certificate of the case inside its R8 window (requester, operator)."""
    return svc.window.revoke(who, number, body.serial, body.reason).as_dict()


@router.post(CASE + "/reissue", response_model=DeliveryOut, responses=problems(403, 404, 409, 422))
def reissue(number: CaseNumber, body: ReissueIn, svc: ServicesDep, who: ActorDep) -> dict[str, Any]:
    """Replace a submittal's certificate with changes inside the R8 window."""
    change = Reissue(
        submittal_id=body.submittal_id,
        names=tuple(body.names),
        csr=body.csr.encode() if body.csr is not None else None,
        key_type=str(body.key_type) if body.key_type else None,
        platform=str(body.platform) if body.platform else None,
        validity_days=body.validity_days,
        server_software=body.server_software,
        server_version=body.server_version,
    )
    return svc.window.reissue(who, number, change).as_dict()


@router.post(
    "/api/v1/certificates/{serial}/renewal-case",
    response_model=CaseOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 409, 422),
)
def open_renewal(serial: Serial, svc: ServicesDep, who: ActorDep) -> dict[str, Any]:
    """Open a draft renewal case pre-filled from the certificate's submittal (R6)."""
    return svc.fulfilment.open_renewal(who, serial).as_dict()
