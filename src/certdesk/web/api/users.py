"""/api/v1/users: people and their accounts (R10)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, Field

from certdesk.core.access import Role
from certdesk.services.people.accounts import PasswordLink
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(prefix="/api/v1/users", tags=["users"], responses=AUTHENTICATED)

Login = Annotated[str, Path(min_length=1, max_length=64, description="Login ID, e.g. jdoe.")]


class UserOut(BaseModel):
    login_id: str = Field(description="Never expires and is never reused (R10).")
    name: str
    email: str
    org: str | None = Field(description="Organization code; none for operator and auditor.")
    roles: list[Role]
    disabled: bool
    enrolled: bool = Field(description="Whether the person has chosen a password yet.")
    totp_enabled: bool = Field(description="Whether login asks for an authenticator code.")
    locked_until: datetime | None = Field(description="Set while a lockout (R10) lasts.")
    password_changed_at: datetime | None
    password_expires_at: datetime | None = Field(description="R10: then it must be changed.")
    last_login_at: datetime | None
    created_at: datetime


class UserCreate(BaseModel):
    login_id: str = Field(min_length=1, max_length=64, examples=["jdoe"])
    name: str = Field(min_length=1, max_length=200, examples=["Jane Doe"])
    email: str = Field(min_length=3, max_length=254, examples=["jane.doe@dmv.ca.gov"])
    org: str | None = Field(
        default=None, max_length=64, description="Organization code; not for operator/auditor."
    )
    roles: list[Role] = Field(min_length=1, max_length=5, examples=[["requester", "approver"]])


class LinkOut(BaseModel):
    user: UserOut
    link: str = Field(
        description="Single-use link to choose a password; shown this once (it is also mailed"
        " to the person) and stored only as a hash."
    )
    link_expires_at: datetime


class RolesIn(BaseModel):
    roles: list[Role] = Field(min_length=1, max_length=5)


class TotpOut(BaseModel):
    secret: str = Field(description="Base32 secret for manual entry; shown this once.")
    uri: str = Field(description="otpauth:// URI for a QR code; shown this once.")


class TotpConfirm(BaseModel):
    code: str = Field(min_length=1, max_length=16, description="The 6-digit code the app shows.")


def _link(new: PasswordLink) -> dict[str, Any]:
    return {"user": new.user.as_dict(), "link": new.link, "link_expires_at": new.expires_at}


@router.get("", response_model=list[UserOut], responses=problems(403, 404, 422))
def list_users(
    svc: ServicesDep,
    who: ActorDep,
    org: Annotated[str | None, Query(max_length=64, description="Organization code.")] = None,
) -> list[dict[str, object]]:
    """Everyone (operator, auditor) or the caller's organization (delegated admin)."""
    return [u.as_dict() for u in svc.accounts.list_users(who, org)]


@router.post(
    "",
    response_model=LinkOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 409, 422),
)
def create_user(body: UserCreate, svc: ServicesDep, who: ActorDep) -> dict[str, Any]:
    """Create an account; the answer carries its enrollment link, never a password (R10)."""
    new = svc.accounts.create(
        who,
        body.login_id,
        name=body.name,
        email=body.email,
        org_code=body.org,
        roles=[str(r) for r in body.roles],
    )
    return _link(new)


@router.get("/me", response_model=UserOut, responses=problems(403))
def me(svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    """The signed-in person's own account (login sessions only)."""
    return svc.accounts.me(who).as_dict()


@router.post(
    "/me/totp",
    response_model=TotpOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 409),
)
def totp_setup(svc: ServicesDep, who: ActorDep) -> TotpOut:
    """Start TOTP (RFC 6238) set-up: a new secret, shown once; confirm it to enable."""
    setup = svc.logins.totp_setup(who)
    return TotpOut(secret=setup.secret, uri=setup.uri)


@router.post("/me/totp/confirm", response_model=UserOut, responses=problems(400, 403, 409, 422))
def totp_confirm(body: TotpConfirm, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    """Enable TOTP with a code from the authenticator; later logins then ask for one."""
    return svc.logins.totp_confirm(who, body.code).as_dict()


@router.get("/{login}", response_model=UserOut, responses=problems(403, 404, 422))
def get_user(login: Login, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    return svc.accounts.get(who, login).as_dict()


@router.post("/{login}/disable", response_model=UserOut, responses=problems(403, 404, 422))
def disable(login: Login, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    """No more logins; the account's open sessions stop working at once."""
    return svc.accounts.disable(who, login).as_dict()


@router.post("/{login}/enable", response_model=UserOut, responses=problems(403, 404, 422))
def enable(login: Login, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    return svc.accounts.enable(who, login).as_dict()


@router.post("/{login}/reset", response_model=LinkOut, responses=problems(403, 404, 409, 422))
def reset(login: Login, svc: ServicesDep, who: ActorDep) -> dict[str, Any]:
    """A new single-use link to choose a password; the old one works until it is used."""
    return _link(svc.accounts.reset(who, login))


@router.put("/{login}/roles", response_model=UserOut, responses=problems(403, 404, 422))
def set_roles(login: Login, body: RolesIn, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    """Replace the account's roles; its open sessions act with them from the next request."""
    return svc.accounts.set_roles(who, login, [str(r) for r in body.roles]).as_dict()
