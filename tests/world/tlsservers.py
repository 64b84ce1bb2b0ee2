"""TLS endpoints on loopback for the verification tests: ``openssl s_server`` processes
serving certificates a trustme CA made (``-www``: they answer HTTP too)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme

from world.processes import accepting, free_port

OLD_TLS = ["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"]  # TLS 1.0 only (OpenSSL's level 0)


@dataclass(frozen=True)
class Served:
    """What a server presents: the chain file (leaf first) and the key file."""

    chain: Path
    key: Path
    leaf_pem: bytes


def leaf(
    ca: trustme.CA,
    folder: Path,
    *names: str,
    send_chain: bool = True,
    expired: bool = False,
    tag: str = "leaf",
) -> Served:
    """A leaf for ``names`` from ``ca``; ``send_chain=False`` leaves intermediates out."""
    kwargs = {}
    if expired:
        now = datetime.now(UTC)
        kwargs = {"not_before": now - timedelta(days=90), "not_after": now - timedelta(days=1)}
    cert = ca.issue_cert(*names, **kwargs)  # type: ignore[arg-type]
    pems = [b.bytes() for b in cert.cert_chain_pems]
    chain = folder / f"{tag}.chain.pem"
    chain.write_bytes(b"".join(pems if send_chain else pems[:1]))
    key = folder / f"{tag}.key.pem"
    cert.private_key_pem.write_to_path(str(key))
    return Served(chain, key, pems[0])


@contextmanager
def s_server(served: Served, extra: Sequence[str] = (), port: int | None = None) -> Iterator[int]:
    """``openssl s_server`` on 127.0.0.1 at ``port`` (a free one by default), until the block
    ends; its port."""
    port = port or free_port()
    # s_server sends only the first certificate of -cert: the rest goes in -cert_chain.
    pems = served.chain.read_bytes().split(b"-----END CERTIFICATE-----")
    rest = [p + b"-----END CERTIFICATE-----\n" for p in pems[1:] if p.strip()]
    chain_args: list[str] = []
    if rest:
        intermediates = served.chain.with_suffix(".intermediates.pem")
        intermediates.write_bytes(b"".join(r.lstrip() for r in rest))
        chain_args = ["-cert_chain", str(intermediates)]
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(served.chain),
         *chain_args, "-key", str(served.key), "-quiet", "-www", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not accepting(port):
            assert proc.poll() is None, f"openssl s_server exited {proc.returncode}"
            assert time.monotonic() < deadline, "openssl s_server did not start"
            time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def rsa_key_exchange_leaf(folder: Path, name: str) -> Served:
    """A self-signed RSA leaf whose key usage allows RSA key exchange (keyEncipherment),
    which a server needs to offer the non-forward-secret ``AES128-SHA256`` suites."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    chain, key_file = folder / "rsa.chain.pem", folder / "rsa.key.pem"
    chain.write_bytes(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Served(chain, key_file, pem)
