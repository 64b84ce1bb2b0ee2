"""The one seam every CA backend goes through (smallstep's habit, STYLE habit 16).

A backend turns an :class:`IssueRequest` (CSR, names, validity, profile) into an
:class:`IssuedChain`, or into a :class:`Pending` handle when the certificate comes later (a
vendor's order that is still being validated or processed). The caller stores the handle and
calls :meth:`Issuer.resume` later, in this process or another, with the same request.

Write-ahead (DESIGN §3.2, R16): before a backend does anything it cannot take back (signing a
serial, placing an order at a vendor) it tells the caller's :class:`Journal`, which records
the intent durably and may refuse by raising. The built-in CA reports a
:class:`SigningIntent`; a vendor backend reports an :class:`OrderingIntent` before its first
request and an :class:`OrderPlaced` as soon as the vendor names the order, so a crash
resumes that order and never places a second one for the same request.

Optional abilities are separate small protocols: :class:`Revoker`, :class:`CrlSigner`,
:class:`OcspSigner`, :class:`RenewalInfoSource`. The built-in CA's two-step signing
(prepare + lint, then sign those bytes once; STYLE habit 5) stays inside that backend and is
also offered as :class:`TwoStepSigner` for the pipeline that records its own intents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certdesk.ca.profile import LeafRequest

# --- the request and what comes back -------------------------------------------------------


@dataclass(frozen=True)
class IssueRequest:
    """What the caller wants certified; the same for every backend.

    ``names`` are R1-normalized and already allowed by R2; the backend checks that the CSR
    carries the same key that comes back, and a vendor's certificate must carry exactly these
    names. ``max_days`` is the R13 ceiling at the issuance date: a vendor's certificate that
    is longer is refused. ``profile`` is certdesk's certificate type (``tls-server``); a
    vendor backend maps it to one of the vendor's ACME profiles when it has a mapping.
    ``replaces`` names the certificate this one renews (RFC 9773 §5, ``replaces``).
    """

    csr: x509.CertificateSigningRequest
    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    max_days: int
    profile: str = "tls-server"
    replaces: x509.Certificate | None = None


@dataclass(frozen=True)
class IssuedChain:
    """A certificate and the chain to present with it (issuer first, the root excluded)."""

    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    # Other chains the CA offers for the same leaf (RFC 8555 §7.4.2, Link rel="alternate").
    alternates: tuple[tuple[x509.Certificate, ...], ...] = ()

    def fullchain_pem(self) -> bytes:
        certs = (self.leaf, *self.chain)
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@dataclass(frozen=True)
class Pending:
    """A certificate that is not there yet; everything needed to resume is in ``handle``.

    ``handle`` holds plain strings (for ACME: the account URL and order URL) so the caller can
    store it as it is. ``state`` is the backend's word for where it stands (ACME order status:
    ``pending``, ``ready``, ``processing``); ``retry_after`` is the earliest time worth asking
    again; ``problem`` is the vendor's last problem document, shown to people on the case.
    """

    backend: str
    handle: Mapping[str, str]
    state: str
    retry_after: datetime | None = None
    problem: Mapping[str, object] | None = None


# --- write-ahead ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningIntent:
    """The built-in CA is about to sign this serial over exactly this TBS."""

    serial: int
    tbs_sha256: str


@dataclass(frozen=True)
class OrderingIntent:
    """A vendor backend is about to place an order with this account for this CSR."""

    account_url: str
    csr_der: bytes = field(repr=False)
    names: tuple[str, ...]


@dataclass(frozen=True)
class OrderPlaced:
    """The vendor accepted the order; from now on only this order may be resumed."""

    account_url: str
    order_url: str


Intent = SigningIntent | OrderingIntent | OrderPlaced


class Journal(Protocol):
    """Records intents durably before the backend acts on them; raising refuses the step."""

    def record(self, intent: Intent) -> None: ...


class NoJournal:
    """A journal for callers that keep nothing (benchmarks, one-shot tools)."""

    def record(self, intent: Intent) -> None:
        return None


# --- the seam -------------------------------------------------------------------------------


@runtime_checkable
class Issuer(Protocol):
    """Every backend: the built-in CA, a vendor over ACME, later PKCS#11."""

    @property
    def backend(self) -> str:
        """``local``, ``acme`` …: the value of the issuer row's ``backend`` column."""
        ...

    def issue(self, request: IssueRequest, journal: Journal) -> IssuedChain | Pending: ...

    def resume(
        self, request: IssueRequest, pending: Pending, journal: Journal
    ) -> IssuedChain | Pending:
        """Carry a pending issuance on; never starts a second one for the same request."""
        ...


@runtime_checkable
class Revoker(Protocol):
    def revoke(self, certificate: x509.Certificate, reason: x509.ReasonFlags) -> None: ...


@dataclass(frozen=True)
class RenewalWindow:
    """RFC 9773 §4.2: when the CA suggests renewing, and when to ask again."""

    start: datetime
    end: datetime
    retry_after: datetime
    explanation_url: str | None = None


@runtime_checkable
class RenewalInfoSource(Protocol):
    def renewal_info(self, certificate: x509.Certificate) -> RenewalWindow | None:
        """The CA's suggested window, or None when the CA offers no renewal information."""
        ...


# --- the built-in CA's two steps and its optional abilities --------------------------------


@dataclass(frozen=True)
class Prepared:
    """A linted, not yet signed certificate."""

    request: LeafRequest
    tbs_sha256: str
    builder: x509.CertificateBuilder


class TwoStepSigner(Protocol):
    """A backend that signs locally: build and lint first, then sign those bytes once."""

    @property
    def slug(self) -> str: ...

    @property
    def certificate(self) -> x509.Certificate: ...

    def chain(self) -> list[x509.Certificate]:
        """Issuing CA first, up to (excluding) the root."""
        ...

    def prepare(self, request: LeafRequest, *, max_days: int) -> Prepared: ...

    def sign(self, prepared: Prepared) -> x509.Certificate: ...


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags


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
