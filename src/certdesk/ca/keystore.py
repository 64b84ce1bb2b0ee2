"""CA private keys at rest: PKCS#8 PEM encrypted with a passphrase, files of mode 0600.

The passphrase comes from ``CERTDESK_CA_PASSPHRASE`` or, when that is empty, from a secret
file generated once under ``DATA_DIR/secrets`` (also 0600). Keys are only ever loaded here.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from certdesk.errors import Unavailable

PASSPHRASE_FILE = "ca-passphrase"


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 from the start (never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def resolve_passphrase(
    configured: str, secrets_dir: Path, *, create: bool, passphrase_file: Path | None = None
) -> bytes:
    """The CA key passphrase: configured, from the configured file (several hosts share it),
    or read from (and, on init, written to) the secrets directory."""
    if configured:
        return configured.encode()
    if passphrase_file is not None:
        try:
            value = passphrase_file.read_bytes().strip()
        except OSError as exc:
            raise Unavailable(
                "ca.no_passphrase",
                f"cannot read CERTDESK_CA_PASSPHRASE_FILE {passphrase_file}: {exc.strerror}",
            ) from None
        if not value:
            raise Unavailable(
                "ca.no_passphrase", f"CERTDESK_CA_PASSPHRASE_FILE {passphrase_file} is empty"
            )
        return value
    path = secrets_dir / PASSPHRASE_FILE
    if path.exists():
        return path.read_bytes().strip()
    if not create:
        raise Unavailable(
            "ca.no_passphrase",
            f"no CA passphrase: set CERTDESK_CA_PASSPHRASE or run 'certdesk init' ({path})",
        )
    value = secrets.token_urlsafe(32).encode()
    _write_private(path, value + b"\n")
    return value


def write_private_key(path: Path, key: CertificateIssuerPrivateKeyTypes, passphrase: bytes) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    _write_private(path, pem)


def read_private_key(path: Path, passphrase: bytes) -> CertificateIssuerPrivateKeyTypes:
    """Load an encrypted CA key; a missing file or wrong passphrase is a clear error."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Unavailable("ca.key_missing", f"CA key file {path} cannot be read: {exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError):
        raise Unavailable(
            "ca.key_locked", f"CA key file {path} cannot be decrypted with the passphrase"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise Unavailable("ca.key_type", f"CA key file {path} holds an unsupported key type")
    return key
