"""A real Certificate Transparency log on loopback, built by the test (issue 15, part 3).

No public log is reachable here, so the tests make one: certificates and precertificates
signed by a throw-away CA (``cryptography``), logged as RFC 6962 MerkleTreeLeaf entries, the
Merkle tree hashed and proven as RFC 6962 §2.1 defines it (written here from the RFC's
recursive definitions, apart from certdesk's compact range, so each checks the other), and
signed tree heads over the TLS-encoded TreeHeadSignature with an ECDSA P-256 key.

:class:`TestLog` holds the entries and signs heads; :func:`serving` answers for it over HTTP
on 127.0.0.1, both as an RFC 6962 log (``/ct/v1/get-sth``, ``get-sth-consistency``,
``get-entries`` with a page size, ``get-entry-and-proof``) and as a static-CT log
(``/checkpoint``, ``/tile/data/…``, hash tiles ``/tile/<level>/…``).
Entries become visible when :meth:`TestLog.publish` signs a new head, as with a real log's
merge delay. ``log.forge_signature = True`` makes every head's signature wrong.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CT_POISON = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.3")  # RFC 6962 §3.1
T0 = datetime(2026, 11, 20, tzinfo=UTC)


def _u(n: int, size: int) -> bytes:
    return n.to_bytes(size, "big")


def _vec(data: bytes, size: int) -> bytes:
    return _u(len(data), size) + data


# --- certificates the test makes ---------------------------------------------------------


@dataclass
class Authority:
    """A throw-away CA ("Elsewhere CA", a CA certdesk does not know)."""

    name: str = "Elsewhere CA"
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    cert: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(T0 - timedelta(days=1))
            .not_valid_after(T0 + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())

    def _builder(self, names: Sequence[str], serial: int) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.cert.subject)
            .public_key(self._leaf_key.public_key())
            .serial_number(serial)
            .not_valid_before(T0)
            .not_valid_after(T0 + timedelta(days=90))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=True
            )
        )

    def _next(self) -> int:
        return x509.random_serial_number()  # unique per issuer name, as a real CA's

    def certificate(self, *names: str) -> x509.Certificate:
        return self._builder(names, self._next()).sign(self.key, hashes.SHA256())

    def precertificate(self, *names: str) -> tuple[x509.Certificate, x509.Certificate]:
        """(precertificate with the poison extension, the final certificate without SCTs):
        same issuer and serial, the TBS the log signs is the final one's."""
        serial = self._next()
        final = self._builder(names, serial).sign(self.key, hashes.SHA256())
        pre = (
            self._builder(names, serial)
            .add_extension(x509.UnrecognizedExtension(CT_POISON, b"\x05\x00"), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        return pre, final

    @property
    def key_hash(self) -> bytes:
        spki = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(spki).digest()


# --- the log -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    leaf_input: bytes  # MerkleTreeLeaf
    extra_data: bytes
    tile_leaf: bytes  # static-CT TileLeaf


class TestLog:
    """Entries, their Merkle tree (RFC 6962 §2.1) and signed heads."""

    __test__ = False  # not a pytest class

    def __init__(self, origin: str = "ct.test.example/2026") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.origin = origin
        self.entries: list[Entry] = []
        self.published = 0
        self.timestamp_ms = int(T0.timestamp() * 1000)
        self.forge_signature = False
        self.head_ms = self.timestamp_ms
        self.page = 100  # get-entries answers at most this many (logs page)
        self.entries_down_from: int | None = None  # entries from here on answer HTTP 500
        self._mth: dict[tuple[int, int], bytes] = {}
        self.requests: list[str] = []

    @property
    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    # entries ------------------------------------------------------------------------------

    def _stamp(self) -> int:
        self.timestamp_ms += 1000
        return self.timestamp_ms

    def _add(self, stamped: bytes, extra: bytes, tile_tail: bytes) -> int:
        leaf = b"\x00\x00" + stamped  # v1, timestamped_entry
        self.entries.append(Entry(leaf, extra, stamped + tile_tail))
        return len(self.entries) - 1

    def _extensions(self) -> bytes:
        # static-CT: the leaf_index extension (type 0, uint40), in the entry as the SCT's.
        return _vec(b"\x00" + _vec(_u(len(self.entries), 5), 2), 2)

    def add_certificate(self, cert: x509.Certificate, issuer: x509.Certificate) -> int:
        der = cert.public_bytes(serialization.Encoding.DER)
        issuer_der = issuer.public_bytes(serialization.Encoding.DER)
        stamped = _u(self._stamp(), 8) + _u(0, 2) + _vec(der, 3) + self._extensions()  # x509_entry
        extra = _vec(_vec(issuer_der, 3), 3)  # certificate_chain
        fingerprints = _vec(hashlib.sha256(issuer_der).digest(), 2)
        return self._add(stamped, extra, fingerprints)

    def add_precertificate(
        self, pre: x509.Certificate, final: x509.Certificate, ca: Authority
    ) -> int:
        pre_der = pre.public_bytes(serialization.Encoding.DER)
        issuer_der = ca.cert.public_bytes(serialization.Encoding.DER)
        stamped = (
            _u(self._stamp(), 8)
            + _u(1, 2)
            + ca.key_hash
            + _vec(final.tbs_certificate_bytes, 3)
            + self._extensions()
        )  # precert_entry
        extra = _vec(pre_der, 3) + _vec(_vec(issuer_der, 3), 3)  # PrecertChainEntry
        tail = _vec(pre_der, 3) + _vec(hashlib.sha256(issuer_der).digest(), 2)
        return self._add(stamped, extra, tail)

    # the Merkle tree, from RFC 6962 §2.1's definitions -------------------------------------

    def mth(self, start: int, end: int) -> bytes:
        """MTH(D[start:end])."""
        key = (start, end)
        if key not in self._mth:
            n = end - start
            if n == 0:
                value = hashlib.sha256(b"").digest()
            elif n == 1:
                value = hashlib.sha256(b"\x00" + self.entries[start].leaf_input).digest()
            else:
                k = 1 << ((n - 1).bit_length() - 1)  # largest power of two below n
                value = hashlib.sha256(
                    b"\x01" + self.mth(start, start + k) + self.mth(start + k, end)
                ).digest()
            self._mth[key] = value
        return self._mth[key]

    def proof(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[n]) (RFC 6962 §2.1.2)."""
        return self._subproof(m, 0, n, True)

    def _subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [self.mth(start, end)]
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            return [*self._subproof(m, start, start + k, complete), self.mth(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self.mth(start, start + k)]

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        """PATH(m, D[start:end]): the audit path of leaf ``start + m`` (RFC 6962 §2.1.1)."""
        n = end - start
        if n == 1:
            return []
        k = 1 << ((n - 1).bit_length() - 1)
        if m < k:
            return [*self.path(m, start, start + k), self.mth(start + k, end)]
        return [*self.path(m - k, start + k, end), self.mth(start, start + k)]

    def hash_tile(self, level: int, index: int, width: int) -> bytes:
        """Static-CT hash tile ``index`` of ``level``: the hashes of the subtrees of
        256**level leaves, ``width`` of them."""
        span = 256**level
        first = index * 256
        return b"".join(self.mth((first + j) * span, (first + j + 1) * span) for j in range(width))

    # heads ---------------------------------------------------------------------------------

    def publish(self, size: int | None = None) -> None:
        self.published = len(self.entries) if size is None else size
        self.timestamp_ms += 1000
        self.head_ms = self.timestamp_ms

    def _signed(self, size: int) -> bytes:
        """A DigitallySigned TreeHeadSignature (RFC 6962 §3.5) over the published head."""
        message = struct.pack(">BBQQ", 0, 1, self.head_ms, size) + self.mth(0, size)
        if self.forge_signature:
            message += b"forged"
        signature = self.key.sign(message, ec.ECDSA(hashes.SHA256()))
        return bytes([4, 3]) + _vec(signature, 2)  # sha256, ecdsa

    def sth(self) -> dict[str, object]:
        size = self.published
        return {
            "tree_size": size,
            "timestamp": self.head_ms,
            "sha256_root_hash": base64.b64encode(self.mth(0, size)).decode(),
            "tree_head_signature": base64.b64encode(self._signed(size)).decode(),
        }

    def checkpoint(self) -> str:
        size = self.published
        body = f"{self.origin}\n{size}\n{base64.b64encode(self.mth(0, size)).decode()}\n"
        spki = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        log_id = hashlib.sha256(spki).digest()
        key_id = hashlib.sha256(self.origin.encode() + b"\n\x05" + log_id).digest()[:4]
        blob = key_id + _u(self.head_ms, 8) + self._signed(size)
        witness = "\u2014 witness.example " + base64.b64encode(b"\x00" * 68).decode()
        return body + "\n" + witness + f"\n\u2014 {self.origin} {base64.b64encode(blob).decode()}\n"

    def tile(self, index: int, width: int) -> bytes:
        first = index * 256
        return b"".join(e.tile_leaf for e in self.entries[first : first + width])


# --- HTTP ----------------------------------------------------------------------------------


def _tile_index(parts: list[str]) -> int:
    digits = [p.lstrip("x") for p in parts]
    if not all(len(d) == 3 and d.isdigit() for d in digits):
        raise ValueError(parts)
    return int("".join(digits))


class _Handler(BaseHTTPRequestHandler):
    log: TestLog

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        q = {k: int(v[0]) for k, v in parse_qs(url.query).items()}
        log = self.log
        log.requests.append(self.path)
        if url.path == "/ct/v1/get-sth":
            return self._send(200, json.dumps(log.sth()).encode())
        if url.path == "/ct/v1/get-sth-consistency":
            first, second = q["first"], q["second"]
            if not 0 < first <= second <= log.published:
                return self._send(400, b"{}")
            proof = [base64.b64encode(h).decode() for h in log.proof(first, second)]
            return self._send(200, json.dumps({"consistency": proof}).encode())
        if url.path == "/ct/v1/get-entries":
            start, end = q["start"], min(q["end"], log.published - 1, q["start"] + log.page - 1)
            if start > end:
                return self._send(400, b"{}")
            if log.entries_down_from is not None and end >= log.entries_down_from:
                return self._send(500, b"{}")
            items = [
                {
                    "leaf_input": base64.b64encode(e.leaf_input).decode(),
                    "extra_data": base64.b64encode(e.extra_data).decode(),
                }
                for e in log.entries[start : end + 1]
            ]
            return self._send(200, json.dumps({"entries": items}).encode())
        if url.path == "/ct/v1/get-entry-and-proof":
            index, size = q["leaf_index"], q["tree_size"]
            if not 0 <= index < size <= log.published:
                return self._send(400, b"{}")
            e = log.entries[index]
            body = {
                "leaf_input": base64.b64encode(e.leaf_input).decode(),
                "extra_data": base64.b64encode(e.extra_data).decode(),
                "audit_path": [base64.b64encode(h).decode() for h in log.path(index, 0, size)],
            }
            return self._send(200, json.dumps(body).encode())
        if url.path == "/checkpoint":
            return self._send(200, log.checkpoint().encode(), "text/plain; charset=utf-8")
        if url.path.startswith("/tile/data/"):
            path = url.path.removeprefix("/tile/data/")
            width = 256
            if ".p/" in path:
                path, _, w = path.partition(".p/")
                width = int(w)
            index = _tile_index(path.split("/"))
            available = min(256, log.published - index * 256)
            if (width == 256 and available < 256) or (width < 256 and width != available):
                return self._send(404, b"")  # static-CT: only tiles some head needs
            down = log.entries_down_from
            if down is not None and index * 256 + width > down:
                return self._send(500, b"")
            return self._send(200, log.tile(index, width), "application/octet-stream")
        if url.path.startswith("/tile/") and url.path[6:7].isdigit():
            level_text, _, path = url.path.removeprefix("/tile/").partition("/")
            width = 256
            if ".p/" in path:
                path, _, w = path.partition(".p/")
                width = int(w)
            level, index = int(level_text), _tile_index(path.split("/"))
            available = min(256, (log.published >> (8 * level)) - index * 256)
            if (width == 256 and available < 256) or (width < 256 and width != available):
                return self._send(404, b"")
            return self._send(200, log.hash_tile(level, index, width), "application/octet-stream")
        return self._send(404, b"")


@dataclass
class Served:
    log: TestLog
    url: str


@contextmanager
def serving(log: TestLog) -> Iterator[Served]:
    """``log`` over HTTP on 127.0.0.1 at a free port, in a thread, for the block."""
    handler = type("Handler", (_Handler,), {"log": log})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(log, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
