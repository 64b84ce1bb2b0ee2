"""ACME Renewal Information (RFC 9773): the CA's suggested renewal window for a certificate.

The certificate is named by its ARI CertID (§4.1): base64url(AKI keyIdentifier) "."
base64url(the DER INTEGER contents of the serial), both without padding. The window is an
unauthenticated GET of ``renewalInfo/<CertID>`` (§4.2); ``Retry-After`` says when to ask
again (§4.3, default six hours).
"""

from __future__ import annotations

from datetime import timedelta

from acme import messages
from cryptography import x509
from josepy import b64

from certdesk.ca.acme.session import AcmeSession
from certdesk.ca.issuer import RenewalWindow
from certdesk.errors import InvalidInput

DEFAULT_RETRY = timedelta(hours=6)


def serial_der_contents(serial: int) -> bytes:
    """The contents octets of a DER INTEGER (two's complement, minimal, sign bit clear)."""
    if serial < 0:
        raise ValueError("certificate serials are positive")
    return serial.to_bytes(serial.bit_length() // 8 + 1, "big")


def cert_id(certificate: x509.Certificate) -> str:
    """RFC 9773 §4.1 CertID of ``certificate``."""
    try:
        aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        raise InvalidInput(
            "ari.no_aki", "the certificate has no authorityKeyIdentifier, so it has no ARI id"
        ) from None
    if aki.key_identifier is None:
        raise InvalidInput("ari.no_aki", "the certificate's authorityKeyIdentifier has no keyid")
    left = b64.b64encode(aki.key_identifier).decode("ascii")
    right = b64.b64encode(serial_der_contents(certificate.serial_number)).decode("ascii")
    return f"{left}.{right}"


def supports_ari(session: AcmeSession) -> bool:
    try:
        session.directory["renewalInfo"]
    except KeyError:
        return False
    return True


def fetch(session: AcmeSession, certificate: x509.Certificate) -> RenewalWindow | None:
    """The vendor's suggested window, or None when its directory has no ``renewalInfo``."""
    if not supports_ari(session):
        return None
    url = str(session.directory["renewalInfo"]).rstrip("/") + "/" + cert_id(certificate)
    response = session.call("reading renewal information", lambda: session.net.get(url))
    info = messages.RenewalInfo.from_json(response.json())
    window = info.suggested_window
    now = session.clock()
    return RenewalWindow(
        start=window.start,
        end=window.end,
        retry_after=session.retry_after() or now + DEFAULT_RETRY,
        explanation_url=response.json().get("explanationURL"),
    )
