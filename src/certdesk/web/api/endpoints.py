"""/api/v1/verify, /api/v1/discover and /api/v1/external: install verification, discovery
and external certificates (R14, R18).

``POST /api/v1/discover`` starts a background job and answers 202 with the job and its
``Location`` (``/api/v1/discover/jobs/{job_id}``), which shows the progress (endpoints tried,
certificates found) and, once ``done``, the discovery's report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Response, UploadFile, status
from pydantic import BaseModel, Field

from certdesk.core.endpoints import MAX_DISCOVERY_TARGETS
from certdesk.errors import InvalidInput, Unavailable
from certdesk.verify.formats import MAX_FILE_BYTES
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(prefix="/api/v1", tags=["endpoints"], responses=AUTHENTICATED)

ExternalId = Annotated[int, Path(ge=1, le=2**62, description="An external certificate's id.")]
JobId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A discovery job's id.")]
MAX_UPLOADS = 100


class VerifyIn(BaseModel):
    endpoint: str = Field(min_length=1, max_length=300, examples=["www.dmv.ca.gov:443"])
    sni: str | None = Field(default=None, max_length=253)
    starttls: str | None = Field(default=None, max_length=8, examples=["smtp"])


class FindingOut(BaseModel):
    code: str
    severity: str
    message: str


class ServedOut(BaseModel):
    sha256: str
    names: list[str]
    not_after: datetime
    days_left: int
    chain_length: int
    chain_trusted: bool


class InventoryOut(BaseModel):
    kind: str
    serial: str
    status: str


class VerifyOut(BaseModel):
    target: str
    sni: str | None
    severity: str = Field(description="ok, note, warning or critical: the worst finding")
    findings: list[FindingOut]
    certificate: ServedOut
    inventory: InventoryOut | None
    protocols: list[str]
    negotiated: str
    forward_secrecy_tls12: bool | None
    ocsp_stapled: bool
    http: bool
    hsts: str | None


class DiscoverIn(BaseModel):
    targets: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=MAX_DISCOVERY_TARGETS, examples=[["10.1.2.0/28:443"]]
    )


class FoundOut(BaseModel):
    endpoint: str
    sha256: str
    new: bool


class DiscoverOut(BaseModel):
    endpoints: int
    answered: int
    unreachable: int
    refused: int
    new_external: int
    known: int
    disappeared: list[str]
    found: list[FoundOut]


class DiscoveryJobOut(BaseModel):
    id: int
    state: str = Field(description="queued, running, done or failed", examples=["running"])
    targets: list[str]
    total: int = Field(description="Endpoints the targets expand to")
    tried: int = Field(description="Endpoints tried so far")
    found: int = Field(description="Endpoints that served a certificate so far")
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str = Field(description="Why a failed job failed (code: detail)")
    result: DiscoverOut | None = Field(description="The discovery's report, once done")


class ContactOut(BaseModel):
    name: str
    email: str


class ExternalOut(BaseModel):
    id: int
    sha256: str
    subject: str
    issuer: str
    serial: str
    names: list[str]
    not_before: datetime
    not_after: datetime
    organization: str | None
    source: str
    last_seen_at: datetime | None
    gone_at: datetime | None
    adopted_case: str | None
    contacts: list[ContactOut]
    found_at: list[str]


class ImportOut(BaseModel):
    added: list[ExternalOut]
    duplicates: int
    managed: int
    errors: list[str]


class ContactIn(BaseModel):
    name: str = Field(default="", max_length=200)
    email: str = Field(min_length=3, max_length=254)


class ContactsIn(BaseModel):
    contacts: list[ContactIn] = Field(max_length=20)


class AssignIn(BaseModel):
    org: str | None = Field(default=None, max_length=64)


@router.post("/verify", response_model=VerifyOut, responses=problems(403, 422))
def verify_endpoint(body: VerifyIn, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    """Check an installed endpoint (cert services). The answer's ``severity`` is the worst
    finding's. An endpoint that cannot be reached (``endpoint.unreachable``, ``…unresolvable``,
    ``…no_certificate``) is a 400: the request names something that cannot be verified, not
    a certdesk outage."""
    try:
        report = svc.verification.verify(who, body.endpoint, sni=body.sni, starttls=body.starttls)
    except Unavailable as exc:
        if not exc.code.startswith("endpoint."):
            raise  # certdesk's own trouble (a damaged CA file): a 503
        raise InvalidInput(exc.code, exc.detail) from None
    return report.as_dict()


def _job_url(job_id: int) -> str:
    return f"/api/v1/discover/jobs/{job_id}"


@router.post(
    "/discover",
    response_model=DiscoveryJobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(400, 403, 422),
)
def discover_endpoints(
    body: DiscoverIn, svc: ServicesDep, who: ActorDep, response: Response
) -> dict[str, object]:
    """Start probing endpoints and ranges in the background (202; ``Location`` is the job);
    what the inventory lacks is imported as external. Malformed targets, too many of them
    or a caller who may not discover are refused at once."""
    job = svc.discovery_jobs.start(who, body.targets)
    svc.discovery_jobs.run_soon(job.id)
    response.headers["Location"] = _job_url(job.id)
    return job.as_dict()


@router.get(
    "/discover/jobs/{job_id}", response_model=DiscoveryJobOut, responses=problems(403, 404, 422)
)
def discovery_job(job_id: JobId, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    """A discovery job: its state, progress and, once done, its report (the requester's
    organization only; another's answers like an unknown one)."""
    return svc.discovery_jobs.get(who, job_id).as_dict()


@router.get("/external", response_model=list[ExternalOut], responses=problems(422))
def list_external(
    svc: ServicesDep, who: ActorDep, unassigned: bool = False
) -> list[dict[str, object]]:
    return [v.as_dict() for v in svc.external.list(who, unassigned=unassigned)]


@router.post(
    "/external/import",
    response_model=ImportOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 422),
)
async def import_external(
    svc: ServicesDep,
    who: ActorDep,
    files: Annotated[list[UploadFile], File(description="PEM, DER, PKCS#7 or PKCS#12 files")],
    password: Annotated[str | None, Form(max_length=200)] = None,
) -> dict[str, object]:
    """Upload certificate files; each end-entity certificate enters the inventory as
    external (no key), once per fingerprint."""
    if len(files) > MAX_UPLOADS:
        raise InvalidInput("import.too_many", f"at most {MAX_UPLOADS} files per upload")
    blobs = []
    for f in files:
        data = await f.read(MAX_FILE_BYTES + 1)
        blobs.append((f.filename or "upload", data))
    report = svc.external.import_files(who, blobs, password=password.encode() if password else None)
    return report.as_dict()


@router.get("/external/{external_id}", response_model=ExternalOut, responses=problems(404, 422))
def show_external(external_id: ExternalId, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    return svc.external.show(who, external_id).as_dict()


@router.put(
    "/external/{external_id}/contacts",
    response_model=ExternalOut,
    responses=problems(403, 404, 422),
)
def set_external_contacts(
    external_id: ExternalId, body: ContactsIn, svc: ServicesDep, who: ActorDep
) -> dict[str, object]:
    people = [(c.name, c.email) for c in body.contacts]
    return svc.external.set_contacts(who, external_id, people).as_dict()


@router.post(
    "/external/{external_id}/assign",
    response_model=ExternalOut,
    responses=problems(403, 404, 422),
)
def assign_external(
    external_id: ExternalId, body: AssignIn, svc: ServicesDep, who: ActorDep
) -> dict[str, object]:
    return svc.external.assign(who, external_id, body.org).as_dict()


@router.post(
    "/external/{external_id}/adopt",
    response_model=ExternalOut,
    responses=problems(403, 404, 409, 422),
)
def adopt_external(external_id: ExternalId, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    """Replace an external certificate with a managed one: opens a new-certificate case."""
    return svc.external.adopt(who, external_id).as_dict()
