"""/api/v1/work-queue: what waits for the caller (the console dashboard's work queue)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.problems import AUTHENTICATED

router = APIRouter(tags=["cases"], responses=AUTHENTICATED)


@router.get("/api/v1/work-queue")
def work_queue(
    svc: ServicesDep, who: ActorDep, limit: Annotated[int, Query(ge=1, le=100)] = 25
) -> dict[str, object]:
    """The caller's sections only: ``awaiting_approval`` (approvers, cert services),
    ``ready_to_fulfil``, ``overdue``, ``ordering``, ``failed_notices`` (cert services;
    ``overdue`` for auditors too) and ``mine`` (an agency person's own cases)."""
    return svc.work_queue.of(who, limit).as_dict()
