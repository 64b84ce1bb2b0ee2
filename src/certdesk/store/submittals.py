"""Submittals (R3): the certificates a case asks for, the contacts they name, and the
certificate each one was delivered as.

Like :mod:`certdesk.store.cases`, each writer changes one fact inside the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from certdesk.store import contacts as contact_store
from certdesk.store.models import CertificateRow, Submittal


def submittals_of(s: Session, case_id: int) -> list[Submittal]:
    return list(
        s.scalars(select(Submittal).where(Submittal.case_id == case_id).order_by(Submittal.id))
    )


def submittal(s: Session, case_id: int, submittal_id: int) -> Submittal | None:
    return s.scalars(
        select(Submittal).where(Submittal.case_id == case_id, Submittal.id == submittal_id)
    ).one_or_none()


def contacts_of_submittals(s: Session, ids: Sequence[int]) -> dict[int, list[contact_store.Named]]:
    """Submittal id → the organization contacts it names, each in its role (R9)."""
    return contact_store.named_on(s, ids)


def add_submittal(s: Session, row: Submittal) -> int:
    """A submittal (built by ``services/casework/submittals.py``); its id. Its contacts are
    named by the service (:func:`certdesk.store.contacts.name_on`)."""
    s.add(row)
    s.flush()
    return row.id


def remove_submittal(s: Session, row: Submittal) -> None:
    """A submittal and its naming of contacts (the contacts stay the organization's)."""
    contact_store.unname_all(s, row.id)
    s.delete(row)


def set_submittal_issuer(sub: Submittal, issuer_id: int | None) -> None:
    """Cert services' choice of issuer for ``sub`` (None: the grant's or organization's)."""
    sub.issuer_id = issuer_id


def link_certificate(sub: Submittal, cert: CertificateRow) -> None:
    """``cert`` is now the certificate of ``sub`` and belongs to its case."""
    sub.certificate_id = cert.id
    cert.case_id = sub.case_id


def mark_key_downloaded(sub: Submittal, at: datetime) -> None:
    """R12: the key left in its one download (its data key is shredded in the same
    transaction, :mod:`certdesk.store.data_keys`)."""
    sub.key_downloaded_at = at


@dataclass(frozen=True)
class SubmittalFacts:
    """What an R8 reissue rewrites on a submittal: its certificate's description."""

    names: tuple[str, ...]
    cert_type: str
    platform: str
    server_software: str
    server_version: str
    key_type: str
    validity_days: int | None
    csr_pem: str | None


def rewrite_submittal(sub: Submittal, facts: SubmittalFacts, cert: CertificateRow) -> None:
    """R8 reissue: ``sub`` now describes ``cert`` (its replacement); its key, if certdesk
    generated one, is kept under a new data key by the caller."""
    sub.names = ",".join(facts.names)
    sub.cert_type = facts.cert_type
    sub.platform = facts.platform
    sub.server_software = facts.server_software
    sub.server_version = facts.server_version
    sub.key_type = facts.key_type
    sub.validity_days = facts.validity_days
    sub.csr_pem = facts.csr_pem
    sub.key_downloaded_at = None
    link_certificate(sub, cert)


def submittal_of_certificate(s: Session, cert_id: int) -> Submittal | None:
    """The submittal ``cert_id`` was delivered for, if it came from a case."""
    return s.scalars(select(Submittal).where(Submittal.certificate_id == cert_id)).first()


def submittal_counts(s: Session, case_ids: Sequence[int]) -> dict[int, int]:
    if not case_ids:
        return {}
    rows = s.execute(
        select(Submittal.case_id, func.count())
        .where(Submittal.case_id.in_(list(case_ids)))
        .group_by(Submittal.case_id)
    )
    return {case_id: n for case_id, n in rows}
