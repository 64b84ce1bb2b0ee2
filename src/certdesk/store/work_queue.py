"""What the work queue reads: cases ordering at a vendor, approvals of waiting cases, and
notices that failed for good. Narrow reads only; the service decides what is shown."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from certdesk.core.issuers import OPEN_ORDERS
from certdesk.core.notices import NoticeState
from certdesk.store.models import Approval, Case, Notice, Submittal, VendorOrder

__all__ = ["approvals_of_rounds", "cases_ordering", "failed_notices", "waiting_cases"]


def cases_ordering(s: Session, limit: int) -> list[Case]:
    """Cases with at least one vendor order still open (R16), newest first."""
    ids = (
        select(Submittal.case_id)
        .join(VendorOrder, VendorOrder.submittal_id == Submittal.id)
        .where(VendorOrder.state.in_([str(st) for st in OPEN_ORDERS]))
    )
    return list(
        s.scalars(select(Case).where(Case.id.in_(ids)).order_by(Case.id.desc()).limit(limit))
    )


def waiting_cases(s: Session, state: str, org_id: int | None, limit: int) -> list[Case]:
    """Cases in ``state`` (of one organization, or all), oldest first: the queue's order."""
    stmt = select(Case).where(Case.state == state)
    if org_id is not None:
        stmt = stmt.where(Case.org_id == org_id)
    return list(s.scalars(stmt.order_by(Case.id).limit(limit)))


def approvals_of_rounds(s: Session, cases: Sequence[Case]) -> dict[int, list[Approval]]:
    """The decisions of each case's current approval round."""
    found: dict[int, list[Approval]] = {c.id: [] for c in cases}
    if not cases:
        return found
    rounds = {c.id: c.approval_round for c in cases}
    rows = s.scalars(
        select(Approval).where(Approval.case_id.in_(list(rounds))).order_by(Approval.id)
    )
    for row in rows:
        if row.round == rounds[row.case_id]:
            found[row.case_id].append(row)
    return found


def failed_notices(s: Session, limit: int) -> list[Notice]:
    """Mail that could not be delivered for good, newest first."""
    return list(
        s.scalars(
            select(Notice)
            .where(Notice.status == NoticeState.FAILED)
            .order_by(Notice.id.desc())
            .limit(limit)
        )
    )
