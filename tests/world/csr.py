"""The one CSR factory: certificate signing requests built here, never by the code under test.

``make_csr(names)`` is what most tests want (a PEM CSR, empty subject, ``names`` in the SAN, a
fresh P-256 key); the keyword arguments cover the rest (a chosen key or key type, a CN, DER).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from certdesk.core.keys import KeyType, generate_private_key

# `openssl req -new -sha1 -key <P-256 key> -subj /CN=www.alpha.ca.gov
#  -addext subjectAltName=DNS:www.alpha.ca.gov`: cryptography refuses to sign with SHA-1.
SHA1_CSR = """-----BEGIN CERTIFICATE REQUEST-----
MIIBAzCBqwIBADAbMRkwFwYDVQQDDBB3d3cuYWxwaGEuY2EuZ292MFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEUzadQhZbv2Cd+GcQCOPP0a0G/UKFL0rqCsycwYO1
Q/OkYbYfWeI5oe1APngq/3CzGCQWGCXqiMsiCjUK6XhaJqAuMCwGCSqGSIb3DQEJ
DjEfMB0wGwYDVR0RBBQwEoIQd3d3LmFscGhhLmNhLmdvdjAJBgcqhkjOPQQBA0gA
MEUCIAamCpMy/m9wXpvZ1SbDPlZSE+GixAa/hnELml2c1WxQAiEAmQ7I+bE+3+9e
Eyl9qeWl3hRG5N2/rC3c62gjxHFs7ug=
-----END CERTIFICATE REQUEST-----
"""

SigningHash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None


def ec_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 key (generated in microseconds)."""
    return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def subscriber_key(key_type: KeyType) -> CertificateIssuerPrivateKeyTypes:
    """One key per type for the whole test session: RSA-4096 generation takes seconds."""
    return generate_private_key(key_type)


def signing_hash(key: CertificateIssuerPrivateKeyTypes) -> SigningHash:
    """What a careful client signs with: SHA-256, or nothing for EdDSA keys."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    return hashes.SHA256()


def build_csr(
    names: Sequence[str] = (),
    *,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    key_type: KeyType | None = None,
    cn: str | None = None,
    organization: str | None = None,
    sans: Sequence[x509.GeneralName] | None = None,
    algorithm: SigningHash = None,
    extensions: Sequence[x509.ExtensionType] = (),
) -> x509.CertificateSigningRequest:
    """A CSR object: ``names`` as DNS names in the SAN (or the given ``sans``; no SAN when both
    are empty) and any further requested ``extensions``, signed by ``key``, else the cached key
    of ``key_type``, else a fresh P-256 key."""
    if key is None:
        key = subscriber_key(key_type) if key_type is not None else ec_key()
    subject = []
    if organization is not None:
        subject.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if cn is not None:
        subject.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
    general = list(sans) if sans is not None else [x509.DNSName(n) for n in names]
    if general:
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(key, algorithm or signing_hash(key))


def make_csr(
    names: Sequence[str],
    *,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    key_type: KeyType | None = None,
    cn: str | None = None,
    der: bool = False,
) -> bytes:
    """A CSR with ``names`` in the SAN, PEM (or DER) bytes; see :func:`build_csr`."""
    csr = build_csr(names, key=key, key_type=key_type, cn=cn)
    return csr.public_bytes(serialization.Encoding.DER if der else serialization.Encoding.PEM)


def csr_text(
    names: Sequence[str],
    *,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    cn: str | None = None,
) -> str:
    """:func:`make_csr` as text (PEM), for JSON bodies and form fields."""
    return make_csr(names, key=key, cn=cn).decode()
