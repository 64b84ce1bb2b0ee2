"""R15: every change appends an audit event in the same transaction as the change."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.audit import AuditEvent, ChainBreak, verify_chain
from certdesk.core.calendar import PACIFIC
from certdesk.errors import InvalidInput
from certdesk.services.runtime import Runtime
from certdesk.store import audit as audit_store


@dataclass(frozen=True)
class AuditView:
    seq: int
    at: str
    actor: str
    action: str
    object_type: str
    object_id: str
    summary: dict[str, Any]
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=PACIFIC)


class AuditService:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def record(
        self,
        s: Session | Connection,
        actor: Actor | str,
        action: str,
        object_type: str,
        object_id: object,
        **summary: Any,
    ) -> None:
        """Append an event inside the caller's transaction ``s`` (never on its own).

        ``s`` is the caller's ORM session or, on a Core hot path, its connection.
        """
        if isinstance(s, Session):
            s.flush()  # the caller's pending changes reach the database before their event
            s = s.connection()
        audit_store.append(
            s,
            at=self._rt.clock(),
            actor=actor if isinstance(actor, str) else actor.name,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            summary=summary,
        )

    def search(
        self,
        actor: Actor,
        *,
        object_type: str | None = None,
        object_id: str | None = None,
        by: str | None = None,
        action: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
        start: date | None = None,
        end: date | None = None,
    ) -> tuple[list[AuditView], str | None]:
        """Events newest first, in keyset pages; ``start``/``end`` are days (Pacific, both
        included), as report periods are."""
        authorize(actor, Action.AUDIT_READ, actor.org_id)
        if not 1 <= limit <= 1000:
            raise InvalidInput("page.limit", "limit must be between 1 and 1000")
        if start is not None and end is not None and end < start:
            raise InvalidInput(
                "audit.period", f"the period ends ({end}) before it starts ({start})"
            )
        before = None
        if cursor:
            if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 18:
                raise InvalidInput("page.cursor", "invalid page cursor")
            before = int(cursor)
        with self._rt.reads() as s:
            rows = audit_store.search(
                s,
                object_type=object_type,
                object_id=object_id,
                actor=by,
                action=action,
                before_seq=before,
                limit=limit,
                since=_day_start(start) if start is not None else None,
                until=_day_start(end + timedelta(days=1)) if end is not None else None,
            )
            views = [
                AuditView(
                    r.seq,
                    r.at.isoformat().replace("+00:00", "Z"),
                    r.actor,
                    r.action,
                    r.object_type,
                    r.object_id,
                    dict(audit_store.to_event(r).summary),
                    r.hash,
                )
                for r in rows
            ]
        next_cursor = str(rows[-1].seq) if len(rows) == limit else None
        return views, next_cursor

    def verify(self, actor: Actor) -> tuple[int, ChainBreak | None]:
        """Walk the whole chain; returns (events checked, first break or None)."""
        authorize(actor, Action.AUDIT_READ, actor.org_id)
        count = 0

        def rows(s: Session) -> Iterator[tuple[AuditEvent, str, str]]:
            nonlocal count
            for row in audit_store.rows_in_order(s):
                if head is not None and row.seq > head.seq:
                    break  # appended after the head was read (PostgreSQL read committed)
                count += 1
                yield audit_store.to_event(row), row.prev_hash, row.hash

        with self._rt.reads() as s:
            head = audit_store.head(s)
            result = verify_chain(rows(s), (head.seq, head.hash) if head else None)
        return count, result
