"""Keys certdesk generates for managed certificates, and their one PKCS#12 download (R12).

For a managed organization that sends no CSR, cert services generates the key and the CSR
(R12: "certdesk can generate the key and CSR itself"). The key is kept as unencrypted
PKCS#8 DER only in memory; the service layer seals it (``services/secretbox.py``) before it
touches the database, and it leaves encrypted storage only inside a password-protected
PKCS#12 (RFC 7292) built here.

These are subscriber keys, never CA keys: CA keys are loaded only in ``certdesk/ca`` (STYLE
habit 5). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from certdesk.core.keys import KeyType, generate_private_key
from certdesk.errors import InvalidInput

MAX_PASSWORD = 1024


def new_key(key_type: KeyType) -> bytes:
    """A fresh private key of ``key_type`` as unencrypted PKCS#8 DER (seal it at once)."""
    return generate_private_key(key_type).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load(key_der: bytes) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    key = serialization.load_der_private_key(key_der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError("a generated subscriber key is always RSA or ECDSA")
    return key


def csr_for(key_der: bytes, names: Sequence[str]) -> bytes:
    """A PEM CSR for ``names`` (all in the SAN, empty subject) signed by ``key_der``.

    The same key always yields a CSR for the same public key, so an interrupted fulfilment
    rebuilds the CSR from the stored key instead of generating a second key.
    """
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .sign(_load(key_der), hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def spki(item: x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    """The DER SubjectPublicKeyInfo of a certificate or CSR: what identifies its key."""
    return item.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def bundle_password(password: str, min_length: int) -> bytes:
    """The PKCS#12 password as bytes; too short or too long is refused (nothing changes)."""
    if len(password) < min_length:
        raise InvalidInput(
            "pkcs12.password",
            f"the PKCS#12 password must be at least {min_length} characters (R12: the key"
            " leaves certdesk only password-protected)",
        )
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(
            "pkcs12.password", f"the PKCS#12 password is at most {MAX_PASSWORD} characters"
        )
    return password.encode()


def pkcs12_bundle(
    key_der: bytes,
    leaf: x509.Certificate,
    chain: Sequence[x509.Certificate],
    password: bytes,
    friendly_name: str,
) -> bytes:
    """Key, certificate and issuing chain as one password-protected PKCS#12 file.

    ``BestAvailableEncryption`` is PBES2 with AES-256-CBC and PBKDF2-HMAC-SHA256 in current
    ``cryptography``: what OpenSSL 3, Windows and Java key stores open. A key that does not
    belong to ``leaf`` is a programming error and raises ``ValueError``.
    """
    key = _load(key_der)
    if spki(leaf) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise ValueError("the stored key does not belong to the certificate")
    return pkcs12.serialize_key_and_certificates(
        friendly_name.encode(),
        key,
        leaf,
        list(chain) or None,
        serialization.BestAvailableEncryption(password),
    )
