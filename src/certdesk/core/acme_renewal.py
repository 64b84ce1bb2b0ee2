"""ACME Renewal Information (RFC 9773) as the rules see it: the certificate identifier and the
suggested renewal window, which follows R6 (core/lifecycle/renewals.py), the same rule by which the
worker opens renewal cases.

Pure: no clock, no storage. The services read a certificate's dates and state and ask here.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from certdesk.core.calendar import PACIFIC, BusinessCalendar
from certdesk.core.lifecycle import LifecyclePolicy, RenewalBasis, renewal_plan

# RFC 9773 §4.2: how long a client should wait before asking again (Retry-After); Let's
# Encrypt answers six hours, and the R6 plan does not change faster than that.
RETRY_AFTER = timedelta(hours=6)
# The width of a "renew now" window (revoked, or replacement asked for): it starts in the
# past so that every client's random choice inside it is already due (RFC 9773 §4.2).
NOW_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class CertId:
    """RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial's DER INTEGER bytes)."""

    key_identifier: bytes
    serial: int

    def __str__(self) -> str:
        length = (self.serial.bit_length() + 8) // 8  # room for the sign bit, like DER
        der = self.serial.to_bytes(length, "big", signed=True)
        return f"{_b64(self.key_identifier)}.{_b64(der)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or any(c not in _ALPHABET for c in text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def parse_cert_id(text: str) -> CertId:
    """The identifier of RFC 9773 §4.1; raises ``ValueError`` for anything else (padding,
    a non-positive serial, a serial with a redundant leading byte, too long)."""
    if len(text) > 200 or text.count(".") != 1:
        raise ValueError("a certID is keyIdentifier.serial")
    aki_text, serial_text = text.split(".")
    aki, der = _unb64(aki_text), _unb64(serial_text)
    if not aki or not der or len(der) > 20:
        raise ValueError("a certID is keyIdentifier.serial")
    # DER INTEGER content: minimal (X.690 §8.3.2); serials are positive (RFC 5280 §4.1.2.2).
    if len(der) > 1 and ((der[0] == 0 and der[1] < 0x80) or (der[0] == 0xFF and der[1] >= 0x80)):
        raise ValueError("the serial is not minimally encoded")
    serial = int.from_bytes(der, "big", signed=True)
    if serial <= 0:
        raise ValueError("a serial is positive")
    return CertId(aki, serial)


@dataclass(frozen=True)
class Window:
    """RFC 9773 §4.2 ``suggestedWindow``, with why (for operators and logs)."""

    start: datetime
    end: datetime
    reason: str  # "r6", "revoked" or "replace-requested"


def suggested_window(
    not_before: datetime,
    not_after: datetime,
    now: datetime,
    calendar: BusinessCalendar,
    policy: LifecyclePolicy,
    *,
    revoked: bool = False,
    replace_requested: bool = False,
    requested: date | None = None,
) -> Window:
    """When an ACME client should renew the certificate valid ``not_before``..``not_after``.

    1. Revoked, or cert services asked for its replacement: "now", a window that ended a
       moment from now and began :data:`NOW_WINDOW` before (RFC 9773 §4.2 lets the server
       move the window into the past to ask for immediate renewal).
    2. Otherwise R6: the window opens when the worker would open the renewal case
       (:func:`certdesk.core.lifecycle.renewal_plan`) and closes at the start of the last
       business day a renewal may be delivered on (``deliver_by``), which keeps the margin
       before expiry. When that day is not after the opening (short-lived certificates,
       where the lifetime fraction decides), the window closes halfway between the opening
       and the expiry, so that a client still renews well before it.
    3. A certificate too short for any R6 point (the plan opens "at issuance": a short-lived
       profile) opens at the lifetime fraction instead: a client that renewed at once would
       renew again at once, forever.
    """
    if revoked or replace_requested:
        return Window(now - NOW_WINDOW, now, "revoked" if revoked else "replace-requested")
    plan = renewal_plan(not_before, not_after, calendar, policy, requested)
    start = plan.lifetime_at if plan.basis is RenewalBasis.ISSUANCE else plan.opens_at
    end = datetime.combine(plan.deliver_by, datetime.min.time(), tzinfo=PACIFIC).astimezone(
        start.tzinfo
    )
    if end <= start:
        end = start + (not_after - start) / 2
    return Window(start, end.replace(microsecond=0), "r6")
