"""Keys and certificate signing requests (R12).

Accepted keys are RSA 2048/3072/4096 with a sane public exponent and ECDSA on P-256 or
P-384 — the set the CA/B Forum Baseline Requirements (BR 6.1.5) and every CA backend
certdesk talks to support. A CSR must prove possession of its key with a verifying
signature that does not use SHA-1 or MD5.

Which DNS names are allowed (R1) and granted (R2) is decided elsewhere (``core.names`` and
``core.grants``); :func:`check_csr` only extracts the names as written, so the same rules
judge names typed into a form and names carried in a CSR.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID, PublicKeyAlgorithmOID

from certdesk.errors import InvalidInput, PolicyRefusal

__all__ = [
    "CsrFacts",
    "GeneratedPrivateKey",
    "KeyType",
    "check_csr",
    "generate_private_key",
    "key_type_of",
    "parse_csr",
]


class KeyType(StrEnum):
    """The key algorithms and sizes R12 accepts."""

    EC256 = "ec256"
    EC384 = "ec384"
    RSA2048 = "rsa2048"
    RSA3072 = "rsa3072"
    RSA4096 = "rsa4096"


GeneratedPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_ACCEPTED = "use RSA 2048, 3072 or 4096 or ECDSA P-256/P-384"
_RSA_SIZES = {2048: KeyType.RSA2048, 3072: KeyType.RSA3072, 4096: KeyType.RSA4096}
_RSA_MIN_BITS = 2048
_RSA_EXPONENT = 65537
_RSA_EXPONENT_MAX = 2**256 - 1
# Names a curve by its NIST name where it has one, so the message matches what
# `openssl ecparam -list_curves` users and CA documentation call it.
_CURVES: dict[str, tuple[KeyType, str]] = {
    "secp256r1": (KeyType.EC256, "P-256"),
    "secp384r1": (KeyType.EC384, "P-384"),
}
_EC_CURVE_NAMES = {"secp521r1": "P-521", "secp224r1": "P-224", "secp192r1": "P-192"}
# R12: SHA-1 and MD5 signatures are collision-prone; a CSR signed with them is refused
# even though it would still prove possession, so that no weak-hash habit survives.
_WEAK_HASHES = frozenset({"sha1", "md5"})


def key_type_of(public_key: PublicKeyTypes) -> KeyType:
    """The :class:`KeyType` of ``public_key``; raises :class:`PolicyRefusal` (R12) otherwise."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return _rsa_key_type(public_key)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = public_key.curve.name
        if curve in _CURVES:
            return _CURVES[curve][0]
        label = _EC_CURVE_NAMES.get(curve, curve)
        raise PolicyRefusal(
            "key.curve",
            f"ECDSA keys on curve {label} are not accepted; {_ACCEPTED}",
            rule="R12",
            curve=curve,
        )
    # Every other algorithm (DSA, Ed25519, Ed448, X25519, X448) is named after its key class,
    # "DSAPublicKey" → "DSA": naming the class itself would touch deprecated API (DSA).
    raise _unsupported_key(type(public_key).__name__.removesuffix("PublicKey"))


def _unsupported_key(name: str) -> PolicyRefusal:
    return PolicyRefusal(
        "key.unsupported",
        f"{name} keys are not accepted for TLS server certificates; {_ACCEPTED}",
        rule="R12",
        algorithm=name,
    )


def _rsa_key_type(public_key: rsa.RSAPublicKey) -> KeyType:
    bits = public_key.key_size
    if bits < _RSA_MIN_BITS:
        raise PolicyRefusal(
            "key.too_small",
            f"RSA {bits}-bit keys are too small; {_ACCEPTED}",
            rule="R12",
            bits=bits,
        )
    if bits not in _RSA_SIZES:
        raise PolicyRefusal(
            "key.rsa_size",
            f"RSA {bits}-bit keys are not accepted; {_ACCEPTED}",
            rule="R12",
            bits=bits,
        )
    exponent = public_key.public_numbers().e
    # BR 6.1.6: the public exponent must be odd and between 2^16+1 and 2^256-1 (small
    # exponents such as 3 invite padding attacks; an even one is not a valid RSA key).
    if not _RSA_EXPONENT <= exponent <= _RSA_EXPONENT_MAX or exponent % 2 == 0:
        shown = exponent if exponent.bit_length() <= 64 else f"of {exponent.bit_length()} bits"
        raise PolicyRefusal(
            "key.rsa_exponent",
            f"RSA public exponent {shown} is not accepted; generate the key with the "
            f"standard exponent {_RSA_EXPONENT}",
            rule="R12",
            exponent=exponent,
        )
    return _RSA_SIZES[bits]


@dataclass(frozen=True)
class CsrFacts:
    """What a CSR that passed R12 asks for; the names are still to be judged by R1/R2."""

    key_type: KeyType
    # DNS names as written: the SAN dNSName entries in order, then each subject CN not
    # already among them; exact duplicates dropped.
    names: tuple[str, ...]
    signature_hash: str  # e.g. "sha256"
    subject: str  # RFC 4514 string


_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----",
    re.DOTALL,
)
_CSR_LABELS = frozenset({b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"})


def parse_csr(data: bytes | str) -> x509.CertificateSigningRequest:
    """Load one PKCS#10 CSR (RFC 2986) from PEM or DER.

    Raises :class:`InvalidInput` ``csr.unparseable`` with a reason a requester can act on for
    empty input, garbage, a certificate or private key instead of a CSR, or several CSRs.
    """
    raw = data.encode("utf-8", errors="replace") if isinstance(data, str) else data
    if not raw.strip():
        raise _unparseable("the CSR is empty; upload the PEM or DER file of one CSR")
    if b"-----BEGIN" in raw:
        return _parse_pem(raw)
    return _parse_der(raw)


def _unparseable(detail: str) -> InvalidInput:
    return InvalidInput("csr.unparseable", detail)


def _parse_pem(raw: bytes) -> x509.CertificateSigningRequest:
    blocks = [(m.group(1), m.group(0)) for m in _PEM_BLOCK.finditer(raw)]
    labels = [label for label, _ in blocks]
    if any(b"PRIVATE KEY" in label for label in labels):
        # The key is compromised the moment it is sent; saying so is the useful answer.
        raise _unparseable(
            "this contains a private key; never send a private key — generate a new key "
            "and upload only its CSR"
        )
    csrs = [block for label, block in blocks if label in _CSR_LABELS]
    others = sorted({label.decode("ascii") for label in labels if label not in _CSR_LABELS})
    if not csrs:
        if "CERTIFICATE" in others:
            raise _unparseable(
                "this is a certificate, not a CSR; upload the certificate signing request"
            )
        found = ", ".join(others) if others else "no complete PEM block"
        raise _unparseable(f"no CERTIFICATE REQUEST PEM block found ({found})")
    if len(csrs) > 1:
        raise _unparseable(f"this contains {len(csrs)} CSRs; upload one CSR per certificate")
    if others:
        raise _unparseable(
            f"this contains a CSR and also {', '.join(others)}; upload the CSR alone"
        )
    try:
        return x509.load_pem_x509_csr(csrs[0])
    except (ValueError, x509.InvalidVersion) as exc:
        raise _unparseable(
            "the CERTIFICATE REQUEST PEM block is damaged and cannot be read"
        ) from exc


def _parse_der(raw: bytes) -> x509.CertificateSigningRequest:
    try:
        return x509.load_der_x509_csr(raw)
    except x509.InvalidVersion:
        raise _unparseable(
            "the CSR has a version other than 1; it is not a valid PKCS#10 CSR"
        ) from None
    except ValueError:
        pass
    try:
        x509.load_der_x509_certificate(raw)
    except ValueError:
        raise _unparseable(
            "this is neither a PEM nor a DER certificate signing request (one CSR expected)"
        ) from None
    raise _unparseable("this is a certificate, not a CSR; upload the certificate signing request")


def check_csr(csr: x509.CertificateSigningRequest) -> CsrFacts:
    """Apply R12 to a parsed CSR and return what it asks for.

    Checks, in order, so the first refusal is the most useful one: the key (R12), the
    signature hash (no SHA-1/MD5), the signature itself (proof of possession), then the
    subject alternative names (only DNS names; IP addresses refused under R1). The names
    returned are not yet judged against R1/R2.
    """
    # A DSA key is refused from its algorithm identifier, before it is loaded: loading one
    # raises cryptography's deprecation warning (DSA support is on its way out).
    # (cryptography's type stubs declare the attribute on certificates only.)
    if getattr(csr, "public_key_algorithm_oid", None) == PublicKeyAlgorithmOID.DSA:
        raise _unsupported_key("DSA")
    try:
        public_key = csr.public_key()
    except UnsupportedAlgorithm:
        raise PolicyRefusal(
            "key.unsupported",
            f"the CSR's key algorithm is not supported; {_ACCEPTED}",
            rule="R12",
        ) from None
    except ValueError as exc:
        # A key field that does not decode (a point off the curve, a damaged modulus).
        raise _unparseable("the CSR's public key is damaged and cannot be read") from exc
    key_type = key_type_of(public_key)

    try:
        hash_algorithm = csr.signature_hash_algorithm
    except UnsupportedAlgorithm as exc:
        raise PolicyRefusal(
            "csr.unsupported_signature",
            "the CSR's signature algorithm is not supported; sign it with SHA-256 or stronger",
            rule="R12",
        ) from exc
    # Only keys without a separate hash (Ed25519/Ed448) give None, and key_type_of refused
    # those already; treat it as unsupported rather than assert.
    if hash_algorithm is None:
        raise PolicyRefusal(
            "csr.unsupported_signature",
            "the CSR's signature algorithm is not supported; sign it with SHA-256 or stronger",
            rule="R12",
        )
    if hash_algorithm.name in _WEAK_HASHES:
        raise PolicyRefusal(
            "csr.sha1",
            f"the CSR is signed with {hash_algorithm.name.upper()}, which is refused; "
            "sign it with SHA-256 or stronger",
            rule="R12",
            signature_hash=hash_algorithm.name,
        )

    # Checked after the hash: cryptography reports SHA-1 signatures as invalid, and
    # "SHA-1 refused" is the message that tells the requester what to change.
    try:
        valid = csr.is_signature_valid
    except (UnsupportedAlgorithm, ValueError):
        valid = False
    if not valid:
        raise PolicyRefusal(
            "csr.bad_signature",
            "the CSR's signature does not verify with its own public key; the file is damaged "
            "or was altered — generate the CSR again",
            rule="R12",
        )

    names = _names_of(csr)
    _refuse_must_staple(csr)
    if not names:
        raise PolicyRefusal(
            "csr.no_names",
            "the CSR names no DNS name: put the names in the subject alternative name "
            "extension (and optionally the subject common name)",
            rule="R12",
        )
    return CsrFacts(
        key_type=key_type,
        names=names,
        signature_hash=hash_algorithm.name,
        subject=csr.subject.rfc4514_string(),
    )


def _refuse_must_staple(csr: x509.CertificateSigningRequest) -> None:
    """R12: a CSR asking for OCSP Must-Staple (the TLS feature ``status_request``, RFC 7633)
    is refused rather than answered with a certificate that silently lacks it: the requester
    asked for a hard-fail promise certdesk's profiles do not make (Let's Encrypt refuses such
    requests the same way). Called after :func:`_names_of`, which reports unreadable
    extensions."""
    try:
        feature = csr.extensions.get_extension_for_class(x509.TLSFeature).value
    except x509.ExtensionNotFound:
        return
    if x509.TLSFeatureType.status_request in feature:
        raise PolicyRefusal(
            "csr.must_staple",
            "the CSR asks for OCSP Must-Staple, which certdesk's certificates do not carry; "
            "request the certificate without it (for certbot, leave out --must-staple)",
            rule="R12",
        )


def _names_of(csr: x509.CertificateSigningRequest) -> tuple[str, ...]:
    """SAN dNSName entries, then subject CNs; refuses any non-DNS SAN entry."""
    try:
        extensions = csr.extensions
    except (x509.DuplicateExtension, ValueError) as exc:
        raise _unparseable(f"the CSR's extensions cannot be read: {exc}") from exc
    names: list[str] = []
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    for general_name in san or ():
        if isinstance(general_name, x509.DNSName):
            names.append(general_name.value)
        elif isinstance(general_name, x509.IPAddress):
            # R1: certificates are issued for DNS names only; an IP address cannot be
            # shown to belong to an agency's granted zone.
            raise PolicyRefusal(
                "name.ip_address",
                f"IP address {general_name.value} in the CSR's subject alternative names is "
                "not allowed; certificates are issued for DNS names only",
                rule="R1",
                name=str(general_name.value),
            )
        else:
            # R1: e-mail addresses, URIs and other identities are not names this service
            # certifies; refusing beats silently dropping them from the certificate.
            raise PolicyRefusal(
                "csr.unsupported_san",
                f"{_general_name_label(general_name)} entries in the subject alternative "
                "names are not allowed; list DNS names only",
                rule="R1",
            )
    for attribute in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        value = attribute.value
        names.append(value if isinstance(value, str) else value.decode("utf-8", "replace"))
    return tuple(dict.fromkeys(names))


def _general_name_label(general_name: x509.GeneralName) -> str:
    if isinstance(general_name, x509.RFC822Name):
        return f"E-mail address {general_name.value!r}"
    if isinstance(general_name, x509.UniformResourceIdentifier):
        return f"URI {general_name.value!r}"
    return f"{type(general_name).__name__}"


def generate_private_key(key_type: KeyType) -> GeneratedPrivateKey:
    """A new private key of ``key_type`` (R12); RSA keys use the exponent 65537."""
    match key_type:
        case KeyType.EC256:
            return ec.generate_private_key(ec.SECP256R1())
        case KeyType.EC384:
            return ec.generate_private_key(ec.SECP384R1())
        case KeyType.RSA2048:
            return rsa.generate_private_key(public_exponent=_RSA_EXPONENT, key_size=2048)
        case KeyType.RSA3072:
            return rsa.generate_private_key(public_exponent=_RSA_EXPONENT, key_size=3072)
        case KeyType.RSA4096:
            return rsa.generate_private_key(public_exponent=_RSA_EXPONENT, key_size=4096)
