"""The dashboard's expiry forecast counted by the database: one aggregate query (issue 16).

The weeks are the core's (:func:`certdesk.core.forecast.week_bounds`): the database only
counts, per week, the active certificates whose ``notAfter`` falls in the horizon, instead of
sending every ``notAfter`` to Python to be counted there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from certdesk.core.certificates import CertStatus
from certdesk.store.models import CertificateRow


def weekly_counts(
    s: Session, org_id: int | None, now: datetime, until: datetime, bounds: Sequence[datetime]
) -> list[int]:
    """Active certificates (of one org, or all) expiring in ``(now, until]``, counted per
    week: week ``k`` holds those with ``k`` of ``bounds`` at or before their ``notAfter``.

    ``SELECT week, count(*) FROM (SELECT CASE … END AS week …) GROUP BY week``: the bucket is
    a CASE over the bounds (plain comparisons of the stored instants, exact on SQLite's text
    and PostgreSQL's timestamps alike), grouped in a subquery so that both databases group by
    the same expression.
    """
    end = CertificateRow.not_after
    week = (
        case(*((end < b, literal(k)) for k, b in enumerate(bounds)), else_=literal(len(bounds)))
        if bounds
        else literal(0)
    )
    inner = select(week.label("week")).where(
        CertificateRow.status == CertStatus.ACTIVE, end > now, end <= until
    )
    if org_id is not None:
        inner = inner.where(CertificateRow.org_id == org_id)
    rows = inner.subquery()
    counts = [0] * (len(bounds) + 1)
    for k, n in s.execute(select(rows.c.week, func.count()).group_by(rows.c.week)):
        counts[int(k)] = int(n)
    return counts
