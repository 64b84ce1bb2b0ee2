"""The frame every console page is drawn in: templates, navigation, flash messages, forms.

Pages are thin: they read the form, call the same service the API calls, and render the
result or the domain error. Nothing here decides anything; the services authorize.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from certdesk.core import audit_text
from certdesk.core.access import Action, Actor
from certdesk.core.messages import for_people, state_label, without_rules
from certdesk.core.wall_clock import pacific_day, pacific_time
from certdesk.errors import CertdeskError, Unauthorized
from certdesk.services.registry import Services
from certdesk.web.console.guard import (
    CSRF_FIELD,
    PRE_SESSION_FORMS,
    ConsoleCookies,
    Csrf,
)
from certdesk.web.status import status_of

log = structlog.get_logger("certdesk.console")

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str
    action: Action | None  # shown to whoever may do it; None: everyone signed in


NAV = (
    NavItem("/", "Dashboard", None),
    NavItem("/certificates", "Certificates", Action.CERT_READ),
    NavItem("/cases", "Cases", Action.CASE_READ),
    NavItem("/external", "External", Action.CERT_READ),
    NavItem("/issue", "Issue", Action.CERT_ISSUE),
    NavItem("/contacts", "Contacts", Action.CONTACT_MANAGE),
    NavItem("/users", "People", Action.USER_READ),
    NavItem("/tokens", "API tokens", Action.TOKEN_CREATE),
    NavItem("/acme", "ACME", Action.ACME_READ),
    NavItem("/webhooks", "Webhooks", Action.WEBHOOK_READ),
    NavItem("/orgs", "Organizations", Action.ORG_READ),
    NavItem("/issuers", "Vendor CAs", Action.ISSUER_READ),
    NavItem("/ct", "Transparency", Action.CERT_READ),
    NavItem("/contracts", "Contracts", Action.CONTRACT_MANAGE),
    NavItem("/reports", "Reports", Action.REPORT_READ),
    NavItem("/audit", "Audit log", Action.AUDIT_READ),
)


# Why a browser was sent to the sign-in form: the form shows one of these fixed sentences,
# chosen by code, never text from the URL (a link to /login?why=<anything> must not be able
# to put words of its own on this site's page).
SIGN_IN_REASONS = {
    "session.idle": "You were signed out after a while without activity. Sign in again.",
    "session.expired": "Your session has ended. Sign in again.",
    "account.disabled": "This account is disabled.",
    "account.no_roles": "This account holds no role; ask your administrator.",
    "auth.token": "Your session has ended. Sign in again.",
}


class SignInNeeded(Exception):
    """No live console session: the page answers with a redirect to the sign-in form."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRefused(Exception):
    """A form post without the right CSRF token; nothing was done."""


def safe_next(value: str | None) -> str:
    """Only a path on this site is a place to go back to after signing in (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


class Console:
    """What the pages share: services, templates, the CSRF signer and settings."""

    def __init__(self, services: Services, *, assets: Path | None) -> None:
        self.services = services
        settings = services.rt.settings
        self.secure = settings.base_url.startswith("https://")
        self.assets = assets
        self.cookies = ConsoleCookies(secure=self.secure)
        self.csrf = Csrf(lambda: services.secretbox.derive("console-csrf"), self.cookies)
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # R19: one formatter for every time a person reads, and the catalogue's words for
        # states and errors (core.wall_clock, core.messages).
        self.env.filters["when"] = pacific_time
        self.env.filters["day"] = pacific_day
        self.env.filters["state"] = state_label
        self.env.globals["plain_error"] = plain_error
        # Errors shown beside their field ({field id: (sentence, specifics)}); pages that
        # know where a refusal belongs pass their own.
        self.env.globals["field_errors"] = {}
        self.env.globals["plain_message"] = lambda code, detail: [
            part for part in for_people(code, detail) if part
        ]
        self.env.filters["plain_reason"] = without_rules
        self.env.filters["who"] = audit_text.who
        self.env.filters["what"] = audit_text.describe
        self.env.globals["has_template_assets"] = assets is not None

    # -- rendering ---------------------------------------------------------------------------

    def page(
        self,
        request: Request,
        template: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """Render ``template`` in the frame, with the CSRF token and this request's flash."""
        actor: Actor | None = getattr(request.state, "actor", None)
        token, new_cookie = self.csrf.token_for_page(request)
        flash = request.cookies.get(self.cookies.flash)
        html = self.env.get_template(template).render(
            request_path=request.url.path,
            actor=actor,
            nav=[n for n in NAV if actor is not None and (n.action is None or actor.may(n.action))]
            if actor
            else [],
            csrf_field=CSRF_FIELD,
            csrf_token=token,
            flash=urllib.parse.unquote(flash)[:300] if flash else None,
            **context,
        )
        response = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
        if new_cookie is not None:
            self.cookies.set(response, self.cookies.csrf, new_cookie)
        if flash:
            self.cookies.clear(response, self.cookies.flash)
        return response

    def refused(
        self, request: Request, template: str, error: CertdeskError, **context: Any
    ) -> HTMLResponse:
        """The form again, with the domain error shown at its top; nothing was changed."""
        return self.page(request, template, status=status_of(error), error=error, **context)

    def redirect(self, url: str, *, flash: str | None = None) -> RedirectResponse:
        """Post/redirect/get: the next page shows ``flash`` once."""
        response = RedirectResponse(url, status_code=303)
        if flash:
            self.cookies.set(response, self.cookies.flash, urllib.parse.quote(flash[:300]))
        return response

    def error_page(self, request: Request, status: int, code: str, detail: str) -> HTMLResponse:
        """The error in the frame, in the catalogue's words (R19); the code stays in the log."""
        kind = _KIND_OF_STATUS.get(status, "invalid")
        sentence, specifics = for_people(code, detail, kind)
        return self.page(
            request,
            "error.html",
            status=status,
            status_code=status,
            code=code,
            sentence=sentence,
            specifics=specifics,
        )

    # -- who is asking -----------------------------------------------------------------------

    def actor_of(self, request: Request) -> Actor:
        """The person signed in to this browser, or :class:`SignInNeeded` (R10)."""
        secret = self.cookies.session_of(request)
        if secret is None:
            raise SignInNeeded()
        idle = self.services.rt.settings.console_idle_minutes
        try:
            actor = self.services.tokens.console_session(secret, timedelta(minutes=idle))
        except Unauthorized as exc:
            raise SignInNeeded(exc.code) from None
        request.state.actor = actor
        return actor

    def sign_in_redirect(self, request: Request, reason: str) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        query = {"next": target} if request.method == "GET" and target != "/" else {}
        if reason:
            query["why"] = reason
        url = "/login" + ("?" + urllib.parse.urlencode(query) if query else "")
        response = RedirectResponse(url, status_code=303)
        if self.cookies.session_of(request) is not None:
            self.cookies.clear_session(response)
        return response


_KIND_OF_STATUS = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "invalid",
    422: "invalid",
    503: "unavailable",
}


def plain_error(error: CertdeskError) -> tuple[str, str]:
    """What a page says about ``error``: the catalogue's sentence and, when the service's
    detail is written for people, that detail (R19: no code, no rule number)."""
    return for_people(error.code, error.detail, str(error.kind))


async def console(request: Request) -> Console:
    c: Console = request.app.state.console
    return c


ConsoleDep = Annotated[Console, Depends(console)]


def viewer(request: Request, c: ConsoleDep) -> Actor:
    # A plain ``def``: the session lookup reads the database, so it runs in the thread pool.
    return c.actor_of(request)


ViewerDep = Annotated[Actor, Depends(viewer)]


async def csrf_checked(request: Request, c: ConsoleDep) -> AsyncIterator[None]:
    """Every console POST: refuse it unless its ``csrf_token`` is bound to this browser's
    session, or, on the forms used before signing in, to its pre-session cookie.

    The parsed form is closed after the answer (uploaded files are spooled to temporary
    files), also for routes that take no form field themselves.
    """
    if request.method != "POST":
        yield
        return
    form = await request.form()
    try:
        route = request.scope.get("route")
        pre_session = getattr(route, "path", None) in PRE_SESSION_FORMS
        if not c.csrf.accepts(request, form.get(CSRF_FIELD), pre_session_form=pre_session):
            log.warning("csrf refused", path=request.url.path)
            raise CsrfRefused()
        yield
    finally:
        await form.close()
