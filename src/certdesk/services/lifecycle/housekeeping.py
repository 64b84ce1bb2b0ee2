"""The worker's housekeeping (issue 4, part 5): expiry, the R8 window, overdue cases, CRLs.

Each job is one conditional change per item, so running it twice, or in two workers at once,
changes each item once and writes its audit event (R15) once, in the same transaction:

* **expiry** — ``active`` → ``expired`` strictly after ``notAfter`` (RFC 5280 §4.1.2.5), in
  batches claimed with ``FOR UPDATE SKIP LOCKED`` (``UPDATE … WHERE status = 'active'``).
  A ``superseded`` certificate keeps its status: it was replaced, its expiry is no news;
* **window** — a delivered case whose R8 window has ended is closed by the system
  (``Event.CLOSE`` as ``Party.SYSTEM``). A ``change`` case's replaced certificate is revoked
  ``superseded`` first, as :meth:`FulfilmentService.close` does when a person closes it; a
  case with a fulfilment or reissue lease still running is left for the next pass;
* **overdue** — counted from ``ix_cases_state_due`` (R5); the notice is the notices
  service's;
* **CRLs** — every built-in CA's CRL is republished from half its life on
  (:meth:`RevocationService.crl`, core.lifecycle.crl_refresh_due), so ``nextUpdate`` is
  never reached while a worker runs. Two workers may both republish at the same moment; that
  only makes two consecutive CRL numbers, both correct.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from certdesk.core.calendar import PACIFIC
from certdesk.core.cases import WORKING_STATES
from certdesk.core.certificates import CertStatus
from certdesk.core.workflow import CaseType, Event, State
from certdesk.errors import Conflict
from certdesk.services.audit import AuditService
from certdesk.services.casework.casefile import apply_event, iso
from certdesk.services.casework.lease import leased
from certdesk.services.lifecycle.renewals import WORKER
from certdesk.services.pki.authority import Authority
from certdesk.services.pki.issuance import IssuanceService
from certdesk.services.pki.revocation import Reason, RevocationService
from certdesk.services.runtime import Runtime
from certdesk.store import cases as case_store
from certdesk.store import certificates as cert_store
from certdesk.store import crls as crl_store
from certdesk.store import lifecycle as store

EXPIRY_BATCH = 500
WINDOW_NOTE = "the 25-day window ended (R8)"


@dataclass(frozen=True)
class WindowEnd:
    """A delivered case whose window ended, as read before closing it."""

    case_id: int
    number: str
    superseded: str | None  # a change case's replaced certificate, still to revoke


class HousekeepingService:
    def __init__(
        self,
        rt: Runtime,
        audit: AuditService,
        authority: Authority,
        issuance: IssuanceService,
        revocation: RevocationService,
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._authority = authority
        self._issuance = issuance
        self._revocation = revocation

    def recover(self) -> int:
        """Void issuance intents of processes that died (DESIGN §3.2); returns how many."""
        return len(self._issuance.recover())

    # --- expiry ------------------------------------------------------------------------------

    def expire_batch(self, now: datetime, limit: int = EXPIRY_BATCH) -> int:
        """Mark one batch of certificates past ``notAfter`` expired; 0 when none is left."""
        with self._rt.sessions.begin() as s:
            done = store.expire_batch(s, now, limit)
            for row in done:
                self._audit.record(
                    s,
                    WORKER,
                    "cert.expire",
                    "certificate",
                    row.serial,
                    not_after=iso(row.not_after),
                )
        return len(done)

    # --- R8: the window ------------------------------------------------------------------------

    def windows_ended(self, now: datetime, limit: int = 1000) -> list[WindowEnd]:
        """Delivered cases whose window has ended and that no fulfilment is working on."""
        out: list[WindowEnd] = []
        with self._rt.reads() as s:
            for case_id in store.windows_ended(s, now, limit):
                case = case_store.by_id(s, case_id)
                if case is None or leased(case, now):
                    continue
                target = cert_store.by_id(s, case.target_cert_id) if case.target_cert_id else None
                superseded = None
                if case.type == CaseType.CHANGE and target is not None:
                    superseded = target.serial if target.status == CertStatus.ACTIVE else None
                out.append(WindowEnd(case.id, case.number, superseded))
        return out

    def close_window(self, item: WindowEnd, now: datetime) -> bool:
        """Close one case whose window ended, as the system; False if someone else did."""
        if item.superseded is not None:
            try:
                self._revocation.revoke(WORKER, item.superseded, Reason.SUPERSEDED)
            except Conflict as exc:
                if exc.code != "cert.revoked":
                    raise
        with self._rt.sessions.begin() as s:
            case = store.claim_delivered(s, item.case_id)
            if case is None or case.window_ends_at is None or case.window_ends_at > now:
                return False
            # A string actor is Party.SYSTEM for the state machine (core.workflow).
            apply_event(s, case, WORKER.name, Event.CLOSE, now, note=WINDOW_NOTE)
            case_store.mark_closed(case, now)
            self._audit.record(
                s,
                WORKER.name,
                "case.close",
                "case",
                case.number,
                before=State.DELIVERED,
                note=WINDOW_NOTE,
                window_ends_at=iso(case.window_ends_at),
                superseded=item.superseded,
            )
        return True

    # --- R5: overdue ---------------------------------------------------------------------------

    def overdue(self, now: datetime) -> int:
        """How many cases are overdue now (from 00:00 Pacific the day after their due date)."""
        with self._rt.reads() as s:
            return store.overdue_count(
                s, now.astimezone(PACIFIC).date(), [str(st) for st in WORKING_STATES]
            )

    # --- CRLs ----------------------------------------------------------------------------------

    def refresh_crls(self) -> int:
        """Republish every CRL that is past half its life (or missing a revocation)."""
        refreshed = 0
        for issuer, _cert in self._authority.all_certificates():
            with self._rt.reads() as s:
                before = crl_store.latest(s, issuer.id)
            self._revocation.crl(issuer.slug)
            with self._rt.reads() as s:
                after = crl_store.latest(s, issuer.id)
            if after is not None and (before is None or after.number != before.number):
                refreshed += 1
        return refreshed
