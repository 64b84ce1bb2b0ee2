"""Reading the inventory: list, show, export."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from sqlalchemy.orm import Session

from certdesk.core import forecast
from certdesk.core.access import Action, Actor, authorize
from certdesk.core.certificates import CertStatus, status_at
from certdesk.errors import InvalidInput
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_cert, visible_org
from certdesk.store import certificates as cert_store
from certdesk.store import forecast as forecast_store
from certdesk.store import issuers as issuer_store
from certdesk.store import orgs as org_store
from certdesk.store.models import CertificateRow

_DURATION = re.compile(r"^(?P<number>[0-9]{1,6}(\.[0-9]{1,3})?)(?P<unit>[dwh]?)$")
_CURSOR = re.compile(r"^[0-9]{1,18}$")  # ASCII digits only; fits a 64-bit id
MAX_PAGE = 500


class ExportFormat(StrEnum):
    PEM = "pem"  # the leaf, PEM
    DER = "der"  # the leaf, DER
    CHAIN = "chain"  # leaf and issuing CA(s), PEM — what a web server is configured with
    P7B = "p7b"  # leaf and issuing CA(s) as PKCS#7 certs-only, DER (Windows/IIS, Java)


@dataclass(frozen=True)
class CertView:
    serial: str
    org_code: str
    names: tuple[str, ...]
    status: CertStatus
    key_type: str
    platform: str
    not_before: datetime
    not_after: datetime
    issued_at: datetime | None
    revoked_at: datetime | None
    revocation_reason: str | None
    fingerprint_sha256: str | None
    issuer: str
    requested_by: str
    renewal_of: str | None
    # Replaced by an in-window reissue: revoked (superseded) at this instant (R8).
    retire_at: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat().replace("+00:00", "Z") if d else None

        return {
            "serial": self.serial,
            "organization": self.org_code,
            "names": list(self.names),
            "status": self.status,
            "key_type": self.key_type,
            "platform": self.platform,
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
            "issued_at": iso(self.issued_at),
            "revoked_at": iso(self.revoked_at),
            "revocation_reason": self.revocation_reason,
            "fingerprint_sha256": self.fingerprint_sha256,
            "issuer": self.issuer,
            "requested_by": self.requested_by,
            "renewal_of": self.renewal_of,
            "retire_at": iso(self.retire_at),
        }


@dataclass(frozen=True)
class Page:
    items: list[CertView]
    next_cursor: str | None


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w`` or a bare number of days."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise InvalidInput("duration", f"cannot read duration {text!r}; use e.g. 30d, 2w or 12h")
    units = {"d": 1.0, "w": 7.0, "h": 1 / 24}
    amount = float(match["number"])
    unit = match["unit"] or "d"
    if amount * units[unit] > 36500:
        raise InvalidInput("duration", f"duration {text!r} is out of range")
    return timedelta(days=amount * units[unit])


@dataclass(frozen=True)
class Forecast:
    """The dashboard's view ahead: counts by week and the soonest to expire."""

    days: int
    weeks: list[forecast.Week]
    soonest: list[CertView]

    @property
    def total(self) -> int:
        return sum(w.count for w in self.weeks)


@dataclass(frozen=True)
class Dossier:
    """Everything the console's certificate page shows but the audit trail, read at once."""

    cert: CertView
    chain: list[x509.Certificate]  # the leaf, then its issuing CAs up to (not including) the root
    successors: list[CertView]  # renewals and reissues that replace it, oldest first
    case: str | None  # the case that delivered it (R3); None when issued directly
    org_name: str
    org_self_managed: bool


class InventoryService:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def _view(
        self,
        s: Session,
        row: CertificateRow,
        org_codes: dict[int, str] | None = None,
        issuer_slugs: dict[int, str] | None = None,
    ) -> CertView:
        org_code = (org_codes or {}).get(row.org_id)
        if org_code is None:
            org = org_store.by_id(s, row.org_id)
            org_code = org.code if org else "?"
        slug = (issuer_slugs or {}).get(row.issuer_id)
        if slug is None:
            slug = issuer_store.slugs(s).get(row.issuer_id, "?")
        renewal = cert_store.by_id(s, row.renewal_of) if row.renewal_of else None
        return CertView(
            serial=row.serial,
            org_code=org_code,
            names=tuple(row.names.split(",")),
            status=status_at(row.status, row.not_after, self._rt.clock()),
            key_type=row.key_type,
            platform=row.platform,
            not_before=row.not_before,
            not_after=row.not_after,
            issued_at=row.issued_at,
            revoked_at=row.revoked_at,
            revocation_reason=row.revocation_reason,
            fingerprint_sha256=row.fingerprint_sha256,
            issuer=slug,
            requested_by=row.requested_by,
            renewal_of=renewal.serial if renewal else None,
            retire_at=row.retire_at,
        )

    def search(
        self,
        actor: Actor,
        *,
        org_code: str | None = None,
        name: str | None = None,
        status: str | None = None,
        expiring_within: timedelta | None = None,
        cursor: str | None = None,
        limit: int = 100,
        text: str | None = None,
    ) -> Page:
        """Certificates ``actor`` may see, newest first; ``name`` matches a whole name,
        ``text`` any part of a name or of the serial ("dmv.ca.gov" finds www.dmv.ca.gov)."""
        wanted = parse_status(status) if status is not None else None
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("page.limit", f"limit must be between 1 and {MAX_PAGE}")
        after_id = None
        if cursor:
            if not _CURSOR.match(cursor):
                raise InvalidInput("page.cursor", "invalid page cursor")
            after_id = int(cursor)
        now = self._rt.clock()
        with self._rt.reads() as s:
            org_id = actor.org_id
            if org_code is not None:
                org_id = visible_org(s, actor, org_code).id
                authorize(actor, Action.CERT_READ, org_id, hide=True)
            else:
                authorize(actor, Action.CERT_READ, org_id)
                org_id = None if actor.is_global else actor.org_id
            rows = cert_store.search(
                s,
                cert_store.CertQuery(
                    org_id=org_id,
                    name=name.strip().lower() if name else None,
                    text=search_text(text),
                    status=wanted,
                    expiring_before=now + expiring_within if expiring_within else None,
                    after_id=after_id,
                    limit=limit,
                    now=now,
                ),
            )
            codes = {o.id: o.code for o in org_store.all_orgs(s)}
            # Issuers are few: read once per page, not once per row (was 1 query per row).
            slugs = issuer_store.slugs(s)
            items = [self._view(s, r, codes, slugs) for r in rows]
        next_cursor = str(rows[-1].id) if len(rows) == limit else None
        return Page(items, next_cursor)

    def forecast(
        self, actor: Actor, days: int = forecast.DEFAULT_HORIZON_DAYS, listed: int = 25
    ) -> Forecast:
        """Active certificates ``actor`` may see that expire within ``days``: by week, and
        the ``listed`` soonest (R6: what needs renewing next)."""
        if not 1 <= days <= 400:
            raise InvalidInput("forecast.days", "the horizon must be 1-400 days")
        now = self._rt.clock()
        until = now + timedelta(days=days)
        with self._rt.reads() as s:
            authorize(actor, Action.CERT_READ, actor.org_id)
            org_id = None if actor.is_global else actor.org_id
            bounds = forecast.week_bounds(now, days)
            counts = forecast_store.weekly_counts(s, org_id, now, until, bounds)
            weeks = forecast.weeks_of(counts, now)
            codes = {o.id: o.code for o in org_store.all_orgs(s)}
            rows = cert_store.soonest(s, org_id, now, until, listed)
            slugs = issuer_store.slugs(s)
            return Forecast(days, weeks, [self._view(s, r, codes, slugs) for r in rows])

    def _row(self, s: Session, actor: Actor, serial: str) -> CertificateRow:
        row = visible_cert(s, actor, serial)
        authorize(actor, Action.CERT_READ, row.org_id, hide=True)
        return row

    def show(self, actor: Actor, serial: str) -> CertView:
        with self._rt.reads() as s:
            return self._view(s, self._row(s, actor, serial))

    def export(self, actor: Actor, serial: str, fmt: ExportFormat) -> bytes:
        with self._rt.reads() as s:
            row = self._row(s, actor, serial)
            assert row.der is not None  # active, revoked and expired rows always hold DER
            leaf = x509.load_der_x509_certificate(row.der)
            chain = issuing_chain(s, row)
        if fmt is ExportFormat.DER:
            return row.der
        if fmt is ExportFormat.PEM:
            return leaf.public_bytes(serialization.Encoding.PEM)
        if fmt is ExportFormat.CHAIN:
            return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [leaf, *chain])
        return pkcs7.serialize_certificates([leaf, *chain], serialization.Encoding.DER)

    def dossier(self, actor: Actor, serial: str) -> Dossier:
        """The certificate with its chain, successors, delivering case and organization, in
        one read (the page used to make five); authorized like :meth:`show`."""
        with self._rt.reads() as s:
            row = self._row(s, actor, serial)
            assert row.der is not None  # active, revoked and expired rows always hold DER
            codes = {o.id: o.code for o in org_store.all_orgs(s)}
            slugs = issuer_store.slugs(s)
            org = org_store.by_id(s, row.org_id)
            assert org is not None  # certificates.org_id is a foreign key
            return Dossier(
                cert=self._view(s, row, codes, slugs),
                chain=[x509.load_der_x509_certificate(row.der), *issuing_chain(s, row)],
                successors=[
                    self._view(s, r, codes, slugs)
                    for r in cert_store.renewals_of(s, row.id)
                    if r.org_id == row.org_id
                ],
                case=cert_store.delivering_case(s, row.id),
                org_name=org.name,
                org_self_managed=org.self_managed,
            )


def issuing_chain(s: Session, row: CertificateRow) -> list[x509.Certificate]:
    """The issuing CA certificates above the leaf ``row``, up to (not including) the root:
    what a server sends after its own certificate. A vendor's certificate keeps the chain it
    arrived with; the built-in CA's is read from its hierarchy."""
    if row.chain_pem is not None:
        return x509.load_pem_x509_certificates(row.chain_pem.encode())
    out: list[x509.Certificate] = []
    current = issuer_store.by_id(s, row.issuer_id)
    while current is not None and not current.is_root:
        out.append(x509.load_der_x509_certificate(current.cert_der))
        current = issuer_store.by_id(s, current.parent_id) if current.parent_id else None
    return out


def search_text(text: str | None) -> str | None:
    """A search box's text as the store compares it: trimmed, lower-case (names and hex
    serials are stored lower-case), a trailing dot or a colon-separated serial tolerated."""
    if text is None:
        return None
    cleaned = text.strip().lower().rstrip(".").replace(":", "")
    if len(cleaned) > MAX_SEARCH:
        raise InvalidInput("search.too_long", f"search for at most {MAX_SEARCH} characters")
    return cleaned or None


MAX_SEARCH = 253


def parse_status(value: str) -> CertStatus:
    try:
        return CertStatus(value)
    except ValueError:
        raise InvalidInput(
            "cert.status", f"unknown status {value!r}; use one of " + ", ".join(CertStatus)
        ) from None


def parse_format(value: str) -> ExportFormat:
    try:
        return ExportFormat(value)
    except ValueError:
        raise InvalidInput(
            "export.format", f"unknown format {value!r}; use pem, der, chain or p7b"
        ) from None
