"""The built-in CA as the services see it: creation at init, loading for signing."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certdesk.ca.hierarchy import NewCA, create_hierarchy
from certdesk.ca.keystore import read_private_key, resolve_passphrase, write_private_key
from certdesk.ca.local import LocalCA
from certdesk.ca.profile import IssuerUrls
from certdesk.errors import NotFound, Unavailable
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.store import issuers as issuer_store
from certdesk.store.issuers import LocalCa


@dataclass(frozen=True)
class LoadedCA:
    issuer_id: int
    slug: str
    is_root: bool
    ca: LocalCA

    @functools.cached_property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """The chain every certificate of this CA is delivered with (issuing CA first, root
        excluded), and below it as PEM text: worked out once, not per issuance."""
        return tuple(self.ca.chain())

    @functools.cached_property
    def chain_pem(self) -> str:
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain)


class Authority:
    """Creates the hierarchy once and keeps loaded CAs for this process."""

    def __init__(self, rt: Runtime, audit: AuditService) -> None:
        self._rt = rt
        self._audit = audit
        self._lock = threading.Lock()
        self._loaded: dict[str, LoadedCA] = {}
        self._active: LoadedCA | None = None  # what issuing() found active last

    def urls_for(self, slug: str) -> IssuerUrls:
        """URLs written into certificates issued by CA ``slug``."""
        link = self._rt.linker
        return IssuerUrls(ca_issuers=link.ca_issuers(slug), ocsp=link.ocsp(), crl=link.crl(slug))

    def ensure_hierarchy(self) -> tuple[bool, list[LocalCa]]:
        """Create root + intermediate unless they exist; returns (created, issuers)."""
        settings = self._rt.settings
        with self._rt.sessions.begin() as s:
            existing = issuer_store.all_issuers(s)
            if existing:
                return False, existing
            passphrase = resolve_passphrase(
                settings.ca_passphrase,
                settings.secrets_dir,
                create=True,
                passphrase_file=settings.ca_passphrase_file,
            )
            root, inter = create_hierarchy(
                self._rt.clock(), key_type=settings.ca_key_type, urls_for=self.urls_for
            )
            now = self._rt.clock()
            rows: list[LocalCa] = []
            parent_id: int | None = None
            for new in (root, inter):
                key_file = self._key_path(new)
                write_private_key(settings.ca_dir / key_file, new.key, passphrase)
                cert = new.certificate
                row = issuer_store.add_local(
                    s,
                    slug=new.slug,
                    name=cert.subject.rfc4514_string(),
                    parent_id=parent_id,
                    key_type=new.key_type,
                    key_file=key_file,
                    cert_der=cert.public_bytes(serialization.Encoding.DER),
                    not_before=cert.not_valid_before_utc,
                    not_after=cert.not_valid_after_utc,
                    now=now,
                )
                parent_id = row.id
                rows.append(row)
                self._audit.record(
                    s,
                    "system:init",
                    "ca.create",
                    "issuer",
                    row.slug,
                    name=row.name,
                    root=row.is_root,
                    key_type=row.key_type,
                )
            return True, rows

    def _key_path(self, new: NewCA) -> str:
        return f"{new.slug}.key.pem"

    def issuing(self) -> LoadedCA:
        """The active issuing intermediate, loaded (and cached) for signing."""
        with self._rt.reads() as s:
            row = issuer_store.active_intermediate(s)
        if row is None:
            raise Unavailable("ca.not_initialized", "no issuing CA: run 'certdesk init'")
        self._active = loaded = self._load(row)
        return loaded

    def last_issuing(self) -> LoadedCA:
        """The issuing CA this process last found active, without asking the database.

        For callers that confirm it in their own transaction: the issuance pipeline compares
        ``issuer_id`` with the active one when it records the intent, and comes back to
        :meth:`issuing` when another intermediate has become active since.
        """
        return self._active or self.issuing()

    def by_slug(self, slug: str) -> LoadedCA:
        with self._rt.reads() as s:
            row = issuer_store.by_slug(s, slug)
        if row is None:
            raise NotFound("ca.unknown", f"no CA with id {slug}")
        return self._load(row)

    def certificate(self, slug: str) -> x509.Certificate:
        """The public certificate of a CA, without loading its key."""
        with self._rt.reads() as s:
            row = issuer_store.by_slug(s, slug)
            if row is None:
                raise NotFound("ca.unknown", f"no CA with id {slug}")
            return x509.load_der_x509_certificate(row.cert_der)

    def all_certificates(self) -> list[tuple[LocalCa, x509.Certificate]]:
        with self._rt.reads() as s:
            return [
                (r, x509.load_der_x509_certificate(r.cert_der)) for r in issuer_store.all_issuers(s)
            ]

    def _load(self, row: LocalCa) -> LoadedCA:
        # Callers hold no session here: on SQLite a nested transaction could wait on itself.
        with self._lock:
            if row.slug in self._loaded:
                return self._loaded[row.slug]
            settings = self._rt.settings
            passphrase = resolve_passphrase(
                settings.ca_passphrase,
                settings.secrets_dir,
                create=False,
                passphrase_file=settings.ca_passphrase_file,
            )
            key = read_private_key(settings.ca_dir / Path(row.key_file).name, passphrase)
            cert = x509.load_der_x509_certificate(row.cert_der)
            parents: list[x509.Certificate] = []
            parent_id = row.parent_id
            with self._rt.reads() as s2:
                while parent_id is not None:
                    parent = issuer_store.by_id(s2, parent_id)
                    if parent is None:
                        break
                    parents.append(x509.load_der_x509_certificate(parent.cert_der))
                    parent_id = parent.parent_id
            loaded = LoadedCA(
                issuer_id=row.id,
                slug=row.slug,
                is_root=row.is_root,
                ca=LocalCA(
                    certificate=cert,
                    key=key,
                    parents=parents,
                    urls=self.urls_for(row.slug),
                    suffixes=settings.allowed_suffixes,
                ),
            )
            self._loaded[row.slug] = loaded
            return loaded
