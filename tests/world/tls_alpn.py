"""A tls-alpn-01 responder (RFC 8737) on loopback, built from Python's ssl and cryptography:
for each name it presents the challenge certificate it was given, chosen by SNI, and
negotiates ALPN ``acme-tls/1`` (no Debian or PyPI client here answers tls-alpn-01 itself:
certbot dropped it, lego is not installed).

``challenge_cert`` makes the certificate RFC 8737 §3 asks for, and the faulty ones the VA
must refuse (wrong digest, extension not critical, another name, a second name).
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from world.processes import free_port

ACME_IDENTIFIER = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")


@dataclass(frozen=True)
class ChallengeCert:
    cert_pem: bytes
    key_pem: bytes


def challenge_cert(
    name: str,
    key_authorization: str,
    *,
    digest: bytes | None = None,
    critical: bool = True,
    san: tuple[str, ...] | None = None,
    with_identifier: bool = True,
) -> ChallengeCert:
    """A self-signed certificate for ``name`` holding SHA-256(key authorization) in a
    critical acmeIdentifier extension; the keyword arguments break one rule each."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme tls-alpn-01")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in (san or (name,))]),
            critical=False,
        )
    )
    if with_identifier:
        value = (
            digest if digest is not None else hashlib.sha256(key_authorization.encode()).digest()
        )
        builder = builder.add_extension(
            x509.UnrecognizedExtension(ACME_IDENTIFIER, b"\x04" + bytes([len(value)]) + value),
            critical=critical,
        )
    cert = builder.sign(key, hashes.SHA256())
    return ChallengeCert(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


class TlsAlpnResponder:
    """Answers TLS on a loopback port with the certificate set for the SNI name;
    ``alpn`` is what it is willing to negotiate (empty: no ALPN at all)."""

    def __init__(self, alpn: tuple[str, ...] = ("acme-tls/1",)) -> None:
        self.port = free_port()
        self.alpn = alpn
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._dir = tempfile.TemporaryDirectory(prefix="tls-alpn-")
        self._default = self._context(challenge_cert("default.invalid", "-"))
        self._default.sni_callback = self._choose
        self._sock = socket.create_server(("127.0.0.1", self.port))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def answer(self, name: str, cert: ChallengeCert) -> None:
        self._contexts[name] = self._context(cert)

    def _context(self, cert: ChallengeCert) -> ssl.SSLContext:
        base = Path(self._dir.name) / f"{len(self._contexts)}-{id(cert)}"
        base.with_suffix(".crt").write_bytes(cert.cert_pem)
        base.with_suffix(".key").write_bytes(cert.key_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(base.with_suffix(".crt"), base.with_suffix(".key"))
        if self.alpn:
            ctx.set_alpn_protocols(list(self.alpn))
        return ctx

    def _choose(self, conn: ssl.SSLObject | ssl.SSLSocket, name: str | None, _ctx: object) -> None:
        chosen = self._contexts.get(name or "")
        if chosen is not None:
            conn.context = chosen

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handshake, args=(raw,), daemon=True).start()

    def _handshake(self, raw: socket.socket) -> None:
        raw.settimeout(5)
        try:
            with self._default.wrap_socket(raw, server_side=True) as tls:
                tls.recv(1)  # the VA closes once it has seen the certificate
        except (OSError, ssl.SSLError):
            pass

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(5)
        self._dir.cleanup()
