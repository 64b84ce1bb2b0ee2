"""The console's locks: session cookie, CSRF tokens and security headers.

- **Session (R10).** Signing in opens the same login session the API hands out as a bearer
  token; the console keeps its secret in the session cookie: HttpOnly (no script reads it),
  SameSite=Lax (not sent on cross-site posts), Secure when ``BASE_URL`` is https, and no
  Max-Age (it dies with the browser). Every request resolves it with
  :meth:`TokenService.console_session`, which also enforces the idle timeout.
- **Cookie names.** When ``BASE_URL`` is https every console cookie carries the ``__Host-``
  prefix (RFC 6265bis §4.1.3.2): the browser then keeps it only if it is Secure, has Path=/
  and no Domain, so a neighbouring host (``evil.ca.gov``) can neither set nor shadow it.
- **CSRF.** Signed double submit (OWASP), bound to what the browser holds. Once a browser has
  a session, every form carries ``csrf_token`` = HMAC-SHA256(key, "session" ‖ session
  secret): a token is worth something only beside the very session it was drawn for, so a
  token/cookie pair taken from an anonymous page and planted beside a victim's session
  authorises nothing. Before there is a session, a random pre-session cookie stands in for it
  (HMAC(key, "browser" ‖ cookie)), and that binding is accepted only by the forms that are
  used without a session: sign-in, password change and enrollment/reset links
  (:data:`PRE_SESSION_FORMS`). A post whose token does not match is refused before anything
  runs. Another site can neither read the cookies nor compute the HMAC without the key,
  which is derived from the secret box key file.
- **Headers.** A strict Content-Security-Policy (only this origin's scripts, styles, fonts and
  images; no inline script; no framing; forms post only here), nosniff, no referrer, no cache
  for pages that may hold personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from certdesk.web.paths import is_console_path

# Base names; under an https BASE_URL each carries the __Host- prefix (ConsoleCookies).
SESSION_COOKIE = "certdesk_session"
CSRF_COOKIE = "certdesk_csrf"
FLASH_COOKIE = "certdesk_flash"
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


# The console's forms that are posted before there is a session: only these accept a token
# bound to the pre-session cookie (route paths as declared in web/console/pages/account.py).
PRE_SESSION_FORMS = frozenset({"/login", "/password", "/enroll/{token}"})


@dataclass(frozen=True)
class ConsoleCookies:
    """The names and attributes of the console's cookies for one ``BASE_URL``."""

    secure: bool

    @property
    def prefix(self) -> str:
        # __Host- only where the browser will keep it: it demands Secure, hence https.
        return "__Host-" if self.secure else ""

    @property
    def session(self) -> str:
        return self.prefix + SESSION_COOKIE

    @property
    def csrf(self) -> str:
        return self.prefix + CSRF_COOKIE

    @property
    def flash(self) -> str:
        return self.prefix + FLASH_COOKIE

    def session_of(self, request: Request) -> str | None:
        """The session secret this browser sent, if any (not yet checked)."""
        value = request.cookies.get(self.session)
        return value or None

    def set(self, response: Response, name: str, value: str) -> None:
        # No max_age: browser-session cookies; the server ends a session itself (idle
        # timeout, session_hours, sign-out), whatever the browser keeps. Path=/ and no
        # Domain, as the __Host- prefix requires.
        response.set_cookie(
            name, value, httponly=True, samesite="lax", secure=self.secure, path="/"
        )

    def clear(self, response: Response, name: str) -> None:
        response.delete_cookie(name, path="/", secure=self.secure, httponly=True, samesite="lax")

    def set_session(self, response: Response, secret: str) -> None:
        self.set(response, self.session, secret)

    def clear_session(self, response: Response) -> None:
        self.clear(response, self.session)


class Csrf:
    """Signed double-submit tokens bound to the session, or before it to a browser cookie."""

    def __init__(self, key: Callable[[], bytes], cookies: ConsoleCookies) -> None:
        self._key = key
        self.cookies = cookies

    def browser_cookie(self, request: Request) -> str | None:
        """The pre-session cookie this browser sent, if it looks like one of ours."""
        value = request.cookies.get(self.cookies.csrf)
        return value if value and 16 <= len(value) <= 128 else None

    def new_cookie(self) -> str:
        return secrets.token_urlsafe(32)

    def _sign(self, binding: str, value: str) -> str:
        # The binding's name is part of the message, so a pre-session cookie can never be
        # made to stand for a session secret or the other way round.
        message = binding.encode() + b"\0" + value.encode()
        return hmac.new(self._key(), message, hashlib.sha256).hexdigest()

    def session_token(self, secret: str) -> str:
        return self._sign("session", secret)

    def browser_token(self, cookie: str) -> str:
        return self._sign("browser", cookie)

    def token_for_page(self, request: Request) -> tuple[str, str | None]:
        """The token to put in this page's forms, and a new pre-session cookie to set (or
        None). A browser holding a session cookie gets that session's token, even before
        the session is checked: a dead session only leads to the sign-in form again."""
        secret = self.cookies.session_of(request)
        if secret is not None:
            return self.session_token(secret), None
        cookie = self.browser_cookie(request)
        if cookie is None:
            cookie = self.new_cookie()
            return self.browser_token(cookie), cookie
        return self.browser_token(cookie), None

    def accepts(self, request: Request, token: object, *, pre_session_form: bool) -> bool:
        """Whether a form post's ``token`` is bound to what this browser holds.

        With a session cookie only that session's token passes, on every form. Without one,
        only a pre-session form (sign-in, password change, enrollment) accepts the token of
        the pre-session cookie; every other post is refused, as it could do nothing anyway.
        """
        if not isinstance(token, str) or not token:
            return False
        secret = self.cookies.session_of(request)
        if secret is not None:
            return hmac.compare_digest(self.session_token(secret), token)
        cookie = self.browser_cookie(request)
        if cookie is None or not pre_session_form:
            return False
        return hmac.compare_digest(self.browser_token(cookie), token)
