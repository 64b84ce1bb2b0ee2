"""/api/v1/acme: the ACME server's EAB keys and accounts (R17). The protocol itself is
served under /acme/ (certdesk/acme)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, Field

from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(prefix="/api/v1/acme", tags=["acme"], responses=AUTHENTICATED)


class EabCreate(BaseModel):
    org: str = Field(min_length=1, max_length=64, description="Organization code.")
    expires_days: int | None = Field(
        default=None, ge=1, le=365, description="Days the key may wait to bind an account."
    )


class EabCreated(BaseModel):
    kid: str
    hmac_key: str = Field(description="base64url HMAC key; shown this once and never again.")
    org: str
    expires_at: datetime | None


class EabKeyInfo(BaseModel):
    """An EAB key without its HMAC key."""

    kid: str
    org: str
    state: Literal["unused", "bound", "expired", "revoked"]
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    account_id: int | None
    bound_at: datetime | None


class AccountInfo(BaseModel):
    id: int
    org: str
    status: Literal["valid", "deactivated", "revoked"]
    contacts: list[str]
    eab_kid: str
    thumbprint: str
    created_at: datetime
    deactivated_at: datetime | None


OrgQuery = Annotated[str | None, Query(max_length=64, description="Organization code.")]


@router.post(
    "/eab",
    response_model=EabCreated,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 422),
)
def create_eab_key(body: EabCreate, svc: ServicesDep, who: ActorDep) -> EabCreated:
    """Create an EAB key for a self-managed organization (cert services: any; a delegated
    administrator: its own). The HMAC key is in this answer only."""
    new = svc.acme_eab.create(who, body.org, days=body.expires_days)
    return EabCreated(
        kid=new.kid, hmac_key=new.hmac_key, org=new.org_code, expires_at=new.expires_at
    )


@router.get("/eab", response_model=list[EabKeyInfo], responses=problems(403, 404, 422))
def list_eab_keys(svc: ServicesDep, who: ActorDep, org: OrgQuery = None) -> list[dict[str, object]]:
    """EAB keys, newest first, never their HMAC keys."""
    now = svc.rt.clock()
    return [k.as_dict(now) for k in svc.acme_eab.list(who, org)]


@router.delete("/eab/{kid}", response_model=EabKeyInfo, responses=problems(403, 404, 409, 422))
def revoke_eab_key(
    kid: Annotated[str, Path(min_length=1, max_length=64)], svc: ServicesDep, who: ActorDep
) -> dict[str, object]:
    """Revoke an EAB key: it binds no account from now on."""
    return svc.acme_eab.revoke(who, kid).as_dict(svc.rt.clock())


@router.get("/accounts", response_model=list[AccountInfo], responses=problems(403, 404, 422))
def list_acme_accounts(
    svc: ServicesDep, who: ActorDep, org: OrgQuery = None
) -> list[dict[str, object]]:
    """ACME accounts: every one (cert services) or the caller's organization's."""
    return [a.as_dict() for a in svc.acme_accounts.list(who, org)]


@router.post(
    "/accounts/{account_id}/deactivate",
    response_model=AccountInfo,
    responses=problems(403, 404, 409, 422),
)
def deactivate_acme_account(
    account_id: Annotated[int, Path(ge=1, le=2**31 - 1)], svc: ServicesDep, who: ActorDep
) -> dict[str, object]:
    """Deactivate an ACME account: it can no longer order, finalize or revoke."""
    return svc.acme_accounts.deactivate(who, account_id).as_dict()


class PersistRecordAsk(BaseModel):
    domain: str = Field(
        min_length=1, max_length=255, description="The name to prove (*.NAME: its wildcard too)."
    )
    wildcard: bool = Field(default=False, description="Let the record prove *.NAME too.")
    persist_until: datetime | None = Field(
        default=None, description="When the record stops proving control; none: no end."
    )


class PersistRecordInfo(BaseModel):
    """A standing dns-persist-01 record (draft-ietf-acme-dns-persist) to publish."""

    id: int
    account_id: int
    org: str
    name: str
    wildcard: bool
    persist_until: datetime | None
    last_valid_at: datetime | None
    txt_name: str
    txt_value: str


@router.post(
    "/accounts/{account_id}/persist-record",
    response_model=PersistRecordInfo,
    responses=problems(403, 404, 422),
)
def show_persist_record(
    account_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: PersistRecordAsk,
    svc: ServicesDep,
    who: ActorDep,
) -> dict[str, object]:
    """The TXT record that lets the account prove ``domain`` without a new challenge;
    certdesk remembers it, uses it for new orders and warns before it ends."""
    return svc.acme_persist.show(
        who, account_id, body.domain, wildcard=body.wildcard, persist_until=body.persist_until
    ).as_dict()


@router.get(
    "/persist-records", response_model=list[PersistRecordInfo], responses=problems(403, 404, 422)
)
def list_persist_records(
    svc: ServicesDep, who: ActorDep, org: OrgQuery = None
) -> list[dict[str, object]]:
    """The standing dns-persist-01 records certdesk knows of."""
    return [r.as_dict() for r in svc.acme_persist.records(who, org)]
