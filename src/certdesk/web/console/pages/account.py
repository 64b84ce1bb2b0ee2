"""Signing in and out, changing and choosing passwords, the second factor (R10)."""

from __future__ import annotations

from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from certdesk.errors import CertdeskError, InvalidInput
from certdesk.web.console.frame import SIGN_IN_REASONS, ConsoleDep, ViewerDep, safe_next

router = APIRouter()

Text = Annotated[str, Form(max_length=1024)]
Optional = Annotated[str, Form(max_length=1024)]


def _confirm(new: str, again: str) -> None:
    if new != again:
        raise InvalidInput("password.mismatch", "the two new passwords differ; type them again")


@router.get("/login")
def login_form(
    request: Request, c: ConsoleDep, next: str = "/", why: str = "", login_id: str = ""
) -> Response:
    return c.page(
        request,
        "login.html",
        next=safe_next(next),
        why=SIGN_IN_REASONS.get(why, ""),
        login_id=login_id[:64],
        ask_totp=False,
    )


@router.post("/login")
def login(
    request: Request,
    c: ConsoleDep,
    login_id: Text,
    password: Text,
    totp: Optional = "",
    next: Optional = "/",
) -> Response:
    target = safe_next(next)
    try:
        session = c.services.logins.login(login_id, password, totp.strip() or None)
    except CertdeskError as exc:
        if exc.code == "password.expired":
            return c.redirect(
                f"/password?expired=1&login_id={login_id.strip().lower()[:64]}",
                flash="Your password has expired; choose a new one.",
            )
        ask = exc.code in ("totp.required", "totp.invalid")
        return c.refused(
            request,
            "login.html",
            exc,
            next=target,
            why="",
            login_id=login_id[:64],
            ask_totp=ask,
        )
    response = c.redirect(target)
    c.cookies.set_session(response, session.token)
    return response


@router.post("/logout")
def logout(request: Request, c: ConsoleDep) -> Response:
    secret = c.cookies.session_of(request)
    if secret:
        try:
            c.services.logins.logout(secret)
        except CertdeskError:
            pass  # already ended (expired, idle, revoked): signing out is done either way
    response = c.redirect("/login", flash="You are signed out.")
    c.cookies.clear_session(response)
    return response


def _password_page(
    request: Request, c: ConsoleDep, login_id: str, *, expired: bool, error: CertdeskError | None
) -> Response:
    settings = c.services.rt.settings
    context: dict[str, Any] = {
        "login_id": login_id[:64],
        "expired": expired,
        "max_age_days": settings.password_max_age_days,
        "min_length": settings.password_min_length,
    }
    if error is not None:
        return c.refused(request, "password.html", error, **context)
    return c.page(request, "password.html", **context)


@router.get("/password")
def password_form(
    request: Request, c: ConsoleDep, login_id: str = "", expired: str = ""
) -> Response:
    return _password_page(request, c, login_id, expired=bool(expired), error=None)


@router.post("/password")
def change_password(
    request: Request,
    c: ConsoleDep,
    login_id: Text,
    old_password: Text,
    new_password: Text,
    confirm_password: Text,
    totp: Optional = "",
) -> Response:
    try:
        _confirm(new_password, confirm_password)
        session = c.services.logins.change_password(
            login_id, old_password, new_password, totp.strip() or None
        )
    except CertdeskError as exc:
        return _password_page(request, c, login_id, expired=False, error=exc)
    response = c.redirect("/", flash="Your password is changed.")
    c.cookies.set_session(response, session.token)
    return response


@router.get("/enroll/{token}")
def enroll_form(request: Request, c: ConsoleDep, token: str) -> Response:
    return c.page(
        request,
        "enroll.html",
        token=token[:200],
        min_length=c.services.rt.settings.password_min_length,
    )


@router.post("/enroll/{token}")
def enroll(
    request: Request, c: ConsoleDep, token: str, password: Text, confirm_password: Text
) -> Response:
    try:
        _confirm(password, confirm_password)
        user = c.services.accounts.enroll(token[:200], password)
    except CertdeskError as exc:
        return c.refused(
            request,
            "enroll.html",
            exc,
            token=token[:200],
            min_length=c.services.rt.settings.password_min_length,
        )
    return c.redirect(
        f"/login?login_id={user.login_id}", flash="Your password is saved. Sign in with it now."
    )


@router.get("/account")
def account(request: Request, c: ConsoleDep, who: ViewerDep) -> Response:
    return c.page(request, "account.html", me=c.services.accounts.me(who), setup=None)


@router.post("/account/totp")
def totp_setup(request: Request, c: ConsoleDep, who: ViewerDep) -> Response:
    try:
        setup = c.services.logins.totp_setup(who)
    except CertdeskError as exc:
        return c.refused(request, "account.html", exc, me=c.services.accounts.me(who), setup=None)
    qr = segno.make(setup.uri, error="m").svg_data_uri(scale=4)
    return c.page(
        request,
        "account.html",
        me=c.services.accounts.me(who),
        setup=setup,
        setup_qr=qr,
    )


@router.post("/account/totp/confirm")
def totp_confirm(
    request: Request, c: ConsoleDep, who: ViewerDep, code: Annotated[str, Form(max_length=16)]
) -> Response:
    try:
        c.services.logins.totp_confirm(who, code.strip())
    except CertdeskError as exc:
        return c.refused(request, "account.html", exc, me=c.services.accounts.me(who), setup=None)
    return c.redirect("/account", flash="The authenticator is on; sign-ins now ask for a code.")
