"""Which log entries are findings: certificates for state names that certdesk did not issue
or import (R18), and whose they are (R2).

A log carries every publicly trusted certificate of the world; a monitor looks only at the
ones naming a configured suffix (R1) or a name below it. :class:`Watchlist` answers that in
two steps: a byte search of the DER for the suffixes (no certificate parse for the vast
majority of entries, whose names are elsewhere: DNS names are ASCII, A-labels included), then
the certificate's names from its subjectAltName (or its common name when it has none).

Each matched certificate becomes one finding per organization whose grants cover some of its
names (that organization sees only its own names), or one for cert services alone when no
grant covers any. A precertificate and its final certificate share issuer and serial, so the
finding key is (issuer, serial): the pair is one finding, whichever log showed it first.

Pure: ``cryptography`` parses; nothing is stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from certdesk.core.ct_entries import EntryType, LogEntry
from certdesk.core.grants import Grant

__all__ = ["Candidate", "Watchlist", "finding_key", "headline"]

UNASSIGNED = 0  # the scope of a finding no grant covers: cert services only


@dataclass(frozen=True)
class Candidate:
    """A log entry for state names, parsed: what a finding records."""

    entry: LogEntry
    names: tuple[str, ...]  # the state names it carries, lower-case, in certificate order
    serial: str  # lower-case hex, as certdesk stores serials
    issuer_der: bytes  # the issuer Name's DER
    issuer: str  # RFC 4514
    sha256: str  # of the entry's certificate (the precertificate for precert entries)
    not_before: datetime
    not_after: datetime

    @property
    def precert(self) -> bool:
        return self.entry.entry_type is EntryType.PRECERT

    @property
    def key(self) -> str:
        return finding_key(self.issuer_der, self.serial)


def finding_key(issuer_der: bytes, serial: str) -> str:
    """One finding per certificate: a precertificate and its certificate share this key."""
    return f"{hashlib.sha256(issuer_der).hexdigest()}:{serial}"


def headline(names: Sequence[str]) -> str:
    """What a person reads first: "unknown issuer for www.dmv.ca.gov" (and how many more)."""
    first = names[0] if names else "?"
    more = f" and {len(names) - 1} more name{'s' if len(names) > 2 else ''}" if names[1:] else ""
    return f"unknown issuer for {first}{more}"


def _dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return [str(n) for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


class Watchlist:
    """The configured suffixes (R1) and the organizations' grants (R2) at one moment."""

    def __init__(self, suffixes: Iterable[str], grants: Iterable[tuple[int, Grant]]) -> None:
        self.suffixes = tuple(s.lower().strip(".") for s in suffixes if s.strip("."))
        self._needles = tuple(s.encode() for s in self.suffixes)
        self._dotted = tuple("." + s for s in self.suffixes)
        self.grants = list(grants)

    def is_state_name(self, name: str) -> bool:
        """A configured suffix itself or any name below it (a wildcard too)."""
        return name in self.suffixes or name.endswith(self._dotted)

    def may_name_state(self, der: bytes) -> bool:
        """Cheap filter: can this certificate's DER hold a state name at all?"""
        lowered = der.lower()
        return any(n in lowered for n in self._needles)

    def candidate(self, entry: LogEntry) -> Candidate | None:
        """The entry as a candidate finding, or None when it names no state name (or its
        certificate cannot be parsed: logs hold malformed certificates, which name nothing
        a browser would accept)."""
        if not self.may_name_state(entry.cert_der):
            return None
        try:
            cert = x509.load_der_x509_certificate(entry.cert_der)
            names = _dns_names(cert)
            issuer_der = cert.issuer.public_bytes()
            issuer = cert.issuer.rfc4514_string()
            serial = format(cert.serial_number, "x")
            not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        except ValueError:
            return None
        state = tuple(dict.fromkeys(n.lower().rstrip(".") for n in names))
        state = tuple(n for n in state if self.is_state_name(n))
        if not state:
            return None
        return Candidate(
            entry,
            state,
            serial,
            issuer_der,
            issuer,
            hashlib.sha256(entry.cert_der).hexdigest(),
            not_before,
            not_after,
        )

    def scopes(self, names: Sequence[str]) -> dict[int, list[str]]:
        """Organization id → the names its grants cover; :data:`UNASSIGNED` → the rest."""
        out: dict[int, list[str]] = {}
        for name in names:
            owners = {org_id for org_id, grant in self.grants if grant.covers(name)}
            for org_id in sorted(owners) or [UNASSIGNED]:
                out.setdefault(org_id, []).append(name)
        return out
