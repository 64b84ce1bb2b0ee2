"""External certificates, endpoint sightings and checks (R14, R18): the one door to their
tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from certdesk.store.models import (
    AcmeIssuerRow,
    Case,
    CertificateRow,
    EndpointCheck,
    EndpointFinding,
    EndpointSighting,
    ExternalCertificate,
    ExternalContact,
    GrantRow,
    User,
    UserRole,
)


def _insert(s: Session) -> Any:
    return pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert


# --- what the inventory knows of a fingerprint ------------------------------------------------


@dataclass(frozen=True)
class Known:
    kind: str  # certificate | external
    id: int
    org_id: int | None
    serial: str
    status: str
    renewed_by: str | None  # the serial of a delivered successor (a managed certificate)


def known(s: Session, fingerprint: str) -> Known | None:
    cert = s.scalars(
        select(CertificateRow).where(CertificateRow.fingerprint_sha256 == fingerprint)
    ).first()
    if cert is not None:
        successor = s.scalars(
            select(CertificateRow.serial)
            .where(
                CertificateRow.renewal_of == cert.id,
                CertificateRow.status.in_(("active", "superseded")),
            )
            .order_by(CertificateRow.id.desc())
        ).first()
        return Known("certificate", cert.id, cert.org_id, cert.serial, cert.status, successor)
    ext = external_by_fingerprint(s, fingerprint)
    if ext is not None:
        return Known("external", ext.id, ext.org_id, ext.serial, "external", None)
    return None


# --- external certificates -----------------------------------------------------------------


def external_by_fingerprint(s: Session, fingerprint: str) -> ExternalCertificate | None:
    return s.scalars(
        select(ExternalCertificate).where(ExternalCertificate.fingerprint_sha256 == fingerprint)
    ).first()


def external(s: Session, external_id: int) -> ExternalCertificate | None:
    return s.get(ExternalCertificate, external_id)


def add_external(s: Session, values: dict[str, Any]) -> ExternalCertificate | None:
    """Insert unless the fingerprint is there already (two imports at once: one wins)."""
    stmt = (
        _insert(s)(ExternalCertificate)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["fingerprint_sha256"])
        .returning(ExternalCertificate.id)
    )
    new_id = s.execute(stmt).scalar()
    return None if new_id is None else s.get(ExternalCertificate, new_id)


def list_external(
    s: Session, org_id: int | None, *, unassigned: bool = False, limit: int = 500
) -> list[ExternalCertificate]:
    stmt = select(ExternalCertificate).order_by(ExternalCertificate.not_after)
    if unassigned:
        stmt = stmt.where(ExternalCertificate.org_id.is_(None))
    elif org_id is not None:
        stmt = stmt.where(ExternalCertificate.org_id == org_id)
    return list(s.scalars(stmt.limit(limit)))


def contacts(s: Session, external_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {i: [] for i in external_ids}
    if not external_ids:
        return out
    rows = s.execute(
        select(ExternalContact.external_id, ExternalContact.name, ExternalContact.email)
        .where(ExternalContact.external_id.in_(list(external_ids)))
        .order_by(ExternalContact.id)
    )
    for ext_id, name, email in rows:
        out[ext_id].append((name, email))
    return out


def set_contacts(s: Session, external_id: int, people: Sequence[tuple[str, str]]) -> None:
    s.query(ExternalContact).filter(ExternalContact.external_id == external_id).delete()
    for name, email in people:
        s.add(ExternalContact(external_id=external_id, name=name, email=email))


def expiring_external(s: Session, until: datetime, after: datetime) -> list[ExternalCertificate]:
    """External certificates expiring in ``(after, until]``, with contacts or not."""
    return list(
        s.scalars(
            select(ExternalCertificate).where(
                ExternalCertificate.not_after <= until,
                ExternalCertificate.not_after > after,
                ExternalCertificate.adopted_case_id.is_(None),
            )
        )
    )


# --- sightings (discovery) -------------------------------------------------------------------


def sighted(s: Session, host: str, port: int, fingerprint: str, now: datetime) -> None:
    """Record that ``host:port`` serves ``fingerprint`` at ``now`` (first or again)."""
    stmt = (
        _insert(s)(EndpointSighting)
        .values(
            host=host,
            port=port,
            fingerprint_sha256=fingerprint,
            first_seen_at=now,
            last_seen_at=now,
            gone_at=None,
        )
        .on_conflict_do_update(
            index_elements=["host", "port", "fingerprint_sha256"],
            set_={"last_seen_at": now, "gone_at": None},
        )
    )
    s.execute(stmt)
    s.execute(
        update(ExternalCertificate)
        .where(ExternalCertificate.fingerprint_sha256 == fingerprint)
        .values(last_seen_at=now, gone_at=None)
    )


def mark_gone(
    s: Session,
    endpoints: Sequence[tuple[str, int]],
    seen: dict[tuple[str, int], str],
    now: datetime,
) -> list[str]:
    """Sightings at ``endpoints`` whose certificate this run did not see there become gone;
    an external certificate gone from every endpoint is flagged. Returns its fingerprints."""
    flagged: list[str] = []
    for host, port in endpoints:
        current = seen.get((host, port))
        stmt = update(EndpointSighting).where(
            EndpointSighting.host == host,
            EndpointSighting.port == port,
            EndpointSighting.gone_at.is_(None),
        )
        if current is not None:
            stmt = stmt.where(EndpointSighting.fingerprint_sha256 != current)
        for (fp,) in s.execute(
            stmt.values(gone_at=now).returning(EndpointSighting.fingerprint_sha256)
        ):
            still = s.scalar(
                select(func.count())
                .select_from(EndpointSighting)
                .where(
                    EndpointSighting.fingerprint_sha256 == fp,
                    EndpointSighting.gone_at.is_(None),
                )
            )
            if not still:
                done = s.execute(
                    update(ExternalCertificate)
                    .where(
                        ExternalCertificate.fingerprint_sha256 == fp,
                        ExternalCertificate.gone_at.is_(None),
                    )
                    .values(gone_at=now)
                    .returning(ExternalCertificate.fingerprint_sha256)
                ).scalar()
                if done:
                    flagged.append(fp)
    return flagged


def sightings_of(s: Session, fingerprint: str) -> list[EndpointSighting]:
    return list(
        s.scalars(
            select(EndpointSighting)
            .where(EndpointSighting.fingerprint_sha256 == fingerprint)
            .order_by(EndpointSighting.host, EndpointSighting.port)
        )
    )


# --- checks and their one-time notices -------------------------------------------------------


def add_check(s: Session, values: dict[str, Any]) -> int:
    row = EndpointCheck(**values)
    s.add(row)
    s.flush()
    return row.id


def checks_of(
    s: Session,
    *,
    certificate_id: int | None = None,
    external_id: int | None = None,
    limit: int = 50,
) -> list[EndpointCheck]:
    stmt = select(EndpointCheck).order_by(EndpointCheck.checked_at.desc(), EndpointCheck.id.desc())
    if certificate_id is not None:
        stmt = stmt.where(EndpointCheck.certificate_id == certificate_id)
    else:
        stmt = stmt.where(EndpointCheck.external_id == external_id)
    return list(s.scalars(stmt.limit(limit)))


def record_finding(s: Session, values: dict[str, Any]) -> bool:
    """Insert the finding's once-only row; False when it was recorded before."""
    stmt = (
        _insert(s)(EndpointFinding)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=["subject_type", "subject_id", "code", "served_sha256"]
        )
        .returning(EndpointFinding.id)
    )
    return s.execute(stmt).scalar() is not None


def due_for_recheck(s: Session, since: datetime, now: datetime, limit: int) -> list[CertificateRow]:
    """Active (delivered) certificates with no check since ``since`` (oldest check first)."""
    last = (
        select(EndpointCheck.certificate_id, func.max(EndpointCheck.checked_at).label("at"))
        .where(EndpointCheck.certificate_id.is_not(None))
        .group_by(EndpointCheck.certificate_id)
        .subquery()
    )
    stmt = (
        select(CertificateRow)
        .outerjoin(last, last.c.certificate_id == CertificateRow.id)
        .where(
            CertificateRow.status == "active",
            CertificateRow.der.is_not(None),
            CertificateRow.not_after > now,
            or_(last.c.at.is_(None), last.c.at < since),
        )
        .order_by(last.c.at.is_not(None), last.c.at, CertificateRow.id)
        .limit(limit)
    )
    return list(s.scalars(stmt))


def operator_emails(s: Session) -> list[str]:
    """Cert services: every enabled operator's address."""
    rows = s.scalars(
        select(User.email)
        .join(UserRole, and_(UserRole.user_id == User.id, UserRole.role == "operator"))
        .where(User.disabled.is_(False))
        .order_by(User.id)
    )
    return list(dict.fromkeys(rows))


def vendor_anchors(s: Session) -> list[str]:
    """The PEM roots of every vendor CA (R16)."""
    return list(s.scalars(select(AcmeIssuerRow.anchors_pem)))


def all_grants(s: Session) -> list[tuple[int, str, str]]:
    """``(org_id, kind, name)`` of every grant (R2), for attributing external certificates."""
    return [
        (r.org_id, r.kind, r.name)
        for r in s.execute(select(GrantRow.org_id, GrantRow.kind, GrantRow.name))
    ]


def case_number(s: Session, case_id: int) -> str | None:
    return s.scalar(select(Case.number).where(Case.id == case_id))


def case_id(s: Session, number: str) -> int | None:
    return s.scalar(select(Case.id).where(Case.number == number))


@dataclass(frozen=True)
class Overlap:
    """A certificate an in-window reissue replaced, still valid for its overlap (issue 14),
    and its replacement."""

    old_serial: str
    old_sha256: str | None
    new_sha256: str | None
    new_names: tuple[str, ...]
    old_names: tuple[str, ...]
    new_issued_at: datetime


def overlaps(s: Session, now: datetime, limit: int) -> list[Overlap]:
    """Active certificates whose scheduled retirement is still ahead of ``now``, each with
    its active replacement (the newest certificate naming it in ``renewal_of``)."""
    new = aliased(CertificateRow)
    stmt = (
        select(CertificateRow, new)
        .join(new, new.renewal_of == CertificateRow.id)
        .where(
            CertificateRow.retire_at.is_not(None),
            CertificateRow.retire_at > now,
            CertificateRow.status == "active",
            new.status == "active",
            new.issued_at.is_not(None),
        )
        .order_by(CertificateRow.retire_at, CertificateRow.id, new.id.desc())
        .limit(limit)
    )
    out: dict[str, Overlap] = {}
    for old_row, new_row in s.execute(stmt):
        if old_row.serial in out or new_row.issued_at is None:
            continue
        out[old_row.serial] = Overlap(
            old_row.serial,
            old_row.fingerprint_sha256,
            new_row.fingerprint_sha256,
            tuple(new_row.names.split(",")),
            tuple(old_row.names.split(",")),
            new_row.issued_at,
        )
    return list(out.values())


def latest_served(s: Session, hosts: Sequence[str], since: datetime) -> dict[str, list[str | None]]:
    """Host → what its latest check since ``since`` served, one per port (None: unreachable)."""
    if not hosts:
        return {}
    stmt = (
        select(EndpointCheck.host, EndpointCheck.port, EndpointCheck.served_sha256)
        .where(EndpointCheck.host.in_(sorted(set(hosts))), EndpointCheck.checked_at >= since)
        .order_by(EndpointCheck.checked_at, EndpointCheck.id)
    )
    latest: dict[tuple[str, int], str | None] = {}
    for host, port, served in s.execute(stmt):
        latest[(host, port)] = served  # later rows overwrite earlier ones
    out: dict[str, list[str | None]] = {}
    for (host, _), served in latest.items():
        out.setdefault(host, []).append(served)
    return out
