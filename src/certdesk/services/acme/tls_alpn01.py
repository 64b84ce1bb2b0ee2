"""tls-alpn-01 (RFC 8737): the VA opens TLS to NAME on port 443 with SNI NAME and offers only
the ALPN protocol ``acme-tls/1``; the server must choose it and present a self-signed
certificate made for this one challenge.

The certificate is judged by RFC 8737 §3, each check a refusal of its own:

1. the handshake negotiates ``acme-tls/1`` (TLS 1.2 or later, §4);
2. its subjectAltName holds exactly one entry, the dNSName being validated;
3. it carries the acmeIdentifier extension (id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31),
   marked critical, whose value is the DER OCTET STRING of SHA-256(key authorization).

The certificate's chain and signature are not checked (§3: the certificate only carries the
proof). ``CERTDESK_ACME_VA_ADDRESS`` and ``CERTDESK_ACME_VA_TLS_PORT`` point labs and tests at
a loopback responder; the address rules are validation.Targets'.
"""

from __future__ import annotations

import socket
import ssl
from datetime import datetime

from cryptography import x509

from certdesk.core.acme_states import tls_alpn01_digest
from certdesk.services.acme.validation import (
    TIMEOUT_SECONDS,
    Targets,
    ValidationFailed,
    ValidationTask,
)

ACME_TLS_ALPN = "acme-tls/1"
ACME_IDENTIFIER = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")


def _context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # §3: the proof is in the extension, not in a chain
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # §4
    ctx.set_alpn_protocols([ACME_TLS_ALPN])
    return ctx


def judge(der: bytes, name: str, key_authorization: str) -> None:
    """RFC 8737 §3 on the certificate the responder presented (checks 2 and 3 of the
    module's docstring); raises ValidationFailed unless it proves ``key_authorization``."""
    try:
        cert = x509.load_der_x509_certificate(der)
        extensions = cert.extensions
    except ValueError as exc:
        raise ValidationFailed("tls", f"{name}: the certificate cannot be read: {exc}") from None
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise ValidationFailed(
            "unauthorized", f"{name}: the certificate has no subjectAltName"
        ) from None
    names = [str(g.value) for g in san]
    if len(names) != 1 or san.get_values_for_type(x509.DNSName) != [name]:
        raise ValidationFailed(
            "unauthorized",
            f"{name}: the certificate must name exactly {name}, it names {', '.join(names)}",
        )
    try:
        ext = extensions.get_extension_for_oid(ACME_IDENTIFIER)
    except x509.ExtensionNotFound:
        raise ValidationFailed(
            "unauthorized", f"{name}: the certificate has no acmeIdentifier extension"
        ) from None
    if not ext.critical:
        raise ValidationFailed(
            "unauthorized", f"{name}: the acmeIdentifier extension is not marked critical"
        )
    value = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
    # DER OCTET STRING (tag 0x04) of 32 bytes (0x20): SHA-256 of the key authorization.
    if value != b"\x04\x20" + tls_alpn01_digest(key_authorization):
        raise ValidationFailed(
            "incorrectResponse",
            f"{name}: the acmeIdentifier does not hold this challenge's key authorization",
        )


class TlsAlpn01:
    def __init__(self, targets: Targets, port: int) -> None:
        self._targets = targets
        self._port = port

    def validate(self, task: ValidationTask) -> datetime | None:
        ip = self._targets.address(task.name)
        where = f"{task.name} ({ip} port {self._port})"
        try:
            with socket.create_connection((str(ip), self._port), timeout=TIMEOUT_SECONDS) as raw:
                with _context().wrap_socket(raw, server_hostname=task.name) as tls:
                    alpn = tls.selected_alpn_protocol()
                    der = tls.getpeercert(binary_form=True)
        except ssl.SSLError as exc:
            raise ValidationFailed("tls", f"TLS with {where} failed: {exc.reason}") from None
        except OSError as exc:
            raise ValidationFailed(
                "connection", f"connecting to {where} failed: {type(exc).__name__}"
            ) from None
        if alpn != ACME_TLS_ALPN:
            raise ValidationFailed(
                "tls", f"{where} did not choose the ALPN protocol {ACME_TLS_ALPN}"
            )
        if not der:
            raise ValidationFailed("tls", f"{where} presented no certificate")
        judge(der, task.name, task.key_authorization)
        return None
