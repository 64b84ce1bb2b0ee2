"""Revoking, after their overlap, the certificates that in-window reissues replaced (R8).

The reissue records ``retire_at`` in the transaction that links the replacement (a durable
intent). Each worker pass revokes the due ones ``superseded`` through the revocation
service (audited ``cert.revoke`` by ``system:worker``, the CRL rebuilt) and then clears the
intent. Exactly once: the revocation locks the row and refuses a revoked one, so of two
workers, or a worker that crashed between revoking and clearing, only one revocation is
recorded; the other finds it revoked and only clears the intent.

The overlap also ends early once the replacement is verified installed (issue 14): when the
worker's endpoint checks since the replacement was issued saw every checkable name of it
serve the replacement and no name still serve the old certificate
(:func:`certdesk.core.certificates.replacement_installed`), the same pass revokes the old
one, its audit event saying why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy.orm import Session

from certdesk.core.certificates import replacement_installed
from certdesk.errors import Conflict, NotFound
from certdesk.services.lifecycle.renewals import WORKER
from certdesk.services.pki.revocation import Reason, RevocationService
from certdesk.services.runtime import Runtime
from certdesk.store import certificates as cert_store
from certdesk.store import endpoints as endpoint_store

log = structlog.get_logger("certdesk.window")

BATCH = 100
INSTALLED = "its replacement is verified installed: every name checked serves the new certificate"


@dataclass
class Retired:
    revoked: int = 0
    early: int = 0  # of which revoked before the overlap ended: the replacement is installed
    errors: list[str] = field(default_factory=list)


class Retirements:
    def __init__(self, rt: Runtime, revocation: RevocationService) -> None:
        self._rt = rt
        self._revocation = revocation

    def retire_due(self, now: datetime) -> Retired:
        """Revoke every replaced certificate whose overlap has ended by ``now``, or whose
        replacement is verified installed."""
        done = Retired()
        with self._rt.reads() as s:
            due: list[tuple[str, str | None]] = [
                (serial, None) for serial in cert_store.due_retirements(s, now, BATCH)
            ]
            due += [(serial, INSTALLED) for serial in self._installed(s, now)]
        for serial, because in due:
            try:
                self._revocation.revoke(WORKER, serial, Reason.SUPERSEDED, because=because)
                done.revoked += 1
                done.early += because is not None
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

    def _installed(self, s: Session, now: datetime) -> list[str]:
        """The certificates in their overlap whose replacement is verified installed."""
        out: list[str] = []
        for o in endpoint_store.overlaps(s, now, BATCH):
            hosts = [n for n in (*o.new_names, *o.old_names) if not n.startswith("*.")]
            served = endpoint_store.latest_served(s, hosts, o.new_issued_at)
            if replacement_installed(o.old_sha256, o.new_sha256, o.new_names, served):
                out.append(o.old_serial)
        return out
