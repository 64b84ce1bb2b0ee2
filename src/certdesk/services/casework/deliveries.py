"""What a case delivered, and its R8 window (R8, R12).

Every certificate a case delivered — the replaced ones too, each with its full chain (leaf,
then the issuing CA) — for whoever may read the case; and the checks every window action
(:mod:`.window`, :mod:`.reissue`) shares: the window is open (R8: ``CERTDESK_WINDOW_DAYS``
calendar days after delivery, the case still ``delivered``), the submittal is the case's, and
the action is written in the case's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from certdesk.core.access import Actor
from certdesk.core.certificates import CertStatus, status_at
from certdesk.core.workflow import CERTIFICATE_TYPES, CaseType, State, require_window_open
from certdesk.errors import Conflict, NotFound
from certdesk.services.casework.casefile import iso
from certdesk.services.pki import generated_keys
from certdesk.services.pki.inventory import issuing_chain
from certdesk.store import cases as case_store
from certdesk.store import certificates as cert_store
from certdesk.store import submittals as submittal_store
from certdesk.store.models import Case, Submittal


@dataclass(frozen=True)
class DeliveredCertificate:
    serial: str
    submittal_id: int | None  # the submittal it is the current certificate of; None: replaced
    names: tuple[str, ...]
    status: CertStatus
    platform: str
    key_type: str
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None
    revocation_reason: str | None
    renewal_of: str | None
    cost_cents: int | None
    key: str  # agency (its own CSR) | stored (downloadable once) | downloaded | none
    fullchain_pem: str
    # Replaced by an in-window reissue: still valid, revoked by the worker at this instant.
    retire_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "submittal_id": self.submittal_id,
            "names": list(self.names),
            "status": self.status,
            "platform": self.platform,
            "key_type": self.key_type,
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
            "revoked_at": iso(self.revoked_at),
            "revocation_reason": self.revocation_reason,
            "renewal_of": self.renewal_of,
            "cost_cents": self.cost_cents,
            "key": self.key,
            "fullchain": self.fullchain_pem,
            "retire_at": iso(self.retire_at),
        }


@dataclass(frozen=True)
class Delivery:
    """A case's certificates and its R8 window."""

    number: str
    state: str
    delivered_at: datetime | None
    window_ends_at: datetime | None
    window_open: bool
    certificates: tuple[DeliveredCertificate, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "delivered_at": iso(self.delivered_at),
            "window_ends_at": iso(self.window_ends_at),
            "window_open": self.window_open,
            "certificates": [c.as_dict() for c in self.certificates],
        }


def _pem(certs: list[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def key_state(s: Session, sub: Submittal | None) -> str:
    """Where the certificate's private key is (R12), as :attr:`DeliveredCertificate.key`."""
    if sub is None:
        return "none"
    if generated_keys.held(s, sub.id):
        return "stored"
    if sub.key_downloaded_at is not None:
        return "downloaded"
    return "agency" if sub.csr_pem else "none"


def delivery_of(s: Session, case: Case, now: datetime) -> Delivery:
    """Every certificate ``case`` delivered, current and replaced, with its chain."""
    current = {
        sub.certificate_id: sub
        for sub in submittal_store.submittals_of(s, case.id)
        if sub.certificate_id is not None
    }
    chains: dict[int, list[x509.Certificate]] = {}  # the built-in CAs' chains, read once
    items = []
    for row in cert_store.of_case(s, case.id):
        assert row.der is not None  # linked certificates are active, revoked or expired
        if row.chain_pem is not None:  # a vendor's, as it arrived
            chain = issuing_chain(s, row)
        else:
            if row.issuer_id not in chains:
                chains[row.issuer_id] = issuing_chain(s, row)
            chain = chains[row.issuer_id]
        sub = current.get(row.id)
        previous = cert_store.by_id(s, row.renewal_of) if row.renewal_of else None
        leaf = x509.load_der_x509_certificate(row.der)
        items.append(
            DeliveredCertificate(
                serial=row.serial,
                submittal_id=sub.id if sub is not None else None,
                names=tuple(row.names.split(",")),
                status=status_at(row.status, row.not_after, now),
                platform=row.platform,
                key_type=row.key_type,
                not_before=row.not_before,
                not_after=row.not_after,
                revoked_at=row.revoked_at,
                revocation_reason=row.revocation_reason,
                renewal_of=previous.serial if previous else None,
                cost_cents=row.cost_cents,
                key=key_state(s, sub),
                fullchain_pem=_pem([leaf, *chain]),
                retire_at=row.retire_at,
            )
        )
    open_now = (
        case.state == State.DELIVERED
        and case.window_ends_at is not None
        and now < case.window_ends_at
    )
    return Delivery(
        case.number, case.state, case.delivered_at, case.window_ends_at, open_now, tuple(items)
    )


# --- what every R8 window action shares -----------------------------------------------------


def require_window(case: Case, now: datetime, action: str) -> None:
    """R8: ``action`` is allowed only on a certificate case inside its open window."""
    kind = CaseType(case.type)
    if kind not in CERTIFICATE_TYPES:
        raise Conflict("case.type", f"a {kind} case delivers no certificate")
    require_window_open(case.window_ends_at, now, action)
    if case.state != State.DELIVERED:
        raise Conflict(
            "case.window_closed",
            f"case {case.number} is {case.state}, which ends its window; to {action},"
            " open a new case (R8)",
        )


def submittal_of(s: Session, case: Case, submittal_id: int) -> Submittal:
    sub = submittal_store.submittal(s, case.id, submittal_id)
    if sub is None:
        raise NotFound("submittal.unknown", f"case {case.number} has no submittal {submittal_id}")
    return sub


def record_window_action(
    s: Session, case: Case, actor: Actor, now: datetime, event: str, note: str
) -> None:
    # A window action changes no state; it is written in the case's history all the same.
    case_store.add_event(
        s,
        case,
        at=now,
        actor=actor.name,
        event=event,
        from_state=case.state,
        to_state=case.state,
        note=note,
    )
    case_store.touch(case, now)
