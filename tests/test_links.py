"""Certificate URLs are built in one place and checked for what the CA/B linter needs."""

from __future__ import annotations

import pytest

from certdesk.config import Settings
from certdesk.links import Linker, compliance_warning


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        pytest.param("http://pki.cdt.ca.gov", True, id="links/public-http"),
        pytest.param("http://pki.cdt.ca.gov:8080", True, id="links/public-http-port"),
        pytest.param("https://pki.cdt.ca.gov", False, id="links/https-refused"),
        pytest.param("http://127.0.0.1:8080", False, id="links/ip-address"),
        pytest.param("http://[::1]:8080", False, id="links/ipv6"),
        pytest.param("http://localhost:8080", False, id="links/localhost"),
        pytest.param("http://certdesk.internal", False, id="links/internal-name"),
    ],
)
def test_compliance_warning(url: str, ok: bool) -> None:
    assert (compliance_warning(url) is None) is ok


def test_pki_url_defaults_to_base_url_and_can_be_split() -> None:
    assert Settings(base_url="http://a.ca.gov").pki_url == "http://a.ca.gov"
    s = Settings(base_url="https://desk.ca.gov", pki_base_url="http://pki.ca.gov/")
    link = Linker(s.pki_url)
    assert link.crl("abc") == "http://pki.ca.gov/crl/abc.crl"
    assert link.ca_issuers("abc") == "http://pki.ca.gov/ca/abc.cer"
    assert link.ocsp() == "http://pki.ca.gov/ocsp"
