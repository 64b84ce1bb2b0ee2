"""The pure parts of CT monitoring (R18): RFC 6962 Merkle hashing and consistency proofs,
the TLS structures of log entries, signed tree heads and checkpoints, and which entries are
findings. Checked against the test world's log (tests/world/ctlog.py), which implements the
RFC's recursive definitions independently of certdesk's compact range."""

from __future__ import annotations

import base64
import json

import pytest

from certdesk.core.ct_entries import EntryType, parse_get_entry, parse_tile, tile_path
from certdesk.core.ct_findings import UNASSIGNED, Watchlist, headline
from certdesk.core.ct_heads import load_log_key, parse_checkpoint, parse_sth
from certdesk.core.ct_merkle import (
    CompactRange,
    compact_from_inclusion,
    leaf_hash,
    verify_consistency,
)
from certdesk.core.grants import Grant
from certdesk.errors import InvalidInput
from world.ctlog import Authority, TestLog

SUFFIXES = ("ca.gov", "california.gov", "cahwnet.gov", "state.ca.us")


@pytest.fixture(scope="module")
def log() -> TestLog:
    ca = Authority()
    made = TestLog()
    for i in range(40):
        if i % 5 == 0:
            pre, final = ca.precertificate(f"p{i}.dmv.ca.gov")
            made.add_precertificate(pre, final, ca)
        else:
            made.add_certificate(ca.certificate(f"h{i}.example.net"), ca.cert)
    made.publish()
    return made


def entries_of(log: TestLog) -> list[object]:
    return [
        {
            "leaf_input": base64.b64encode(e.leaf_input).decode(),
            "extra_data": base64.b64encode(e.extra_data).decode(),
        }
        for e in log.entries
    ]


def test_compact_range_roots_equal_rfc6962_mth_at_every_size(log: TestLog) -> None:
    compact = CompactRange()
    assert compact.root() == log.mth(0, 0)
    for i, item in enumerate(entries_of(log)):
        compact.append(parse_get_entry(i, item).leaf_hash)
        assert compact.root() == log.mth(0, i + 1), i + 1
        again = CompactRange.from_hex(compact.size, compact.to_hex())
        assert again.root() == compact.root()


def test_consistency_proofs_verify_for_every_pair(log: TestLog) -> None:
    n = len(log.entries)
    for first in range(1, n + 1):
        for second in range(first, n + 1, 3):
            verify_consistency(
                first, second, log.mth(0, first), log.mth(0, second), log.proof(first, second)
            )


def test_r18_an_audit_path_gives_the_compact_range_to_start_from(log: TestLog) -> None:
    """A monitor starting at entry n needs the compact range of [0, n): every pair (n, size)
    gives the same range as reading the n entries one by one."""
    n_all = len(log.entries)
    read = CompactRange()
    for n in range(1, n_all + 1):
        read.append(leaf_hash(log.entries[n - 1].leaf_input))
        for size in range(n, n_all + 1, 5):
            leaf = leaf_hash(log.entries[n - 1].leaf_input)
            got = compact_from_inclusion(
                n - 1, size, leaf, log.path(n - 1, 0, size), log.mth(0, size)
            )
            assert (got.size, got.hashes) == (read.size, read.hashes), (n, size)


@pytest.mark.parametrize(
    ("index", "size", "tamper"),
    [
        pytest.param(6, 13, "root", id="R18/inclusion-wrong-root"),
        pytest.param(6, 13, "path", id="R18/inclusion-altered-path"),
        pytest.param(6, 13, "short", id="R18/inclusion-short-path"),
        pytest.param(6, 13, "long", id="R18/inclusion-long-path"),
        pytest.param(6, 13, "leaf", id="R18/inclusion-other-leaf"),
        pytest.param(13, 13, "none", id="R18/inclusion-beyond-the-tree"),
    ],
)
def test_r18_inclusion_refusals(log: TestLog, index: int, size: int, tamper: str) -> None:
    root = log.mth(0, size)
    path = log.path(min(index, size - 1), 0, size)
    leaf = leaf_hash(log.entries[min(index, size - 1)].leaf_input)
    if tamper == "root":
        root = bytes(32)
    elif tamper == "path":
        path = [path[0][::-1], *path[1:]]
    elif tamper == "short":
        path = path[:-1]
    elif tamper == "long":
        path = [*path, bytes(32)]
    elif tamper == "leaf":
        leaf = leaf_hash(log.entries[index + 1].leaf_input)
    with pytest.raises(InvalidInput) as err:
        compact_from_inclusion(index, size, leaf, path, root)
    assert err.value.code == "ct.inconsistent"


@pytest.mark.parametrize(
    ("first", "second", "tamper"),
    [
        pytest.param(7, 13, "first-root", id="R18/wrong-old-root"),
        pytest.param(7, 13, "second-root", id="R18/wrong-new-root"),
        pytest.param(8, 13, "proof", id="R18/altered-proof"),
        pytest.param(7, 13, "short", id="R18/short-proof"),
        pytest.param(13, 7, "none", id="R18/shrunk-tree"),
        pytest.param(9, 9, "second-root", id="R18/same-size-other-root"),
    ],
)
def test_consistency_refusals(log: TestLog, first: int, second: int, tamper: str) -> None:
    old, new = log.mth(0, first), log.mth(0, min(first, second) if first > second else second)
    proof = log.proof(first, second) if first <= second else []
    if tamper == "first-root":
        old = bytes(32)
    elif tamper == "second-root":
        new = bytes(32)
    elif tamper == "proof":
        proof = [proof[0][::-1], *proof[1:]]
    elif tamper == "short":
        proof = proof[:-1]
    with pytest.raises(InvalidInput) as err:
        verify_consistency(first, second, old, new, proof)
    assert err.value.code == "ct.inconsistent"


def test_get_entries_and_tiles_parse_to_the_same_entries(log: TestLog) -> None:
    from_api = [parse_get_entry(i, item) for i, item in enumerate(entries_of(log))]
    from_tile = list(parse_tile(0, log.tile(0, len(log.entries))))
    assert from_api == from_tile
    pre = from_api[0]
    assert pre.entry_type is EntryType.PRECERT and pre.tbs_der and pre.issuer_key_hash
    assert from_api[1].entry_type is EntryType.X509 and from_api[1].tbs_der is None


@pytest.mark.parametrize(
    ("leaf", "extra"),
    [
        pytest.param(b"\x01\x00", b"", id="R18/leaf-version-2"),
        pytest.param(b"\x00\x00" + bytes(8) + b"\x00\x07", b"", id="R18/unknown-entry-type"),
        pytest.param(b"\x00\x00" + bytes(8) + b"\x00\x00\x00\x00\x05ab", b"", id="R18/truncated"),
        pytest.param(
            b"\x00\x00" + bytes(8) + b"\x00\x00\x00\x00\x01a\x00\x00!", b"\x00\x00\x00",
            id="R18/trailing-bytes",
        ),
        pytest.param(
            b"\x00\x00" + bytes(8) + b"\x00\x00\x00\x00\x00\x00\x00", b"\x00\x00\x00",
            id="R18/empty-certificate",
        ),
    ],
)  # fmt: skip
def test_malformed_entries_are_refused(leaf: bytes, extra: bytes) -> None:
    item = {
        "leaf_input": base64.b64encode(leaf).decode(),
        "extra_data": base64.b64encode(extra).decode(),
    }
    with pytest.raises(InvalidInput) as err:
        parse_get_entry(0, item)
    assert err.value.code == "ct.bad_entry"


def test_tile_paths() -> None:
    assert [tile_path(n) for n in (0, 7, 999, 1000, 1234067)] == [
        "000", "007", "999", "x001/000", "x001/x234/067",
    ]  # fmt: skip


def test_signed_heads_verify_and_forgeries_do_not(log: TestLog) -> None:
    key = load_log_key(log.public_pem)
    head = parse_sth(log.sth(), key)
    assert (head.size, head.root) == (len(log.entries), log.mth(0, len(log.entries)))
    origin, checked = parse_checkpoint(log.checkpoint(), key)
    assert (origin, checked) == (log.origin, head)
    other = load_log_key(TestLog().public_pem)
    for bad in (
        lambda: parse_sth(log.sth(), other),
        lambda: parse_sth({**log.sth(), "tree_size": 3}, key),
        lambda: parse_sth(json.loads("[]"), key),
        lambda: parse_checkpoint(log.checkpoint(), other),
        lambda: parse_checkpoint(log.checkpoint().replace("\n40\n", "\n41\n", 1), key),
        lambda: parse_checkpoint("no signature", key),
    ):
        with pytest.raises(InvalidInput) as err:
            bad()
        assert err.value.code == "ct.bad_signature"


def test_watchlist_judges_names_and_scopes() -> None:
    ca = Authority()
    grants = [(1, Grant.parse("zone:dmv.ca.gov")), (2, Grant.parse("host:permits.ca.gov"))]
    watch = Watchlist(SUFFIXES, grants)
    made = TestLog()
    for names in (
        ("www.dmv.ca.gov", "permits.ca.gov", "x.parks.ca.gov", "www.example.com"),
        ("evilca.gov",),
        ("WWW.DMV.CA.GOV",),
        ("*.apps.dmv.ca.gov",),
    ):
        made.add_certificate(ca.certificate(*names), ca.cert)
    entries = list(parse_tile(0, made.tile(0, len(made.entries))))
    got = [watch.candidate(e) for e in entries]
    assert got[1] is None
    first = got[0]
    assert first is not None
    assert first.names == ("www.dmv.ca.gov", "permits.ca.gov", "x.parks.ca.gov")
    assert watch.scopes(first.names) == {
        1: ["www.dmv.ca.gov"], 2: ["permits.ca.gov"], UNASSIGNED: ["x.parks.ca.gov"],
    }  # fmt: skip
    assert got[2] is not None and got[2].names == ("www.dmv.ca.gov",)
    assert got[3] is not None and watch.scopes(got[3].names) == {1: ["*.apps.dmv.ca.gov"]}
    assert headline(["a.ca.gov"]) == "unknown issuer for a.ca.gov"
    assert headline(["a.ca.gov", "b.ca.gov", "c.ca.gov"]) == (
        "unknown issuer for a.ca.gov and 2 more names"
    )
