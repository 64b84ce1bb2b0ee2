"""The request id and the access log: one line and one histogram sample per HTTP request.

A pure ASGI middleware (no per-request task, no body buffering), the outermost layer of the
app (``web/app.py``), so that it also sees the 500 answers of errors nothing else caught:

- the request id is the client's ``X-Request-ID`` when it is sane (1 to 128 characters of
  ``A-Z a-z 0-9 . _ -``), otherwise a new uuid4; it is echoed in the answer's
  ``X-Request-ID`` and bound with :mod:`structlog.contextvars`, so every line logged while
  the request runs carries ``request_id`` (also in the thread pool: Starlette copies the
  context there);
- the access line names the route template (``/api/v1/certificates/{serial}``), never the
  raw path when a route matched: paths hold enrollment tokens and other secrets. The query
  string, headers and cookies are never logged.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog

from certdesk.core.access import Actor
from certdesk.metrics import Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")
# A path logged for a request no route matched is cut here (a client chooses it).
_MAX_PATH = 200

log = structlog.get_logger("certdesk.access")


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID if it is sane, else a new one."""
    for name, value in headers:
        if name == HEADER:
            if _SANE_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return uuid.uuid4().hex


def actor_kind(actor: Actor | None) -> str:
    """anonymous; session (a person signed in, console or API); else the token's role."""
    if actor is None:
        return "anonymous"
    if actor.user_id is not None:
        return "session"
    return str(actor.role)


def route_template(scope: Scope) -> str | None:
    """The template of the route that answered, or None when no route matched."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else None


class RequestLog:
    """Request id, access line and ``certdesk_http_request_duration_seconds``."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope["headers"])
        # request.state is this dict (Starlette keeps it in the scope): deps.py and the
        # console put the actor there.
        state = scope.setdefault("state", {})
        status = 500  # an error before any answer: the server answers 500
        header = (HEADER, rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=rid)
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            # The binding stays: the server's own error line is about this request too (each
            # request runs in a task of its own, whose context ends with it).
            self._done(scope, state, status, started)
            raise
        self._done(scope, state, status, started)
        structlog.contextvars.reset_contextvars(**tokens)

    def _done(self, scope: Scope, state: Any, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        route = route_template(scope)
        method = scope["method"]
        actor = state.get("actor") if isinstance(state, dict) else None
        log.info(
            "request",
            method=method,
            route=route if route is not None else scope["path"][:_MAX_PATH],
            status=status,
            duration_ms=round(seconds * 1000, 2),
            actor=actor_kind(actor if isinstance(actor, Actor) else None),
        )
        self.metrics.observe_request(method, route, status, seconds)
