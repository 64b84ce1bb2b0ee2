"""The built-in CA under test (tests/ca): certdesk opened on SQLite with a chosen issuing-CA
key type and a public base URL, organization ``dmv``, certificates issued for cached
subscriber keys of every type (:func:`world.csr.subscriber_key`), and the CA hierarchy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from certdesk.core.keys import KeyType
from certdesk.services.pki.issuance import IssueCommand, Issued
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize
from conftest import OPERATOR, ManualClock
from world.csr import make_csr
from world.desk import settings_for

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


def open_ca_services(
    data_dir: Path,
    clock: ManualClock,
    *,
    ca_key_type: str = "ec256",
    base_url: str = PUBLIC_BASE_URL,
    database_url: str | None = None,
) -> Services:
    """certdesk as ``certdesk init`` leaves it, plus organization ``dmv`` (zone dmv.ca.gov);
    the caller closes ``services.rt``."""
    settings = settings_for(
        database_url or f"sqlite:///{data_dir / 'certdesk.db'}",
        data_dir,
        data_dir=data_dir,
        base_url=base_url,
        ca_key_type=ca_key_type,
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
    cmd = IssueCommand(org_code=ORG, csr=make_csr(names, key_type=key_type), days=days)
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
