"""/healthz (alive, its version), /readyz (this process can serve), /metrics (Prometheus).

``/readyz`` answers for this server process only (issue 9, part 7): its database answers, its
schema is the one this code was built for, and it can load the issuing CA's key. The
lifecycle workers are other processes and are not part of it: a stopped worker does not stop
this server from serving. Their liveness is in ``/metrics`` (``certdesk_worker_*``) and in
``certdesk status``.
"""

from __future__ import annotations

from typing import Literal

import structlog
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from certdesk.errors import CertdeskError
from certdesk.release import version
from certdesk.services.registry import Services
from certdesk.services.startup import ping_database, require_current_schema
from certdesk.web.deps import ServicesDep
from certdesk.web.problems import ANY_ROUTE, RETRY_AFTER_SECONDS

router = APIRouter(tags=["health"], responses=ANY_ROUTE)
log = structlog.get_logger("certdesk.web")


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str


class ReadinessOut(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(
        description="database, schema, ca: each `ok` or why not", examples=[{"database": "ok"}]
    )


# On the event loop (no worker thread): a liveness probe touches nothing that waits, and it
# should not queue for a thread behind the requests that do (docs/performance.md).
@router.get("/healthz", response_model=HealthOut)
async def healthz() -> dict[str, str]:
    return {"status": "ok", "version": version()}


@router.get(
    "/readyz",
    response_model=ReadinessOut,
    responses={503: {"model": ReadinessOut, "description": "Not ready (Retry-After)"}},
)
def readyz(svc: ServicesDep) -> JSONResponse:
    """``database``, ``schema`` and ``ca``: each ``ok`` or why not (a code, no internals)."""
    checks = {"database": _database(svc)}
    if checks["database"] == "ok":
        checks["schema"] = _schema(svc)
        checks["ca"] = _ca(svc)
    else:
        checks["schema"] = checks["ca"] = "unknown (no database)"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
        headers=None if ready else {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _database(svc: Services) -> str:
    try:
        _ping(svc.rt.engine)
    except Exception as exc:  # any driver error means "not ready", never a 500
        log.warning("database not ready", error=type(exc).__name__)
        return f"unreachable: {type(exc).__name__}"
    return "ok"


def _ping(engine: Engine) -> None:
    # A pooled connection the server closed (a restart, a failover) fails once and makes the
    # pool reconnect; one more ping then tells whether the database itself answers. A probe
    # must not take this process out of service for a connection it has already replaced.
    try:
        ping_database(engine)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        ping_database(engine)


def _schema(svc: Services) -> str:
    # The head revision is read from the packaged migrations once per process (cached);
    # each call reads the one row of alembic_version.
    try:
        require_current_schema(svc)
    except CertdeskError as exc:  # schema.outdated, schema.newer, schema.uninitialized
        log.warning("schema not ready", detail=exc.detail)
        return exc.code
    except Exception as exc:
        return f"unknown: {type(exc).__name__}"
    return "ok"


def _ca(svc: Services) -> str:
    try:
        svc.authority.issuing()
    except CertdeskError as exc:
        # The code only: the detail names key file paths, which are not public.
        log.warning("CA not ready", detail=exc.detail)
        return exc.code
    except Exception as exc:  # an old schema may not hold what issuing() reads
        return f"unknown: {type(exc).__name__}"
    return "ok"


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST.partition(";")[0]: {}}}},
)
def metrics(svc: ServicesDep) -> Response:
    return Response(svc.rt.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
