"""A certificate's status in the inventory, and the one place "expired" is decided.

The stored status moves ``signing`` → ``active`` (or ``void``), then ``active`` → ``revoked``,
``superseded`` (a renewal replaced it, R6) or ``expired``. The worker marks an active
certificate ``expired`` after its notAfter, in batches; until it has, every reader shows it
as expired all the same: :func:`status_at` is that rule, and the inventory's status filter
(``store/certificates.search``) is its SQL twin.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class CertStatus(StrEnum):
    """Stored in ``certificates.status``; the strings are the API's and the CLI's too."""

    ACTIVE = "active"
    SUPERSEDED = "superseded"  # replaced by an active renewal (R6)
    REVOKED = "revoked"
    EXPIRED = "expired"
    SIGNING = "signing"  # intent recorded, not signed and stored yet (DESIGN §3.2)
    VOID = "void"  # an intent whose signing was interrupted; its serial is never reused


# Intents and voided serials are bookkeeping, not inventory: nobody but the pipeline sees them.
BOOKKEEPING = (CertStatus.SIGNING, CertStatus.VOID)
# Certificates that were signed and handed out (whatever became of them since).
DELIVERED = (CertStatus.ACTIVE, CertStatus.REVOKED, CertStatus.EXPIRED, CertStatus.SUPERSEDED)
# What a person may filter the inventory by, in the order the console offers it.
LISTED = (CertStatus.ACTIVE, CertStatus.EXPIRED, CertStatus.SUPERSEDED, CertStatus.REVOKED)


def status_at(stored: str, not_after: datetime, now: datetime) -> CertStatus:
    """The status to show at ``now``: an ``active`` certificate whose notAfter has come is
    shown expired even before the worker has marked it (the inventory filter agrees)."""
    status = CertStatus(stored)
    if status is CertStatus.ACTIVE and not_after <= now:
        return CertStatus.EXPIRED
    return status
