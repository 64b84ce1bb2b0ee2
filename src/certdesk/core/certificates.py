"""A certificate's status in the inventory, and the one place "expired" is decided.

The stored status moves ``signing`` → ``active`` (or ``void``), then ``active`` → ``revoked``,
``superseded`` (a renewal replaced it, R6) or ``expired``. The worker marks an active
certificate ``expired`` after its notAfter, in batches; until it has, every reader shows it
as expired all the same: :func:`status_at` is that rule, and the inventory's status filter
(``store/certificates.search``) is its SQL twin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def replacement_installed(
    old_sha256: str | None,
    new_sha256: str | None,
    new_names: Sequence[str],
    served: Mapping[str, Sequence[str | None]],
) -> bool:
    """Issue 14 (R8, R14): whether an in-window replacement is verified installed, so the
    certificate it replaced may be revoked before its overlap ends.

    ``served`` maps each checked DNS name to what its latest checks (one per port) served,
    checks since the replacement was issued, of the names of both certificates. Installed
    means: every name of the replacement that can be checked (not a wildcard) was checked
    and serves the replacement, and no checked name still serves the old certificate. An
    unreachable name (``None``) or a name never checked keeps the overlap.
    """
    if not new_sha256:
        return False
    checkable = [n for n in new_names if not n.startswith("*.")]
    if not checkable:
        return False
    for name in checkable:
        seen = served.get(name)
        if not seen or any(fp != new_sha256 for fp in seen):
            return False
    return not any(old_sha256 is not None and old_sha256 in fps for fps in served.values())
