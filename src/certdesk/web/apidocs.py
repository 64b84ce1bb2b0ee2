"""/docs (Swagger UI) and /redoc (ReDoc), served by certdesk itself: no CDN is ever asked.

A data center's certificate service often has no way out to the internet, and a page that
pulls scripts from a public CDN would also tell that CDN who reads the API docs. The two
viewers' released bundles come from the ``fastapi-offline`` package (PyPI), which ships
Swagger UI's ``swagger-ui-bundle.js``/``swagger-ui.css`` and ReDoc's ``redoc.standalone.js``
as package data; certdesk serves them under :data:`ASSETS_URL`. So does an installed wheel,
without npm and without a network.

The pages are FastAPI's own (``get_swagger_ui_html``/``get_redoc_html``) with local URLs.
Each carries its own Content-Security-Policy, as strict as the viewer allows: scripts only
from this origin plus the page's one inline start-up script, pinned by its SHA-256 (CSP3
hash-source), so that the console's policy (no inline script) is not loosened for them.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from certdesk.errors import Unavailable

SWAGGER_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/static/apidocs"
FAVICON_URL = "/static/certdesk/favicon.svg"  # the console's (web/console/static)

SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
REDOC_JS = "redoc.standalone.js"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_INLINE_STYLE = re.compile(r"<style>(.*?)</style>", re.S)

# What both viewers need besides their own files: the OpenAPI document and "Try it out"
# requests (connect-src), SVG icons as data: URLs; ReDoc runs its search in a blob: worker.
_COMMON = (
    "default-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)


def asset_dir() -> Path:
    """The folder holding the viewers' bundles; an installation without them is refused."""
    folder = Path(fastapi_offline.__file__).parent / "static"
    missing = [n for n in (SWAGGER_JS, SWAGGER_CSS, REDOC_JS) if not (folder / n).is_file()]
    if missing:
        raise Unavailable(
            "apidocs.assets_missing",
            f"the API docs viewers are incomplete ({', '.join(missing)} not in {folder});"
            " reinstall certdesk's dependencies",
        )
    return folder


def _sha256_sources(pattern: re.Pattern[str], html: str) -> list[str]:
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in pattern.findall(html)
    ]


def policy(html: str, *, dynamic_styles: bool) -> str:
    """The Content-Security-Policy for ``html``: its inline scripts allowed by hash only.

    ``dynamic_styles``: the viewer writes ``<style>`` elements at run time (ReDoc's
    styled-components), which no hash can name; then inline styles are allowed (styles
    only, never scripts). Otherwise the page's own ``<style>`` blocks are pinned by hash.
    """
    scripts = " ".join(("'self'", *_sha256_sources(_INLINE_SCRIPT, html)))
    if dynamic_styles:
        styles = "'self' 'unsafe-inline'"
    else:
        styles = " ".join(("'self'", *_sha256_sources(_INLINE_STYLE, html)))
    return "; ".join((*_COMMON, f"script-src {scripts}", f"style-src {styles}"))


def _with_policy(page: HTMLResponse, *, dynamic_styles: bool) -> HTMLResponse:
    html = bytes(page.body).decode()
    page.headers["Content-Security-Policy"] = policy(html, dynamic_styles=dynamic_styles)
    return page


def install(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets; ``app`` must have docs_url=redoc_url=None."""
    assert app.docs_url is None and app.redoc_url is None, "FastAPI's CDN pages are off"
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    app.mount(ASSETS_URL, StaticFiles(directory=asset_dir()), name="apidocs")

    @app.get(SWAGGER_URL, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} API — Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/{SWAGGER_JS}",
            swagger_css_url=f"{root}{ASSETS_URL}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{root}{FAVICON_URL}",
            # No "valid" badge fetched from validator.swagger.io (Swagger UI's default).
            swagger_ui_parameters={"validatorUrl": None},
        )
        return _with_policy(page, dynamic_styles=False)

    @app.get(REDOC_URL, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} API — ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/{REDOC_JS}",
            redoc_favicon_url=f"{root}{FAVICON_URL}",
            with_google_fonts=False,
        )
        return _with_policy(page, dynamic_styles=True)
