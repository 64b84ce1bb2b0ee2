"""/api/v1/tokens: bearer tokens (shown once)."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from certdesk.core.access import Role
from certdesk.web.deps import ActorDep, ServicesDep

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


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


@router.post("", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, svc: ServicesDep, who: ActorDep) -> TokenOut:
    new = svc.tokens.create(who, role=body.role, org_code=body.org, label=body.label)
    return TokenOut(token=new.secret, prefix=new.prefix, role=new.role, org=new.org_code)
