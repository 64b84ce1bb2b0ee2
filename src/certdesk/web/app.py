"""The FastAPI application factory. ``certdesk serve`` runs it with uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from anyio import to_thread
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp

from certdesk import logs
from certdesk.acme.frontend import AcmeFrontEnd
from certdesk.config import Settings
from certdesk.release import version
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.startup import check_ready_to_start, known_head
from certdesk.web import apidocs, challenges, console, health, pki, problems
from certdesk.web.access import RequestLog
from certdesk.web.api import (
    acme_admin,
    approval_policies,
    attachments,
    audit,
    case_search,
    cases,
    certificates,
    contacts,
    contracts,
    ct,
    endpoints,
    exports,
    fulfilment,
    issuers,
    mail_preferences,
    notices,
    orgs,
    policy,
    reports,
    session,
    tokens,
    users,
    webhooks,
    work_queue,
)
from certdesk.web.inputs import checked_characters

log = structlog.get_logger("certdesk.web")


def operation_id(route: APIRoute) -> str:
    """The OpenAPI operationId of a route: its function's name, snake_case (``show_case``).

    Stable as long as the function keeps its name; tests/web/test_api_schema.py checks that
    every one is unique and snake_case, so that generated clients get readable methods.
    """
    return route.name


class CertdeskApp(FastAPI):
    """The FastAPI app with the request log outside every other layer (web/access.py)."""

    def build_middleware_stack(self) -> ASGIApp:
        # Outside Starlette's ServerErrorMiddleware too: the 500 it sends for an error nothing
        # else caught carries the request id and gets its access line.
        services: Services = self.state.services
        # RFC 8555 under /acme/ (R17) in front of every other layer but the request log: an
        # order is nine signed requests that need none of the console's or API's middleware.
        inner = AcmeFrontEnd(super().build_middleware_stack(), services)
        return RequestLog(inner, services.rt.metrics)


def create_app(services: Services | None = None) -> FastAPI:
    """Build the app around ``services`` (tests) or around settings from the environment."""
    owned = services is None
    svc = services or Services(Runtime.open(Settings()))
    if owned:
        # A server process (every one of `serve --workers N`) logs as its settings say.
        logs.configure(svc.rt.settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if owned:
            # A server process refuses an old or newer schema, or another installation's
            # secret-box key (`certdesk serve` said so already, in one line).
            check_ready_to_start(svc)
        # Few threads per process (CERTDESK_SERVER_THREADS): each blocking request holds one,
        # and many CPU-bound threads sharing one interpreter only stretch every request's
        # latency; requests that wait for a commit wait without a thread spinning.
        to_thread.current_default_thread_limiter().total_tokens = svc.rt.settings.server_threads
        # Start-up recovery: intents of signers that died are voided (DESIGN §3.2).
        voided = svc.issuance.recover()
        if voided:
            log.warning("voided interrupted issuances", serials=voided)
        yield
        svc.acme_validations.close()  # the ACME validations still running finish first
        if owned:
            svc.rt.close()

    app = CertdeskApp(
        title="certdesk",
        version=version(),
        summary="Certificate service platform: built-in CA, inventory, revocation.",
        lifespan=lifespan,
        # FastAPI's own /docs and /redoc load their scripts from a public CDN; certdesk
        # serves the same pages with local copies (web/apidocs.py).
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        # Before anything else on every route: no NUL or lone surrogate in any text input.
        dependencies=[Depends(checked_characters)],
        generate_unique_id_function=operation_id,
    )
    app.state.services = svc
    known_head()  # read the packaged migrations once, at start: /readyz compares with it
    problems.install(app)
    for module in (
        orgs,
        tokens,
        policy,
        certificates,
        issuers,
        audit,
        cases,
        case_search,  # GET /api/v1/cases, the list (split out of cases)
        approval_policies,  # an organization's approval policy (R4)
        contacts,
        fulfilment,
        reports,
        endpoints,
        attachments,
        contracts,
        exports,
        work_queue,
    ):
        app.include_router(module.router)
    app.include_router(notices.router)
    app.include_router(mail_preferences.router)  # before users' /{login} routes
    app.include_router(webhooks.router)
    app.include_router(session.router)
    app.include_router(users.router)
    app.include_router(acme_admin.router)
    app.include_router(ct.router)
    app.include_router(pki.router)
    app.include_router(challenges.router)
    app.include_router(health.router)
    apidocs.install(app)
    problems.document(app)  # the Problem schemas the routes refer to
    # The console's pages sit under "/" and come last: every machine route is matched first.
    console.install(app, svc)
    return app
