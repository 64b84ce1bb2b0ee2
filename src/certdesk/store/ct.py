"""Certificate Transparency monitoring: the logs followed, their saved position, the findings.

:func:`advance` is the one write of a batch of entries: it records the batch's findings
(``ON CONFLICT DO NOTHING``: a certificate already found, by this log or another, adds
nothing) and moves the log's position from where the batch started, in the caller's
transaction. The move is conditional on the position being unchanged, so two workers that
read the same batch cannot both record it: the second one's transaction finds the position
moved and is rolled back by its caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from certdesk.store.models import (
    CertificateRow,
    CtFinding,
    CtLog,
    ExternalCertificate,
    GrantRow,
    Organization,
    User,
    UserRole,
)

_CHUNK = 500


def add_log(s: Session, values: dict[str, Any]) -> CtLog:
    row = CtLog(**values)
    s.add(row)
    s.flush()
    return row


def log_by_name(s: Session, name: str) -> CtLog | None:
    return s.scalar(select(CtLog).where(CtLog.name == name))


def log_by_id(s: Session, log_id: int) -> CtLog | None:
    return s.get(CtLog, log_id)


def all_logs(s: Session, *, active_only: bool = False) -> list[CtLog]:
    q = select(CtLog).order_by(CtLog.name)
    if active_only:
        q = q.where(CtLog.active.is_(True))
    return list(s.scalars(q))


def findings_count(s: Session, log_id: int) -> int:
    return int(s.scalar(select(func.count()).where(CtFinding.log_id == log_id)) or 0)


def all_grants(s: Session) -> list[tuple[int, str, str]]:
    """(organization id, kind, name) of every grant: the watchlist's owners (R2)."""
    q = select(GrantRow.org_id, GrantRow.kind, GrantRow.name).order_by(GrantRow.id)
    return [(o, k, n) for o, k, n in s.execute(q)]


def known_certificates(s: Session, serials: Sequence[str]) -> list[bytes]:
    """The DER of inventory certificates with these serials — issued, arrived from a vendor,
    or external (imported or discovered, R18): a log entry matching one of them is known."""
    out: list[bytes] = []
    wanted = sorted(set(serials))
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        q = select(CertificateRow.der).where(
            CertificateRow.serial.in_(chunk), CertificateRow.der.is_not(None)
        )
        out.extend(d for d in s.scalars(q) if d is not None)
        out.extend(
            s.scalars(select(ExternalCertificate.der).where(ExternalCertificate.serial.in_(chunk)))
        )
    return out


def operator_emails(s: Session) -> list[str]:
    """Cert services: the addresses of enabled operator accounts."""
    q = (
        select(User.email)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "operator", User.disabled.is_(False))
        .order_by(User.id)
    )
    return list(dict.fromkeys(s.scalars(q)))


def org_code(s: Session, org_id: int) -> str | None:
    return s.scalar(select(Organization.code).where(Organization.id == org_id))


@dataclass(frozen=True)
class Position:
    """Where a batch leaves a log: its new position and compact range, and the head the
    entries were proven against when the batch reached it (else None)."""

    position: int
    compact_range: list[str]
    verified: tuple[int, str] | None


def advance(
    s: Session, log_id: int, start: int, to: Position, findings: Sequence[dict[str, Any]]
) -> list[int] | None:
    """Record ``findings`` and move log ``log_id`` from ``start`` to ``to`` in the caller's
    transaction. Returns the ids of the findings new to certdesk, or None when the position
    was no longer ``start`` (another worker recorded this batch: roll back)."""
    values: dict[str, Any] = {"position": to.position, "compact_range": to.compact_range}
    if to.verified is not None:
        values["verified_size"], values["verified_root"] = to.verified
    moved = s.execute(
        update(CtLog)
        .where(CtLog.id == log_id, CtLog.position == start)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return None
    if not findings:
        return []
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    ordered = sorted(findings, key=lambda f: (f["cert_key"], f["scope"]))
    stmt = (
        insert(CtFinding)
        .on_conflict_do_nothing(index_elements=["cert_key", "scope"])
        .returning(CtFinding.id)
    )
    return [row[0] for row in s.connection().execute(stmt, ordered)]


def record_check(
    s: Session,
    log_id: int,
    at: datetime,
    *,
    head: tuple[int, datetime] | None = None,
    error: str = "",
) -> None:
    """The outcome of a look at the log: the head it showed, or what was wrong."""
    values: dict[str, Any] = {"checked_at": at, "last_error": error[:2000]}
    if head is not None:
        values["head_size"], values["head_at"] = head
    s.execute(
        update(CtLog)
        .where(CtLog.id == log_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def findings_by_ids(s: Session, ids: Sequence[int]) -> list[CtFinding]:
    return list(s.scalars(select(CtFinding).where(CtFinding.id.in_(list(ids)))))


def search_findings(
    s: Session, org_id: int | None, *, before_id: int | None, limit: int
) -> list[tuple[CtFinding, str, str | None]]:
    """Findings newest first, with their log's name and organization's code; ``org_id``
    limits them to one organization's (an agency sees only its own)."""
    q = (
        select(CtFinding, CtLog.name, Organization.code)
        .join(CtLog, CtLog.id == CtFinding.log_id)
        .outerjoin(Organization, Organization.id == CtFinding.org_id)
        .order_by(CtFinding.id.desc())
        .limit(limit)
    )
    if org_id is not None:
        q = q.where(CtFinding.org_id == org_id)
    if before_id is not None:
        q = q.where(CtFinding.id < before_id)
    return [(f, name, code) for f, name, code in s.execute(q)]
