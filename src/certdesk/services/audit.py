"""R15: every change appends an audit event in the same transaction as the change.

The chain is keyed (core/audit.py) with a key derived from the secret-box key, which lives in
the secrets directory, never in the database. Whether a log is keyed is recorded beside that
key (``secrets/audit-chain``), not in the database: someone who can only write the database
cannot turn a keyed log back into a plain one and rehash it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.audit import AuditEvent, ChainBreak, verify_chain
from certdesk.core.audit_text import KINDS, SIGN_IN_ACTIONS
from certdesk.core.calendar import PACIFIC
from certdesk.core.text import excerpt
from certdesk.errors import InvalidInput
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
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


def families_of(kind: str | None) -> tuple[str, ...]:
    """The action families of an audit kind; an unknown kind is refused."""
    if not kind:
        return ()
    families = tuple(f for f, k in KINDS.items() if k.lower() == kind.strip().lower())
    if not families:
        choices = ", ".join(sorted(set(KINDS.values())))
        raise InvalidInput("audit.kind", f"unknown kind {excerpt(kind)!r}; use one of {choices}")
    return families


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=PACIFIC)


CHAIN_MARKER = "audit-chain"
CHAIN_KEY_PURPOSE = "certdesk audit chain"


class AuditService:
    def __init__(self, rt: Runtime, secretbox: SecretBox) -> None:
        self._rt = rt
        self._secretbox = secretbox
        self._chain_key: bytes | None = None

    @property
    def _marker(self) -> Path:
        return self._rt.settings.secrets_dir / CHAIN_MARKER

    def chain_key(self) -> bytes | None:
        """The chain's HMAC key once this installation's log is keyed; None before that."""
        if self._chain_key is None and self._marker.exists():
            self._chain_key = self._secretbox.derive(CHAIN_KEY_PURPOSE)
        return self._chain_key

    def ensure_keyed(self) -> bool:
        """Key the log if it is not yet (once per installation, at the first start of a
        release with keys); returns True when this call keyed it.

        A plain log is keyed only if it verifies as a plain chain; a broken one stays as it
        is, for ``audit verify`` to report. Callers hold the set-up lock or are alone.
        """
        if self.chain_key() is not None:
            return False
        key = self._secretbox.derive(CHAIN_KEY_PURPOSE)
        with self._rt.transaction() as conn:
            with Session(bind=conn) as s:
                head = audit_store.head(s)
                rows = (
                    (audit_store.to_event(r), r.prev_hash, r.hash)
                    for r in audit_store.rows_in_order(s)
                )
                plain = verify_chain(rows, (head.seq, head.hash) if head else None)
            if plain is not None:
                return False
            audit_store.rehash(conn, key)
        self._marker.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._marker.write_text("hmac-sha256\n")
        self._marker.chmod(0o600)
        self._chain_key = key
        return True

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
            key=self.chain_key(),
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
        kind: str | None = None,
        fold_sign_ins: bool = False,
    ) -> tuple[list[AuditView], str | None]:
        """Events newest first, in keyset pages; ``start``/``end`` are days (Pacific, both
        included), as report periods are; ``kind`` is one of
        :data:`certdesk.core.audit_text.KINDS`' values ("Cases"); ``fold_sign_ins`` leaves
        sign-ins and sign-outs out."""
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
                action_families=families_of(kind),
                without_actions=SIGN_IN_ACTIONS if fold_sign_ins else (),
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
            result = verify_chain(
                rows(s), (head.seq, head.hash) if head else None, self.chain_key()
            )
        return count, result
