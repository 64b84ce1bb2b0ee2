"""Log entries of Certificate Transparency logs: the TLS structures of RFC 6962 §3.4 and
§4.6 (``get-entries``) and the data tiles of the static-CT API (c2sp.org/static-ct-api).

No maintained PyPI library parses these structures (the CT client libraries there stream
from a third-party service or are unmaintained), and they are small: every length prefix is
checked against what is left, every enum value against the ones defined, and an entry must
be consumed exactly, so a malformed entry raises :class:`InvalidInput` (``ct.bad_entry``)
instead of yielding garbage.

The parsed :class:`LogEntry` carries the leaf hash (for the Merkle tree) and the DER of the
certificate, or of the precertificate as submitted (``pre_certificate``, which is a whole
certificate with the poison extension: its names, issuer and serial are the final
certificate's).

Pure: bytes in, dataclasses out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

from certdesk.errors import InvalidInput

__all__ = ["EntryType", "LogEntry", "parse_get_entry", "parse_tile", "tile_path"]

TILE_WIDTH = 256  # static-CT: a full tile holds 256 entries


class EntryType(IntEnum):
    """RFC 6962 §3.4 LogEntryType."""

    X509 = 0
    PRECERT = 1


@dataclass(frozen=True, slots=True)
class LogEntry:
    index: int
    leaf_hash: bytes  # RFC 6962 §2.1: SHA-256(0x00 || MerkleTreeLeaf)
    timestamp_ms: int
    entry_type: EntryType
    cert_der: bytes  # the certificate, or the precertificate as submitted
    tbs_der: bytes | None  # precert entries: the TBSCertificate the log signed
    issuer_key_hash: bytes | None  # precert entries: SHA-256 of the issuer's SPKI


def _bad(detail: str) -> InvalidInput:
    return InvalidInput("ct.bad_entry", detail)


class _Reader:
    """A cursor over TLS-encoded bytes (RFC 8446 §3: big-endian, length-prefixed vectors)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def _take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise _bad(f"truncated: {n} bytes wanted at offset {self.pos}, {self.left} left")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def uint(self, size: int) -> int:
        return int.from_bytes(self._take(size), "big")

    def opaque(self, length_size: int, *, minimum: int = 0) -> bytes:
        n = self.uint(length_size)
        if n < minimum:
            raise _bad(f"a vector of {n} bytes is shorter than its minimum {minimum}")
        return self._take(n)

    def fixed(self, n: int) -> bytes:
        return self._take(n)

    def done(self, what: str) -> None:
        if self.left:
            raise _bad(f"{self.left} bytes left over after the {what}")


def _timestamped_entry(
    r: _Reader,
) -> tuple[int, EntryType, bytes, bytes | None, bytes | None]:
    """RFC 6962 §3.4 TimestampedEntry: (timestamp, type, cert or tbs, tbs, issuer key hash)."""
    timestamp = r.uint(8)
    raw_type = r.uint(2)
    try:
        entry_type = EntryType(raw_type)
    except ValueError:
        raise _bad(f"unknown entry type {raw_type}") from None
    if entry_type is EntryType.X509:
        cert = r.opaque(3, minimum=1)  # ASN.1Cert<1..2^24-1>
        tbs = ikh = None
    else:
        ikh = r.fixed(32)  # PreCert.issuer_key_hash
        tbs = r.opaque(3, minimum=1)  # TBSCertificate<1..2^24-1>
        cert = tbs
    r.opaque(2)  # CtExtensions<0..2^16-1> (static-CT: the leaf_index extension)
    return timestamp, entry_type, cert, tbs, ikh


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise _bad(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"{what} is not valid base64") from None


def parse_get_entry(index: int, item: object) -> LogEntry:
    """One element of ``get-entries``' ``entries`` (RFC 6962 §4.6): ``leaf_input`` is a
    MerkleTreeLeaf, ``extra_data`` the chain (and the precertificate for precert entries)."""
    if not isinstance(item, dict):
        raise _bad(f"entry {index} is not an object")
    leaf = _b64(item.get("leaf_input"), f"entry {index}'s leaf_input")
    extra = _b64(item.get("extra_data"), f"entry {index}'s extra_data")
    r = _Reader(leaf)
    version, leaf_type = r.uint(1), r.uint(1)
    if version != 0 or leaf_type != 0:  # v1, timestamped_entry
        raise _bad(f"entry {index}: leaf version {version} / type {leaf_type} is not v1")
    timestamp, entry_type, cert, tbs, ikh = _timestamped_entry(r)
    r.done(f"entry {index}'s leaf")
    e = _Reader(extra)
    if entry_type is EntryType.PRECERT:
        cert = e.opaque(3, minimum=1)  # PrecertChainEntry.pre_certificate
    chain = _Reader(e.opaque(3))  # certificate_chain / precertificate_chain
    while chain.left:
        chain.opaque(3)
    e.done(f"entry {index}'s extra_data")
    return LogEntry(
        index, hashlib.sha256(b"\x00" + leaf).digest(), timestamp, entry_type, cert, tbs, ikh
    )


def parse_tile(first_index: int, data: bytes) -> Iterator[LogEntry]:
    """The entries of a static-CT data tile (TileLeaf after TileLeaf), from ``first_index``.

    The Merkle leaf of a TileLeaf is its TimestampedEntry behind the v1/timestamped_entry
    bytes, exactly the ``leaf_input`` an RFC 6962 log would serve.
    """
    r = _Reader(data)
    index = first_index
    while r.left:
        start = r.pos
        timestamp, entry_type, cert, tbs, ikh = _timestamped_entry(r)
        stamped = r.data[start : r.pos]
        if entry_type is EntryType.PRECERT:
            cert = r.opaque(3, minimum=1)  # pre_certificate
        fingerprints = r.opaque(2)  # Fingerprint certificate_chain<0..2^16-1>
        if len(fingerprints) % 32:
            raise _bad(f"entry {index}: a chain of {len(fingerprints)} bytes is not hashes")
        leaf = b"\x00\x00" + stamped
        yield LogEntry(
            index, hashlib.sha256(b"\x00" + leaf).digest(), timestamp, entry_type, cert, tbs, ikh
        )
        index += 1


def tile_path(index: int) -> str:
    """A tile index as static-CT path elements: 1234067 → ``x001/x234/067``."""
    if index < 0:
        raise ValueError("a tile index is not negative")
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if index == 0:
            break
    groups.reverse()
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])
