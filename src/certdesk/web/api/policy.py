"""/api/v1/policy/check and /api/v1/csr/validate: R1/R2/R12 answers without issuing."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from certdesk.services.pki.csrs import MAX_CSR_BYTES
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(prefix="/api/v1", tags=["policy"], responses=AUTHENTICATED)


class PolicyCheck(BaseModel):
    org: str | None = Field(default=None, description="Judge against this organization's grants.")
    names: list[str] = Field(min_length=1, max_length=1000, examples=[["www.dmv.ca.gov"]])


class VerdictOut(BaseModel):
    name: str
    allowed: bool
    rule: str
    code: str
    reason: str
    normalized: str | None


class PolicyResult(BaseModel):
    allowed: bool
    results: list[VerdictOut]


@router.post("/policy/check", response_model=PolicyResult, responses=problems(404, 422))
def check(body: PolicyCheck, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    verdicts = svc.policy.check(who, body.org, body.names)
    return {"allowed": all(v.allowed for v in verdicts), "results": [v.as_dict() for v in verdicts]}


class CsrIn(BaseModel):
    csr: str = Field(min_length=1, max_length=MAX_CSR_BYTES, description="PEM CSR")
    org: str | None = None


class CsrReportOut(BaseModel):
    acceptable: bool
    key_type: str
    signature_hash: str
    subject: str
    names: list[VerdictOut]


@router.post("/csr/validate", response_model=CsrReportOut, responses=problems(404, 422))
def validate_csr(body: CsrIn, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    return svc.csrs.validate(who, body.csr.encode(), body.org).as_dict()
