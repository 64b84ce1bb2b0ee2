"""Vendor contracts of cert services: what a record may hold, and when to warn of its end.

The seed's team manages the vendor contract and its licences; certdesk keeps the record and
tells cert services ahead of the end (by default 90 and 30 days before), each warning once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from certdesk.errors import InvalidInput

MAX_LICENCES = 10_000_000
_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def notice_reason(days: int) -> str:
    """The mail queue's once-only reason of the warning ``days`` before the end."""
    return f"contract.ends.{days}"


@dataclass(frozen=True)
class ContractTerms:
    """A contract as cert services record it (checked by :func:`check_terms`)."""

    vendor: str
    number: str
    licences_total: int
    licences_used: int | None
    starts_on: date
    ends_on: date
    notes: str = ""


def check_terms(terms: ContractTerms) -> ContractTerms:
    """The terms normalized; raises :class:`InvalidInput` naming the first bad field."""
    vendor = " ".join(terms.vendor.split())
    if not vendor or len(vendor) > 200 or _CONTROL.search(terms.vendor):
        raise InvalidInput("contract.vendor", "a vendor name is 1-200 printable characters")
    number = terms.number.strip()
    if not _NUMBER.match(number):
        raise InvalidInput(
            "contract.number",
            f"{terms.number!r} is not a contract number (1-100 letters, digits, space . _ -)",
        )
    if not 0 <= terms.licences_total <= MAX_LICENCES:
        raise InvalidInput("contract.licences", f"licences bought must be 0-{MAX_LICENCES:,}")
    if terms.licences_used is not None and not 0 <= terms.licences_used <= MAX_LICENCES:
        raise InvalidInput("contract.licences", f"licences used must be 0-{MAX_LICENCES:,}")
    if terms.ends_on < terms.starts_on:
        raise InvalidInput(
            "contract.dates",
            f"the contract cannot end ({terms.ends_on}) before it starts ({terms.starts_on})",
        )
    notes = terms.notes.strip()
    if len(notes) > 5000 or _CONTROL.search(notes):
        raise InvalidInput("contract.notes", "notes are at most 5,000 printable characters")
    return ContractTerms(
        vendor, number, terms.licences_total, terms.licences_used, terms.starts_on,
        terms.ends_on, notes,
    )  # fmt: skip


def warning_due(
    ends_on: date, today: date, notice_days: Iterable[int], recorded: Iterable[str]
) -> int | None:
    """The warning to send today, in days before the end, or None.

    A warning is due from its day until the contract ends. When several are due at once (a
    contract recorded 20 days before its end), only the nearest one is sent: it says all
    there is to say; the others are never sent for it. Each is sent once (``recorded``
    holds the reasons already in the mail queue).
    """
    if today > ends_on:
        return None
    left = (ends_on - today).days
    reached = sorted(d for d in set(notice_days) if left <= d)
    if not reached:
        return None
    nearest = reached[0]
    return None if notice_reason(nearest) in set(recorded) else nearest
