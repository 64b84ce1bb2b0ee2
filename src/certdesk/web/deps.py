"""Request dependencies: the services of this app and the authenticated actor."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from certdesk.core.access import Actor
from certdesk.errors import Unauthorized
from certdesk.services.registry import Services

_bearer = HTTPBearer(auto_error=False, description="An API token from `certdesk token create`.")


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def actor(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if creds is None or creds.scheme.lower() != "bearer":
        raise Unauthorized("auth.token", "an API token is required (Authorization: Bearer ...)")
    return services(request).tokens.authenticate(creds.credentials)


ServicesDep = Annotated[Services, Depends(services)]
ActorDep = Annotated[Actor, Depends(actor)]
