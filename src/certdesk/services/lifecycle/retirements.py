"""Revoking, after their overlap, the certificates that in-window reissues replaced (R8).

The reissue records ``retire_at`` in the transaction that links the replacement (a durable
intent). Each worker pass revokes the due ones ``superseded`` through the revocation
service (audited ``cert.revoke`` by ``system:worker``, the CRL rebuilt) and then clears the
intent. Exactly once: the revocation locks the row and refuses a revoked one, so of two
workers, or a worker that crashed between revoking and clearing, only one revocation is
recorded; the other finds it revoked and only clears the intent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import structlog

from certdesk.errors import Conflict, NotFound
from certdesk.services.lifecycle.renewals import WORKER
from certdesk.services.pki.revocation import Reason, RevocationService
from certdesk.services.runtime import Runtime
from certdesk.store import certificates as cert_store

log = structlog.get_logger("certdesk.window")

BATCH = 100


@dataclass
class Retired:
    revoked: int = 0
    errors: list[str] = field(default_factory=list)


class Retirements:
    def __init__(self, rt: Runtime, revocation: RevocationService) -> None:
        self._rt = rt
        self._revocation = revocation

    def retire_due(self, now: datetime) -> Retired:
        """Revoke every replaced certificate whose overlap has ended by ``now``."""
        done = Retired()
        with self._rt.reads() as s:
            due = cert_store.due_retirements(s, now, BATCH)
        for serial in due:
            try:
                self._revocation.revoke(WORKER, serial, Reason.SUPERSEDED)
                done.revoked += 1
            except (Conflict, NotFound) as exc:
                # Revoked meanwhile (by a person, or another worker): only the intent is left.
                if exc.code not in ("cert.revoked", "cert.unknown"):
                    done.errors.append(f"{serial}: {exc.code}")
                    continue
            except Exception as exc:  # a vendor that does not answer: tried again next pass
                log.warning("retirement failed", serial=serial, exc_info=True)
                done.errors.append(f"{serial}: {type(exc).__name__}")
                continue
            with self._rt.sessions.begin() as s:
                cert_store.clear_retirement(s, serial)
        return done
