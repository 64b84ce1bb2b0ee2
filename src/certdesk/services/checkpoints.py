"""R15: signed checkpoints of the audit log, kept outside the database.

A checkpoint is the log's head (how many events, the newest one's hash, when) signed with an
Ed25519 key derived from the secret-box key, which the database does not hold. Kept where the
database's writers cannot reach (another host, write-once storage), it proves the log up to
it: ``certdesk audit verify --checkpoint FILE`` finds an event rewritten before it even when
every later hash was recomputed, and events cut off after it. The worker writes one per pass
into ``CERTDESK_AUDIT_CHECKPOINT_DIR``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.audit import ChainBreak, Checkpoint, check_against_checkpoint
from certdesk.errors import InvalidInput
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.store import audit as audit_store

FORMAT = "certdesk-audit-checkpoint/1"
SIGNING_PURPOSE = "certdesk audit checkpoint signing"


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    public_key: str  # base64 of the raw Ed25519 key
    signature: str  # base64

    def as_dict(self) -> dict[str, Any]:
        c = self.checkpoint
        return {
            "format": FORMAT,
            "seq": c.seq,
            "hash": c.hash,
            "at": c.at.isoformat(),
            "public_key": self.public_key,
            "signature": self.signature,
        }

    def to_bytes(self) -> bytes:
        return (json.dumps(self.as_dict(), indent=2) + "\n").encode()


class CheckpointService:
    def __init__(self, rt: Runtime, audit: AuditService, secretbox: SecretBox) -> None:
        self._rt = rt
        self._audit = audit
        self._secretbox = secretbox

    def _signing_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self._secretbox.derive(SIGNING_PURPOSE))

    def public_key(self) -> str:
        raw = self._signing_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    def take(self, actor: Actor) -> SignedCheckpoint:
        """Sign the log's head as it is now."""
        authorize(actor, Action.AUDIT_READ, actor.org_id)
        with self._rt.reads() as s:
            head = audit_store.head(s)
        seq, digest = (head.seq, head.hash) if head else (0, "0" * 64)
        checkpoint = Checkpoint(seq, digest, self._rt.clock())
        signature = self._signing_key().sign(checkpoint.signed_bytes())
        return SignedCheckpoint(checkpoint, self.public_key(), base64.b64encode(signature).decode())

    def write(self, actor: Actor, directory: Path | None = None) -> tuple[SignedCheckpoint, Path]:
        """Take a checkpoint into ``directory`` (default: the configured one) as
        ``checkpoint-<seq>.json``; an existing file for that head is kept as it is."""
        taken = self.take(actor)
        target_dir = directory or self._rt.settings.audit_checkpoints
        target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = target_dir / f"checkpoint-{taken.checkpoint.seq:012d}.json"
        if path.exists():
            return taken, path
        # A name of this writer's own: two workers (threads of one process, or processes)
        # may take the same head at once. The first to link its file wins; the other's
        # file is dropped, so an existing checkpoint is never replaced (R15).
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
        tmp.write_bytes(taken.to_bytes())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: an atomic replace instead
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return taken, path

    def verify(self, actor: Actor, data: bytes) -> tuple[Checkpoint, ChainBreak | None]:
        """Check a checkpoint file's signature, then the stored log against it.

        A checkpoint that is not ours (another key, altered, not a checkpoint) is
        :class:`InvalidInput`; a log that no longer holds what it saw is a ChainBreak.
        """
        authorize(actor, Action.AUDIT_READ, actor.org_id)
        checkpoint, public_key, signature = _parse(data)
        if public_key != self.public_key():
            raise InvalidInput(
                "checkpoint.other_key",
                "the checkpoint was signed by another installation's key",
            )
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
            key.verify(base64.b64decode(signature), checkpoint.signed_bytes())
        except (InvalidSignature, ValueError, binascii.Error):
            raise InvalidInput(
                "checkpoint.bad_signature",
                "the checkpoint's signature does not verify: the file was altered",
            ) from None
        with self._rt.reads() as s:
            head = audit_store.head(s)
            head_seq = head.seq if head else 0
            stored = audit_store.hash_at(s, checkpoint.seq) if checkpoint.seq else "0" * 64
        return checkpoint, check_against_checkpoint(checkpoint, stored, head_seq)


def _parse(data: bytes) -> tuple[Checkpoint, str, str]:
    try:
        raw = json.loads(data)
        if raw.get("format") != FORMAT:
            raise ValueError("format")
        checkpoint = Checkpoint(
            int(raw["seq"]), str(raw["hash"]), datetime.fromisoformat(str(raw["at"]))
        )
        return checkpoint, str(raw["public_key"]), str(raw["signature"])
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise InvalidInput(
            "checkpoint.unreadable", "this is not a certdesk audit checkpoint file"
        ) from None
