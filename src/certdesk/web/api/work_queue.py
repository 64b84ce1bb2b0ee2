"""/api/v1/work-queue: what waits for the caller (the console dashboard's work queue)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(tags=["cases"], responses=AUTHENTICATED)

Rows = list[dict[str, Any]] | None


class WorkQueueOut(BaseModel):
    """Only the caller's sections are present; each holds case summaries (as in
    ``GET /api/v1/cases``) or, for ``failed_notices``, the mail that failed for good."""

    awaiting_approval: Rows = None
    ready_to_fulfil: Rows = None
    overdue: Rows = None
    ordering: Rows = None
    failed_notices: Rows = None
    mine: Rows = None


@router.get(
    "/api/v1/work-queue",
    response_model=WorkQueueOut,
    response_model_exclude_unset=True,
    responses=problems(422),
)
def work_queue(
    svc: ServicesDep, who: ActorDep, limit: Annotated[int, Query(ge=1, le=100)] = 25
) -> dict[str, object]:
    """The caller's sections only: ``awaiting_approval`` (approvers, cert services),
    ``ready_to_fulfil``, ``overdue``, ``ordering``, ``failed_notices`` (cert services;
    ``overdue`` for auditors too) and ``mine`` (an agency person's own cases)."""
    return svc.work_queue.of(who, limit).as_dict()
