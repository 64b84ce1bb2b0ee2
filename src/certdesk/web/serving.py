"""How ``certdesk serve`` runs under uvicorn: the HTTP protocol of its connections, and the
certificate and key it answers https with."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import ssl
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from uvicorn.protocols.http.h11_impl import H11Protocol

from certdesk.config import Settings, SettingsError

# What ``certdesk serve`` passes to uvicorn as ``http=``: httptools' parser when installed
# (about a third less CPU per request than h11's), else h11.
HTTP_PROTOCOL = "certdesk.web.serving:NoDelayH11Protocol"
HTTPTOOLS_PROTOCOL = "certdesk.web.serving:NoDelayHttpToolsProtocol"


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def http_protocol() -> str:
    return HTTPTOOLS_PROTOCOL if _installed("httptools") else HTTP_PROTOCOL


def has_uvloop() -> bool:
    """uvloop, when installed, runs each server process's event loop."""
    return _installed("uvloop")


def _no_delay(transport: asyncio.Transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with Nagle's algorithm off on every TCP connection.

    With ``--workers`` above 1 uvicorn binds the listening socket itself and leaves its
    ``proto`` at 0, so asyncio does not set TCP_NODELAY on accepted connections (uvicorn
    issue #3149). A response then goes out as a header segment and a body segment held back
    until the client acknowledges the first: every request after the first on a kept-alive
    connection waits out the client's delayed ACK, about 40 ms on Linux. A certificate
    issued over a kept-alive connection took 56 ms instead of 10 ms.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _no_delay(transport)
        super().connection_made(transport)


if _installed("httptools"):
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        """httptools' protocol with Nagle's algorithm off, for the reason above."""

        def connection_made(  # type: ignore[override]
            self, transport: asyncio.Transport
        ) -> None:
            _no_delay(transport)
            super().connection_made(transport)


@dataclass(frozen=True)
class TlsFiles:
    """The certificate chain and key ``certdesk serve`` answers https with, checked."""

    cert_file: Path
    key_file: Path
    warnings: tuple[str, ...] = ()


def tls_files(settings: Settings) -> TlsFiles | None:
    """``CERTDESK_TLS_CERT_FILE`` and ``CERTDESK_TLS_KEY_FILE``, checked before uvicorn starts.

    Both or neither (neither: plain http, e.g. behind a TLS proxy). Each file must be
    readable PEM, the key unencrypted (``serve`` has nobody to ask for a passphrase) and the
    key of the chain's first certificate; anything else raises :class:`SettingsError` naming
    the setting, instead of uvicorn's traceback from deep inside ``ssl``. A key other users
    may read is served, with a warning.
    """
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        given, missing = ("CERT", "KEY") if key is None else ("KEY", "CERT")
        raise SettingsError(
            f"CERTDESK_TLS_{given}_FILE is set but CERTDESK_TLS_{missing}_FILE is not: set"
            " both to serve https, or neither to serve plain http"
        )
    cert_pem = _read("CERTDESK_TLS_CERT_FILE", cert)
    key_pem = _read("CERTDESK_TLS_KEY_FILE", key)
    try:
        x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise SettingsError(f"CERTDESK_TLS_CERT_FILE {cert} holds no PEM certificate") from None
    # The key is judged by its PEM armour, not loaded: only certdesk/ca loads private keys
    # (STYLE habit 5), and ssl below reads it as uvicorn will.
    if b"PRIVATE KEY-----" not in key_pem:
        raise SettingsError(f"CERTDESK_TLS_KEY_FILE {key} holds no PEM private key")
    if b"ENCRYPTED" in key_pem:
        raise SettingsError(
            f"CERTDESK_TLS_KEY_FILE {key} is encrypted; certdesk serve needs an unencrypted"
            " key file (protect it by its owner and mode 0600 instead)"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # The same load uvicorn does; what is left to fail is the pairing.
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except ssl.SSLError as exc:
        raise SettingsError(
            f"CERTDESK_TLS_KEY_FILE {key} is not the key of the first certificate in"
            f" CERTDESK_TLS_CERT_FILE {cert} ({exc.reason or exc})"
        ) from None
    warnings: list[str] = []
    mode = stat.S_IMODE(key.stat().st_mode)
    if mode & 0o077:
        warnings.append(
            f"CERTDESK_TLS_KEY_FILE {key} is open to its group or others (mode {mode:04o});"
            f" make it mode 0600: chmod 600 {key}"
        )
    return TlsFiles(cert, key, tuple(warnings))


def _read(setting: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot read {setting} {path}: {exc.strerror}") from None


def _no_passphrase() -> bytes:
    # Never reached for a key that loaded without a password above; without a callback,
    # OpenSSL would prompt on the terminal of a server process.
    raise SettingsError("the TLS key file is encrypted")
