"""Issuers as the rules see them: which backend signs, how a vendor's order stands.

An issuer row is either the built-in CA (``local``: certdesk signs with its own key) or a
vendor reached over ACME (``acme``: the vendor signs, certdesk orders). A vendor order moves
``ordering`` → ``pending`` → ``issued``, or ends ``failed``; the ``ordering`` row is written
before the first request to the vendor (write-ahead, DESIGN §3.2), so a restart resumes the
same order and never places a second one for the same request.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum

from certdesk.core.grants import Grant, GrantKind
from certdesk.errors import Conflict


class Backend(StrEnum):
    """Stored in ``issuers.backend``; room for ``pkcs11`` later."""

    LOCAL = "local"
    ACME = "acme"


class Solver(StrEnum):
    """How a vendor's challenges are answered (RFC 8555 §8), chosen per issuer."""

    NONE = "none"  # the vendor's authorizations are already valid (pre-validated domains)
    DNS01 = "dns-01"  # RFC 2136 dynamic update with TSIG
    HTTP01 = "http-01"  # served by certdesk under /.well-known/acme-challenge/, or a webroot


class OrderState(StrEnum):
    """Stored in ``vendor_orders.state``."""

    ORDERING = "ordering"  # intent recorded; the vendor may not have the order yet
    PENDING = "pending"  # the vendor named the order; validation or processing goes on
    ISSUED = "issued"  # the chain arrived, passed the checks and is stored
    FAILED = "failed"  # the vendor refused for good, or the chain failed a check


# Where cert services pin a grant's issuer: this word clears the pin (the organization's
# issuer applies again); a vendor's name or ``builtin`` pins it.
ORGANIZATION_CHOICE = "organization"

# Orders the worker carries on; the others are over.
OPEN_ORDERS = (OrderState.ORDERING, OrderState.PENDING)


# --- which issuer signs a request (R16) -----------------------------------------------------


def _most_specific(name: str, grants: Sequence[tuple[Grant, int | None]]) -> int | None:
    """The issuer of the narrowest grant covering ``name`` (a host grant before any zone, a
    deeper zone before a shallower one); None when that grant names no issuer."""
    covering = [(g, issuer) for g, issuer in grants if g.covers(name)]
    if not covering:
        return None
    _, issuer = max(covering, key=lambda gi: (gi[0].kind is GrantKind.HOST, gi[0].name.count(".")))
    return issuer


def choose_issuer(
    names: Sequence[str],
    *,
    submittal: int | None,
    grants: Sequence[tuple[Grant, int | None]],
    organization: int | None,
) -> int | None:
    """The issuer id for a certificate of ``names``; None means the built-in CA.

    R16, in order: the submittal's choice (cert services'); else the issuer of the grants
    covering the names (the narrowest grant of each name; one without an issuer stands for
    the organization's); else the organization's. Names are R1-normalized; a wildcard is
    judged by the name below it. Names whose issuers disagree (one under vendor A, another
    under vendor B or the built-in CA) are a request to split, not a choice to guess: raise.
    """
    if submittal is not None:
        return submittal
    chosen: set[int | None] = set()
    for name in names:
        by_grant = _most_specific(name.removeprefix("*."), grants)
        chosen.add(by_grant if by_grant is not None else organization)
    if len(chosen) > 1:
        raise Conflict(
            "issuer.ambiguous",
            "the names of this certificate fall under grants with different issuers; "
            "request one certificate per issuer",
        )
    return chosen.pop() if chosen else organization


# --- what cert services hear about a vendor's trouble (R9, R16) ------------------------------


class VendorTrouble(StrEnum):
    """Why cert services get a notice about one order; the notice's once-only reason."""

    REFUSED = "vendor.refused"  # the vendor refused the order for good
    ACCOUNT = "vendor.account"  # the vendor no longer knows certdesk's account
    SILENT = "vendor.silent"  # the vendor has not answered an order for long


# An order open this long whose last attempt found the vendor down or busy is reported.
VENDOR_SILENCE = timedelta(hours=1)
# The vendor_status a drive records when the vendor did not answer, or forgot the account.
UNREACHABLE, ACCOUNT_GONE = "unreachable", "account_gone"


def trouble_to_report(
    state: OrderState, vendor_status: str | None, open_for: timedelta
) -> VendorTrouble | None:
    """The trouble an order's new state is for cert services, or None (all is well, or it is
    too early to tell). A refusal and a forgotten account are reported at once; a vendor
    that is down or busy only once the order has waited :data:`VENDOR_SILENCE`, since
    short outages and rate limits pass by themselves (RFC 8555 §6.6)."""
    if state is OrderState.FAILED:
        return VendorTrouble.REFUSED
    if state not in OPEN_ORDERS:
        return None
    if vendor_status == ACCOUNT_GONE:
        return VendorTrouble.ACCOUNT
    if vendor_status == UNREACHABLE and open_for >= VENDOR_SILENCE:
        return VendorTrouble.SILENT
    return None
