"""/api/v1/cases: Cases/Requests with submittals, approvals and turnaround (R3, R4, R5).

The list of cases (GET /api/v1/cases) is :mod:`certdesk.web.api.case_search`, the
organizations' approval policies (/api/v1/orgs/{code}/approval-policy, R4)
:mod:`certdesk.web.api.approval_policies`; the app includes their routers after this one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field

from certdesk.core.issuers import OrderState
from certdesk.core.keys import KeyType
from certdesk.core.names import MAX_NAMES_CEILING
from certdesk.core.workflow import CaseType, Step
from certdesk.services.casework.cases import CaseEdit, CaseInput
from certdesk.services.casework.contacts import ContactInput
from certdesk.services.casework.delegation import AdminInput
from certdesk.services.casework.submittals import CertType, SubmittalInput
from certdesk.services.pki.issuance import Platform
from certdesk.web.api.case_search import CASES, CaseBase
from certdesk.web.api.contacts import ContactIn, ContactOut
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.identifiers import CaseNumber
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(tags=["cases"], responses=AUTHENTICATED)
SubmittalId = Annotated[int, Path(ge=1, le=2**31 - 1)]

# Generous transport bound; the service refuses a CSR over 64 KiB with ``csr.too_large``.
_MAX_UPLOAD = 1024 * 1024


class SubmittalIn(BaseModel):
    """A Security Certificate Submittal (R3): one name, or several for a SAN certificate."""

    names: list[Annotated[str, Field(max_length=1100)]] = Field(
        default_factory=list,
        # A transport bound; the rule is CERTDESK_MAX_NAMES_PER_CERT (name.too_many, R1).
        max_length=MAX_NAMES_CEILING,
        description="DNS names, at most CERTDESK_MAX_NAMES_PER_CERT (default 100); may be"
        " omitted when a CSR is given (its names are used).",
        examples=[["www.dmv.ca.gov"]],
    )
    cert_type: CertType | None = Field(default=None, description="Default: from the names.")
    platform: Platform = Platform.VIRTUAL
    server_software: str = Field(default="", max_length=100, examples=["nginx"])
    server_version: str = Field(default="", max_length=50, examples=["1.26"])
    key_type: KeyType | None = Field(default=None, description="Default: the CSR's, else ec256.")
    service_option: Literal["managed", "self-managed"] | None = Field(
        default=None, description="Must be the organization's (R11); default: the organization's."
    )
    requested_delivery: date | None = None
    validity_days: int | None = Field(default=None, ge=1, le=400)
    csr: str | None = Field(
        default=None,
        max_length=_MAX_UPLOAD,
        description="PEM CSR (R12, at most 64 KiB); its names must be the submittal's.",
    )
    contacts: list[ContactIn] = Field(
        default_factory=list,
        max_length=20,
        description="Default: the organization's own contacts (R9); a known address names"
        " that contact.",
    )

    def to_input(self) -> SubmittalInput:
        return SubmittalInput(
            names=tuple(self.names),
            cert_type=str(self.cert_type) if self.cert_type else None,
            platform=str(self.platform),
            server_software=self.server_software,
            server_version=self.server_version,
            key_type=str(self.key_type) if self.key_type else None,
            service_option=self.service_option,
            requested_delivery=self.requested_delivery,
            validity_days=self.validity_days,
            csr=self.csr.encode() if self.csr is not None else None,
            contacts=tuple(ContactInput(c.kind, c.name, c.email, c.phone) for c in self.contacts),
        )


class AdminIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254)
    login_id: str = Field(min_length=2, max_length=64)


class CaseCreate(BaseModel):
    org: str = Field(min_length=1, max_length=64, examples=["dmv"])
    type: CaseType = CaseType.NEW
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    requested_delivery: date | None = Field(default=None, description="R5: later → due date.")
    target_certificate: str | None = Field(
        default=None, max_length=64, description="Serial: revoke, delete, change (renewal)."
    )
    grants: list[str] = Field(
        default_factory=list, max_length=100, description="delegated_admin_setup: zone:/host:"
    )
    admins: list[AdminIn] = Field(
        default_factory=list, max_length=20, description="delegated_admin_setup: people"
    )
    submittals: list[SubmittalIn] = Field(default_factory=list, max_length=50)


class CaseEditIn(BaseModel):
    """Fields to change on a draft or rejected case; absent fields stay as they are."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)
    requested_delivery: date | None = Field(default=None, description="null clears it")
    target_certificate: str | None = Field(default=None, max_length=64)
    grants: list[str] | None = Field(default=None, max_length=100)
    admins: list[AdminIn] | None = Field(default=None, max_length=20)


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=5000)


class NoteIn(BaseModel):
    note: str = Field(default="", max_length=5000)


class CancelIn(BaseModel):
    reason: str = Field(default="", max_length=20_000)


class CommentIn(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)


class VendorOrderOut(BaseModel):
    issuer: str = Field(description="The vendor issuer's name")
    state: OrderState = Field(
        description="ordering: being placed; pending: the vendor validates or signs;"
        " issued: the certificate arrived and was checked; failed: the vendor refused"
    )
    vendor_status: str | None = Field(description="The order's status at the vendor (RFC 8555)")
    problem: dict[str, Any] | None = Field(description="The vendor's last problem document")
    updated_at: datetime


class SubmittalOut(BaseModel):
    id: int
    names: list[str]
    cert_type: str
    platform: str
    server_software: str
    server_version: str
    key_type: str
    service_option: str
    requested_delivery: date | None
    validity_days: int | None
    csr: str | None = Field(description="The uploaded CSR, PEM")
    certificate: str | None = Field(description="Serial of the certificate issued for it")
    contacts: list[ContactOut]
    order: VendorOrderOut | None = Field(
        default=None, description="The latest order at a vendor CA for this submittal"
    )


class ApprovalState(BaseModel):
    steps: list[Step] = Field(description="Fixed on the case at submission (R4)")
    round: int = Field(description="1 at the first submission, +1 at each resubmission")
    outstanding: list[Step]


class DecisionOut(BaseModel):
    round: int
    step: Step
    decision: Literal["approved", "rejected"]
    actor: str
    user_id: int | None
    reason: str
    at: datetime


class CommentOut(BaseModel):
    id: int
    actor: str
    text: str
    at: datetime


class HistoryOut(BaseModel):
    at: datetime
    actor: str
    event: str
    from_: str = Field(alias="from")
    to: str
    note: str


class DelegatedAdminOut(BaseModel):
    grants: list[str]
    admins: list[AdminIn]


class CaseOut(CaseBase):
    submittals: list[SubmittalOut]
    description: str
    requester_id: int | None
    target_certificate: str | None
    approval: ApprovalState
    approved_at: datetime | None
    delivered_at: datetime | None
    window_ends_at: datetime | None
    closed_at: datetime | None
    delegated_admin: DelegatedAdminOut | None
    approvals: list[DecisionOut]
    comments: list[CommentOut]
    history: list[HistoryOut]


def _admins(items: list[AdminIn]) -> tuple[AdminInput, ...]:
    return tuple(AdminInput(a.name, a.email, a.login_id) for a in items)


@router.post(
    CASES,
    response_model=CaseOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 409, 422),
)
def open_case(body: CaseCreate, svc: ServicesDep, who: ActorDep) -> dict[str, Any]:
    """Open a draft case with its submittals (R3); submit it with ``/submit``."""
    return svc.cases.open(
        who,
        CaseInput(
            org_code=body.org,
            type=str(body.type),
            title=body.title,
            description=body.description,
            requested_delivery=body.requested_delivery,
            target_serial=body.target_certificate,
            grants=tuple(body.grants),
            admins=_admins(body.admins),
            submittals=tuple(sub.to_input() for sub in body.submittals),
        ),
    ).as_dict()


@router.get(CASES + "/{number}", response_model=CaseOut, responses=problems(404, 422))
def show_case(number: CaseNumber, svc: ServicesDep, who: ActorDep) -> dict[str, Any]:
    return svc.cases.show(who, number).as_dict()


@router.patch(CASES + "/{number}", response_model=CaseOut, responses=problems(403, 404, 409, 422))
def edit_case(
    number: CaseNumber, body: CaseEditIn, svc: ServicesDep, who: ActorDep
) -> dict[str, Any]:
    """Revise a draft or rejected case."""
    given = body.model_fields_set
    change = CaseEdit(
        title=body.title,
        description=body.description,
        requested_delivery=body.requested_delivery,
        clear_requested_delivery="requested_delivery" in given and body.requested_delivery is None,
        target_serial=body.target_certificate,
        grants=tuple(body.grants) if body.grants is not None else None,
        admins=_admins(body.admins) if body.admins is not None else None,
    )
    return svc.cases.edit(who, number, change).as_dict()


@router.post(
    CASES + "/{number}/submittals",
    response_model=CaseOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 404, 409, 422),
)
def add_submittal(
    number: CaseNumber, body: SubmittalIn, svc: ServicesDep, who: ActorDep
) -> dict[str, Any]:
    """Attach a submittal, optionally with a CSR (checked on upload: R1, R2, R12)."""
    return svc.cases.add_submittal(who, number, body.to_input()).as_dict()


@router.delete(
    CASES + "/{number}/submittals/{submittal_id}",
    response_model=CaseOut,
    responses=problems(403, 404, 409, 422),
)
def remove_submittal(
    number: CaseNumber, submittal_id: SubmittalId, svc: ServicesDep, who: ActorDep
) -> dict[str, Any]:
    return svc.cases.remove_submittal(who, number, submittal_id).as_dict()


_Route = TypeVar("_Route", bound=Callable[..., Any])


def _note(body: NoteIn | None) -> str:
    return body.note if body else ""


def _case_step(step: str, **route: Any) -> Callable[[_Route], _Route]:
    """``POST /api/v1/cases/{number}/<step>``: one step of a case, answered with the case."""
    return router.post(
        CASES + f"/{{number}}/{step}",
        response_model=CaseOut,
        responses=problems(403, 404, 409, 422),
        **route,
    )


@_case_step("submit")
def submit_case(number: CaseNumber, svc: ServicesDep, who: ActorDep) -> dict[str, Any]:
    """Submit (or resubmit after a rejection: a new approval round)."""
    return svc.cases.submit(who, number).as_dict()


@_case_step("approve")
def approve_case(
    number: CaseNumber, svc: ServicesDep, who: ActorDep, body: NoteIn | None = None
) -> dict[str, Any]:
    """Approve the caller's outstanding step (R4); the last approval sets the R5 dates."""
    return svc.approvals.approve(who, number, note=_note(body)).as_dict()


@_case_step("reject")
def reject_case(
    number: CaseNumber, body: ReasonIn, svc: ServicesDep, who: ActorDep
) -> dict[str, Any]:
    """Reject: the case returns to the requester with the reason (R4)."""
    return svc.approvals.reject(who, number, body.reason).as_dict()


@_case_step("start")
def start_case(
    number: CaseNumber, svc: ServicesDep, who: ActorDep, body: NoteIn | None = None
) -> dict[str, Any]:
    """Cert services picks up an approved case (``in_progress``)."""
    return svc.cases.start(who, number, _note(body)).as_dict()


@_case_step("comment", status_code=status.HTTP_201_CREATED)
def comment_case(
    number: CaseNumber, body: CommentIn, svc: ServicesDep, who: ActorDep
) -> dict[str, Any]:
    return svc.cases.comment(who, number, body.text).as_dict()


@_case_step("cancel")
def cancel_case(
    number: CaseNumber, svc: ServicesDep, who: ActorDep, body: CancelIn | None = None
) -> dict[str, Any]:
    return svc.cases.cancel(who, number, body.reason if body else "").as_dict()
