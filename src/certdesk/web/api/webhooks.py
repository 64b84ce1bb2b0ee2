"""/api/v1/webhooks: outbound webhooks and their delivery log (issue 14).

Cert services see and manage every webhook (``org`` empty: a cert services webhook that
receives every organization's events); a delegated administrator its organization's;
auditors read. docs/webhooks.md describes the events and the signature.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, Field

from certdesk.core.mail_kinds import WEBHOOK_EVENTS
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=AUTHENTICATED)

WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The webhook's number.")]
EventType = Literal[WEBHOOK_EVENTS]  # type: ignore[valid-type]


class WebhookOut(BaseModel):
    id: int
    org: str | None = Field(description="Organization code; none: every organization's events.")
    url: str
    label: str
    events: list[str] = Field(description="Event types sent; empty: every event.")
    created_by: str
    created_at: datetime


class WebhookIn(BaseModel):
    url: str = Field(min_length=1, max_length=2000, examples=["https://bridge.example/hook"])
    org: str | None = Field(default=None, max_length=64, description="Organization code.")
    events: list[EventType] = Field(default_factory=list, max_length=len(WEBHOOK_EVENTS))
    label: str = Field(default="", max_length=200)


class NewWebhookOut(BaseModel):
    webhook: WebhookOut
    secret: str = Field(
        description="The HMAC-SHA256 signing secret; shown this once, stored only sealed."
    )


class DeliveryOut(BaseModel):
    id: int
    event_id: str = Field(description="Stable per event: receivers deduplicate on it.")
    event_type: str
    status: Literal["pending", "sending", "delivered", "failed"]
    attempts: int
    last_status: int | None = Field(description="The receiver's last HTTP status.")
    last_error: str
    late: bool
    due_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


@router.get("", response_model=list[WebhookOut], responses=problems(403, 404, 422))
def list_webhooks(
    svc: ServicesDep,
    who: ActorDep,
    org: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, object]]:
    """Webhooks the caller may see."""
    return [w.as_dict() for w in svc.webhooks.listing(who, org)]


@router.post(
    "",
    response_model=NewWebhookOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 422),
)
def add_webhook(body: WebhookIn, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    """Add a webhook; the answer carries its signing secret, once."""
    new = svc.webhooks.add(
        who, body.url, org_code=body.org, events=list(body.events), label=body.label
    )
    return {"webhook": new.webhook.as_dict(), "secret": new.secret}


@router.delete("/{webhook_id}", response_model=WebhookOut, responses=problems(403, 404, 422))
def remove_webhook(webhook_id: WebhookId, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    """Remove a webhook; its waiting deliveries are not sent."""
    return svc.webhooks.remove(who, webhook_id).as_dict()


@router.get(
    "/{webhook_id}/deliveries",
    response_model=list[DeliveryOut],
    responses=problems(403, 404, 422),
)
def webhook_deliveries(
    webhook_id: WebhookId,
    svc: ServicesDep,
    who: ActorDep,
    status: Literal["pending", "sending", "delivered", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, object]]:
    """The delivery log, newest first."""
    found = svc.webhooks.deliveries(who, webhook_id, status=status, limit=limit)
    return [d.as_dict() for d in found]
