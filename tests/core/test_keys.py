"""Tests for keys and CSRs (R12) in certdesk.core.keys."""

from __future__ import annotations

import base64
import ipaddress
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from cryptography import utils as crypto_utils
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from certdesk.core.keys import (
    CsrFacts,
    KeyType,
    check_csr,
    generate_private_key,
    key_type_of,
    parse_csr,
)
from certdesk.errors import CertdeskError, InvalidInput, PolicyRefusal
from world.csr import SigningHash, build_csr

ACCEPTED_REASON = "use RSA 2048, 3072 or 4096 or ECDSA P-256/P-384"


# --- Keys, made once per test session (RSA generation is slow) ---------------------------


def _dsa_key() -> CertificateIssuerPrivateKeyTypes:
    """A DSA key: deprecated in cryptography, its warning silenced here only (R12 refuses it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", crypto_utils.CryptographyDeprecationWarning)
        return dsa.generate_private_key(2048)


@cache
def private_key(kind: str) -> CertificateIssuerPrivateKeyTypes:
    """A throw-away private key by short name; accepted kinds go through generate_private_key."""
    if kind in {kt.value for kt in KeyType}:
        return generate_private_key(KeyType(kind))
    makers: dict[str, Callable[[], CertificateIssuerPrivateKeyTypes]] = {
        "rsa1024": lambda: rsa.generate_private_key(65537, 1024),
        "rsa1536": lambda: rsa.generate_private_key(65537, 1536),
        "rsa2560": lambda: rsa.generate_private_key(65537, 2560),
        "rsa2048-e3": lambda: rsa.generate_private_key(3, 2048),
        "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
        "p224": lambda: ec.generate_private_key(ec.SECP224R1()),
        "p192": lambda: ec.generate_private_key(ec.SECP192R1()),
        "secp256k1": lambda: ec.generate_private_key(ec.SECP256K1()),
        "brainpool256": lambda: ec.generate_private_key(ec.BrainpoolP256R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate,
        "ed448": ed448.Ed448PrivateKey.generate,
        "dsa2048": _dsa_key,
    }
    return makers[kind]()


def make_csr(
    key: CertificateIssuerPrivateKeyTypes,
    *,
    cn: str | None = "www.dmv.ca.gov",
    sans: Sequence[x509.GeneralName] | None = (x509.DNSName("www.dmv.ca.gov"),),
    algorithm: SigningHash = None,
) -> x509.CertificateSigningRequest:
    """:func:`world.csr.build_csr` with the subject and SAN a client of DMV sends."""
    return build_csr(
        key=key, cn=cn, organization="Department of Motor Vehicles", sans=sans or (),
        algorithm=algorithm,
    )  # fmt: skip


def pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)


def der(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.DER)


# --- Minimal DER, to build CSRs cryptography refuses to sign ------------------------------


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(part) for part in dotted.split("."))
    out = bytes([40 * first + second])
    for arc in rest:
        groups = [arc & 0x7F]
        arc >>= 7
        while arc:
            groups.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(groups))
    return _tlv(0x06, out)


WEAK_SIGNATURES = {
    # name: (key kind, hash, signature algorithm OID, parameters NULL?)
    "rsa-sha1": ("rsa2048", hashes.SHA1(), "1.2.840.113549.1.1.5", True),
    "rsa-md5": ("rsa2048", hashes.MD5(), "1.2.840.113549.1.1.4", True),
    "ecdsa-sha1": ("ec256", hashes.SHA1(), "1.2.840.10045.4.1", False),
}


def weak_csr(name: str) -> bytes:
    """A correctly self-signed CSR using SHA-1 or MD5, as DER.

    cryptography no longer signs CSRs with SHA-1/MD5, so this signs the
    CertificationRequestInfo itself and assembles the CertificationRequest
    (RFC 2986 §4.2): SEQUENCE { info, AlgorithmIdentifier, BIT STRING signature }.
    OpenSSL's `req -verify` accepts the result.
    """
    kind, algorithm, oid, null_params = WEAK_SIGNATURES[name]
    key = private_key(kind)
    info = make_csr(key).tbs_certrequest_bytes
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(info, padding.PKCS1v15(), algorithm)
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        signature = key.sign(info, ec.ECDSA(algorithm))
    algorithm_id = _tlv(0x30, _oid(oid) + (b"\x05\x00" if null_params else b""))
    return _tlv(0x30, info + algorithm_id + _tlv(0x03, b"\x00" + signature))


def self_signed_certificate() -> x509.Certificate:
    key = private_key("ec256")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.dmv.ca.gov")])
    now = datetime(2026, 6, 1, tzinfo=UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def refusal_of(call: Callable[[], object]) -> PolicyRefusal:
    with pytest.raises(PolicyRefusal) as caught:
        call()
    return caught.value


# --- R12: accepted keys -------------------------------------------------------------------

ACCEPTED = [pytest.param(kt, id=f"R12/accept-{kt.value}") for kt in KeyType]


@pytest.mark.parametrize("key_type", ACCEPTED)
def test_generated_key_has_its_type(key_type: KeyType) -> None:
    key = private_key(key_type.value)
    assert key_type_of(key.public_key()) == key_type
    if isinstance(key, rsa.RSAPrivateKey):
        assert key.public_key().public_numbers().e == 65537


@pytest.mark.parametrize("key_type", ACCEPTED)
def test_csr_with_accepted_key(key_type: KeyType) -> None:
    csr = parse_csr(pem(make_csr(private_key(key_type.value))))
    facts = check_csr(csr)
    assert facts == CsrFacts(
        key_type=key_type,
        names=("www.dmv.ca.gov",),
        signature_hash="sha256",
        subject="CN=www.dmv.ca.gov,O=Department of Motor Vehicles",
    )


def test_signature_hash_is_reported() -> None:
    csr = make_csr(private_key("ec384"), algorithm=hashes.SHA384())
    assert check_csr(csr).signature_hash == "sha384"


# --- R12: refused keys --------------------------------------------------------------------

REFUSED_KEYS = [
    # (key kind, code, words in the reason)
    pytest.param(
        "rsa1024",
        "key.too_small",
        f"RSA 1024-bit keys are too small; {ACCEPTED_REASON}",
        id="R12/deny-rsa-1024",
    ),
    pytest.param("rsa1536", "key.too_small", "RSA 1536-bit", id="R12/deny-rsa-1536"),
    pytest.param(
        "rsa2560",
        "key.rsa_size",
        "RSA 2560-bit keys are not accepted",
        id="R12/deny-rsa-2560-odd-size",
    ),
    pytest.param("rsa2048-e3", "key.rsa_exponent", "exponent 3 ", id="R12/deny-rsa-exponent-3"),
    pytest.param("p521", "key.curve", "curve P-521", id="R12/deny-ec-p521"),
    pytest.param("p224", "key.curve", "curve P-224", id="R12/deny-ec-p224"),
    pytest.param("p192", "key.curve", "curve P-192", id="R12/deny-ec-p192"),
    pytest.param("secp256k1", "key.curve", "curve secp256k1", id="R12/deny-ec-secp256k1"),
    pytest.param("brainpool256", "key.curve", "brainpoolP256r1", id="R12/deny-ec-brainpool"),
    pytest.param("ed25519", "key.unsupported", "Ed25519 keys", id="R12/deny-ed25519"),
    pytest.param("ed448", "key.unsupported", "Ed448 keys", id="R12/deny-ed448"),
    pytest.param("dsa2048", "key.unsupported", "DSA keys", id="R12/deny-dsa"),
]


@pytest.mark.parametrize(("kind", "code", "words"), REFUSED_KEYS)
def test_refused_key(kind: str, code: str, words: str) -> None:
    refusal = refusal_of(lambda: key_type_of(private_key(kind).public_key()))
    assert (refusal.code, refusal.rule) == (code, "R12")
    assert words in refusal.detail
    # Every refusal says what to use instead; for the exponent that is 65537, not a key type.
    remedy = "exponent 65537" if code == "key.rsa_exponent" else ACCEPTED_REASON
    assert remedy in refusal.detail


@pytest.mark.parametrize(("kind", "code", "words"), REFUSED_KEYS)
def test_csr_with_refused_key(kind: str, code: str, words: str) -> None:
    csr = parse_csr(der(make_csr(private_key(kind))))
    refusal = refusal_of(lambda: check_csr(csr))
    assert (refusal.code, refusal.rule) == (code, "R12")
    assert words in refusal.detail


def _rsa_public(exponent: int, bits: int = 2048) -> Callable[[], PublicKeyTypes]:
    """A public key with a chosen exponent; only key_type_of sees it, so no private half."""

    def make() -> PublicKeyTypes:
        key = private_key("rsa2048")
        assert isinstance(key, rsa.RSAPrivateKey)
        modulus = key.public_key().public_numbers().n
        if bits != 2048:
            modulus = (1 << (bits - 1)) | 0x10001  # any odd modulus of that size will do
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()

    return make


@pytest.mark.parametrize(
    ("public_key", "expected"),
    [
        pytest.param(_rsa_public(65537), KeyType.RSA2048, id="R12/accept-exponent-65537"),
        pytest.param(_rsa_public(65539), KeyType.RSA2048, id="R12/accept-exponent-65539"),
        pytest.param(_rsa_public(2**256 - 1), KeyType.RSA2048, id="R12/accept-exponent-2^256-1"),
        pytest.param(_rsa_public(65535), "key.rsa_exponent", id="R12/deny-exponent-65535"),
        pytest.param(_rsa_public(17), "key.rsa_exponent", id="R12/deny-exponent-17"),
        pytest.param(_rsa_public(2**256 + 1), "key.rsa_exponent", id="R12/deny-exponent-2^256+1"),
        pytest.param(_rsa_public(65537, 8192), "key.rsa_size", id="R12/deny-rsa-8192"),
        pytest.param(
            lambda: x25519.X25519PrivateKey.generate().public_key(),
            "key.unsupported",
            id="R12/deny-x25519",
        ),
    ],
)
def test_key_type_of_public_keys(
    public_key: Callable[[], PublicKeyTypes], expected: KeyType | str
) -> None:
    if isinstance(expected, KeyType):
        assert key_type_of(public_key()) == expected
    else:
        refusal = refusal_of(lambda: key_type_of(public_key()))
        assert (refusal.code, refusal.rule) == (expected, "R12")


# --- R12: signatures ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hash_name"),
    [
        pytest.param("rsa-sha1", "SHA1", id="R12/deny-rsa-sha1"),
        pytest.param("rsa-md5", "MD5", id="R12/deny-rsa-md5"),
        pytest.param("ecdsa-sha1", "SHA1", id="R12/deny-ecdsa-sha1"),
    ],
)
def test_weak_signature_hash_refused(name: str, hash_name: str) -> None:
    csr = parse_csr(weak_csr(name))  # parseable: the refusal is a policy, not a format error
    refusal = refusal_of(lambda: check_csr(csr))
    assert (refusal.code, refusal.rule) == ("csr.sha1", "R12")
    assert f"signed with {hash_name}" in refusal.detail


def _flip_last_byte(data: bytes) -> bytes:
    """Corrupt the signature: it is the last field of the DER CertificationRequest."""
    return data[:-1] + bytes([data[-1] ^ 0x01])


def _alter_subject(data: bytes) -> bytes:
    """Change one letter of the signed subject, keeping every length the same."""
    assert data.count(b"Motor") == 1
    return data.replace(b"Motor", b"Motor".replace(b"M", b"N"))


@pytest.mark.parametrize("kind", ["ec256", "ec384", "rsa2048"])
@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(_flip_last_byte, id="R12/deny-tampered-signature"),
        pytest.param(_alter_subject, id="R12/deny-tampered-subject"),
    ],
)
def test_tampered_csr_refused(kind: str, tamper: Callable[[bytes], bytes]) -> None:
    original = der(make_csr(private_key(kind)))
    csr = parse_csr(tamper(original))
    refusal = refusal_of(lambda: check_csr(csr))
    assert (refusal.code, refusal.rule) == ("csr.bad_signature", "R12")


# --- Parsing ------------------------------------------------------------------------------


def _csr_pem() -> bytes:
    return pem(make_csr(private_key("ec256")))


def _private_key_pem() -> bytes:
    return private_key("ec256").private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _damaged_pem() -> bytes:
    lines = _csr_pem().splitlines(keepends=True)
    return b"".join([lines[0], b"bm90IGEgQ1NSIGF0IGFsbA==\n", lines[-1]])


UNPARSEABLE = [
    pytest.param(lambda: b"", "empty", id="parse/deny-empty-bytes"),
    pytest.param(lambda: "", "empty", id="parse/deny-empty-str"),
    pytest.param(lambda: b" \n\t\r\n", "empty", id="parse/deny-whitespace"),
    pytest.param(lambda: b"hello, please issue me a certificate", "neither", id="parse/garbage"),
    pytest.param(lambda: bytes(range(256)), "neither", id="parse/binary-garbage"),
    pytest.param(
        lambda: self_signed_certificate().public_bytes(serialization.Encoding.PEM),
        "this is a certificate, not a CSR",
        id="parse/deny-certificate-pem",
    ),
    pytest.param(
        lambda: self_signed_certificate().public_bytes(serialization.Encoding.DER),
        "this is a certificate, not a CSR",
        id="parse/deny-certificate-der",
    ),
    pytest.param(lambda: _csr_pem() + _csr_pem(), "2 CSRs", id="parse/deny-two-csrs"),
    pytest.param(
        lambda: _csr_pem() + _private_key_pem(),
        "never send a private key",
        id="parse/deny-private-key-alongside",
    ),
    pytest.param(lambda: _private_key_pem(), "never send a private key", id="parse/deny-key"),
    pytest.param(
        lambda: _csr_pem() + self_signed_certificate().public_bytes(serialization.Encoding.PEM),
        "upload the CSR alone",
        id="parse/deny-csr-with-certificate",
    ),
    pytest.param(
        lambda: (
            private_key("ec256")
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ),
        "no CERTIFICATE REQUEST PEM block found (PUBLIC KEY)",
        id="parse/deny-public-key",
    ),
    pytest.param(_damaged_pem, "damaged", id="parse/deny-damaged-pem"),
    pytest.param(
        lambda: _csr_pem()[:-40],
        "no CERTIFICATE REQUEST PEM block found",
        id="parse/deny-truncated-pem",
    ),
    pytest.param(
        lambda: der(make_csr(private_key("ec256")))[:-5], "neither", id="parse/deny-truncated-der"
    ),
    pytest.param(
        lambda: der(make_csr(private_key("ec256"))) * 2, "neither", id="parse/deny-two-der-csrs"
    ),
]


@pytest.mark.parametrize(("data", "words"), UNPARSEABLE)
def test_parse_csr_refuses(data: Callable[[], bytes | str], words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_csr(data())
    assert caught.value.code == "csr.unparseable"
    assert not isinstance(caught.value, PolicyRefusal)
    assert words in caught.value.detail


PARSEABLE = [
    pytest.param(lambda: _csr_pem(), id="parse/pem-bytes"),
    pytest.param(lambda: _csr_pem().decode("ascii"), id="parse/pem-str"),
    pytest.param(lambda: der(make_csr(private_key("ec256"))), id="parse/der"),
    pytest.param(
        lambda: _csr_pem().replace(b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"),
        id="parse/pem-new-certificate-request-label",
    ),
    pytest.param(
        lambda: b"Certificate Request:\n    Data: ...\n" + _csr_pem() + b"\n\n",
        id="parse/pem-with-openssl-text-around",
    ),
    pytest.param(lambda: _csr_pem().replace(b"\n", b"\r\n"), id="parse/pem-crlf"),
]


@pytest.mark.parametrize("data", PARSEABLE)
def test_parse_csr_accepts(data: Callable[[], bytes | str]) -> None:
    csr = parse_csr(data())
    assert check_csr(csr).names == ("www.dmv.ca.gov",)


# --- Names as written (judged later by R1/R2) ----------------------------------------------

NAME_CASES = [
    # (SAN DNS names, subject CN, expected names)
    pytest.param(["a.dmv.ca.gov"], None, ("a.dmv.ca.gov",), id="names/san-only"),
    pytest.param([], "a.dmv.ca.gov", ("a.dmv.ca.gov",), id="names/cn-only"),
    pytest.param(
        ["a.dmv.ca.gov", "b.dmv.ca.gov"],
        "b.dmv.ca.gov",
        ("a.dmv.ca.gov", "b.dmv.ca.gov"),
        id="names/cn-among-sans-dropped",
    ),
    pytest.param(
        ["b.dmv.ca.gov", "a.dmv.ca.gov"],
        "c.dmv.ca.gov",
        ("b.dmv.ca.gov", "a.dmv.ca.gov", "c.dmv.ca.gov"),
        id="names/cn-appended-order-kept",
    ),
    pytest.param(
        ["a.dmv.ca.gov", "a.dmv.ca.gov", "b.dmv.ca.gov"],
        None,
        ("a.dmv.ca.gov", "b.dmv.ca.gov"),
        id="names/duplicate-san-dropped",
    ),
    pytest.param(
        ["a.dmv.ca.gov"],
        "A.DMV.ca.gov",
        ("a.dmv.ca.gov", "A.DMV.ca.gov"),
        id="names/only-exact-duplicates-dropped",
    ),
    pytest.param(
        ["*.dmv.ca.gov"],
        "dmv.ca.gov",
        ("*.dmv.ca.gov", "dmv.ca.gov"),
        id="names/wildcard-as-written",
    ),
    # Not judged here: R1/R2 refuse these in the names module.
    pytest.param(
        ["evil.example.com"],
        "Agency Web Server",
        ("evil.example.com", "Agency Web Server"),
        id="names/not-judged-here",
    ),
]


@pytest.mark.parametrize(("sans", "cn", "expected"), NAME_CASES)
def test_names_as_written(sans: list[str], cn: str | None, expected: tuple[str, ...]) -> None:
    csr = make_csr(private_key("ec256"), cn=cn, sans=[x509.DNSName(s) for s in sans])
    assert check_csr(csr).names == expected


SAN_REFUSALS = [
    # (SAN entries, code, rule, words)
    pytest.param(
        [x509.IPAddress(ipaddress.ip_address("10.1.2.3"))],
        "name.ip_address",
        "R1",
        "IP address 10.1.2.3",
        id="R1/deny-ipv4-san",
    ),
    pytest.param(
        [x509.DNSName("a.dmv.ca.gov"), x509.IPAddress(ipaddress.ip_address("2001:db8::1"))],
        "name.ip_address",
        "R1",
        "IP address 2001:db8::1",
        id="R1/deny-ipv6-san",
    ),
    pytest.param(
        [x509.DNSName("a.dmv.ca.gov"), x509.RFC822Name("webmaster@dmv.ca.gov")],
        "csr.unsupported_san",
        "R1",
        "E-mail address",
        id="R1/deny-email-san",
    ),
    pytest.param(
        [x509.UniformResourceIdentifier("https://a.dmv.ca.gov/")],
        "csr.unsupported_san",
        "R1",
        "URI",
        id="R1/deny-uri-san",
    ),
    pytest.param([], "csr.no_names", "R12", "no DNS name", id="R12/deny-no-names"),
]


@pytest.mark.parametrize(("sans", "code", "rule", "words"), SAN_REFUSALS)
def test_san_refusals(sans: list[x509.GeneralName], code: str, rule: str, words: str) -> None:
    csr = make_csr(private_key("ec256"), cn=None, sans=sans)
    refusal = refusal_of(lambda: check_csr(csr))
    assert (refusal.code, refusal.rule) == (code, rule)
    assert words in refusal.detail


@pytest.mark.parametrize(
    ("features", "refused"),
    [
        pytest.param([x509.TLSFeatureType.status_request], True, id="R12/deny-must-staple"),
        pytest.param([x509.TLSFeatureType.status_request_v2], False, id="R12/allow-other-feature"),
    ],
)
def test_r12_must_staple_is_refused_not_dropped(
    features: list[x509.TLSFeatureType], refused: bool
) -> None:
    csr = build_csr(
        key=private_key("ec256"),
        sans=[x509.DNSName("www.dmv.ca.gov")],
        extensions=[x509.TLSFeature(features)],
    )
    if not refused:
        assert check_csr(csr).names == ("www.dmv.ca.gov",)
        return
    refusal = refusal_of(lambda: check_csr(csr))
    assert (refusal.code, refusal.rule) == ("csr.must_staple", "R12")
    assert "Must-Staple" in refusal.detail


# --- Robustness: any bytes or text (issue 10) ------------------------------------------------

# Valid CSRs to damage: hypothesis alone almost never draws bytes that parse as a CSR, and
# the code past the parser (extensions, key, signature) is where an unexpected exception
# would come from.
_SEEDS = (
    der(
        make_csr(
            private_key("ec256"),
            sans=[x509.DNSName("www.dmv.ca.gov"), x509.DNSName("*.dmv.ca.gov")],
        )
    ),
    der(make_csr(private_key("rsa2048"), cn=None, sans=[x509.DNSName("a.ca.gov")])),
)


@st.composite
def _damaged(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 2))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        del data[draw(st.integers(1, len(data))) :]
    return bytes(data)


def _as_pem(data: bytes) -> bytes:
    return (
        b"-----BEGIN CERTIFICATE REQUEST-----\n"
        + base64.encodebytes(data)
        + b"-----END CERTIFICATE REQUEST-----\n"
    )


CSR_INPUTS = (
    st.binary(max_size=600)
    | _damaged()
    | _damaged().map(_as_pem)
    | st.text(st.characters(exclude_categories=()), max_size=200)
    | st.text(max_size=200).map(lambda t: "-----BEGIN CERTIFICATE REQUEST-----\n" + t)
)


@settings(database=None, deadline=None, max_examples=400)
@given(CSR_INPUTS)
def test_property_csr_reader_raises_only_certdesk_errors(data: bytes | str) -> None:
    """Whatever is uploaded, parse_csr and check_csr answer or raise a certdesk error."""
    try:
        facts = check_csr(parse_csr(data))
    except CertdeskError:
        return
    assert facts.names
