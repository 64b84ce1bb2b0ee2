"""R15: the audit hash chain detects an edited, removed or reordered event."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from certdesk.core.audit import GENESIS, AuditEvent, chain_hash, verify_chain

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
