"""Pre-signing lint of TLS server leaves (DESIGN §3.2, STYLE habit 5).

The pipeline signs the finished TBSCertificate with a throw-away key of the issuer's type
(as Boulder does with its lint key), parses it, and runs these checks on what would be
issued. Only a certificate that passes is signed with the real key, and the CA then checks
that the real signature covers exactly the same TBS bytes. The checks repeat the profile's
promises so that a regression in the builder can never reach a signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TypeVar, cast

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from certdesk.ca.profile import DV_POLICY
from certdesk.core.names import check_name
from certdesk.errors import CertdeskError, Kind, PolicyRefusal

_E = TypeVar("_E", bound=x509.ExtensionType)


class LintFailure(CertdeskError):
    """A certificate about to be signed breaks the profile; nothing was signed."""

    kind = Kind.CONFLICT


def _fail(what: str, detail: str) -> LintFailure:
    return LintFailure(f"lint.{what}", f"pre-signing lint: {detail}")


def lint_tls_server(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    max_days: int,
    suffixes: Sequence[str],
) -> None:
    """Raise :class:`LintFailure` unless ``cert`` is a correct DV TLS server leaf."""
    if cert.version is not x509.Version.v3:
        raise _fail("version", "certificate is not X.509 v3")
    serial = cert.serial_number
    if serial <= 0 or serial.bit_length() < 64 or (serial.bit_length() + 8) // 8 > 20:
        raise _fail("serial", "serial must be positive, ≥64 bits and ≤20 octets")
    if len(cert.subject) != 0:
        raise _fail("subject", "subject must be empty; names belong in the SAN")
    if cert.issuer != issuer.subject:
        raise _fail("issuer", "issuer name does not match the issuing CA")
    # One pass over the extensions (each lookup by class would walk them all again); a
    # duplicated extension cannot get here: cryptography refuses to parse such a certificate.
    ext = {e.oid: e for e in cert.extensions}

    san = _get(ext, x509.SubjectAlternativeName, "san")
    if not san.critical:
        raise _fail("san", "subjectAltName must be critical when the subject is empty")
    names = san.value.get_values_for_type(x509.DNSName)
    if not names or len(names) != len(san.value):
        raise _fail("san", "subjectAltName must hold DNS names only, at least one")
    for name in names:
        try:
            check_name(name, suffixes)  # R1 again, on the bytes about to be signed
        except PolicyRefusal as err:
            # The contract is "LintFailure or nothing": a refused name here means the
            # pipeline let it through, which is a CA-side failure, not bad user input.
            raise _fail("name", f"subjectAltName {err.detail}") from err

    bc = _get(ext, x509.BasicConstraints, "basic_constraints")
    if not bc.critical or bc.value.ca:
        raise _fail("basic_constraints", "basicConstraints must be critical with CA:FALSE")

    ku = _get(ext, x509.KeyUsage, "key_usage")
    is_rsa = isinstance(cert.public_key(), rsa.RSAPublicKey)
    if (
        not ku.critical
        or not ku.value.digital_signature
        or ku.value.key_cert_sign
        or ku.value.crl_sign
        # BR §7.1.2.7.11: nonRepudiation is prohibited, dataEncipherment and keyAgreement
        # are not recommended; the profile never sets them (encipher/decipherOnly need
        # keyAgreement, so refusing keyAgreement covers them too).
        or ku.value.content_commitment
        or ku.value.data_encipherment
        or ku.value.key_agreement
        or ku.value.key_encipherment != is_rsa
    ):
        raise _fail(
            "key_usage",
            "keyUsage must be critical digitalSignature (+keyEncipherment only for RSA)",
        )

    eku = _get(ext, x509.ExtendedKeyUsage, "eku")
    if list(eku.value) != [ExtendedKeyUsageOID.SERVER_AUTH]:
        raise _fail("eku", "extendedKeyUsage must be serverAuth only")

    if x509.SubjectKeyIdentifier.oid in ext:
        raise _fail("ski", "a subscriber certificate must not carry a subjectKeyIdentifier")

    aki = _get(ext, x509.AuthorityKeyIdentifier, "aki")
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    if aki.value.key_identifier != issuer_ski.digest:
        raise _fail("aki", "authorityKeyIdentifier does not match the issuer's key")

    aia = _get(ext, x509.AuthorityInformationAccess, "aia")
    methods = {d.access_method for d in aia.value}
    if x509.oid.AuthorityInformationAccessOID.CA_ISSUERS not in methods:
        raise _fail("aia", "authorityInformationAccess must name the caIssuers URL")

    crldp = _get(ext, x509.CRLDistributionPoints, "crldp")
    if not list(crldp.value):
        raise _fail("crldp", "a CRL distribution point is required")

    cp = _get(ext, x509.CertificatePolicies, "policies")
    if DV_POLICY not in {p.policy_identifier for p in cp.value}:
        raise _fail("policies", "certificatePolicies must include 2.23.140.1.2.1")

    # BR §6.3.2: the validity period counts both ends, so one second is added.
    period = cert.not_valid_after_utc - cert.not_valid_before_utc + timedelta(seconds=1)
    if period > timedelta(days=max_days) or period <= timedelta(0):
        raise _fail("validity", f"validity {period} exceeds the {max_days}-day maximum (R13)")
    if not (
        issuer.not_valid_before_utc <= cert.not_valid_before_utc
        and cert.not_valid_after_utc <= issuer.not_valid_after_utc
    ):
        raise _fail("validity", "certificate would outlive its issuing CA")

    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            raise _fail("key", "EC keys must be P-256 or P-384 (R12)")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size not in (2048, 3072, 4096):
            raise _fail("key", "RSA keys must be 2048, 3072 or 4096 bits (R12)")
    else:
        raise _fail("key", "only RSA and ECDSA subscriber keys are issued (R12)")


def _get(
    ext: dict[x509.ObjectIdentifier, x509.Extension[x509.ExtensionType]],
    cls: type[_E],
    what: str,
) -> x509.Extension[_E]:
    found = ext.get(cls.oid)
    if found is None or not isinstance(found.value, cls):
        raise _fail(what, f"{cls.__name__} extension is missing")
    return cast("x509.Extension[_E]", found)
