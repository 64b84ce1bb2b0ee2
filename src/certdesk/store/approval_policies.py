"""Approval policies (R4): which approvals a case type needs in an organization; no row
means the default (the requesting agency's approver and cert services)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from certdesk.store.models import ApprovalPolicy


def policy(s: Session, org_id: int, case_type: str) -> ApprovalPolicy | None:
    return s.get(ApprovalPolicy, (org_id, case_type))


def set_policy(s: Session, org_id: int, case_type: str, steps: str | None) -> None:
    """Set one case type's approval steps (``None``: no row, the default applies)."""
    row = policy(s, org_id, case_type)
    if steps is None:
        if row is not None:
            s.delete(row)
    elif row is None:
        s.add(ApprovalPolicy(org_id=org_id, case_type=case_type, steps=steps))
    else:
        row.steps = steps
    s.flush()


def policies(s: Session, org_id: int) -> list[ApprovalPolicy]:
    return list(
        s.scalars(
            select(ApprovalPolicy)
            .where(ApprovalPolicy.org_id == org_id)
            .order_by(ApprovalPolicy.case_type)
        )
    )
