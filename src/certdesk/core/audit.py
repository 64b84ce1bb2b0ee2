"""R15: the audit log is an append-only hash chain.

Each event's hash covers its own content and the previous event's hash, so editing,
removing or reordering any event breaks the chain at that event. A separate head (the newest
sequence number and hash, written in the same transaction) makes removing the *last* events
detectable too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    at: datetime
    actor: str
    action: str  # dotted verb: "org.create", "cert.issue", "case.approve" ...
    object_type: str
    object_id: str
    summary: Mapping[str, Any] = field(default_factory=dict)  # before/after, reason ...

    def canonical(self) -> bytes:
        """One byte string per event: sorted keys, no whitespace, UTC ISO time."""
        return json.dumps(
            {
                "seq": self.seq,
                "at": self.at.isoformat(),
                "actor": self.actor,
                "action": self.action,
                "object_type": self.object_type,
                "object_id": self.object_id,
                "summary": self.summary,
            },
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        ).encode()


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + event.canonical()).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    seq: int | None  # the first event that fails, None when the tail is missing
    reason: str


def verify_chain(
    rows: Iterable[tuple[AuditEvent, str, str]],
    head: tuple[int, str] | None,
) -> ChainBreak | None:
    """Check ``(event, prev_hash, hash)`` rows in storage order; None when intact."""
    prev = GENESIS
    expected_seq = 1
    for event, stored_prev, stored_hash in rows:
        if event.seq != expected_seq:
            return ChainBreak(
                event.seq,
                f"expected event #{expected_seq} here, found "
                f"#{event.seq} (an event was removed or reordered)",
            )
        if stored_prev != prev:
            return ChainBreak(event.seq, "its link to the previous event does not match")
        if chain_hash(prev, event) != stored_hash:
            return ChainBreak(event.seq, "its content does not match its hash (altered)")
        prev = stored_hash
        expected_seq += 1
    last_seq = expected_seq - 1
    if head is None:
        if last_seq:
            return ChainBreak(None, "the chain head is missing")
        return None
    head_seq, head_hash = head
    if head_seq != last_seq or head_hash != prev:
        return ChainBreak(
            last_seq + 1 if head_seq > last_seq else head_seq,
            f"the chain head says #{head_seq} but the log ends at #{last_seq} "
            "(events at the end were removed or altered)",
        )
    return None
