"""Shared pieces of the tests in ``tests/ca``: cached subscriber keys, CSRs, and a certdesk
opened on SQLite with a chosen issuing-CA key type and base URL.

This is a plain module, not a ``conftest.py``: a second ``conftest`` module would shadow
``tests/conftest.py`` for ``from conftest import ...``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certdesk.config import Settings
from certdesk.core.keys import KeyType, generate_private_key
from certdesk.services.pki.issuance import IssueCommand, Issued
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize
from conftest import OPERATOR, ManualClock

# A public DNS name over plain HTTP: BR §7.1.2.7.7 and §7.1.2.11.2 want HTTP URLs for AIA and
# CRL DP, and pkilint reports an ERROR for an internal name such as 127.0.0.1 or localhost.
PUBLIC_BASE_URL = "http://pki.cdt.ca.gov"
ORG = "dmv"

SUBSCRIBER_KEY_TYPES = (
    KeyType.EC256,
    KeyType.EC384,
    KeyType.RSA2048,
    KeyType.RSA3072,
    KeyType.RSA4096,
)


@functools.cache
def subscriber_key(key_type: KeyType) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    """One key per type for the whole test session: RSA-4096 generation takes seconds."""
    return generate_private_key(key_type)


def csr_for(names: Sequence[str], key_type: KeyType) -> bytes:
    """A PEM CSR with an empty subject and the names in the SAN, as a careful client sends."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .sign(subscriber_key(key_type), hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def open_desk(
    data_dir: Path,
    clock: ManualClock,
    *,
    ca_key_type: str = "ec256",
    base_url: str = PUBLIC_BASE_URL,
    database_url: str | None = None,
) -> Services:
    """certdesk as ``certdesk init`` leaves it, plus organization ``dmv`` (zone dmv.ca.gov)."""
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url or f"sqlite:///{data_dir / 'certdesk.db'}",
        base_url=base_url,
        ca_passphrase="test-passphrase",
        ca_key_type=ca_key_type,  # type: ignore[arg-type]  # pydantic checks the Literal
    )
    services = Services(Runtime.open(settings, clock))
    initialize(services, with_token=False)
    add_org(services)
    return services


def add_org(services: Services) -> None:
    services.orgs.create(OPERATOR, ORG, "DMV", self_managed=True, grants=["zone:dmv.ca.gov"])


def issue(
    services: Services, names: Sequence[str], key_type: KeyType, *, days: int | None = None
) -> Issued:
    """A certificate through the real pipeline (policy, profile, lint, intent, sign, store)."""
    cmd = IssueCommand(org_code=ORG, csr=csr_for(names, key_type), days=days)
    return services.issuance.issue(OPERATOR, cmd)


@dataclass(frozen=True)
class Hierarchy:
    root: x509.Certificate
    root_slug: str
    intermediate: x509.Certificate
    intermediate_slug: str


def hierarchy(services: Services) -> Hierarchy:
    rows = services.authority.all_certificates()
    (root_row, root), *_ = [(r, c) for r, c in rows if r.is_root]
    (inter_row, inter), *_ = [(r, c) for r, c in rows if not r.is_root]
    return Hierarchy(root, root_row.slug, inter, inter_row.slug)
