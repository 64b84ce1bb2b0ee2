"""What a vendor's refusals mean to certdesk, and how long to wait before asking again.

RFC 8555 §6.7 problem documents arrive as ``acme.messages.Error``; network failures as
``requests`` exceptions. Transient ones (``rateLimited``, ``serverInternal``, ``badNonce``,
no connection) are retried with back-off that respects ``Retry-After`` (RFC 8555 §6.6,
RFC 9110 §10.2.3); everything else becomes a domain error carrying the vendor's problem
document (``extra["problem"]``) so the case can show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from acme import messages

from certdesk.errors import CertdeskError, Conflict, Forbidden, NotFound, Unavailable

# RFC 8555 §6.7 types after which the same request may succeed later.
TRANSIENT = frozenset({"rateLimited", "serverInternal", "badNonce"})
# Types that mean the account (not the request) is the problem.
ACCOUNT_GONE = frozenset({"accountDoesNotExist"})
BINDING_REFUSED = frozenset({"unauthorized", "externalAccountRequired", "malformed"})


def problem_document(error: messages.Error) -> dict[str, object]:
    """The vendor's problem document as plain JSON (for the case and the audit log)."""
    doc = error.to_partial_json()
    return {k: v for k, v in doc.items() if isinstance(v, str | int | list | dict)}


def is_transient(error: messages.Error) -> bool:
    return error.code in TRANSIENT


def refusal(error: messages.Error, *, during: str) -> CertdeskError:
    """The domain error for a vendor's final answer ``error`` to the step ``during``."""
    doc = problem_document(error)
    said = error.detail or error.description or error.code or "no detail given"
    if error.code in ACCOUNT_GONE:
        return NotFound(
            "acme.account_gone",
            f"the vendor no longer knows this account ({during}): {said}",
            problem=doc,
        )
    if during == "registration" and error.code in BINDING_REFUSED:
        return Forbidden(
            "acme.eab_refused",
            f"the vendor refused the external account binding: {said}",
            problem=doc,
        )
    if error.code in TRANSIENT:
        return Unavailable(
            "acme.vendor_busy", f"the vendor is busy ({during}): {said}", problem=doc
        )
    return Conflict("acme.refused", f"the vendor refused {during}: {said}", problem=doc)


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """RFC 9110 §10.2.3: delay-seconds or an HTTP-date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return now + timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when, now)


@dataclass(frozen=True)
class Backoff:
    """How often and how long to retry a transient failure within one call.

    Without ``Retry-After`` the wait doubles from ``base`` up to ``cap``. A vendor that asks
    for a longer wait than ``longest_wait`` is not waited for in-process: the call gives up
    with the vendor's time, and the caller (the worker) comes back then.
    """

    attempts: int = 4
    base: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(seconds=30)
    longest_wait: timedelta = timedelta(seconds=60)

    def wait(self, attempt: int, retry_after: datetime | None, now: datetime) -> timedelta | None:
        """How long to wait before attempt ``attempt + 1``, or None to give up now."""
        if attempt + 1 >= self.attempts:
            return None
        if retry_after is not None:
            wanted = max(retry_after - now, timedelta(0))
            return wanted if wanted <= self.longest_wait else None
        backoff: timedelta = min(self.base * (2**attempt), self.cap)
        return backoff


def headers_retry_after(headers: Mapping[str, str] | None, now: datetime) -> datetime | None:
    if headers is None:
        return None
    return parse_retry_after(headers.get("Retry-After"), now)
