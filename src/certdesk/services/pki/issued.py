"""What an issuance hands back: a certificate (:class:`Issued`) or, through a vendor CA whose
order is still open, the order (:class:`Ordered`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization


@dataclass(frozen=True)
class Issued:
    serial: str
    org_code: str
    names: tuple[str, ...]
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # issuing CA first, root excluded
    not_before: datetime
    not_after: datetime
    issuer: str | None = None  # the vendor's name; None: the built-in CA
    chain_text: str | None = None  # ``chain`` as PEM, when the issuer had it ready

    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def chain_pem(self) -> str:
        if self.chain_text is not None:
            return self.chain_text
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain)


@dataclass(frozen=True)
class Ordered:
    """An order at a vendor CA that has not delivered yet (R16); the worker carries it on.

    ``state`` is certdesk's (``ordering``, ``pending``, ``failed``); ``vendor_status`` the
    order's status at the vendor as last seen; ``problem`` the vendor's last problem document.
    """

    order_id: int
    issuer: str
    org_code: str
    names: tuple[str, ...]
    state: str
    vendor_status: str | None
    order_url: str | None
    problem: Mapping[str, Any] | None
    retry_after: datetime | None
    serial: str | None = None  # once issued

    def as_dict(self) -> dict[str, Any]:
        return {
            "order": self.order_id,
            "issuer": self.issuer,
            "organization": self.org_code,
            "names": list(self.names),
            "state": self.state,
            "vendor_status": self.vendor_status,
            "order_url": self.order_url,
            "problem": dict(self.problem) if self.problem is not None else None,
            "retry_after": self.retry_after,
            "serial": self.serial,
        }


def serial_hex(serial: int) -> str:
    return format(serial, "x")
