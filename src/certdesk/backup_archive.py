"""The encrypted envelope of a backup file: Argon2id from a passphrase, AES-256-GCM in chunks.

Layout (all integers big-endian)::

    magic        16 bytes  b"certdesk-backup\\n"
    version       1 byte   1
    kdf           1 byte   1 = Argon2id (RFC 9106)
    memory_kib    4 bytes  \\
    iterations    4 bytes   > Argon2id cost, kept in the file so that it can be raised later
    lanes         4 bytes  /
    salt         16 bytes  random per file
    chunk_size    4 bytes  plaintext bytes per chunk
    header_mac   32 bytes  HMAC-SHA256 of everything above, under the header key
    chunks ...             AES-256-GCM(payload key, nonce, chunk, aad = the 82 header bytes)

The passphrase and salt give a 32-byte master key (Argon2id); HKDF-SHA256 splits it into a
header key and a payload key. The header MAC is what tells a wrong passphrase (the MAC fails)
from a damaged or altered file (the MAC holds, a chunk does not): the same split as the age
format. Each chunk's nonce is its 11-byte counter and a last-chunk flag (the STREAM
construction of Hoang, Reyhanitabar, Rogaway and Vizár, as in age and Tink), so chunks cannot
be dropped, reordered, repeated or cut off at a chunk boundary without detection; the header
is every chunk's associated data, so it cannot be swapped either. The master key is new for
every file (fresh salt), so counter nonces never repeat under one key.

This module only transforms streams handed to it; it opens no files.
"""

from __future__ import annotations

import hmac
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from certdesk.errors import InvalidInput

MAGIC = b"certdesk-backup\n"
VERSION = 1
KDF_ARGON2ID = 1
_FIELDS = struct.Struct(">BBIII16sI")
HEADER_LEN = len(MAGIC) + _FIELDS.size + 32
TAG_LEN = 16
CHUNK_SIZE = 64 * 1024
MIN_PASSPHRASE_CHARS = 12


@dataclass(frozen=True)
class KdfCost:
    """Argon2id cost. The default is RFC 9106 §4's second recommended option (64 MiB, t=3)."""

    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 4


# A header is read before it can be authenticated, so its cost is bounded first: a forged
# header must not make restore allocate gigabytes or spin for hours.
_MAX_MEMORY_KIB = 1024 * 1024
_MAX_ITERATIONS = 64
_MAX_LANES = 64
_MAX_CHUNK = 16 * 1024 * 1024


def _keys(passphrase: bytes, salt: bytes, cost: KdfCost) -> tuple[bytes, bytes]:
    master = Argon2id(
        salt=salt,
        length=32,
        iterations=cost.iterations,
        lanes=cost.lanes,
        memory_cost=cost.memory_kib,
    ).derive(passphrase)

    def sub(purpose: bytes) -> bytes:
        return HKDF(hashes.SHA256(), 32, salt=None, info=purpose).derive(master)

    return sub(b"certdesk-backup v1 header"), sub(b"certdesk-backup v1 payload")


def _nonce(counter: int, last: bool) -> bytes:
    if counter >= 1 << 88:
        raise InvalidInput("backup.too_large", "the backup is too large for one archive")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def check_passphrase(passphrase: bytes) -> None:
    """A new backup's passphrase must not be trivially guessable offline."""
    if len(passphrase.decode(errors="replace")) < MIN_PASSPHRASE_CHARS:
        raise InvalidInput(
            "backup.weak_passphrase",
            f"the backup passphrase must have at least {MIN_PASSPHRASE_CHARS} characters",
        )


class SealingWriter:
    """A write-only stream that encrypts into ``out``; :meth:`close` writes the last chunk."""

    def __init__(
        self,
        out: BinaryIO,
        passphrase: bytes,
        *,
        cost: KdfCost = KdfCost(),
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        salt = os.urandom(16)
        header_key, payload_key = _keys(passphrase, salt, cost)
        fields = MAGIC + _FIELDS.pack(
            VERSION, KDF_ARGON2ID, cost.memory_kib, cost.iterations, cost.lanes, salt, chunk_size
        )
        self._header = fields + hmac.digest(header_key, fields, "sha256")
        self._aead = AESGCM(payload_key)
        self._out = out
        self._chunk = chunk_size
        self._buf = bytearray()
        self._counter = 0
        self._closed = False
        out.write(self._header)

    def write(self, data: bytes) -> int:
        if self._closed:
            raise ValueError("write to a closed backup archive")
        self._buf += data
        # Only a chunk that is surely not the last one is sealed here: the last chunk is
        # flagged, so a full chunk waits until more data proves that another one follows.
        while len(self._buf) > self._chunk:
            self._seal(bytes(self._buf[: self._chunk]), last=False)
            del self._buf[: self._chunk]
        return len(data)

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        if not self._closed:
            self._seal(bytes(self._buf), last=True)
            self._buf.clear()
            self._closed = True
            self._out.flush()

    def _seal(self, chunk: bytes, *, last: bool) -> None:
        nonce = _nonce(self._counter, last)
        self._out.write(self._aead.encrypt(nonce, chunk, self._header))
        self._counter += 1


class OpeningReader:
    """A read-only stream of the plaintext of ``src``, authenticated chunk by chunk.

    Construction checks the passphrase (the header MAC); reading raises
    ``backup.damaged`` at the first chunk that does not authenticate, and at a missing end.
    """

    def __init__(self, src: BinaryIO, passphrase: bytes, *, name: str = "the backup") -> None:
        self._name = name
        header = src.read(HEADER_LEN)
        if not header.startswith(MAGIC):
            raise InvalidInput("backup.not_an_archive", f"{name} is not a certdesk backup")
        if len(header) < HEADER_LEN:
            raise self._damaged("it ends inside its header")
        version, kdf, memory, iterations, lanes, salt, chunk = _FIELDS.unpack(
            header[len(MAGIC) : len(MAGIC) + _FIELDS.size]
        )
        if version != VERSION or kdf != KDF_ARGON2ID:
            raise InvalidInput(
                "backup.unsupported",
                f"{name} is a certdesk backup of format {version}/{kdf}, which this release"
                f" cannot read (it reads {VERSION}/{KDF_ARGON2ID})",
            )
        if not (
            8 * lanes <= memory <= _MAX_MEMORY_KIB
            and 1 <= iterations <= _MAX_ITERATIONS
            and 1 <= lanes <= _MAX_LANES
            and 1 <= chunk <= _MAX_CHUNK
        ):
            raise self._damaged("its header holds impossible parameters")
        header_key, payload_key = _keys(passphrase, salt, KdfCost(memory, iterations, lanes))
        fields, mac = header[:-32], header[-32:]
        if not hmac.compare_digest(hmac.digest(header_key, fields, "sha256"), mac):
            raise InvalidInput(
                "backup.wrong_passphrase",
                f"wrong passphrase for {name} (or its header was altered)",
            )
        self._header = header
        self._aead = AESGCM(payload_key)
        self._src = src
        self._sealed_len = chunk + TAG_LEN
        self._counter = 0
        self._buf = b""
        self._done = False
        self._pending = src.read(self._sealed_len)

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buf) < size):
            self._open_next()
        if size < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:size], self._buf[size:]
        return out

    def _open_next(self) -> None:
        sealed = self._pending
        self._pending = self._src.read(self._sealed_len)
        last = not self._pending
        if len(sealed) < TAG_LEN:
            raise self._damaged("its end is cut off")
        try:
            plain = self._aead.decrypt(_nonce(self._counter, last), sealed, self._header)
        except InvalidTag:
            where = "its end is cut off or" if last else f"chunk {self._counter} was"
            raise self._damaged(f"{where} altered") from None
        self._counter += 1
        self._buf += plain
        self._done = last

    def _damaged(self, why: str) -> InvalidInput:
        return InvalidInput("backup.damaged", f"{self._name} is damaged or was altered: {why}")
