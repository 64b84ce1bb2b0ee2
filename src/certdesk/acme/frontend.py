"""The ACME server's HTTP front end (RFC 8555; Boulder's WFE), mounted at ``/acme/``.

A lean ASGI application in front of the FastAPI app (web/app.py): an ACME order is nine
signed requests, and none of them needs the console's or the API's middleware, routing,
dependency injection or validation. Every other path (the console's pages under ``/acme``
included) goes on to the FastAPI app untouched.
The request log (web/access.py) still wraps both: request ids, the access line (with the
route's template) and the request metrics cover ACME as before.

Per request: the body is read (at most :data:`~certdesk.acme.jws.MAX_BODY` bytes), then one
call does the JWS checks (certdesk/acme/signed.py), the resource's service call and builds
the answer, and takes the ``Replay-Nonce``. On SQLite that call runs on the event loop
itself: its waits are local (a file lock, an ``fsync``), the work holds the GIL anyway, and a
worker thread's hop cost more CPU than it saved (docs/performance.md: a sixth of an order's
server CPU on 2 cores). A challenge's validation still runs in the validation pool, and the
loop waits for it without blocking. On PostgreSQL the call runs in a worker thread, as a
network database's round trips must never hold the loop; so does newOrder (it may ask DNS
for an account's standing dns-persist-01 records), and so do finalize and revokeCert where a
vendor CA is configured (an order or a revocation at the vendor goes over the network).

Every answer, problem documents included, carries a fresh ``Replay-Nonce`` (§6.5),
``Link: <directory>;rel="index"`` (§7.1) and ``Cache-Control: no-store``; the site's security
headers are added as on every other path.
"""

from __future__ import annotations

import asyncio
import json
import re
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import structlog
from anyio import CapacityLimiter

from certdesk.acme import account_resources as accounts
from certdesk.acme import order_resources as orders
from certdesk.acme import problems
from certdesk.acme.account_resources import Call
from certdesk.acme.jws import MAX_BODY
from certdesk.acme.problems import Answer
from certdesk.acme.signed import AccountKeys, check, envelope
from certdesk.acme.views import TERMS, Links, directory_json
from certdesk.errors import CertdeskError, InvalidInput, NotFound
from certdesk.services.registry import Services
from certdesk.web.offload import run_blocking
from certdesk.web.problems import database_unavailable

log = structlog.get_logger("certdesk.acme")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PREFIX = "/acme/"
# Worker threads of each process for ACME requests on PostgreSQL (on SQLite the work runs on
# the event loop: see above), apart from the threads the rest of the site shares
# (CERTDESK_SERVER_THREADS): few, because the work holds the GIL and more threads
# only stretch every request; finalize has threads of its own so that a finalization (its
# order ``processing`` while it signs) never queues behind every other client's polls.
# Measured at 16 and 64 clients (docs/performance.md): 2 request threads gave the lowest
# finalize p95 and no lower throughput than the shared 8. A finalization mostly waits (for
# its group commit and the writer's turn, not for the GIL), and with 2 threads of its own
# finalizations queued behind each other at 64 clients (p95 of that wait 124 ms): 6 took
# the finalize p95 at c = 64 from 148-179 ms to 105-135 ms at the same throughput; 12
# was worse again (179 ms).
ACME_THREADS = 2
FINALIZE_THREADS = 6
# How long a challenge's answer waits for its validation (a loopback http-01 takes a few
# milliseconds; a slow one is answered "processing" and polled, as before).
VALIDATION_WAIT_SECONDS = 2.0

_SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass(frozen=True)
class Route:
    """One ACME resource: ``path`` is the template the access log shows."""

    method: str
    path: str
    pattern: re.Pattern[str]
    handler: Callable[[Call], Answer] | None  # signed resources
    jwk_ok: bool = False  # may be signed with its own jwk (newAccount, revokeCert)
    # Runs on threads of its own instead of the process's shared ones (finalize: see below).
    own_threads: bool = False
    # May reach a vendor CA over the network (an issuance, a revocation): never on the loop
    # while a vendor is configured.
    vendors: bool = False
    # May wait on the network whatever is configured (newOrder asks DNS about an account's
    # standing dns-persist-01 records): never on the loop.
    network: bool = False


def _route(method: str, path: str, handler: Callable[[Call], Answer] | None, **kw: Any) -> Route:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return Route(method, path, re.compile(regex + r"\Z"), handler, **kw)


ROUTES = (
    _route("POST", "/acme/authz/{authz_id}", orders.authorization),
    _route("POST", "/acme/chall/{challenge_id}", orders.challenge),
    _route("POST", "/acme/order/{order_id}", orders.order),
    _route("POST", "/acme/new-order", orders.new_order, network=True),
    _route("POST", "/acme/finalize/{order_id}", orders.finalize, own_threads=True, vendors=True),
    _route("POST", "/acme/cert/{serial}", orders.certificate),
    _route("POST", "/acme/new-account", accounts.new_account, jwk_ok=True),
    _route("POST", "/acme/acct/{account_id}/orders", accounts.account_orders),
    _route("POST", "/acme/acct/{account_id}/orders/{after}", accounts.account_orders),
    _route("POST", "/acme/acct/{account_id}", accounts.account),
    _route("POST", "/acme/key-change", accounts.key_change),
    _route("POST", "/acme/revoke-cert", accounts.revoke_cert, jwk_ok=True, vendors=True),
    _route("GET", "/acme/directory", None),
    _route("GET", "/acme/terms", None),
    _route("HEAD", "/acme/new-nonce", None),
    _route("GET", "/acme/new-nonce", None),
    _route("GET", "/acme/renewal-info/{cert_id}", None),
)


class AcmeFrontEnd:
    """ASGI: ``/acme/…`` answered here, everything else passed to ``app``."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.svc = services
        self.links = Links(services.rt.settings)
        self.keys = AccountKeys()
        security = dict(_SECURITY)
        if services.rt.settings.base_url.startswith("https://"):
            security["Strict-Transport-Security"] = "max-age=31536000"
        index = f'<{self.links.url("/directory")}>;rel="index"'
        self._always = [
            (b"link", index.encode()),
            (b"cache-control", b"no-store"),
            *((k.lower().encode(), v.encode()) for k, v in security.items()),
        ]
        self._directory: bytes | None = None
        self._requests = CapacityLimiter(ACME_THREADS)
        self._finalizing = CapacityLimiter(FINALIZE_THREADS)
        self._on_loop = services.rt.waits_are_local(vendors=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        route, params = _match(method, path)
        allowed = _methods(path) if route is None else []
        if route is None and not allowed and not _signed_post(scope):
            # The console's own pages under /acme (EAB keys, accounts, standing records).
            await self.app(scope, receive, send)
            return
        answer: Answer
        try:
            if route is None and not allowed:
                # A JWS posted to no ACME resource (the console takes none): an ACME problem
                # with a fresh nonce (§6.5: SHOULD on errors too), not the console's 404.
                raise NotFound("acme.not_found", "no ACME resource at this URL")
            if route is None:
                raise InvalidInput(
                    "acme.method_not_allowed", "this resource does not take that method"
                )
            scope["route"] = route  # the access log names the template, not the path
            answer = await self._answer(route, params, scope, receive)
        except Exception as exc:
            answer = self._failure(exc, path)
            if allowed:
                # RFC 9110 §15.5.6: a 405 says which methods the resource takes
                answer.headers["Allow"] = ", ".join(allowed)
        nonce = await self._nonce(answer)
        await self._send(send, answer, nonce, head=method == "HEAD")

    async def _answer(
        self, route: Route, params: dict[str, str], scope: Scope, receive: Receive
    ) -> Answer:
        svc = self.svc
        if route.handler is None:
            return await self._plain(route, params)
        body = await _body(receive)
        content_type = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
                break
        handler, jwk_ok, path = route.handler, route.jwk_ok, scope["path"]

        def run() -> tuple[Answer, str | None]:
            try:
                env = envelope(self.links, path, body, content_type)
                signed = check(svc, self.links, self.keys, env, jwk_ok)
                answer = handler(Call(svc, self.links, signed, params))
            except Exception as exc:
                answer = self._failure(exc, path)
            return answer, self._nonce_here()

        limiter = self._finalizing if route.own_threads else self._requests
        on_loop = (
            self._on_loop
            and not route.network
            and (not route.vendors or svc.rt.waits_are_local(vendors=True))
        )
        answer, nonce = await run_blocking(run, on_loop=on_loop, limiter=limiter)
        if answer.wait is not None:
            answer = await self._after_validation(answer)
        if nonce is not None:
            answer.headers["Replay-Nonce"] = nonce
        return answer

    async def _after_validation(self, answer: Answer) -> Answer:
        """Wait a moment for the validation the answer started, then answer again with its
        result (outside every transaction: the pool records it in one of its own)."""
        assert answer.wait is not None and answer.then is not None
        try:
            await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(answer.wait)), VALIDATION_WAIT_SECONDS
            )
        except Exception:
            return answer  # still under way (or failed to record): answered "processing"
        then = answer.then

        def run() -> Answer:
            try:
                return then()
            except Exception:
                return answer

        return await run_blocking(run, on_loop=self._on_loop, limiter=self._requests)

    async def _plain(self, route: Route, params: dict[str, str]) -> Answer:
        if route.path == "/acme/directory":
            if self._directory is None:
                self._directory = json.dumps(
                    directory_json(self.links), ensure_ascii=False, separators=(",", ":")
                ).encode()
            return Answer(200, self._directory, problems.JSON)
        if route.path == "/acme/terms":
            return Answer(200, TERMS.encode(), "text/plain; charset=utf-8")
        if route.path == "/acme/new-nonce":
            return Answer(200 if route.method == "HEAD" else 204)  # §7.2
        svc, cert_id = self.svc, params["cert_id"]
        return await run_blocking(
            lambda: orders.renewal_info(svc, cert_id), on_loop=self._on_loop, limiter=self._requests
        )

    def _nonce_here(self) -> str | None:
        """A nonce for the answer, taken where the request's work runs (no second hop)."""
        try:
            return self.svc.acme_nonces.new()
        except Exception as exc:  # no nonce without a database; the answer still goes out
            log.warning("no nonce for an ACME answer", error=repr(exc)[:200])
            return None

    async def _nonce(self, answer: Answer) -> str | None:
        if "Replay-Nonce" in answer.headers:
            return None
        # From this process's stored batch when it has one: no thread hop then.
        nonce = self.svc.acme_nonces.ready()
        if nonce is None:
            nonce = await run_blocking(
                self._nonce_here, on_loop=self._on_loop, limiter=self._requests
            )
        return nonce

    def _failure(self, exc: BaseException, path: str) -> Answer:
        if isinstance(exc, CertdeskError):
            return problems.from_error(exc, self.links.base)
        if database_unavailable(exc):
            return problems.render(
                "serverInternal",
                503,
                "the database is not reachable; retry shortly",
                headers={"Retry-After": "2"},
            )
        log.error(
            "unhandled ACME error", path=path, exception="".join(traceback.format_exception(exc))
        )
        return problems.render("serverInternal", 500, "an unexpected error")

    async def _send(self, send: Send, answer: Answer, nonce: str | None, *, head: bool) -> None:
        headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()
        ]
        if nonce is not None:
            headers.append((b"replay-nonce", nonce.encode("ascii")))
        headers.extend(self._always)
        if answer.media_type is not None:
            headers.append((b"content-type", answer.media_type.encode("latin-1")))
        if answer.status != 204 and answer.status >= 200:
            headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else answer.body})


def _match(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
    for route in ROUTES:
        found = route.pattern.match(path)
        if found is not None:
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, found.groupdict()
            # the same path may be routed under another method (new-nonce: HEAD and GET)
    return None, {}


def _signed_post(scope: Scope) -> bool:
    """A POST of an ACME JWS (RFC 8555 §6.2's media type), which only the ACME server takes."""
    if scope["method"] != "POST":
        return False
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";")[0].strip().lower()
            return media == b"application/jose+json"
    return False


def _methods(path: str) -> list[str]:
    """The methods the ACME resource at ``path`` takes (HEAD wherever GET is)."""
    methods = [route.method for route in ROUTES if route.pattern.match(path)]
    if "GET" in methods:
        methods.append("HEAD")
    return sorted(set(methods))


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise InvalidInput("acme.malformed", "the request is too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
