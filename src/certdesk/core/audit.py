"""R15: the audit log is an append-only hash chain, keyed, with signed checkpoints.

Each event's hash covers its own content and the previous event's hash, so editing,
removing or reordering any event breaks the chain at that event. A separate head (the newest
sequence number and hash, written in the same transaction) makes removing the *last* events
detectable too.

The hash is an HMAC under a key the database does not hold (derived from the secret-box key
in the secrets directory): someone who can write the database can change an event but cannot
compute the hashes that would hide it. A *checkpoint* — the head's sequence number and hash at
a moment, signed with a key the database does not hold either — kept outside the database
proves the log up to it, including that nothing after it was cut off.
"""

from __future__ import annotations

import hashlib
import hmac
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


def chain_hash(prev_hash: str, event: AuditEvent, key: bytes | None = None) -> str:
    """The event's link: HMAC-SHA256 under ``key``; plain SHA-256 for a chain written before
    keys (a log is keyed once, from its first event, when certdesk first starts with keys)."""
    data = prev_hash.encode() + b"\n" + event.canonical()
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, "sha256").hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    seq: int | None  # the first event that fails, None when the tail is missing
    reason: str


def verify_chain(
    rows: Iterable[tuple[AuditEvent, str, str]],
    head: tuple[int, str] | None,
    key: bytes | None = None,
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
        if not hmac.compare_digest(chain_hash(prev, event, key), stored_hash):
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


@dataclass(frozen=True)
class Checkpoint:
    """The head of the log at ``at``: ``seq`` events, the last one hashed ``hash``."""

    seq: int
    hash: str
    at: datetime

    def signed_bytes(self) -> bytes:
        """What the checkpoint signature covers (canonical JSON, with a purpose label)."""
        return json.dumps(
            {"purpose": "certdesk audit checkpoint", "seq": self.seq, "hash": self.hash,
             "at": self.at.isoformat()},
            sort_keys=True,
            separators=(",", ":"),
        ).encode()  # fmt: skip


def check_against_checkpoint(
    checkpoint: Checkpoint, hash_at_seq: str | None, head_seq: int
) -> ChainBreak | None:
    """Whether the stored log still holds what ``checkpoint`` saw.

    ``hash_at_seq`` is the stored hash of event ``checkpoint.seq`` (None: no such event);
    ``head_seq`` the log's newest event. The chain itself is verified separately: together
    they prove every event up to the checkpoint unchanged and nothing after it removed.
    """
    if head_seq < checkpoint.seq or hash_at_seq is None:
        return ChainBreak(
            None,
            f"the checkpoint of {checkpoint.at.isoformat()} saw {checkpoint.seq} events, the log"
            f" now ends at #{head_seq} (events were removed)",
        )
    if not hmac.compare_digest(hash_at_seq, checkpoint.hash):
        return ChainBreak(
            checkpoint.seq,
            f"event #{checkpoint.seq} is not the one the checkpoint of"
            f" {checkpoint.at.isoformat()} saw (the log was rewritten)",
        )
    return None
