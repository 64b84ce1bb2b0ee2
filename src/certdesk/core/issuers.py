"""Issuers as the rules see them: which backend signs, how a vendor's order stands.

An issuer row is either the built-in CA (``local``: certdesk signs with its own key) or a
vendor reached over ACME (``acme``: the vendor signs, certdesk orders). A vendor order moves
``ordering`` → ``pending`` → ``issued``, or ends ``failed``; the ``ordering`` row is written
before the first request to the vendor (write-ahead, DESIGN §3.2), so a restart resumes the
same order and never places a second one for the same request.
"""

from __future__ import annotations

from enum import StrEnum


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
