"""/api/v1/audit: the hash-chained audit log (R15), for auditors and operators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=AUTHENTICATED)


class AuditEventOut(BaseModel):
    seq: int
    at: str
    actor: str
    action: str
    object_type: str
    object_id: str
    summary: dict[str, Any]
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None


class AuditVerification(BaseModel):
    events: int
    intact: bool
    first_bad_event: int | None
    reason: str | None


@router.get("", response_model=AuditPage, responses=problems(403, 422))
def list_events(
    svc: ServicesDep,
    who: ActorDep,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    kind: Annotated[str | None, Query(max_length=40, description="e.g. Cases, Sign-ins")] = None,
    fold_sign_ins: bool = False,
) -> dict[str, object]:
    events, next_cursor = svc.audit.search(
        who,
        kind=kind,
        fold_sign_ins=fold_sign_ins,
        object_type=object_type,
        object_id=object_id,
        by=actor,
        action=action,
        cursor=cursor,
        limit=limit,
    )
    return {"items": [e.as_dict() for e in events], "next_cursor": next_cursor}


@router.get("/verify", response_model=AuditVerification, responses=problems(403))
def verify(svc: ServicesDep, who: ActorDep) -> AuditVerification:
    count, broken = svc.audit.verify(who)
    return AuditVerification(
        events=count,
        intact=broken is None,
        first_bad_event=broken.seq if broken else None,
        reason=broken.reason if broken else None,
    )
