"""The pre-signing lint (``certdesk.ca.lint.lint_tls_server``) refuses every broken leaf.

Each row builds, with plain ``cryptography``, a leaf that is correct except for exactly one
thing and expects that thing's ``LintFailure.code``. The correct leaf itself passes
(``test_lint_accepts_a_correct_leaf``), so a row can only fail for its own reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from certdesk.ca.hierarchy import create_hierarchy
from certdesk.ca.issuer import Prepared
from certdesk.ca.lint import LintFailure, lint_tls_server
from certdesk.ca.local import LocalCA
from certdesk.ca.profile import DV_POLICY, IssuerUrls, LeafRequest, new_serial
from certdesk.core.keys import KeyType
from certdesk.core.names import DEFAULT_SUFFIXES
from certdesk.errors import Kind
from world.csr import subscriber_key

MAX_DAYS = 200
NOW = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
OCSP = AuthorityInformationAccessOID.OCSP
CA_ISSUERS = AuthorityInformationAccessOID.CA_ISSUERS
OCSP_URL = "http://pki.cdt.ca.gov/ocsp"
URLS = IssuerUrls(
    ca_issuers="http://pki.cdt.ca.gov/ca/x.cer",
    ocsp=OCSP_URL,
    crl="http://pki.cdt.ca.gov/crl/x.crl",
)


@dataclass(frozen=True)
class Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _make_issuer() -> Issuer:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lint test issuing CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(new_serial())
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(NOW + timedelta(days=3 * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return Issuer(cert, key)


ISSUER = _make_issuer()


def _ku(*, key_encipherment: bool, **flags: bool) -> x509.KeyUsage:
    values = {
        "digital_signature": True,
        "content_commitment": False,
        "key_encipherment": key_encipherment,
        "data_encipherment": False,
        "key_agreement": False,
        "key_cert_sign": False,
        "crl_sign": False,
        "encipher_only": False,
        "decipher_only": False,
    }
    values.update(flags)
    return x509.KeyUsage(**values)


def _aia(*methods: x509.ObjectIdentifier) -> x509.AuthorityInformationAccess:
    url = {OCSP: OCSP_URL, CA_ISSUERS: URLS.ca_issuers}
    return x509.AuthorityInformationAccess(
        [x509.AccessDescription(m, x509.UniformResourceIdentifier(url[m])) for m in methods]
    )


def _aki(issuer_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


Ext = tuple[x509.ExtensionType, bool]  # value, critical
GOOD_SAN = x509.SubjectAlternativeName(
    [x509.DNSName("www.dmv.ca.gov"), x509.DNSName("*.apps.dmv.ca.gov")]
)


@dataclass(frozen=True)
class LeafSpec:
    """A DV TLS server leaf as the profile makes it; a row replaces exactly one field."""

    key_type: KeyType = KeyType.EC256
    public_key: CertificatePublicKeyTypes | None = None  # None: the cached key of key_type
    subject: x509.Name = field(default_factory=lambda: x509.Name([]))
    issuer_name: x509.Name | None = None  # None: the issuer's subject
    serial: int = 0x1234_5678_9ABC_DEF0_1234_5678
    not_before: datetime = NOW
    not_after: datetime = NOW + timedelta(days=90)
    san: Ext | None = (GOOD_SAN, True)
    basic_constraints: Ext | None = (x509.BasicConstraints(ca=False, path_length=None), True)
    key_usage: Ext | None = None  # None: digitalSignature (+keyEncipherment for RSA), critical
    eku: Ext | None = (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    ski: bool = False
    aki: Ext | None = (_aki(ISSUER.cert), False)
    aia: Ext | None = (_aia(OCSP, CA_ISSUERS), False)
    crldp: Ext | None = (
        x509.CRLDistributionPoints(
            [x509.DistributionPoint([x509.UniformResourceIdentifier(URLS.crl)], None, None, None)]
        ),
        False,
    )
    policies: Ext | None = (
        x509.CertificatePolicies([x509.PolicyInformation(DV_POLICY, None)]),
        False,
    )

    def build(self) -> x509.Certificate:
        public_key = self.public_key or subscriber_key(self.key_type).public_key()
        is_rsa = isinstance(public_key, rsa.RSAPublicKey)
        key_usage = self.key_usage or (_ku(key_encipherment=is_rsa), True)
        builder = (
            x509.CertificateBuilder()
            .subject_name(self.subject)
            .issuer_name(self.issuer_name or ISSUER.cert.subject)
            .public_key(public_key)
            .serial_number(self.serial)
            .not_valid_before(self.not_before)
            .not_valid_after(self.not_after)
        )
        extensions: list[Ext | None] = [
            self.san,
            self.basic_constraints,
            key_usage,
            self.eku,
            self.aki,
            self.aia,
            self.crldp,
            self.policies,
        ]
        if self.ski:
            extensions.append((x509.SubjectKeyIdentifier.from_public_key(public_key), False))
        for ext in extensions:
            if ext is not None:
                builder = builder.add_extension(ext[0], critical=ext[1])
        return builder.sign(ISSUER.key, hashes.SHA256())


def lint(cert: x509.Certificate) -> None:
    lint_tls_server(cert, ISSUER.cert, max_days=MAX_DAYS, suffixes=DEFAULT_SUFFIXES)


def _edit_tbs(cert: x509.Certificate, index: int, element: bytes) -> x509.Certificate:
    """The certificate with TBSCertificate child ``index`` replaced by ``element`` (DER).

    ``CertificateBuilder`` refuses serials that are not positive or longer than 159 bits and
    a notAfter before notBefore, so the only way to show the lint such a certificate is to
    edit the DER. The signature no longer matches; the lint does not look at it (that is the
    TBS-digest check's job).
    """
    der = cert.public_bytes(serialization.Encoding.DER)
    outer = _children(_body(der, 0))
    tbs_items = _children(_body(outer[0], 0))
    tbs_items[index] = element
    new_der = _tlv(0x30, _tlv(0x30, b"".join(tbs_items)) + b"".join(outer[1:]))
    with warnings.catch_warnings():
        # cryptography warns (and -W error would raise) on a non-positive serial.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_der_x509_certificate(new_der)


# TBSCertificate ::= SEQUENCE { [0] version, serialNumber, signature, issuer, validity, ... }
_SERIAL, _VALIDITY = 1, 4


def _replace_serial(cert: x509.Certificate, serial_body: bytes) -> x509.Certificate:
    return _edit_tbs(cert, _SERIAL, _tlv(0x02, serial_body))


def _replace_validity(
    cert: x509.Certificate, not_before: datetime, not_after: datetime
) -> x509.Certificate:
    def utc_time(t: datetime) -> bytes:  # RFC 5280 §4.1.2.5.1, years 1950-2049
        return _tlv(0x17, t.strftime("%y%m%d%H%M%SZ").encode())

    return _edit_tbs(cert, _VALIDITY, _tlv(0x30, utc_time(not_before) + utc_time(not_after)))


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _header(der: bytes, pos: int) -> tuple[int, int]:
    """(start of contents, end of element) of the DER element at ``pos``."""
    first = der[pos + 1]
    if first < 0x80:
        return pos + 2, pos + 2 + first
    n = first & 0x7F
    length = int.from_bytes(der[pos + 2 : pos + 2 + n], "big")
    return pos + 2 + n, pos + 2 + n + length


def _body(der: bytes, pos: int) -> bytes:
    start, end = _header(der, pos)
    return der[start:end]


def _children(body: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(body):
        _, end = _header(body, pos)
        out.append(body[pos:end])
        pos = end
    return out


def _other_issuer_aki() -> Ext:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    return (x509.AuthorityKeyIdentifier.from_issuer_public_key(other), False)


Mutation = Callable[[], x509.Certificate]


def spec(**changes: object) -> Mutation:
    return lambda: dataclasses.replace(LeafSpec(), **changes).build()  # type: ignore[arg-type]


def serial_der(body: bytes) -> Mutation:
    return lambda: _replace_serial(LeafSpec().build(), body)


def validity_der(not_before: datetime, not_after: datetime) -> Mutation:
    return lambda: _replace_validity(LeafSpec().build(), not_before, not_after)


# The lint reads the serial of such a certificate, and cryptography warns on that read.
NON_POSITIVE_SERIAL = pytest.mark.filterwarnings(
    "ignore:Parsed a serial number which wasn't positive"
    ":cryptography.utils.CryptographyDeprecationWarning"
)


def _without_key_usage() -> x509.Certificate:
    # LeafSpec always adds a key usage; build this one leaf by hand from the same parts.
    base = LeafSpec()
    public_key = subscriber_key(base.key_type).public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(base.subject)
        .issuer_name(ISSUER.cert.subject)
        .public_key(public_key)
        .serial_number(base.serial)
        .not_valid_before(base.not_before)
        .not_valid_after(base.not_after)
    )
    for ext in (base.san, base.basic_constraints, base.eku, base.aki, base.aia, base.crldp):
        assert ext is not None
        builder = builder.add_extension(ext[0], critical=ext[1])
    assert base.policies is not None
    builder = builder.add_extension(base.policies[0], critical=base.policies[1])
    return builder.sign(ISSUER.key, hashes.SHA256())


BROKEN = [
    # --- names (R1, RFC 5280 §4.2.1.6)
    pytest.param(
        spec(san=(GOOD_SAN, False)),
        "lint.san",
        id="lint/san-not-critical",
    ),
    pytest.param(spec(san=None), "lint.san", id="lint/san-missing"),
    pytest.param(
        spec(san=(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("10.1.2.3"))]), True)),
        "lint.san",
        id="lint/san-ip-address",
    ),
    pytest.param(
        spec(
            san=(
                x509.SubjectAlternativeName(
                    [x509.DNSName("www.dmv.ca.gov"), x509.IPAddress(IPv4Address("10.1.2.3"))]
                ),
                True,
            )
        ),
        "lint.san",
        id="lint/san-dns-plus-ip-address",
    ),
    pytest.param(
        spec(san=(x509.SubjectAlternativeName([x509.DNSName("www.example.com")]), True)),
        "lint.name",
        id="lint/san-name-outside-r1",
    ),
    pytest.param(
        spec(san=(x509.SubjectAlternativeName([x509.DNSName("*.ca.gov")]), True)),
        "lint.name",
        id="lint/san-wildcard-on-suffix",
    ),
    pytest.param(
        spec(subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.dmv.ca.gov")])),
        "lint.subject",
        id="lint/subject-has-cn",
    ),
    pytest.param(
        spec(issuer_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone else")])),
        "lint.issuer",
        id="lint/issuer-name-mismatch",
    ),
    # --- extensions (BR §7.1.2.7)
    pytest.param(spec(ski=True), "lint.ski", id="lint/ski-present"),
    pytest.param(spec(aki=None), "lint.aki", id="lint/aki-missing"),
    pytest.param(spec(aki=_other_issuer_aki()), "lint.aki", id="lint/aki-other-key"),
    pytest.param(spec(aia=None), "lint.aia", id="lint/aia-missing"),
    pytest.param(spec(aia=(_aia(OCSP), False)), "lint.aia", id="lint/aia-ocsp-only"),
    pytest.param(spec(crldp=None), "lint.crldp", id="lint/crldp-missing"),
    pytest.param(spec(policies=None), "lint.policies", id="lint/policies-missing"),
    pytest.param(
        spec(
            policies=(
                x509.CertificatePolicies(
                    [x509.PolicyInformation(x509.ObjectIdentifier("2.23.140.1.2.2"), None)]
                ),
                False,
            )
        ),
        "lint.policies",
        id="lint/policy-ov-not-dv",
    ),
    pytest.param(spec(eku=None), "lint.eku", id="lint/eku-missing"),
    pytest.param(
        spec(
            eku=(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                False,
            )
        ),
        "lint.eku",
        id="lint/eku-serverauth-plus-clientauth",
    ),
    pytest.param(
        spec(eku=(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)),
        "lint.eku",
        id="lint/eku-code-signing",
    ),
    pytest.param(
        spec(basic_constraints=(x509.BasicConstraints(ca=True, path_length=None), True)),
        "lint.basic_constraints",
        id="lint/ca-true",
    ),
    pytest.param(
        spec(basic_constraints=(x509.BasicConstraints(ca=False, path_length=None), False)),
        "lint.basic_constraints",
        id="lint/basic-constraints-not-critical",
    ),
    pytest.param(
        spec(basic_constraints=None), "lint.basic_constraints", id="lint/basic-constraints-missing"
    ),
    # --- key usage (BR §7.1.2.7.11)
    pytest.param(
        spec(key_usage=(_ku(key_encipherment=True), True)),
        "lint.key_usage",
        id="lint/ku-key-encipherment-on-ec",
    ),
    pytest.param(
        spec(key_type=KeyType.RSA2048, key_usage=(_ku(key_encipherment=False), True)),
        "lint.key_usage",
        id="lint/ku-rsa-without-key-encipherment",
    ),
    pytest.param(
        spec(key_usage=(_ku(key_encipherment=False, digital_signature=False), True)),
        "lint.key_usage",
        id="lint/ku-no-digital-signature",
    ),
    pytest.param(
        spec(key_usage=(_ku(key_encipherment=False, key_cert_sign=True), True)),
        "lint.key_usage",
        id="lint/ku-key-cert-sign",
    ),
    pytest.param(
        spec(key_usage=(_ku(key_encipherment=False, crl_sign=True), True)),
        "lint.key_usage",
        id="lint/ku-crl-sign",
    ),
    pytest.param(
        spec(key_usage=(_ku(key_encipherment=False, content_commitment=True), True)),
        "lint.key_usage",
        id="lint/ku-non-repudiation",
    ),
    pytest.param(
        spec(key_usage=(_ku(key_encipherment=False, key_agreement=True), True)),
        "lint.key_usage",
        id="lint/ku-key-agreement-on-ec",
    ),
    pytest.param(
        spec(
            key_type=KeyType.RSA2048,
            key_usage=(_ku(key_encipherment=True, data_encipherment=True), True),
        ),
        "lint.key_usage",
        id="lint/ku-data-encipherment-on-rsa",
    ),
    pytest.param(
        spec(key_usage=(_ku(key_encipherment=False), False)),
        "lint.key_usage",
        id="lint/ku-not-critical",
    ),
    pytest.param(_without_key_usage, "lint.key_usage", id="lint/ku-missing"),
    # --- validity (R13, BR §6.3.2: both ends count)
    pytest.param(
        spec(not_after=NOW + timedelta(days=MAX_DAYS)),
        "lint.validity",
        id="lint/validity-max-plus-one-second",
    ),
    pytest.param(
        spec(not_after=NOW + timedelta(days=398)),
        "lint.validity",
        id="lint/validity-398-days",
    ),
    pytest.param(
        validity_der(NOW, NOW - timedelta(seconds=1)),
        "lint.validity",
        id="lint/validity-ends-before-it-starts",
    ),
    pytest.param(
        spec(
            not_before=ISSUER.cert.not_valid_after_utc - timedelta(days=10),
            not_after=ISSUER.cert.not_valid_after_utc + timedelta(seconds=1),
        ),
        "lint.validity",
        id="lint/validity-outlives-issuer",
    ),
    pytest.param(
        spec(
            not_before=ISSUER.cert.not_valid_before_utc - timedelta(seconds=1),
            not_after=ISSUER.cert.not_valid_before_utc + timedelta(days=10),
        ),
        "lint.validity",
        id="lint/validity-starts-before-issuer",
    ),
    # --- serial (BR §7.1, RFC 5280 §4.1.2.2)
    pytest.param(spec(serial=2**63 - 1), "lint.serial", id="lint/serial-63-bits"),
    pytest.param(spec(serial=1), "lint.serial", id="lint/serial-one"),
    pytest.param(
        serial_der(b"\x00"), "lint.serial", id="lint/serial-zero", marks=NON_POSITIVE_SERIAL
    ),
    pytest.param(
        serial_der(b"\xff" + bytes(range(1, 16))),
        "lint.serial",
        id="lint/serial-negative",
        marks=NON_POSITIVE_SERIAL,
    ),
    pytest.param(
        serial_der(b"\x01" + bytes(range(1, 21))), "lint.serial", id="lint/serial-21-octets"
    ),
    # --- subscriber key (R12)
    pytest.param(
        spec(public_key=ec.generate_private_key(ec.SECP521R1()).public_key()),
        "lint.key",
        id="lint/key-p521",
    ),
    pytest.param(
        spec(public_key=rsa.generate_private_key(65537, 1024).public_key()),
        "lint.key",
        id="lint/key-rsa1024",
    ),
    pytest.param(
        spec(public_key=ed25519.Ed25519PrivateKey.generate().public_key()),
        "lint.key",
        id="lint/key-ed25519",
    ),
]


@pytest.mark.parametrize(("make", "code"), BROKEN)
def test_lint_refuses(make: Mutation, code: str) -> None:
    cert = make()
    with pytest.raises(LintFailure) as refused:
        lint(cert)
    assert refused.value.code == code, refused.value.detail
    assert refused.value.kind is Kind.CONFLICT
    assert refused.value.detail.startswith("pre-signing lint: ")


GOOD = [
    pytest.param(spec(), id="lint-ok/ec256-two-names-with-wildcard"),
    pytest.param(spec(key_type=KeyType.EC384), id="lint-ok/ec384"),
    pytest.param(spec(key_type=KeyType.RSA2048), id="lint-ok/rsa2048-key-encipherment"),
    pytest.param(spec(key_type=KeyType.RSA4096), id="lint-ok/rsa4096"),
    pytest.param(
        spec(not_after=NOW + timedelta(days=MAX_DAYS) - timedelta(seconds=1)),
        id="lint-ok/validity-exactly-max-inclusive",
    ),
    pytest.param(
        spec(not_after=NOW),
        id="lint-ok/validity-one-second",
    ),
    pytest.param(spec(serial=2**63), id="lint-ok/serial-exactly-64-bits"),
    pytest.param(spec(serial=2**159 - 1), id="lint-ok/serial-exactly-20-octets"),
    pytest.param(spec(aia=(_aia(CA_ISSUERS), False)), id="lint-ok/aia-without-ocsp"),
    pytest.param(
        spec(
            not_before=ISSUER.cert.not_valid_after_utc - timedelta(days=10),
            not_after=ISSUER.cert.not_valid_after_utc,
        ),
        id="lint-ok/validity-ends-with-issuer",
    ),
]


@pytest.mark.parametrize("make", GOOD)
def test_lint_accepts_a_correct_leaf(make: Mutation) -> None:
    lint(make())  # raises on failure


def test_serial_edits_change_only_the_serial() -> None:
    """The DER surgery above keeps every other field, so those rows break only the serial."""
    original = LeafSpec().build()
    edited = _replace_serial(original, (2**100).to_bytes(13, "big"))
    assert edited.serial_number == 2**100
    assert list(edited.extensions) == list(original.extensions)
    assert edited.subject == original.subject
    assert edited.not_valid_after_utc == original.not_valid_after_utc
    lint(edited)
    moved = _replace_validity(original, NOW, NOW + timedelta(days=10))
    assert moved.not_valid_after_utc == NOW + timedelta(days=10)
    assert moved.serial_number == original.serial_number
    assert list(moved.extensions) == list(original.extensions)
    lint(moved)


# ------------------------------------------------------------------- LocalCA prepare / sign


@pytest.fixture(scope="module", params=["ec256", "rsa2048"], ids=lambda k: f"{k}-ca")
def local_ca(request: pytest.FixtureRequest) -> LocalCA:
    root, inter = create_hierarchy(NOW, key_type=request.param, urls_for=lambda slug: URLS)
    return LocalCA(
        certificate=inter.certificate,
        key=inter.key,
        parents=[root.certificate],
        urls=URLS,
        suffixes=DEFAULT_SUFFIXES,
    )


def _request(**changes: object) -> LeafRequest:
    base = LeafRequest(
        serial=new_serial(),
        public_key=subscriber_key(KeyType.EC256).public_key(),
        names=("www.dmv.ca.gov",),
        not_before=NOW,
        not_after=NOW + timedelta(days=90),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_sign_covers_exactly_the_linted_tbs(local_ca: LocalCA) -> None:
    prepared = local_ca.prepare(_request(), max_days=MAX_DAYS)
    cert = local_ca.sign(prepared)
    assert hashlib.sha256(cert.tbs_certificate_bytes).hexdigest() == prepared.tbs_sha256
    cert.verify_directly_issued_by(local_ca.certificate)


def test_sign_refuses_a_tbs_digest_it_did_not_lint(local_ca: LocalCA) -> None:
    """lint/tbs-mismatch: a Prepared whose digest is not the builder's is never signed out."""
    prepared = local_ca.prepare(_request(), max_days=MAX_DAYS)
    forged = Prepared(request=prepared.request, tbs_sha256="00" * 32, builder=prepared.builder)
    with pytest.raises(LintFailure) as refused:
        local_ca.sign(forged)
    assert refused.value.code == "lint.tbs_mismatch"


def test_sign_refuses_a_builder_swapped_after_lint(local_ca: LocalCA) -> None:
    """lint/tbs-mismatch: the digest of one linted leaf cannot cover another builder."""
    linted = local_ca.prepare(_request(), max_days=MAX_DAYS)
    other = local_ca.prepare(_request(names=("other.dmv.ca.gov",)), max_days=MAX_DAYS)
    swapped = dataclasses.replace(linted, builder=other.builder)
    with pytest.raises(LintFailure) as refused:
        local_ca.sign(swapped)
    assert refused.value.code == "lint.tbs_mismatch"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        pytest.param({"names": ("www.example.com",)}, "lint.name", id="prepare/name-outside-r1"),
        pytest.param(
            {"not_after": NOW + timedelta(days=MAX_DAYS)},
            "lint.validity",
            id="prepare/validity-over-max",
        ),
        pytest.param({"serial": 12345}, "lint.serial", id="prepare/serial-too-short"),
        pytest.param(
            {"public_key": ec.generate_private_key(ec.SECP521R1()).public_key()},
            "lint.key",
            id="prepare/key-p521",
        ),
    ],
)
def test_prepare_lints_before_anything_is_signed(
    local_ca: LocalCA, changes: dict[str, object], code: str
) -> None:
    with pytest.raises(LintFailure) as refused:
        local_ca.prepare(_request(**changes), max_days=MAX_DAYS)
    assert refused.value.code == code
