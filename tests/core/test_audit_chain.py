"""R15: the audit hash chain detects an edited, removed or reordered event."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from certdesk.core.audit import (
    GENESIS,
    AuditEvent,
    Checkpoint,
    chain_hash,
    check_against_checkpoint,
    verify_chain,
)

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


def _chain(n: int) -> tuple[list[tuple[AuditEvent, str, str]], tuple[int, str]]:
    rows = []
    prev = GENESIS
    for i in range(1, n + 1):
        event = AuditEvent(
            i,
            T0 + timedelta(minutes=i),
            "cli:operator",
            "org.create",
            "org",
            f"org{i}",
            {"after": {"code": f"org{i}"}},
        )
        h = chain_hash(prev, event)
        rows.append((event, prev, h))
        prev = h
    return rows, (n, prev)


def test_intact_chain_verifies() -> None:
    rows, head = _chain(6)
    assert verify_chain(rows, head) is None


def test_empty_log_verifies() -> None:
    assert verify_chain([], None) is None


def _edit(rows: list, i: int) -> list:
    event, prev, h = rows[i]
    rows[i] = (replace(event, actor="someone-else"), prev, h)
    return rows


def _edit_summary(rows: list, i: int) -> list:
    event, prev, h = rows[i]
    rows[i] = (replace(event, summary={"after": {"code": "forged"}}), prev, h)
    return rows


def _delete(rows: list, i: int) -> list:
    del rows[i]
    return rows


def _swap(rows: list, i: int) -> list:
    rows[i], rows[i + 1] = rows[i + 1], rows[i]
    return rows


def _rehash_edit(rows: list, i: int) -> list:
    # A forger who recomputes the edited row's hash still breaks the next row's link.
    event, prev, _h = rows[i]
    forged = replace(event, action="org.delete")
    rows[i] = (forged, prev, chain_hash(prev, forged))
    return rows


@pytest.mark.parametrize(
    ("tamper", "index", "bad_seq"),
    [
        pytest.param(_edit, 2, 3, id="R15/edit-actor"),
        pytest.param(_edit_summary, 0, 1, id="R15/edit-first-row"),
        pytest.param(_delete, 3, 5, id="R15/delete-middle"),
        pytest.param(_delete, 0, 2, id="R15/delete-first"),
        pytest.param(_swap, 1, 3, id="R15/reorder"),
        pytest.param(_rehash_edit, 2, 4, id="R15/edit-and-rehash"),
    ],
)
def test_tampering_is_found_at_the_first_bad_event(tamper, index: int, bad_seq: int) -> None:  # type: ignore[no-untyped-def]
    rows, head = _chain(6)
    broken = verify_chain(tamper(list(rows), index), head)
    assert broken is not None
    assert broken.seq == bad_seq


def test_removing_the_last_events_is_found_by_the_head() -> None:
    rows, head = _chain(6)
    broken = verify_chain(rows[:-2], head)
    assert broken is not None
    assert broken.seq == 5
    assert "removed" in broken.reason


def test_missing_head_is_found() -> None:
    rows, _head = _chain(3)
    broken = verify_chain(rows, None)
    assert broken is not None


# --- keyed chain (security finding 2) --------------------------------------------------------

KEY = b"k" * 32


def _keyed_chain(n: int, key: bytes) -> tuple[list[tuple[AuditEvent, str, str]], tuple[int, str]]:
    rows = []
    prev = GENESIS
    for event, _p, _h in _chain(n)[0]:
        h = chain_hash(prev, event, key)
        rows.append((event, prev, h))
        prev = h
    return rows, (n, prev)


@pytest.mark.parametrize(
    ("written_with", "verified_with", "intact"),
    [
        pytest.param(KEY, KEY, True, id="R15/keyed-intact"),
        pytest.param(None, KEY, False, id="R15/rehashed-without-key"),
        pytest.param(b"x" * 32, KEY, False, id="R15/rehashed-with-another-key"),
        pytest.param(None, None, True, id="R15/plain-chain-before-keys"),
    ],
)
def test_keyed_chain_needs_the_key(
    written_with: bytes | None, verified_with: bytes | None, intact: bool
) -> None:
    rows, head = _keyed_chain(5, written_with) if written_with else _chain(5)
    broken = verify_chain(rows, head, verified_with)
    assert (broken is None) is intact
    if not intact:
        assert broken is not None and broken.seq == 1


def test_checkpoint_finds_rewrites_and_truncation() -> None:
    rows, (seq, _digest) = _keyed_chain(6, KEY)
    cp = Checkpoint(4, rows[3][2], T0)
    assert check_against_checkpoint(cp, rows[3][2], seq) is None
    rewritten = check_against_checkpoint(cp, "f" * 64, seq)
    assert rewritten is not None and rewritten.seq == 4
    cut = check_against_checkpoint(cp, None, 3)
    assert cut is not None and "now ends at #3" in cut.reason
    assert cp.signed_bytes() != Checkpoint(5, rows[3][2], T0).signed_bytes()
