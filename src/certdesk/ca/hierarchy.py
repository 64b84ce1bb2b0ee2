"""Creation of the built-in CA hierarchy: a root and one issuing intermediate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from certdesk.ca.local import spki_slug
from certdesk.ca.profile import IssuerUrls, ca_name, hash_for, intermediate_ca, root_ca

ROOT_YEARS = 20
INTERMEDIATE_YEARS = 8
ORGANIZATION = "certdesk Certificate Services"


@dataclass(frozen=True)
class NewCA:
    slug: str
    certificate: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes
    key_type: str


def _intermediate_key(key_type: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if key_type == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa2048":
        return rsa.generate_private_key(65537, 2048)
    raise ValueError(f"unsupported issuing CA key type {key_type!r} (use ec256 or rsa2048)")


def create_hierarchy(
    now: datetime,
    *,
    key_type: str,
    urls_for: Callable[[str], IssuerUrls],
) -> tuple[NewCA, NewCA]:
    """A root (ECDSA P-384, 20 years) and an issuing intermediate signed by it.

    ``urls_for(slug)`` gives the AIA/CRL URLs of certificates issued *by* the CA ``slug``.
    """
    start = now.replace(microsecond=0) - timedelta(hours=1)  # tolerate client clock skew
    root_key = ec.generate_private_key(ec.SECP384R1())
    root_slug = spki_slug(root_key.public_key())
    stamp = now.strftime("%Y-%m-%d")
    root_cert = root_ca(
        ca_name(f"certdesk Root CA {stamp}", ORGANIZATION),
        root_key.public_key(),
        start,
        start + timedelta(days=365 * ROOT_YEARS + 5),
    ).sign(root_key, hash_for(root_key))

    inter_key = _intermediate_key(key_type)
    inter_slug = spki_slug(inter_key.public_key())
    label = "ECC" if key_type.startswith("ec") else "RSA"
    inter_cert = intermediate_ca(
        ca_name(f"certdesk TLS {label} Issuing CA {stamp}", ORGANIZATION),
        inter_key.public_key(),
        root_cert,
        urls_for(root_slug),
        start,
        start + timedelta(days=365 * INTERMEDIATE_YEARS + 2),
    ).sign(root_key, hash_for(root_key))
    return (
        NewCA(root_slug, root_cert, root_key, "ec384"),
        NewCA(inter_slug, inter_cert, inter_key, key_type),
    )
