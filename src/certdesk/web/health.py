"""/healthz (process alive), /readyz (database and CA key usable), /metrics (Prometheus)."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from certdesk.errors import CertdeskError
from certdesk.store.db import ping
from certdesk.web.deps import ServicesDep

router = APIRouter(tags=["health"])
log = structlog.get_logger("certdesk.web")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(svc: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        ping(svc.rt.engine)
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means "not ready", never a 500
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if checks["database"] == "ok":
        try:
            svc.authority.issuing()
            checks["ca"] = "ok"
        except CertdeskError as exc:
            # The code only: the detail names key file paths, which are not public.
            log.warning("CA not ready", detail=exc.detail)
            checks["ca"] = exc.code
    else:
        checks["ca"] = "unknown (no database)"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", response_class=Response)
def metrics(svc: ServicesDep) -> Response:
    return Response(generate_latest(svc.rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)
