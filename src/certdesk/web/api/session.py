"""/api/v1/session and /api/v1/enroll: signing in and out, changing and choosing passwords.

These are the only API routes without a bearer token: they are how a person gets one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from certdesk.core.accounts import MAX_PASSWORD
from certdesk.services.people.logins import LoginSession
from certdesk.web.api.users import UserOut
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.problems import ANY_ROUTE, problems

router = APIRouter(prefix="/api/v1", tags=["session"], responses=ANY_ROUTE)

LOGIN_REFUSED: dict[int | str, dict[str, Any]] = {
    401: {
        **problems(401)[401],
        "description": "Refused; the problem's `code` says why: `auth.login` (unknown login ID"
        " or wrong password: the same answer for both), `account.locked` (with"
        " `locked_until`), `account.disabled`, `totp.required`, `totp.invalid`,"
        " `password.expired` (change it with POST /api/v1/session/password).",
    }
}


class LoginIn(BaseModel):
    login_id: str = Field(min_length=1, max_length=64, examples=["jdoe"])
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)
    totp: str | None = Field(
        default=None, max_length=16, description="Authenticator code, if the account has TOTP."
    )


class PasswordChangeIn(BaseModel):
    login_id: str = Field(min_length=1, max_length=64, examples=["jdoe"])
    old_password: str = Field(min_length=1, max_length=MAX_PASSWORD)
    new_password: str = Field(min_length=1, max_length=MAX_PASSWORD)
    totp: str | None = Field(default=None, max_length=16)


class EnrollIn(BaseModel):
    token: str = Field(
        min_length=1, max_length=200, description="The last part of the enrollment link."
    )
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class SessionOut(BaseModel):
    token: str = Field(description="Bearer token of the session; shown this once.")
    expires_at: datetime
    user: UserOut


def _session(new: LoginSession) -> dict[str, Any]:
    return {"token": new.token, "expires_at": new.expires_at, "user": new.user.as_dict()}


@router.post(
    "/session",
    response_model=SessionOut,
    status_code=status.HTTP_201_CREATED,
    responses={**LOGIN_REFUSED, **problems(422)},
)
def login(body: LoginIn, svc: ServicesDep) -> dict[str, Any]:
    """Sign in with login ID, password (and TOTP code): a session bearer token (R10)."""
    return _session(svc.logins.login(body.login_id, body.password, body.totp))


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401))
def logout(request: Request, svc: ServicesDep, _who: ActorDep) -> Response:
    """Sign out: the session token of this request stops working."""
    token = request.headers["authorization"].partition(" ")[2].strip()
    svc.logins.logout(token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/session/password",
    response_model=SessionOut,
    status_code=status.HTTP_201_CREATED,
    responses={**LOGIN_REFUSED, **problems(422)},
)
def change_password(body: PasswordChangeIn, svc: ServicesDep) -> dict[str, Any]:
    """R10: change the password with the current one (an expired one too), then sign in."""
    new = svc.logins.change_password(body.login_id, body.old_password, body.new_password, body.totp)
    return _session(new)


@router.post("/enroll", response_model=UserOut, responses=problems(404, 409, 422))
def enroll(body: EnrollIn, svc: ServicesDep) -> dict[str, object]:
    """Redeem an enrollment or reset link: choose the password; then sign in."""
    return svc.accounts.enroll(body.token, body.password).as_dict()
