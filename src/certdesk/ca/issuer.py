"""The contract between the issuance pipeline and any CA backend (smallstep's habit).

Issuance is two steps (STYLE habit 5): ``prepare`` builds and lints exactly what will be
signed and reports its TBS digest so the pipeline can record the intent; ``sign`` then signs
those bytes once. Optional abilities (CRL, OCSP) are separate small protocols.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cryptography import x509

from certdesk.ca.profile import LeafRequest


@dataclass(frozen=True)
class Prepared:
    """A linted, not yet signed certificate."""

    request: LeafRequest
    tbs_sha256: str
    builder: x509.CertificateBuilder


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags


class Issuer(Protocol):
    """Signs TLS server certificates."""

    @property
    def slug(self) -> str: ...

    @property
    def certificate(self) -> x509.Certificate: ...

    def chain(self) -> list[x509.Certificate]:
        """Issuing CA first, up to (excluding) the root."""
        ...

    def prepare(self, request: LeafRequest, *, max_days: int) -> Prepared: ...

    def sign(self, prepared: Prepared) -> x509.Certificate: ...


class CrlSigner(Protocol):
    def sign_crl(
        self,
        revoked: list[RevokedEntry],
        *,
        number: int,
        this_update: datetime,
        next_update: datetime,
    ) -> bytes: ...


class OcspSigner(Protocol):
    def sign_ocsp(
        self,
        request_der: bytes,
        lookup: OcspLookup,
        *,
        now: datetime,
        validity_hours: int,
    ) -> bytes: ...


class OcspLookup(Protocol):
    """Answers what the inventory knows about a serial of this issuer."""

    def __call__(self, serial: int) -> OcspStatus | None: ...


@dataclass(frozen=True)
class OcspStatus:
    certificate: x509.Certificate
    revoked_at: datetime | None
    reason: x509.ReasonFlags | None
