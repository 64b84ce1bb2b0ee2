"""R11: certificates issued per organization and platform over a period, with their cost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from certdesk.core.certificates import DELIVERED
from certdesk.store.models import CertificateRow


@dataclass(frozen=True)
class UsageCount:
    org_id: int
    platform: str
    certificates: int
    cost_cents: int


def certificate_usage(
    s: Session, start: datetime, end: datetime, org_id: int | None = None
) -> list[UsageCount]:
    """Certificates issued in ``[start, end)``, counted per organization and platform."""
    q = (
        select(
            CertificateRow.org_id,
            CertificateRow.platform,
            func.count(),
            func.coalesce(func.sum(CertificateRow.cost_cents), 0),
        )
        .where(
            # Intents (``signing``) and voided serials were never delivered: they are not usage.
            CertificateRow.status.in_(DELIVERED),
            CertificateRow.issued_at >= start,
            CertificateRow.issued_at < end,
        )
        .group_by(CertificateRow.org_id, CertificateRow.platform)
    )
    if org_id is not None:
        q = q.where(CertificateRow.org_id == org_id)
    return [UsageCount(o, p, int(n), int(c or 0)) for o, p, n, c in s.execute(q)]
