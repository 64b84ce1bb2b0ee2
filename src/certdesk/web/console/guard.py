"""The console's locks: session cookie, CSRF tokens and security headers.

- **Session (R10).** Signing in opens the same login session the API hands out as a bearer
  token; the console keeps its secret in the ``certdesk_session`` cookie: HttpOnly (no script
  reads it), SameSite=Lax (not sent on cross-site posts), Secure when ``BASE_URL`` is https,
  and no Max-Age (it dies with the browser). Every request resolves it with
  :meth:`TokenService.console_session`, which also enforces the idle timeout.
- **CSRF.** Signed double submit (OWASP): a random ``certdesk_csrf`` cookie, and in every form
  a hidden ``csrf_token`` = HMAC-SHA256(key, cookie). A post whose token does not match the
  cookie is refused before anything runs. Another site can neither read the cookie nor
  compute the HMAC without the key, which is derived from the secret box key file.
- **Headers.** A strict Content-Security-Policy (only this origin's scripts, styles, fonts and
  images; no inline script; no framing; forms post only here), nosniff, no referrer, no cache
  for pages that may hold personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "certdesk_session"
CSRF_COOKIE = "certdesk_csrf"
CSRF_FIELD = "csrf_token"

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

# Paths that answer machines, not people: they keep their own caching rules.
MACHINE_PREFIXES = ("/api/", "/acme", "/crl", "/ca/", "/ocsp", "/healthz", "/readyz", "/metrics")


def is_console_path(path: str) -> bool:
    # /docs and /redoc set their own policy (web/apidocs.py).
    return not path.startswith(MACHINE_PREFIXES) and path not in (
        "/openapi.json",
        "/docs",
        "/redoc",
    )


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeaders:
    """A pure ASGI middleware (no per-request task hop) adding the headers to every answer."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        console = is_console_path(scope["path"])
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                names = {k.lower() for k, _ in headers}
                add = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                ]
                if console:
                    add.append((b"content-security-policy", CSP.encode()))
                    if not static and b"cache-control" not in names:
                        add.append((b"cache-control", b"no-store"))
                if self.https:
                    add.append((b"strict-transport-security", b"max-age=31536000"))
                headers.extend((k, v) for k, v in add if k not in names)
            await send(message)

        await self.app(scope, receive, with_headers)


class Csrf:
    """Signed double-submit tokens bound to the browser's ``certdesk_csrf`` cookie."""

    def __init__(self, key: Callable[[], bytes], *, secure: bool) -> None:
        self._key = key
        self.secure = secure

    def cookie_of(self, request: Request) -> str | None:
        value = request.cookies.get(CSRF_COOKIE)
        return value if value and 16 <= len(value) <= 128 else None

    def new_cookie(self) -> str:
        return secrets.token_urlsafe(32)

    def token_for(self, cookie: str) -> str:
        return hmac.new(self._key(), cookie.encode(), hashlib.sha256).hexdigest()

    def matches(self, cookie: str | None, token: object) -> bool:
        if cookie is None or not isinstance(token, str) or not token:
            return False
        return hmac.compare_digest(self.token_for(cookie), token)

    def set_cookie(self, response: Response, cookie: str) -> None:
        response.set_cookie(
            CSRF_COOKIE, cookie, httponly=True, samesite="lax", secure=self.secure, path="/"
        )


def set_session_cookie(response: Response, secret: str, *, secure: bool) -> None:
    # No max_age: a browser session cookie; the server ends the session itself (idle
    # timeout, session_hours, sign-out), whatever the browser keeps.
    response.set_cookie(
        SESSION_COOKIE, secret, httponly=True, samesite="lax", secure=secure, path="/"
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
