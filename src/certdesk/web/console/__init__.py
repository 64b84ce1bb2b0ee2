"""The certificate console: server-rendered pages on the same services as the API.

Pages live in :mod:`certdesk.web.console.pages`, one module per domain noun; they translate
forms into service calls and results into templates, nothing more (DESIGN §4).
"""

from __future__ import annotations

from pathlib import Path

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from certdesk.services.registry import Services
from certdesk.web.console.frame import (
    STATIC,
    Console,
    CsrfRefused,
    SignInNeeded,
    csrf_checked,
)
from certdesk.web.console.guard import SecurityHeaders
from certdesk.web.console.pages import PAGES

log = structlog.get_logger("certdesk.console")

TEMPLATE_PACKAGE = Path("node_modules/@cagovweb/state-template/dist")


def template_assets(configured: Path | None) -> Path | None:
    """The State Web Template's dist/ folder, or None when it is not installed (see README)."""
    for candidate in (configured, Path.cwd() / TEMPLATE_PACKAGE):
        if candidate is not None and (candidate / "css" / "cagov.core.min.css").is_file():
            return candidate
    return None


def install(app: FastAPI, services: Services) -> Console:
    """Add the console's routes, static files, middleware and error pages to ``app``."""
    settings = services.rt.settings
    assets = template_assets(settings.console_assets_dir)
    if assets is None:
        log.warning(
            "the California State Web Template is not installed; the console uses its own"
            " stylesheet only (run `make assets`)"
        )
    console = Console(services, assets=assets)
    app.state.console = console
    app.add_middleware(SecurityHeaders, https=console.secure)
    if assets is not None:
        app.mount("/static/cagov", StaticFiles(directory=assets), name="cagov")
    app.mount("/static/certdesk", StaticFiles(directory=STATIC), name="certdesk-static")

    router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_checked)])
    for module in PAGES:
        router.include_router(module.router)
    app.include_router(router)

    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, exc: SignInNeeded) -> Response:
        return console.sign_in_redirect(request, exc.reason)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _exc: CsrfRefused) -> Response:
        return console.error_page(
            request,
            403,
            "csrf.refused",
            "This form was not sent from this site's page, or the page is too old. Nothing"
            " was changed. Go back, reload the page and try again.",
        )

    return console
