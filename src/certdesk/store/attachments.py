"""Files attached to cases, stored in the database."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, defer

from certdesk.store.models import CaseAttachment


def add(s: Session, row: CaseAttachment) -> CaseAttachment:
    s.add(row)
    s.flush()
    return row


def count_of_case(s: Session, case_id: int) -> int:
    return int(s.scalar(select(func.count()).where(CaseAttachment.case_id == case_id)) or 0)


def of_case(s: Session, case_id: int) -> list[CaseAttachment]:
    """The case's files, oldest first, without their bytes."""
    return list(
        s.scalars(
            select(CaseAttachment)
            .where(CaseAttachment.case_id == case_id)
            .options(defer(CaseAttachment.data))
            .order_by(CaseAttachment.id)
        )
    )


def one(s: Session, case_id: int, attachment_id: int) -> CaseAttachment | None:
    """One file of the case, with its bytes."""
    return s.scalars(
        select(CaseAttachment).where(
            CaseAttachment.case_id == case_id, CaseAttachment.id == attachment_id
        )
    ).one_or_none()


def remove(s: Session, row: CaseAttachment) -> None:
    """Delete the file and its bytes in the caller's transaction (on SQLite every connection
    runs with ``secure_delete``, so the freed page is overwritten, ``store/db.py``)."""
    s.execute(
        delete(CaseAttachment)
        .where(CaseAttachment.id == row.id)
        .execution_options(synchronize_session=False)
    )
    s.expunge(row)
