"""Pre-storage lint of a TLS server certificate someone else signed (R16, DESIGN §7).

The built-in CA's lint (:mod:`certdesk.ca.lint`) holds certdesk's own certificates to
certdesk's own profile (empty subject, no SKI, its policy OID, its URLs). A vendor's
certificate follows the vendor's profile, so this lint asks what a publicly trusted TLS
server certificate must be under RFC 5280 and the CA/Browser Forum Baseline Requirements
(BR §7.1.2.7, "Subscriber Certificate Profile"), whoever issued it. Each failure is a
:class:`Finding` with a stable code; :func:`lint_vendor_tls_server` raises
:class:`~certdesk.ca.lint.LintFailure` naming every finding that is not tolerated.

What is left out on purpose, because it cannot be judged from one certificate or is the
vendor's choice: the serial number's entropy (BR §7.1: 64 bits of CSPRNG output; a value
with leading zero bits may still hold them), a subjectKeyIdentifier or a commonName (both
NOT RECOMMENDED, not forbidden), caIssuers in AIA (SHOULD), clientAuth next to serverAuth
(MAY under the BR; the root programs' own timelines are the vendor's business), and the
names themselves (:func:`certdesk.ca.arrival.check_arrival` compares them with the request's,
which R1/R2 already allowed).

pkilint's CA/B Forum linter is the reference (tests/ca/test_vendor_lint.py checks that what
this lint refuses, pkilint reports as an ERROR); it is not run here because it is a test
dependency and takes about a second per process to build its validators.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    ExtensionOID,
    NameOID,
)

from certdesk.ca.lint import LintFailure
from certdesk.errors import InvalidInput

_E = TypeVar("_E", bound=x509.ExtensionType)
_Report = Callable[[str, str], None]

# Every finding this lint can report: code → what it means (for settings and documentation).
FINDINGS: Mapping[str, str] = {
    "lint.version": "not an X.509 v3 certificate",
    "lint.serial": "serial number not positive or longer than 20 octets (RFC 5280 §4.1.2.2)",
    "lint.signature": "signed with a hash other than SHA-256/384/512 (R12)",
    "lint.key": "subject key not ECDSA P-256/P-384 or RSA 2048/3072/4096 (R12)",
    "lint.issuer": "issuer name is not the issuing CA's subject",
    "lint.san": "subjectAltName missing, holding non-DNS names, or not critical with an"
    " empty subject (RFC 5280 §4.2.1.6)",
    "lint.common_name": "commonName not one of the subjectAltName names (BR §7.1.4.3)",
    "lint.basic_constraints": "basicConstraints says CA (BR §7.1.2.7.8)",
    "lint.key_usage": "keyUsage allows certificate or CRL signing or nonRepudiation, or lacks"
    " the key's TLS use (BR §7.1.2.7.11)",
    "lint.ec_key_encipherment": "keyEncipherment on an ECDSA key (RFC 8813 §3, BR §7.1.2.7.11)",
    "lint.eku": "extendedKeyUsage missing serverAuth, or holding anyExtendedKeyUsage or"
    " purposes other than serverAuth/clientAuth (BR §7.1.2.7.10)",
    "lint.aki": "authorityKeyIdentifier missing or not the issuing CA's key (RFC 5280 §4.2.1.1)",
    "lint.revocation": "no CRL distribution point and no OCSP URL (BR §7.1.2.11.2, §7.1.2.7.7)",
    "lint.policies": "no CA/Browser Forum reserved certificate policy (BR §7.1.2.7.9)",
    "lint.precertificate": "a Certificate Transparency precertificate, not a certificate"
    " (RFC 6962 §3.1)",
    "lint.critical_extension": "a critical extension a TLS client does not know (RFC 5280 §4.2)",
}

# BR §7.1.6.1: the CA/Browser Forum's reserved policy identifiers (EV, DV, OV, IV).
CABF_POLICIES = frozenset(
    x509.ObjectIdentifier(oid)
    for oid in ("2.23.140.1.1", "2.23.140.1.2.1", "2.23.140.1.2.2", "2.23.140.1.2.3")
)
# RFC 6962 §3.1: the poison extension that marks a precertificate.
CT_POISON = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.3")
# Extensions a subscriber certificate may mark critical (RFC 5280 §4.2; BR §7.1.2.7.6).
_MAY_BE_CRITICAL = frozenset(
    {
        ExtensionOID.KEY_USAGE,
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.EXTENDED_KEY_USAGE,
    }
)
_GOOD_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)
# BR §4.9.7 / §7.1.2.11.2 (ballot SC-063): a short-lived certificate needs no revocation
# pointer: 10 days or less until 2026-03-15, 7 days or less from then.
_SHORT_LIVED_FROM = datetime.fromisoformat("2026-03-15T00:00:00+00:00")


@dataclass(frozen=True)
class Finding:
    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.detail} ({self.code})"


def _ext(cert: x509.Certificate, cls: type[_E]) -> x509.Extension[_E] | None:
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def _poisoned(cert: x509.Certificate) -> bool:
    return any(e.oid == CT_POISON for e in cert.extensions)


def vendor_findings(cert: x509.Certificate, issuer: x509.Certificate | None) -> list[Finding]:
    """Every finding on ``cert``; ``issuer`` (the CA that signed it, when known) for the
    issuer-name and key-identifier checks."""
    found: list[Finding] = []

    def finding(code: str, detail: str) -> None:
        found.append(Finding(code, detail))

    if cert.version is not x509.Version.v3:
        finding("lint.version", "the certificate is not X.509 v3")
    serial = cert.serial_number
    if serial <= 0 or (serial.bit_length() + 8) // 8 > 20:
        finding("lint.serial", "the serial number is not positive or is over 20 octets")
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    if not isinstance(algorithm, _GOOD_HASHES):
        name = (
            algorithm.name if algorithm is not None else cert.signature_algorithm_oid.dotted_string
        )
        finding("lint.signature", f"the certificate is signed with {name}")
    key = cert.public_key()
    is_ec = isinstance(key, ec.EllipticCurvePublicKey)
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            finding("lint.key", f"the EC key is on {key.curve.name}, not P-256 or P-384")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size not in (2048, 3072, 4096):
            finding("lint.key", f"the RSA key has {key.key_size} bits")
    else:
        finding("lint.key", "the key is neither ECDSA nor RSA")
    if issuer is not None and cert.issuer != issuer.subject:
        finding("lint.issuer", "the issuer name is not the issuing CA's subject")

    if _poisoned(cert):
        finding("lint.precertificate", "the vendor sent a precertificate")
    for ext in cert.extensions:
        if ext.critical and ext.oid not in _MAY_BE_CRITICAL and ext.oid != CT_POISON:
            finding("lint.critical_extension", f"extension {ext.oid.dotted_string} is critical")

    _names(cert, finding)
    _usages(cert, is_ec, finding)
    _pointers(cert, issuer, finding)
    return found


def _names(cert: x509.Certificate, finding: _Report) -> None:
    san_ext = _ext(cert, x509.SubjectAlternativeName)
    dns: list[str] = []
    if san_ext is None:
        finding("lint.san", "there is no subjectAltName")
    else:
        san = san_ext.value
        dns = san.get_values_for_type(x509.DNSName)
        if not dns or len(dns) != len(san):
            finding("lint.san", "the subjectAltName holds names other than DNS names")
        if len(cert.subject) == 0 and not san_ext.critical:
            finding("lint.san", "the subject is empty and the subjectAltName is not critical")
    common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    lowered = {n.lower() for n in dns}
    if san_ext is None:
        return  # the missing subjectAltName is the finding; the commonName has nothing to match
    if len(common) > 1 or any(str(a.value).lower() not in lowered for a in common):
        finding("lint.common_name", "the commonName is not one of the subjectAltName names")


def _usages(cert: x509.Certificate, is_ec: bool, finding: _Report) -> None:
    bc = _ext(cert, x509.BasicConstraints)
    if bc is not None and bc.value.ca:
        finding("lint.basic_constraints", "basicConstraints makes the certificate a CA")
    ku_ext = _ext(cert, x509.KeyUsage)
    if ku_ext is not None:
        ku = ku_ext.value
        tls_use = ku.digital_signature if is_ec else ku.digital_signature or ku.key_encipherment
        if ku.key_cert_sign or ku.crl_sign or ku.content_commitment or not tls_use:
            finding("lint.key_usage", "keyUsage does not fit a TLS server certificate")
        if is_ec and ku.key_encipherment:
            finding("lint.ec_key_encipherment", "keyUsage has keyEncipherment on an EC key")
    eku_ext = _ext(cert, x509.ExtendedKeyUsage)
    allowed = {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    if eku_ext is None:
        finding("lint.eku", "there is no extendedKeyUsage")
    else:
        eku = set(eku_ext.value)
        if ExtendedKeyUsageOID.SERVER_AUTH not in eku or not eku <= allowed:
            finding("lint.eku", "extendedKeyUsage is not serverAuth (and at most clientAuth)")


def _pointers(cert: x509.Certificate, issuer: x509.Certificate | None, finding: _Report) -> None:
    aki_ext = _ext(cert, x509.AuthorityKeyIdentifier)
    if aki_ext is None:
        finding("lint.aki", "there is no authorityKeyIdentifier")
    elif issuer is not None:
        ski = _ext(issuer, x509.SubjectKeyIdentifier)
        if ski is not None and aki_ext.value.key_identifier != ski.value.digest:
            finding("lint.aki", "authorityKeyIdentifier is not the issuing CA's key")

    aia = _ext(cert, x509.AuthorityInformationAccess)
    ocsp = aia is not None and any(
        d.access_method == AuthorityInformationAccessOID.OCSP for d in aia.value
    )
    crldp = _ext(cert, x509.CRLDistributionPoints)
    if not (ocsp or (crldp is not None and len(crldp.value) > 0)):
        short = timedelta(days=7 if cert.not_valid_before_utc >= _SHORT_LIVED_FROM else 10)
        # BR §6.3.2: the validity period counts both ends, so one second is added.
        period = cert.not_valid_after_utc - cert.not_valid_before_utc + timedelta(seconds=1)
        if period > short:
            finding("lint.revocation", "there is no CRL distribution point and no OCSP URL")

    policies = _ext(cert, x509.CertificatePolicies)
    oids = {p.policy_identifier for p in policies.value} if policies is not None else set()
    if not oids & CABF_POLICIES:
        finding("lint.policies", "there is no CA/Browser Forum certificate policy")


def lint_vendor_tls_server(
    cert: x509.Certificate,
    issuer: x509.Certificate | None,
    *,
    tolerate: Collection[str] = frozenset(),
) -> list[Finding]:
    """Raise :class:`LintFailure` (the first untolerated finding's code, every one in the
    detail and in ``findings``) unless ``cert`` passes; return the tolerated findings."""
    unknown = set(tolerate) - set(FINDINGS)
    if unknown:
        raise InvalidInput(
            "vendor.lint_tolerate",
            f"no such lint finding to tolerate: {', '.join(sorted(unknown))}",
        )
    try:
        found = vendor_findings(cert, issuer)
    except ValueError as err:
        # cryptography parses extensions lazily; a malformed one is never tolerable.
        raise LintFailure(
            "lint.malformed", f"pre-storage lint: an extension is unreadable: {err}"
        ) from err
    refused = [f for f in found if f.code not in tolerate]
    if refused:
        raise LintFailure(
            refused[0].code,
            "pre-storage lint: " + "; ".join(str(f) for f in refused),
            findings=[f.code for f in refused],
        )
    return found
