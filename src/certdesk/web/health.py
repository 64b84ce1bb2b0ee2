"""/healthz (alive, its version), /readyz (database, CA key, worker), /metrics (Prometheus)."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from certdesk.errors import CertdeskError
from certdesk.release import version
from certdesk.store.db import ping
from certdesk.web.deps import ServicesDep

router = APIRouter(tags=["health"])
log = structlog.get_logger("certdesk.web")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok", "version": version()}


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
    # The lifecycle worker (services/worker_health.py): "no worker seen" is ready — the API
    # serves without a worker; workers that all stopped beating ("stale: …") are not.
    worker_ready = True
    if checks["database"] == "ok":
        try:
            worker = svc.worker_health.snapshot()
            checks["worker"] = worker.readiness
            worker_ready = worker.ready
        except Exception as exc:  # never a 500 from /readyz
            checks["worker"] = f"unknown: {type(exc).__name__}"
            worker_ready = False
    ready = worker_ready and all(v == "ok" for k, v in checks.items() if k != "worker")
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", response_class=Response)
def metrics(svc: ServicesDep) -> Response:
    return Response(svc.rt.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
