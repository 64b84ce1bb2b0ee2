"""Issuing a certificate for a case's submittal (R3, R8, R11, R12): who the pipeline acts as,
which CSR it gets, and adopting a certificate a crashed attempt stored but never linked.

Fulfilment (:mod:`.fulfilment`) and the R8 reissue (:mod:`.reissue`) both go through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from sqlalchemy.orm import Session

from certdesk.core import subscriber_keys
from certdesk.core.access import Actor, Role
from certdesk.core.keys import KeyType, parse_csr
from certdesk.errors import Conflict
from certdesk.services.casework.submittals import ServiceOption
from certdesk.services.pki.issuance import IssuanceService, IssueCommand, Platform
from certdesk.services.pki.issued import Issued, Ordered
from certdesk.store import certificates as cert_store
from certdesk.store.models import Submittal


def as_cert_services(actor: Actor, number: str) -> Actor:
    """The identity the pipeline and revocation act with for a case action.

    Cert services act as themselves. An agency's R8 window action on a managed organization's
    certificate is, by R11, carried out by cert services; the case rules have authorized it,
    and the name keeps who asked and on which case (audit, ``requested_by``).
    """
    if actor.has(Role.OPERATOR):
        return actor
    return Actor(name=f"{actor.name} via {number}", role=Role.OPERATOR)


def require_csr_or_managed(managed: bool, csr_pem: str | None, submittal_id: int) -> None:
    # R12: certdesk generates keys for managed certificates only; a self-managed agency keeps
    # its keys and sends a CSR.
    if csr_pem is None and not managed:
        raise Conflict(
            "submittal.csr_required",
            f"submittal {submittal_id} carries no CSR and the organization is self-managed:"
            " certdesk generates keys only for managed certificates (R12); the agency sends a"
            " CSR on a new case",
        )


@dataclass(frozen=True)
class Work:
    """What one submittal's certificate is issued from, read in the claiming transaction."""

    submittal_id: int
    names: tuple[str, ...]
    csr_pem: str | None
    key_type: KeyType
    platform: Platform
    validity_days: int | None
    managed: bool
    key_held: bool  # R12: certdesk generated and keeps this submittal's key
    certificate_id: int | None
    issuer_id: int | None = None  # cert services' choice of issuer for it (R16)

    @classmethod
    def of(cls, sub: Submittal, key_held: bool) -> Work:
        return cls(
            submittal_id=sub.id,
            names=tuple(sub.names.split(",")),
            csr_pem=sub.csr_pem,
            key_type=KeyType(sub.key_type),
            platform=Platform(sub.platform),
            validity_days=sub.validity_days,
            managed=sub.service_option == ServiceOption.MANAGED,
            key_held=key_held,
            certificate_id=sub.certificate_id,
            issuer_id=sub.issuer_id,
        )


@dataclass(frozen=True)
class Unlinked:
    """A certificate stored but linked to no case (read while the case was claimed)."""

    serial: str
    names: frozenset[str]
    der: bytes


def unlinked(
    s: Session, org_id: int, names: Sequence[str], since: datetime
) -> tuple[Unlinked, ...]:
    """The organization's active certificates for exactly ``names``, issued since ``since``
    and linked to no case: what a crashed attempt may have left (matched by key later)."""
    return tuple(
        Unlinked(row.serial, frozenset(row.names.split(",")), row.der)
        for row in cert_store.unlinked_candidates(s, org_id, names[0], since)
        if row.der is not None and set(row.names.split(",")) == set(names)
    )


def orphan_of(csr_pem: bytes, candidates: Iterable[Unlinked], taken: set[str]) -> str | None:
    """The serial of a candidate with the CSR's public key that nobody adopted yet, if any.

    The key is what makes it this submittal's: the agency's CSR, or certdesk's key that was
    committed before anything was signed for it (R12).
    """
    wanted = subscriber_keys.spki(parse_csr(csr_pem))
    for cand in candidates:
        if cand.serial in taken:
            continue
        if subscriber_keys.spki(x509.load_der_x509_certificate(cand.der)) == wanted:
            return cand.serial
    return None


def issue(issuance: IssuanceService, actor: Actor, number: str, cmd: IssueCommand) -> str:
    """The pipeline's two transactions (intent, then the signed row), as cert services."""
    return issuance.issue(as_cert_services(actor, number), cmd).serial


def issue_or_order(
    issuance: IssuanceService, actor: Actor, number: str, cmd: IssueCommand
) -> str | Ordered:
    """The serial, or the vendor order that will bring the certificate (R16).

    The built-in CA signs at once. A vendor's order is only recorded here (write-ahead, one
    per submittal, ever): the worker places and follows it, and delivers the case once every
    submittal has its certificate, so no case request waits on a vendor. Asking again for a
    submittal whose order was issued gives that certificate, never a second order.
    """
    result = issuance.request(as_cert_services(actor, number), cmd, wait=None)
    return result.serial if isinstance(result, Issued) else result
