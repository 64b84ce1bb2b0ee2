"""Certificates out of the files people have: PEM bundles, DER, PKCS#7 and PKCS#12 (R18).

Every parse is ``cryptography``'s; a file is tried as each format in turn, and the first that
yields certificates wins. Private keys in a PKCS#12 or PEM file are never kept: only the
certificates are returned.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from certdesk.errors import InvalidInput

MAX_FILE_BYTES = 10 * 1024 * 1024


def certificates(data: bytes, label: str, password: bytes | None = None) -> list[x509.Certificate]:
    """The certificates in ``data`` (the file ``label``); raises when it holds none."""
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput("import.too_large", f"{label}: larger than 10 MB")
    if b"-----BEGIN" in data:
        found: list[x509.Certificate] = []
        if b"-----BEGIN CERTIFICATE-----" in data:
            try:
                found = x509.load_pem_x509_certificates(data)
            except ValueError:
                raise InvalidInput(
                    "import.bad_pem", f"{label}: a PEM certificate is damaged"
                ) from None
        if b"-----BEGIN PKCS7-----" in data:
            try:
                found += pkcs7.load_pem_pkcs7_certificates(data)
            except ValueError:
                raise InvalidInput("import.bad_pkcs7", f"{label}: the PKCS#7 is damaged") from None
        if found:
            return found
        raise InvalidInput("import.no_certificate", f"{label}: no certificate in this PEM file")
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        pass
    try:
        return list(pkcs7.load_der_pkcs7_certificates(data))
    except ValueError:
        pass
    return _pkcs12(data, label, password)


def _pkcs12(data: bytes, label: str, password: bytes | None) -> list[x509.Certificate]:
    try:
        bundle = pkcs12.load_pkcs12(data, password)
    except ValueError as exc:
        text = str(exc).lower()
        if "password" in text or "mac" in text or "decrypt" in text:
            why = "a password is needed" if password is None else "the password is wrong"
            raise InvalidInput("import.bad_password", f"{label}: PKCS#12, {why}") from None
        raise InvalidInput(
            "import.unknown_format",
            f"{label}: not a PEM, DER, PKCS#7 or PKCS#12 certificate file",
        ) from None
    out = [bundle.cert.certificate] if bundle.cert is not None else []
    out += [c.certificate for c in bundle.additional_certs]
    if not out:
        raise InvalidInput("import.no_certificate", f"{label}: no certificate in this PKCS#12 file")
    return out
