"""R5 performance: the cases delivered in a period, with the dates they were judged by."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from certdesk.store.models import Case


@dataclass(frozen=True)
class DeliveredCase:
    org_id: int
    number: str
    approved_at: datetime
    delivered_at: datetime
    target_date: date
    due_date: date


def delivered_cases(
    s: Session, start: datetime, end: datetime, org_id: int | None = None
) -> list[DeliveredCase]:
    """Cases delivered in ``[start, end)`` that carry R5 dates (approved ones), oldest first.

    A case without target and due dates (a question, which is never approved) has no
    turnaround to be judged by and is left out.
    """
    q = (
        select(
            Case.org_id,
            Case.number,
            Case.approved_at,
            Case.delivered_at,
            Case.target_date,
            Case.due_date,
        )
        .where(
            Case.delivered_at >= start,
            Case.delivered_at < end,
            Case.approved_at.is_not(None),
            Case.target_date.is_not(None),
            Case.due_date.is_not(None),
        )
        .order_by(Case.delivered_at, Case.id)
    )
    if org_id is not None:
        q = q.where(Case.org_id == org_id)
    out = []
    for org_id, number, approved, delivered, target, due in s.execute(q):
        # The WHERE clause leaves out the cases without these; the asserts tell mypy.
        assert approved is not None and delivered is not None
        assert target is not None and due is not None
        out.append(DeliveredCase(org_id, number, approved, delivered, target, due))
    return out
