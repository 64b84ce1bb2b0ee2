"""A lean way to serve a hot JSON route: on the event loop, the answer serialised once.

FastAPI serves a route in several steps: read and parse the body, solve the dependencies (the
app-wide character check on the event loop, the bearer token check in one worker thread),
validate the body, run the endpoint in a second worker thread, then validate the returned
model against ``response_model`` and serialise it. For ``POST /api/v1/certificates``, the
most frequent write of all, that machinery cost about as much CPU as the issuance itself.

:class:`LeanRoute` serves the same route, declared the usual way (its OpenAPI, its
``response_model`` and its problem documents do not change), doing itself, in the order
FastAPI would:

1. parse the JSON body and refuse a NUL or lone surrogate in it (``web/inputs.py``'s check);
2. check the bearer token (``web/deps.py``), so that a caller without a valid token is
   refused (401) before the body's fields are looked at, as before;
3. validate the body against the endpoint's model;
4. call the endpoint, and serialise the model it returns once.

On SQLite these run on the event loop's own thread. An issuance is CPU work (policy, lint,
two signatures) and a few local database writes; handing it to a worker thread and back cost
0.4-0.5 ms of CPU per request on a 2-core machine (the thread's wake-ups and two threads
taking the GIL from each other), about a sixth of the request, and bought no parallelism,
since the work holds the GIL. The price: while one process issues a certificate (about
3 ms), its other connections wait. ``certdesk serve`` runs one process per core
(``--workers``), so the others go on serving, and an issuance's commit is still shared with
the issuing threads of the same process (services/pki/group_commit.py). On PostgreSQL they
run in one worker thread, as a network database's round trips must never hold the loop, and
so they do wherever a vendor CA is configured (its orders are driven over the network).
docs/performance.md has the figures.

Anything off the plain path (not ``application/json``, a query string, a body that is not
JSON, or fields that do not validate) is handed to FastAPI's own handler with the request
as it is (the body is cached), so every refusal is exactly the document FastAPI gives. A
route whose dependencies are not exactly the ones replaced here is served by FastAPI alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from inspect import iscoroutinefunction
from typing import Any

from fastapi import Request, Response, routing
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ValidationError

from certdesk.core.text import check_text, check_tree
from certdesk.web import deps
from certdesk.web.inputs import checked_characters
from certdesk.web.offload import run_blocking

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

# What the lean path does itself, in the order above; ``services`` is a plain lookup.
_REPLACED = {checked_characters, deps.services, deps.actor}
_REQUIRED = {deps.services, deps.actor}
_PARAMETERS = {"body", "svc", "who"}
# Where Starlette marks a request whose body size is limited: FastAPI's handler reads such a
# body (and words the refusal of one too large).
_BODY_LIMIT = "starlette.max_body_size"


def bearer_secret(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, as FastAPI's ``HTTPBearer`` reads it."""
    scheme, credentials = get_authorization_scheme_param(header)
    if not (header and scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


class LeanRoute(APIRoute):
    """An ``APIRoute`` for a sync endpoint ``(body: Model, svc: ServicesDep, who: ActorDep)``
    that returns its ``response_model``; see the module's docstring."""

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        model = self._body_model()
        if model is None:
            return standard
        endpoint = self.endpoint
        status_code = self.status_code or 200

        def serve(request: Request, raw: bytes) -> bytes | None:
            """Steps 1-4; None: FastAPI's handler answers instead."""
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError):
                return None
            check_text(request.scope["path"], "path")
            check_tree(data, "body")
            svc = request.app.state.services
            who = deps.token_actor(svc, bearer_secret(request.headers.get("authorization")))
            request.state.actor = who  # for the access line (web/access.py)
            try:
                body = model.model_validate(data)
            except ValidationError:
                return None
            answer: BaseModel = endpoint(body=body, svc=svc, who=who)
            return answer.model_dump_json().encode()

        async def handle(request: Request) -> Response:
            scope = request.scope
            if scope.get("query_string") or _BODY_LIMIT in scope or not _json_media(request):
                return await standard(request)
            raw = await request.body()
            on_loop = request.app.state.services.rt.waits_are_local(vendors=True)
            content = await run_blocking(lambda: serve(request, raw), on_loop=on_loop)
            if content is None:
                return await standard(request)
            return Response(content, status_code=status_code, media_type="application/json")

        return handle

    def _body_model(self) -> type[BaseModel] | None:
        """The endpoint's body model, or None if this route is not one the lean path fits."""
        dependant = self.dependant
        calls = {d.call for d in dependant.dependencies}
        parameters = {
            p.name
            for p in (*dependant.body_params, *dependant.query_params, *dependant.path_params)
        }
        effective = _effective_dependencies(self)
        if (
            iscoroutinefunction(self.endpoint)
            or not _REQUIRED <= calls
            or not effective <= _REPLACED
            or len(dependant.body_params) != 1
            or parameters != {"body"}
            or {d.name for d in dependant.dependencies if d.name} - _PARAMETERS
        ):
            return None
        annotation = dependant.body_params[0].field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
        return None


def _effective_dependencies(route: APIRoute) -> set[Any]:
    """The dependencies the route runs with where it is included (the app's among them)."""
    # FastAPI builds a route's handler again for each place it is included, with that
    # place's dependencies in a context variable (older releases: on the route itself).
    var = getattr(routing, "_effective_route_context_var", None)
    context = var.get() if var is not None else None
    dependant = (
        context.dependant
        if context is not None and getattr(context, "original_route", None) is route
        else route.dependant
    )
    return {d.call for d in dependant.dependencies}


def _json_media(request: Request) -> bool:
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    return media == "application/json"
