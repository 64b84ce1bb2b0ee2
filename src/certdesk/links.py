"""Every public URL certdesk writes into a certificate or a response is built here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Linker:
    base_url: str

    def _url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def ca_issuers(self, slug: str) -> str:
        """AIA caIssuers: the DER certificate of the issuer (RFC 5280 §4.2.2.1)."""
        return self._url(f"/ca/{slug}.cer")

    def crl(self, slug: str) -> str:
        """CRL distribution point of certificates issued by ``slug`` (RFC 5280 §4.2.1.13)."""
        return self._url(f"/crl/{slug}.crl")

    def ocsp(self) -> str:
        return self._url("/ocsp")
