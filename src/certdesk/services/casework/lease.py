"""The lease that keeps one fulfilment (or R8 reissue) of a case running at a time.

A fulfilment writes its lease on the case in the transaction that claims it (the case row
locked), and clears it in the transaction that delivers, or in a last one when it fails. The
lease names the process (:mod:`certdesk.services.pki.signer_identity`), the actor it works for
and when it lapses: :data:`LEASE` for each certificate the fulfilment still has to issue, or
earlier when its process is known dead (same host). The worker leaves a leased case alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from certdesk.core.access import Actor
from certdesk.errors import Conflict
from certdesk.services.pki import signer_identity
from certdesk.store import cases as case_store
from certdesk.store.models import Case

LEASE = timedelta(minutes=5)


def claim(case: Case, actor: Actor, now: datetime, certificates: int = 1) -> None:
    """Write this process's lease on ``case`` (locked by the caller), or refuse if busy.

    ``certificates`` is how many the holder is about to issue: the lease lasts :data:`LEASE`
    for each (at least one), as the holder does not renew it while it works.
    """
    lease = case_store.lease_of(case)
    if lease is not None and lease.until > now and not signer_identity.is_dead(lease.holder):
        raise Conflict(
            "case.busy",
            f"case {case.number} is being worked by {lease.actor} right now"
            f" (lease until {lease.until:%H:%M:%S}Z); try again when that is done",
        )
    case_store.set_lease(
        case,
        case_store.Lease(
            holder=signer_identity.current(),
            actor=actor.name,
            until=now + LEASE * max(1, certificates),
        ),
    )


def release(case: Case) -> None:
    """Clear the lease on ``case`` (locked by the caller), whoever holds it."""
    if case_store.lease_of(case) is not None:
        case_store.set_lease(case, None)


def leased(case: Case, now: datetime) -> bool:
    """Whether a fulfilment or reissue holds an unexpired lease on ``case``."""
    lease = case_store.lease_of(case)
    return lease is not None and lease.until > now
