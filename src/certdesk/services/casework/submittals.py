"""Security Certificate Submittals (R3): one certificate's requirements, checked on entry.

A submittal names one DNS name, or several for a SAN certificate (the seed: "one form per
URL, except in the case of SAN certificates"). Everything a requester gives is checked when
it is given, so that a case never waits in a queue with a request that cannot be worked:

1. an uploaded CSR: at most 64 KiB, one PKCS#10 request (``csr.unparseable`` otherwise),
   key and signature by R12 (:func:`certdesk.core.keys.check_csr`);
2. the names, typed or taken from the CSR, by R1 and — for agency users — the
   organization's grants (R2); a CSR must name exactly the submittal's names;
3. the certificate type agrees with the names (single: one name, wildcard: one ``*.`` name,
   SAN: several); the key type agrees with the CSR; the service option is the
   organization's (R11); the validity is within R13; contacts are well-formed (R9).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from cryptography.hazmat.primitives import serialization

from certdesk.core.calendar import PACIFIC, max_validity_days
from certdesk.core.grants import Grant, require_allowed
from certdesk.core.keys import KeyType, check_csr, parse_csr
from certdesk.errors import InvalidInput
from certdesk.services.casework.contacts import (
    ContactInput,
    ContactView,
    named_view,
)
from certdesk.services.pki.csrs import MAX_CSR_BYTES, parse_key_type
from certdesk.services.pki.issuance import Platform, parse_platform
from certdesk.store.contacts import Named
from certdesk.store.issuers import OrderSummary
from certdesk.store.models import Submittal

MAX_CONTACTS = 20  # per submittal
DEFAULT_KEY_TYPE = KeyType.EC256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CertType(StrEnum):
    SINGLE = "single"  # one name
    SAN = "san"  # several names on one certificate
    WILDCARD = "wildcard"  # one ``*.zone`` name


class ServiceOption(StrEnum):
    """R11: cert services procures and installs, or the agency administers itself."""

    MANAGED = "managed"
    SELF_MANAGED = "self-managed"


@dataclass(frozen=True)
class SubmittalInput:
    """A submittal as a requester gives it; :func:`check_submittal` judges it."""

    names: tuple[str, ...] = ()
    cert_type: str | None = None  # inferred from the names when absent
    platform: str = "virtual"
    server_software: str = ""
    server_version: str = ""
    key_type: str | None = None  # from the CSR, else ec256
    service_option: str | None = None  # must be the organization's when given
    requested_delivery: date | None = None
    validity_days: int | None = None
    csr: bytes | None = None  # PEM or DER
    contacts: tuple[ContactInput, ...] = ()


@dataclass(frozen=True)
class CheckedSubmittal:
    names: tuple[str, ...]
    cert_type: CertType
    platform: Platform
    server_software: str
    server_version: str
    key_type: KeyType
    service_option: ServiceOption
    requested_delivery: date | None
    validity_days: int | None
    csr_pem: str | None
    contacts: tuple[ContactInput, ...] = field(default=())


def _text(value: str, limit: int, what: str) -> str:
    text = value.strip()
    if len(text) > limit or _CONTROL.search(text):
        raise InvalidInput(
            f"submittal.{what}", f"{what.replace('_', ' ')} is at most {limit} printable characters"
        )
    return text


def cert_type_for(names: Sequence[str], given: str | None) -> CertType:
    """The certificate type, inferred or checked against the names (R3)."""
    wildcard = [n for n in names if n.startswith("*.")]
    if given is None:
        if len(names) > 1:
            return CertType.SAN
        return CertType.WILDCARD if wildcard else CertType.SINGLE
    try:
        kind = CertType(given.strip().lower())
    except ValueError:
        raise InvalidInput(
            "submittal.cert_type",
            f"unknown certificate type {given!r}; use single, san or wildcard",
        ) from None
    if kind is CertType.SAN and len(names) < 2:
        raise InvalidInput(
            "submittal.cert_type", "a SAN certificate names at least two names; use single"
        )
    if kind is not CertType.SAN and len(names) > 1:
        raise InvalidInput(
            "submittal.cert_type",
            f"a {kind} certificate names one name; several names need a SAN submittal (R3)",
        )
    if kind is CertType.SINGLE and wildcard:
        raise InvalidInput("submittal.cert_type", f"{names[0]} is a wildcard; use wildcard")
    if kind is CertType.WILDCARD and not wildcard:
        raise InvalidInput(
            "submittal.cert_type", f"a wildcard certificate names *.ZONE, not {names[0]}"
        )
    return kind


def check_submittal(
    spec: SubmittalInput,
    *,
    suffixes: Sequence[str],
    grants: Sequence[Grant] | None,
    self_managed: bool,
    now: datetime,
    max_days: int | None = None,
    max_names: int,
) -> CheckedSubmittal:
    """Judge a submittal; raises the first problem as a domain error (nothing is stored).

    ``grants`` is None for cert services, who may request any R1 name (R2).
    """
    # 1. The CSR first: a file that is not a CSR, or a weak one, is the most useful refusal.
    csr_pem: str | None = None
    csr_names: list[str] | None = None
    csr_key: KeyType | None = None
    if spec.csr is not None:
        if len(spec.csr) > MAX_CSR_BYTES:
            raise InvalidInput(
                "csr.too_large",
                f"the uploaded file is {len(spec.csr)} bytes; a CSR is at most "
                f"{MAX_CSR_BYTES} bytes (64 KiB)",
            )
        csr = parse_csr(spec.csr)
        facts = check_csr(csr)  # R12
        csr_key = facts.key_type
        csr_names = require_allowed(facts.names, suffixes, grants, max_names=max_names)  # R1, R2
        csr_pem = csr.public_bytes(serialization.Encoding.PEM).decode("ascii")

    # 2. The names (R1, R2).
    if spec.names:
        names = require_allowed(list(spec.names), suffixes, grants, max_names=max_names)
    elif csr_names is not None:
        names = csr_names
    else:
        raise InvalidInput(
            "submittal.names", "a submittal names at least one DNS name or carries a CSR (R3)"
        )
    if csr_names is not None and set(csr_names) != set(names):
        raise InvalidInput(
            "submittal.csr_names",
            f"the CSR names {', '.join(csr_names)} but the submittal names "
            f"{', '.join(names)}; they must be the same names",
        )

    # 3. Consistency of the rest.
    cert_type = cert_type_for(names, spec.cert_type)
    if spec.key_type is not None and spec.key_type.strip():
        key_type = parse_key_type(spec.key_type.strip().lower())
        if csr_key is not None and key_type is not csr_key:
            raise InvalidInput(
                "submittal.key_type",
                f"the submittal asks for a {key_type} key but the CSR's key is {csr_key}",
            )
    else:
        key_type = csr_key or DEFAULT_KEY_TYPE
    option = ServiceOption.SELF_MANAGED if self_managed else ServiceOption.MANAGED
    if spec.service_option is not None and spec.service_option.strip().lower() != option:
        raise InvalidInput(
            "submittal.service_option",
            f"the organization is {option}; a submittal cannot ask for "
            f"{spec.service_option!r} (R11: the service option is the organization's)",
        )
    today = now.astimezone(PACIFIC).date()
    if spec.requested_delivery is not None and spec.requested_delivery < today:
        raise InvalidInput(
            "submittal.delivery_past",
            f"requested delivery date {spec.requested_delivery} is in the past",
        )
    if spec.validity_days is not None:
        ceiling = max_validity_days(now)
        if max_days is not None:
            ceiling = min(ceiling, max_days)
        if not 1 <= spec.validity_days <= ceiling:
            raise InvalidInput(
                "submittal.validity",
                f"validity must be 1 to {ceiling} days (R13), not {spec.validity_days}",
            )
    if len(spec.contacts) > MAX_CONTACTS:
        raise InvalidInput("submittal.contacts", f"at most {MAX_CONTACTS} contacts per submittal")
    return CheckedSubmittal(
        names=tuple(names),
        cert_type=cert_type,
        platform=parse_platform(spec.platform.strip().lower()),
        server_software=_text(spec.server_software, 100, "server_software"),
        server_version=_text(spec.server_version, 50, "server_version"),
        key_type=key_type,
        service_option=option,
        requested_delivery=spec.requested_delivery,
        validity_days=spec.validity_days,
        csr_pem=csr_pem,
        contacts=tuple(c.checked() for c in spec.contacts),
    )


def new_submittal_row(case_id: int, checked: CheckedSubmittal, now: datetime) -> Submittal:
    """The row of a checked submittal; its contacts follow
    (:func:`~certdesk.services.casework.contacts.name_contacts`)."""
    return Submittal(
        case_id=case_id,
        names=",".join(checked.names),
        cert_type=str(checked.cert_type),
        platform=str(checked.platform),
        server_software=checked.server_software,
        server_version=checked.server_version,
        key_type=str(checked.key_type),
        service_option=str(checked.service_option),
        requested_delivery=checked.requested_delivery,
        validity_days=checked.validity_days,
        csr_pem=checked.csr_pem,
        created_at=now,
    )


@dataclass(frozen=True)
class SubmittalView:
    id: int
    names: tuple[str, ...]
    cert_type: str
    platform: str
    server_software: str
    server_version: str
    key_type: str
    service_option: str
    requested_delivery: date | None
    validity_days: int | None
    csr_pem: str | None
    certificate_serial: str | None
    contacts: tuple[ContactView, ...]
    # The latest order at a vendor CA for this submittal, while or after it was ordered.
    order: OrderSummary | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "names": list(self.names),
            "cert_type": self.cert_type,
            "platform": self.platform,
            "server_software": self.server_software,
            "server_version": self.server_version,
            "key_type": self.key_type,
            "service_option": self.service_option,
            "requested_delivery": (
                self.requested_delivery.isoformat() if self.requested_delivery else None
            ),
            "validity_days": self.validity_days,
            "csr": self.csr_pem,
            "certificate": self.certificate_serial,
            "contacts": [c.as_dict() for c in self.contacts],
            "order": None
            if self.order is None
            else {
                "issuer": self.order.issuer,
                "state": self.order.state,
                "vendor_status": self.order.vendor_status,
                "problem": self.order.problem,
                "updated_at": self.order.updated_at.isoformat().replace("+00:00", "Z"),
            },
        }


def submittal_view(
    row: Submittal,
    contacts: Sequence[Named],
    case_number: str,
    serial: str | None,
    order: OrderSummary | None = None,
) -> SubmittalView:
    return SubmittalView(
        id=row.id,
        names=tuple(row.names.split(",")) if row.names else (),
        cert_type=row.cert_type,
        platform=row.platform,
        server_software=row.server_software,
        server_version=row.server_version,
        key_type=row.key_type,
        service_option=row.service_option,
        requested_delivery=row.requested_delivery,
        validity_days=row.validity_days,
        csr_pem=row.csr_pem,
        certificate_serial=serial,
        contacts=tuple(named_view(c, case_number) for c in contacts),
        order=order,
    )
