"""Issuers as the rules see them: which backend signs, how a vendor's order stands.

An issuer row is either the built-in CA (``local``: certdesk signs with its own key) or a
vendor reached over ACME (``acme``: the vendor signs, certdesk orders). A vendor order moves
``ordering`` → ``pending`` → ``issued``, or ends ``failed``; the ``ordering`` row is written
before the first request to the vendor (write-ahead, DESIGN §3.2), so a restart resumes the
same order and never places a second one for the same request.
"""

from __future__ import annotations

from collections.abc import Sequence
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
