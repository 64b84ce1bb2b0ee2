"""The backup envelope (certdesk/backup_archive.py): what goes in comes out, and any change
to the file — a wrong passphrase, a flipped bit, a chunk dropped, reordered, cut off or
appended — is refused with its own error, never read as data."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable

import pytest

from certdesk.backup_archive import (
    HEADER_LEN,
    MAGIC,
    TAG_LEN,
    KdfCost,
    OpeningReader,
    SealingWriter,
    check_passphrase,
)
from certdesk.errors import InvalidInput

PASSPHRASE = b"correct horse battery staple"
CHEAP = KdfCost(memory_kib=64, iterations=1, lanes=1)  # the format, not the cost, is tested
CHUNK = 16
SEALED = CHUNK + TAG_LEN


def seal(data: bytes, passphrase: bytes = PASSPHRASE, *, writes: int = 1) -> bytes:
    out = io.BytesIO()
    writer = SealingWriter(out, passphrase, cost=CHEAP, chunk_size=CHUNK)
    step = max(1, len(data) // writes)
    for i in range(0, len(data), step):
        writer.write(data[i : i + step])
    writer.close()
    return out.getvalue()


def unseal(blob: bytes, passphrase: bytes = PASSPHRASE, *, size: int = -1) -> bytes:
    reader = OpeningReader(io.BytesIO(blob), passphrase, name="b.bak")
    if size < 0:
        return reader.read()
    parts = []
    while part := reader.read(size):
        parts.append(part)
    return b"".join(parts)


@pytest.mark.parametrize(
    ("length", "writes", "read_size"),
    [
        pytest.param(0, 1, -1, id="empty"),
        pytest.param(1, 1, -1, id="one-byte"),
        pytest.param(CHUNK - 1, 1, 5, id="short-of-a-chunk"),
        pytest.param(CHUNK, 1, -1, id="exactly-one-chunk"),
        pytest.param(CHUNK + 1, 3, 7, id="one-past-a-chunk"),
        pytest.param(3 * CHUNK, 5, CHUNK, id="whole-chunks"),
        pytest.param(1000, 13, 1, id="many-chunks-small-reads"),
    ],
)
def test_roundtrip(length: int, writes: int, read_size: int) -> None:
    data = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
    blob = seal(data, writes=writes)
    assert blob.startswith(MAGIC)
    assert unseal(blob, size=read_size) == data


def test_each_file_has_its_own_salt_and_so_its_own_key() -> None:
    data = b"x" * 100
    first, second = seal(data), seal(data)
    assert first[:HEADER_LEN] != second[:HEADER_LEN]
    assert first[HEADER_LEN:] != second[HEADER_LEN:]


def _flip(at: int) -> Callable[[bytes], bytes]:
    def flip(b: bytes) -> bytes:
        i = at % len(b)
        return b[:i] + bytes([b[i] ^ 1]) + b[i + 1 :]

    return flip


def _swap_chunks(b: bytes) -> bytes:
    body = b[HEADER_LEN:]
    return b[:HEADER_LEN] + body[SEALED : 2 * SEALED] + body[:SEALED] + body[2 * SEALED :]


def _set_field(offset: int, fmt: str, value: int) -> Callable[[bytes], bytes]:
    at = len(MAGIC) + offset
    size = struct.calcsize(fmt)
    return lambda b: b[:at] + struct.pack(fmt, value) + b[at + size :]


DATA = bytes(range(100))  # seven chunks of 16 bytes (the last one short)


@pytest.mark.parametrize(
    ("tamper", "code", "says"),
    [
        pytest.param(_flip(HEADER_LEN + 3), "backup.damaged", "chunk 0", id="damaged/first-chunk"),
        pytest.param(
            _flip(-1), "backup.damaged", "end is cut off or altered", id="damaged/last-chunk"
        ),
        pytest.param(_swap_chunks, "backup.damaged", "chunk 0", id="damaged/chunks-reordered"),
        pytest.param(
            lambda b: b[: HEADER_LEN + 2 * SEALED], "backup.damaged", "cut off",
            id="damaged/cut-at-a-chunk-boundary",
        ),
        pytest.param(lambda b: b[:-5], "backup.damaged", "cut off", id="damaged/cut-mid-chunk"),
        pytest.param(
            lambda b: b[: HEADER_LEN + SEALED] + b[HEADER_LEN + 2 * SEALED :],
            "backup.damaged", "altered", id="damaged/chunk-dropped",
        ),
        pytest.param(lambda b: b + b"\0" * 20, "backup.damaged", "altered", id="damaged/appended"),
        pytest.param(lambda b: b[:40], "backup.damaged", "header", id="damaged/cut-in-header"),
        pytest.param(
            _set_field(2, ">I", 1 << 30), "backup.damaged", "impossible",
            id="damaged/header-asks-for-a-terabyte",
        ),
        pytest.param(
            _flip(len(MAGIC) + 20), "backup.wrong_passphrase", "header was altered",
            id="header/salt-altered",
        ),
        pytest.param(
            _set_field(0, ">B", 9), "backup.unsupported", "format 9", id="header/newer-format"
        ),
        pytest.param(
            lambda b: b"PK\x03\x04" + b[4:], "backup.not_an_archive", "not a certdesk backup",
            id="header/not-a-backup",
        ),
    ],
)  # fmt: skip
def test_any_change_to_the_file_is_refused(
    tamper: Callable[[bytes], bytes], code: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        unseal(tamper(seal(DATA)))
    assert caught.value.code == code
    assert says in caught.value.detail
    assert "b.bak" in caught.value.detail


def test_a_wrong_passphrase_is_told_apart_from_damage() -> None:
    with pytest.raises(InvalidInput) as caught:
        unseal(seal(DATA), b"correct horse battery stapler")
    assert caught.value.code == "backup.wrong_passphrase"
    assert caught.value.detail == "wrong passphrase for b.bak (or its header was altered)"


@pytest.mark.parametrize(
    ("passphrase", "ok"),
    [
        pytest.param(b"short", False, id="refuse/five-characters"),
        pytest.param(b"elevenchars", False, id="refuse/eleven-characters"),
        pytest.param("ñandú-ñandú".encode(), False, id="refuse/eleven-characters-in-utf8"),
        pytest.param(b"twelve chars", True, id="allow/twelve-characters"),
    ],
)
def test_a_new_backup_needs_a_passphrase_of_twelve_characters(passphrase: bytes, ok: bool) -> None:
    if ok:
        check_passphrase(passphrase)
        return
    with pytest.raises(InvalidInput) as caught:
        check_passphrase(passphrase)
    assert caught.value.code == "backup.weak_passphrase"
