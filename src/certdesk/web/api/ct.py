"""/api/v1/ct: Certificate Transparency monitoring (R18).

Cert services add and list the logs followed (auditors may list them); everyone with read
access lists findings, an agency only its own organization's. Reading the logs is the
worker's job (``certdesk worker``, ``certdesk ct watch``), never a request's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(prefix="/api/v1/ct", tags=["ct"], responses=AUTHENTICATED)


class CtLogIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, examples=["argon2027h1"])
    url: str = Field(
        min_length=8,
        max_length=500,
        description="RFC 6962: the prefix before /ct/v1/; tiled: the monitoring prefix",
        examples=["https://ct.example.net/2027h1"],
    )
    public_key: str = Field(min_length=1, max_length=8_000, description="The log's public key, PEM")
    tiled: bool = Field(default=False, description="A static-CT log (checkpoint, data tiles)")
    start: str = Field(
        default="head",
        max_length=20,
        pattern=r"^(head|[0-9]{1,19})$",
        description="Where to start reading: head (the current signed tree head's size: only"
        " entries logged from now on), 0 (every entry) or an entry number up to the head",
        examples=["head", "0", "123456789"],
    )


class CtLogOut(BaseModel):
    name: str
    kind: Literal["rfc6962", "static-ct"]
    url: str
    log_id: str = Field(description="RFC 6962 LogID: SHA-256 of the key, hex")
    active: bool
    position: int = Field(description="Entries read and judged")
    verified_size: int = Field(description="Entries proven against a signed tree head")
    head_size: int | None = Field(description="Size of the last signed tree head seen")
    head_at: datetime | None
    checked_at: datetime | None
    last_error: str
    findings: int
    created_at: datetime
    first_entry: int = Field(description="The entry reading started at")


class CtFindingOut(BaseModel):
    id: int
    headline: str = Field(examples=["unknown issuer for www.dmv.ca.gov"])
    names: list[str] = Field(description="The state names of this organization it carries")
    org: str | None = Field(description="The organization whose grants cover the names")
    precert: bool
    issuer: str
    serial: str
    sha256: str
    not_before: datetime
    not_after: datetime
    log: str
    entry_index: int
    logged_at: datetime
    found_at: datetime


class CtFindingPageOut(BaseModel):
    items: list[CtFindingOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


@router.get("/logs", response_model=list[CtLogOut], responses=problems(403))
def list_ct_logs(svc: ServicesDep, who: ActorDep) -> list[dict[str, Any]]:
    """The logs followed and how far each is read (cert services and auditors)."""
    return [v.as_dict() for v in svc.ct_logs.list(who)]


@router.post(
    "/logs",
    response_model=CtLogOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 403, 409, 422, 503),
)
def add_ct_log(body: CtLogIn, svc: ServicesDep, who: ActorDep) -> dict[str, Any]:
    """Follow a log from ``start`` (cert services): by default its current signed tree
    head, since a real log already holds billions of entries. Anything but ``0`` asks the
    log for its head now (503 ``ct.unreachable`` when it cannot be reached)."""
    return svc.ct_logs.add(
        who, body.name, body.url, body.public_key.encode(), tiled=body.tiled, start=body.start
    ).as_dict()


@router.get("/findings", response_model=CtFindingPageOut, responses=problems(400, 403, 422))
def list_ct_findings(
    svc: ServicesDep,
    who: ActorDep,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, object]:
    """Certificates for state names in CT logs that certdesk did not issue, newest first."""
    page = svc.ct_findings.search(who, cursor=cursor, limit=limit)
    return {"items": [f.as_dict() for f in page.items], "next_cursor": page.next_cursor}
