"""Every public URL certdesk writes into a certificate or a response is built here."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit


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


def compliance_warning(base_url: str) -> str | None:
    """Why certificates pointing at ``base_url`` would fail the CA/B Forum linter, if they would.

    The BR want AIA and CRL URLs that relying parties can reach: plain ``http`` (no TLS
    bootstrap loop) and a public DNS name, not an IP address or an internal name.
    """
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if parts.scheme != "http":
        return f"{base_url}: certificate URLs must use plain http (BR §7.1.2.7.7)"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return f"{base_url}: certificate URLs must name a public host, not an IP address"
    if "." not in host or host.endswith((".local", ".internal", ".localhost", ".lan")):
        return f"{base_url}: certificate URLs must name a public DNS host"
    return None


# R10: the page where a new user, or one whose password was reset, chooses a password with a
# single-use link. The console serves it; the API's POST /api/v1/enroll redeems the token.
ENROLL_PATH = "/enroll/"


def enrollment_link(base_url: str, token: str) -> str:
    """The single-use link for ``token`` on the public web address ``base_url``."""
    return base_url.rstrip("/") + ENROLL_PATH + token
