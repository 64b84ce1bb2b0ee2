"""Observing one TLS endpoint: the served chain, versions, stapling and HSTS (R14).

Every probe is a fresh connection with its own deadline:

1. the main handshake with pyOpenSSL (the chain as sent, the negotiated version, a stapled
   OCSP response: Python's ``ssl`` exposes neither before 3.13);
2. one handshake per protocol version other than the negotiated one, with Python's ``ssl``,
   its minimum and maximum pinned to that version and OpenSSL's security level lowered to 0
   so that an old version is seen when the server offers it (such a connection is used for
   nothing but this question); SSL 3.0 only where the local OpenSSL has it (Debian's has not);
3. TLS 1.2 with the ECDHE/DHE suites only (forward secrecy), unless the main handshake
   settled it (TLS 1.2 negotiated with an ECDHE/DHE suite);
4. without STARTTLS, a ``GET /`` over ``http.client``: does the port speak HTTP, and with
   which Strict-Transport-Security header.

STARTTLS (RFC 3207 SMTP, RFC 3501 IMAP ``STARTTLS``, RFC 2595 POP3 ``STLS``) runs the
protocol's greeting and upgrade command before each handshake.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.hashes import SHA256
from OpenSSL import SSL

from certdesk.core.endpoints import Observation, Protocol, Starttls, Target
from certdesk.errors import Unavailable
from certdesk.verify import chain as chains

_SHA256 = SHA256()

_FS_SUITES = "ECDHE:DHE:!aNULL:!eNULL:@SECLEVEL=0"
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1/1.1 are deprecated: we ask
    _VERSIONS: dict[Protocol, ssl.TLSVersion] = {
        Protocol.TLS1_0: ssl.TLSVersion.TLSv1,
        Protocol.TLS1_1: ssl.TLSVersion.TLSv1_1,
        Protocol.TLS1_2: ssl.TLSVersion.TLSv1_2,
        Protocol.TLS1_3: ssl.TLSVersion.TLSv1_3,
    }
    if getattr(ssl, "HAS_SSLv3", False):
        _VERSIONS = {Protocol.SSL3: ssl.TLSVersion.SSLv3, **_VERSIONS}


# pyOpenSSL's names of the negotiated version.
_BY_NAME = {
    "SSLv3": Protocol.SSL3,
    "TLSv1": Protocol.TLS1_0,
    "TLSv1.1": Protocol.TLS1_1,
    "TLSv1.2": Protocol.TLS1_2,
    "TLSv1.3": Protocol.TLS1_3,
}


@dataclass(frozen=True)
class Where:
    """Where to connect: the address (already allowed), the target, the SNI name."""

    address: str
    target: Target
    sni: str | None
    starttls: Starttls | None
    timeout: float


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        return left


def _lines(sock: socket.socket, done: bytes, deadline: _Deadline) -> bytes:
    """Read until a line starting with ``done`` (or a POP3/IMAP status) arrives."""
    data = b""
    while True:
        sock.settimeout(deadline.left())
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection during STARTTLS")
        data += chunk
        for line in data.split(b"\r\n"):
            if line.startswith(done):
                return data


def _starttls(sock: socket.socket, how: Starttls, deadline: _Deadline) -> None:
    """Run the plain-text upgrade of ``how`` on ``sock``; raise when the server refuses."""
    if how is Starttls.SMTP:
        _lines(sock, b"220 ", deadline)
        sock.sendall(b"EHLO certdesk.invalid\r\n")
        reply = _lines(sock, b"250 ", deadline)
        if b"STARTTLS" not in reply.upper():
            raise ConnectionError("the SMTP server does not offer STARTTLS")
        sock.sendall(b"STARTTLS\r\n")
        _lines(sock, b"220", deadline)
    elif how is Starttls.IMAP:
        _lines(sock, b"* OK", deadline)
        sock.sendall(b"a1 STARTTLS\r\n")
        if b"a1 OK" not in _lines(sock, b"a1 ", deadline):
            raise ConnectionError("the IMAP server refused STARTTLS")
    else:
        _lines(sock, b"+OK", deadline)
        sock.sendall(b"STLS\r\n")
        reply = _lines(sock, b"", deadline)
        if not reply.startswith(b"+OK"):
            raise ConnectionError("the POP3 server refused STLS")


def _connect(where: Where, deadline: _Deadline) -> socket.socket:
    sock = socket.create_connection((where.address, where.target.port), timeout=deadline.left())
    try:
        if where.starttls is not None:
            _starttls(sock, where.starttls, deadline)
        sock.settimeout(deadline.left())
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass(frozen=True)
class Served:
    chain: list[x509.Certificate]
    negotiated: str
    ocsp_stapled: bool
    cipher: str = ""


def served(where: Where) -> Served:
    """The main handshake: the chain as the server sends it, and its stapled OCSP answer."""
    deadline = _Deadline(where.timeout)
    stapled: list[bytes] = []

    def on_ocsp(_conn: SSL.Connection, answer: bytes, _data: object) -> bool:
        stapled.append(answer)
        return True  # report, do not refuse: a bad staple is not this probe's business

    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_verify(SSL.VERIFY_NONE, lambda *a: True)
    ctx.set_cipher_list(b"ALL:@SECLEVEL=0")
    ctx.set_ocsp_client_callback(on_ocsp)
    sock = _connect(where, deadline)
    try:
        sock.setblocking(False)
        conn = SSL.Connection(ctx, sock)
        if where.sni:
            conn.set_tlsext_host_name(where.sni.encode("idna"))
        conn.request_ocsp()
        conn.set_connect_state()
        while True:
            try:
                conn.do_handshake()
                break
            except SSL.WantReadError:
                select.select([sock], [], [], deadline.left())
            except SSL.WantWriteError:
                select.select([], [sock], [], deadline.left())
        certs = conn.get_peer_cert_chain(as_cryptography=True) or []
        version = conn.get_protocol_version_name()
        cipher = conn.get_cipher_name() or ""
    except SSL.Error as exc:
        raise ConnectionError(f"TLS handshake failed: {_ssl_text(exc)}") from None
    finally:
        sock.close()
    return Served(list(certs), version, bool(stapled and stapled[0]), cipher)


def _ssl_text(exc: SSL.Error) -> str:
    args = exc.args[0] if exc.args else []
    if isinstance(args, list) and args and isinstance(args[0], tuple):
        return str(args[0][-1])
    return str(exc) or type(exc).__name__


def offers(where: Where, protocol: Protocol, *, ciphers: str = "ALL:@SECLEVEL=0") -> bool:
    """Whether the endpoint completes a handshake at exactly ``protocol``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = _VERSIONS[protocol]
        if protocol is not Protocol.TLS1_3:
            ctx.set_ciphers(ciphers)
    deadline = _Deadline(where.timeout)
    try:
        sock = _connect(where, deadline)
    except OSError:
        return False
    try:
        with ctx.wrap_socket(sock, server_hostname=where.sni or None) as tls:
            return tls.version() is not None
    except (OSError, ssl.SSLError):
        return False
    finally:
        sock.close()


def http_hsts(where: Where, name: str) -> tuple[bool, str | None]:
    """``(answers HTTP, its Strict-Transport-Security header)`` from a ``GET /``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    deadline = _Deadline(where.timeout)
    try:
        sock = _connect(where, deadline)
        tls = ctx.wrap_socket(sock, server_hostname=where.sni or None)
    except (OSError, ssl.SSLError):
        return False, None
    conn = http.client.HTTPConnection(name, where.target.port, timeout=deadline.left())
    conn.sock = tls
    try:
        conn.request("GET", "/", headers={"Host": name, "User-Agent": "certdesk-verify"})
        response = conn.getresponse()
        return True, response.getheader("Strict-Transport-Security")
    except (OSError, http.client.HTTPException, ValueError):
        return False, None
    finally:
        conn.close()


def observe(
    where: Where, roots: Sequence[x509.Certificate], now: datetime
) -> tuple[Observation, list[x509.Certificate]]:
    """Everything the rules judge about the endpoint, and the chain it served."""
    try:
        got = served(where)
    except (OSError, ConnectionError) as exc:
        raise Unavailable(
            "endpoint.unreachable", f"{where.target}: {_reason(exc)}", target=str(where.target)
        ) from None
    if not got.chain:
        raise Unavailable("endpoint.no_certificate", f"{where.target}: no certificate was sent")
    leaf = got.chain[0]
    names, ips = _names(leaf)
    # The main handshake already settled the best version (and, at TLS 1.2, whether the
    # server's choice was forward-secret): only the others cost a handshake each.
    best = _BY_NAME.get(got.negotiated)
    offered = frozenset(p for p in _VERSIONS if p is best or offers(where, p))
    fs: bool | None = None
    if best is Protocol.TLS1_2 and "DHE" in got.cipher:
        fs = True  # ECDHE or DHE chosen from every suite offered
    elif Protocol.TLS1_2 in offered:
        fs = offers(where, Protocol.TLS1_2, ciphers=_FS_SUITES)
    name = where.sni or where.target.host
    is_http, hsts = http_hsts(where, name) if where.starttls is None else (False, None)
    obs = Observation(
        host=where.target.host,
        port=where.target.port,
        sni=where.sni,
        leaf_sha256=leaf.fingerprint(_SHA256).hex(),
        leaf_names=names,
        leaf_ips=ips,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        chain_length=len(got.chain),
        chain_error=chains.problem(got.chain, roots, now),
        negotiated=got.negotiated,
        offered=offered,
        tested=frozenset(_VERSIONS),
        forward_secret_tls12=fs,
        ocsp_stapled=got.ocsp_stapled,
        http=is_http,
        hsts=hsts,
    )
    return obs, got.chain


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__


def _names(leaf: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return (), ()
    dns = tuple(san.get_values_for_type(x509.DNSName))
    ips = tuple(str(i) for i in san.get_values_for_type(x509.IPAddress))
    return dns, ips


def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` (a literal address is itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Unavailable("endpoint.unresolvable", f"{host}: {exc.strerror}") from None
    seen: dict[str, None] = {}
    for info in infos:
        seen[str(info[4][0])] = None
    return list(seen)
