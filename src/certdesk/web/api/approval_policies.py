"""/api/v1/orgs/{code}/approval-policy: which approvals an organization's cases need (R4)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from certdesk.core.workflow import CaseType, Step
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.identifiers import OrgCode
from certdesk.web.problems import AUTHENTICATED, problems

# Included by the cases router (web/api/cases.py), whose tag and authentication responses
# the routes share: in the app they come right after the cases' routes, where they always were.
router = APIRouter(tags=["cases"], responses=AUTHENTICATED)


class PolicyEntryOut(BaseModel):
    case_type: CaseType
    steps: list[Step]
    default: bool = Field(description="No policy set: the default steps apply")


class PolicyOut(BaseModel):
    organization: str
    policies: list[PolicyEntryOut]


class PolicyIn(BaseModel):
    case_type: CaseType
    steps: list[Step] | None = Field(
        description="The approvals needed, [] for none; null restores the default"
        " (org_approver, operator)",
        examples=[["org_approver", "operator"]],
    )


@router.get(
    "/api/v1/orgs/{code}/approval-policy",
    response_model=PolicyOut,
    tags=["organizations"],
    responses=problems(404, 422),
)
def get_policy(code: OrgCode, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    """The approvals each case type of the organization needs (R4)."""
    return svc.approvals.policy(who, code).as_dict()


@router.put(
    "/api/v1/orgs/{code}/approval-policy",
    response_model=PolicyOut,
    tags=["organizations"],
    responses=problems(403, 404, 422),
)
def put_policy(code: OrgCode, body: PolicyIn, svc: ServicesDep, who: ActorDep) -> dict[str, object]:
    """Set the approvals one case type needs (cert services only)."""
    steps = [str(st) for st in body.steps] if body.steps is not None else None
    return svc.approvals.set_policy(who, code, str(body.case_type), steps).as_dict()
