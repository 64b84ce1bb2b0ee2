"""What R9 expiry notices may be due: one indexed range instead of a walk of the inventory.

``certificates.notice_due_at`` holds, per certificate, an instant before which none of its
expiry notices can be due (:func:`certdesk.core.lifecycle.next_expiry_notice_at`): NULL
when the planner has not looked at it yet (every new row, and every row after the notice
thresholds change), :data:`NONE_LEFT` when every notice it will ever get is recorded. A pass
reads the certificates whose instant has come, or that were never planned, in keyset pages
of the index ``(status, notice_due_at, id)``; so it costs what became due or was added since,
not the size of the inventory.

**Why it cannot skip a notice.** The stored value is only ever a lower bound: it is computed
from the reasons recorded in the ``notices`` table (rows are never deleted) plus the reasons
whose rows the same pass has just committed, so a value written late, twice, or by a worker
whose view was older is lower, never higher, than the truth; a lower value costs one more
read, never a notice. Nothing else moves: ``not_after`` and the tracking start are fixed
once a certificate is active, and a certificate in another status is not read at all (it is
read again if it ever returns to ``active``, with the bound it had). What the bound depends
on besides the rows — the notice thresholds — is recorded as an installation fact
(:data:`PLAN_FACT`); when the settings change, every bound is dropped (set NULL) once.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Table, bindparam, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from certdesk.store.models import CertificateRow, InstallationFact
from certdesk.store.notices import NOTICE_CERT_STATUSES

# Stored when nothing is left to send (an instant no clock reaches).
NONE_LEFT = datetime(9999, 1, 1, tzinfo=UTC)
# The installation fact naming the notice thresholds the stored bounds were computed for.
PLAN_FACT = "notices.expiry_plan"
PAGE = 2000  # certificates read per statement


@dataclass(frozen=True)
class DueCert:
    """What planning a certificate's expiry notices needs (no DER, no names)."""

    id: int
    org_id: int
    status: str
    not_after: datetime
    tracked_from: datetime  # when certdesk started tracking it: issued_at, else notBefore
    due_at: datetime | None  # the stored bound (None: never planned)


_COLUMNS = (
    CertificateRow.id,
    CertificateRow.org_id,
    CertificateRow.status,
    CertificateRow.not_after,
    func.coalesce(CertificateRow.issued_at, CertificateRow.not_before),
    CertificateRow.notice_due_at,
)


def candidates(
    s: Session, now: datetime, *, every: bool = False, page: int = PAGE
) -> Iterator[list[DueCert]]:
    """Pages of the certificates (active or expired) whose bound is ``<= now`` or unset.

    Each statement is a range of ``ix_certificates_notice_due``: per status, first the rows
    never planned (``notice_due_at IS NULL``, by id), then those whose instant has come (by
    instant and id). Pages are read one at a time, so memory stays flat whatever the backlog.
    ``every``: every certificate, whatever its bound (the pass that follows :func:`replan`,
    whose snapshot may predate it).
    """
    for status in NOTICE_CERT_STATUSES:
        after_id = 0
        while True:
            stmt = select(*_COLUMNS).where(
                CertificateRow.status == status, CertificateRow.id > after_id
            )
            if not every:
                stmt = stmt.where(CertificateRow.notice_due_at.is_(None))
            rows = s.execute(stmt.order_by(CertificateRow.id).limit(page)).all()
            if rows:
                yield [DueCert(*r) for r in rows]
                after_id = rows[-1][0]
            if len(rows) < page:
                break
        if every:
            continue
        after: tuple[datetime | None, int] | None = None
        while True:
            stmt = select(*_COLUMNS).where(
                CertificateRow.status == status, CertificateRow.notice_due_at <= now
            )
            if after is not None:
                stmt = stmt.where(
                    tuple_(CertificateRow.notice_due_at, CertificateRow.id) > tuple_(*after)
                )
            rows = s.execute(
                stmt.order_by(CertificateRow.notice_due_at, CertificateRow.id).limit(page)
            ).all()
            if rows:
                yield [DueCert(*r) for r in rows]
                last = rows[-1]
                after = (last[5], last[0])
            if len(rows) < page:
                break


_CERTS = typing.cast("Table", CertificateRow.__table__)
_ADVANCE = (
    update(_CERTS)
    .where(_CERTS.c.id == bindparam("cert_id"))
    .values(notice_due_at=bindparam("due_at"))
)


def advance(s: Session, bounds: Mapping[int, datetime | None]) -> None:
    """Store each certificate's new bound (None: nothing left, stored as :data:`NONE_LEFT`).

    Callers pass bounds computed from recorded reasons only (see the module text); several
    workers writing in any order leave a valid bound.
    """
    if not bounds:
        return
    params = [
        {"cert_id": cert_id, "due_at": NONE_LEFT if at is None else at}
        for cert_id, at in sorted(bounds.items())
    ]
    s.connection().execute(_ADVANCE, params)


def plan_of(s: Session) -> str | None:
    """The notice thresholds the stored bounds were computed for (None: not recorded)."""
    return s.scalar(select(InstallationFact.value).where(InstallationFact.name == PLAN_FACT))


def replan(s: Session, plan: str, now: datetime) -> int:
    """Drop every stored bound and record ``plan`` (the thresholds changed, or first use).

    Returns the number of certificates that will be planned again.
    """
    dropped = (
        s.connection()
        .execute(
            update(_CERTS).where(_CERTS.c.notice_due_at.is_not(None)).values(notice_due_at=None)
        )
        .rowcount
    )
    # Two workers may both see the old plan: the second one's upsert writes the same row.
    upsert = (pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert)(
        InstallationFact
    ).values(name=PLAN_FACT, value=plan, recorded_at=now)
    s.execute(
        upsert.on_conflict_do_update(
            index_elements=["name"], set_={"value": plan, "recorded_at": now}
        )
    )
    return int(dropped or 0)


def reset(s: Session, cert_ids: Sequence[int]) -> None:
    """Forget the bounds of ``cert_ids`` (test data and benchmarks that delete notices)."""
    for i in range(0, len(cert_ids), 500):
        s.connection().execute(
            update(_CERTS).where(_CERTS.c.id.in_(cert_ids[i : i + 500])).values(notice_due_at=None)
        )
