"""/api/v1/tokens: bearer tokens (shown once)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, Field

from certdesk.core.access import Role
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"], responses=AUTHENTICATED)


class TokenCreate(BaseModel):
    role: Role
    org: str | None = Field(
        default=None, description="Organization code (not for operator/auditor)."
    )
    label: str = Field(default="", max_length=200)


class TokenOut(BaseModel):
    token: str = Field(description="The secret; it is shown this once and never again.")
    prefix: str
    role: Role
    org: str | None


class TokenInfo(BaseModel):
    """An API token without its secret (login sessions are not listed)."""

    prefix: str = Field(description="The public part of the token: cd_<prefix>_...")
    role: Role
    org: str | None
    label: str
    created_at: datetime
    revoked_at: datetime | None


Prefix = Annotated[str, Path(min_length=1, max_length=16, description="The token's prefix.")]


@router.get("", response_model=list[TokenInfo], responses=problems(403, 404, 422))
def list_tokens(
    svc: ServicesDep,
    who: ActorDep,
    org: Annotated[str | None, Query(max_length=64, description="Organization code.")] = None,
) -> list[dict[str, object]]:
    """API tokens, newest first, never their secrets: every token (cert services) or the
    caller's organization's (delegated administrator)."""
    return [t.as_dict() for t in svc.tokens.list(who, org)]


@router.delete("/{prefix}", response_model=TokenInfo, responses=problems(403, 404, 409, 422))
def revoke_token(prefix: Prefix, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    """Revoke an API token: it stops working at once (audited)."""
    return svc.tokens.revoke(who, prefix).as_dict()


@router.post(
    "",
    response_model=TokenOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 422),
)
def create_token(body: TokenCreate, svc: ServicesDep, who: ActorDep) -> TokenOut:
    new = svc.tokens.create(who, role=body.role, org_code=body.org, label=body.label)
    return TokenOut(token=new.secret, prefix=new.prefix, role=new.role, org=new.org_code)
