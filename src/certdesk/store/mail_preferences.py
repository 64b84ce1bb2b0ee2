"""Per-person mail preferences (issue 14)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from certdesk.store.models import MailPreference


def of_user(s: Session, user_id: int) -> dict[str, str]:
    rows = s.execute(
        select(MailPreference.kind, MailPreference.mode).where(MailPreference.user_id == user_id)
    )
    return {kind: mode for kind, mode in rows}


def put(s: Session, user_id: int, kind: str, mode: str, at: datetime) -> None:
    row = s.get(MailPreference, (user_id, kind))
    if row is None:
        s.add(MailPreference(user_id=user_id, kind=kind, mode=mode, updated_at=at))
    else:
        row.mode = mode
        row.updated_at = at
    s.flush()
