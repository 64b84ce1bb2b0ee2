"""Request dependencies: the services of this app and the authenticated actor."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from certdesk.core.access import Actor
from certdesk.errors import Unauthorized
from certdesk.services.registry import Services

_bearer = HTTPBearer(auto_error=False, description="An API token from `certdesk token create`.")


async def services(request: Request) -> Services:
    # async because it does no I/O: FastAPI runs it on the event loop instead of handing it
    # to the thread pool, as it does with every plain ``def`` dependency (a hop per request).
    svc: Services = request.app.state.services
    return svc


ServicesDep = Annotated[Services, Depends(services)]


def actor(
    request: Request,
    svc: ServicesDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    # A plain ``def``: the token lookup blocks on the database, so it runs in the thread pool.
    # It is a dependency, not a call inside the endpoint, so that a request without a valid
    # token is refused (401) before its body is even validated (422).
    secret = creds.credentials if creds is not None and creds.scheme.lower() == "bearer" else None
    who = token_actor(svc, secret)
    request.state.actor = who  # for the access line (web/access.py)
    return who


def token_actor(svc: Services, secret: str | None) -> Actor:
    """The actor a bearer token's secret stands for (blocks on the database); no secret, or
    one that matches no live token, is the same 401 (shared with web/lean.py)."""
    if secret is None:
        raise Unauthorized("auth.token", "an API token is required (Authorization: Bearer ...)")
    return svc.tokens.authenticate(secret)


ActorDep = Annotated[Actor, Depends(actor)]
