"""The pre-storage lint of a vendor's certificate (``certdesk.ca.vendor_lint``, R16).

A vendor leaf built with plain ``cryptography`` the way a public CA makes one (commonName,
SKI, clientAuth, OCSP and CRL pointers, the DV policy) passes; each row breaks exactly one
thing and expects exactly that finding. pkilint's CA/B Forum linter is the reference: every
row it can judge from the certificate alone gets at least one ERROR from it too, and the
good leaf none. ``check_arrival`` refuses a leaf whose chain is fine but whose lint is not,
naming the findings, unless the operator tolerates them for this vendor.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from certdesk.ca.arrival import ArrivalRefused, check_arrival
from certdesk.ca.issuer import IssuedChain, IssueRequest
from certdesk.ca.lint import LintFailure
from certdesk.ca.profile import DV_POLICY, new_serial
from certdesk.ca.vendor_lint import FINDINGS, lint_vendor_tls_server, vendor_findings
from certdesk.errors import InvalidInput
from world.pkilint import BLOCKING, pkilint_cert

NOW = datetime.now(UTC).replace(microsecond=0)
NAME = "www.dmv.ca.gov"
OCSP_URL = "http://ocsp.vendor-ca.com"
CA_ISSUERS_URL = "http://cert.vendor-ca.com/issuing.der"
CRL_URL = "http://crl.vendor-ca.com/issuing.crl"
_CA_KEY = ec.generate_private_key(ec.SECP256R1())
_CA_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vendor CA Inc"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Vendor Test Root"),
    ]
)
CA = (
    x509.CertificateBuilder()
    .subject_name(_CA_NAME)
    .issuer_name(_CA_NAME)
    .public_key(_CA_KEY.public_key())
    .serial_number(new_serial())
    .not_valid_before(NOW - timedelta(days=30))
    .not_valid_after(NOW + timedelta(days=3650))
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    .add_extension(
        x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )
    .add_extension(x509.SubjectKeyIdentifier.from_public_key(_CA_KEY.public_key()), False)
    .sign(_CA_KEY, hashes.SHA256())
)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
_LEAF_SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])


def _ku(**on: bool) -> x509.KeyUsage:
    flags = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
        ),
        False,
    )
    flags.update(on)
    return x509.KeyUsage(**flags, encipher_only=False, decipher_only=False)


@dataclass(frozen=True)
class Leaf:
    """A vendor leaf as a public CA makes it; each field one decision a row can change."""

    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = EC_KEY
    subject: x509.Name = _LEAF_SUBJECT
    issuer_name: x509.Name = _CA_NAME
    san: list[x509.GeneralName] | None = field(default_factory=lambda: [x509.DNSName(NAME)])
    san_critical: bool = False
    ca: bool = False
    ku: x509.KeyUsage | None = field(default_factory=lambda: _ku(digital_signature=True))
    eku: list[x509.ObjectIdentifier] | None = field(
        default_factory=lambda: [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    aki_key: ec.EllipticCurvePublicKey | None = field(default_factory=_CA_KEY.public_key)
    ocsp: bool = True
    crl: bool = True
    policies: list[x509.ObjectIdentifier] = field(default_factory=lambda: [DV_POLICY])
    extra: list[tuple[x509.ExtensionType, bool]] = field(default_factory=list)
    days: int = 90
    hash: hashes.HashAlgorithm = field(default_factory=hashes.SHA256)
    signer: CertificateIssuerPrivateKeyTypes = _CA_KEY

    def build(self) -> x509.Certificate:
        b = (
            x509.CertificateBuilder()
            .subject_name(self.subject)
            .issuer_name(self.issuer_name)
            .public_key(self.key.public_key())
            .serial_number(new_serial())
            .not_valid_before(NOW - timedelta(hours=1))
            .not_valid_after(NOW - timedelta(hours=1) + timedelta(days=self.days))
            .add_extension(x509.BasicConstraints(ca=self.ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), False)
        )
        if self.san is not None:
            b = b.add_extension(x509.SubjectAlternativeName(self.san), self.san_critical)
        if self.ku is not None:
            b = b.add_extension(self.ku, critical=True)
        if self.eku is not None:
            b = b.add_extension(x509.ExtendedKeyUsage(self.eku), critical=False)
        if self.aki_key is not None:
            aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(self.aki_key)
            b = b.add_extension(aki, critical=False)
        access = [
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(CA_ISSUERS_URL),
            )
        ]
        if self.ocsp:
            access.insert(
                0,
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(OCSP_URL)
                ),
            )
        b = b.add_extension(x509.AuthorityInformationAccess(access), critical=False)
        if self.crl:
            point = x509.DistributionPoint(
                [x509.UniformResourceIdentifier(CRL_URL)], None, None, None
            )
            b = b.add_extension(x509.CRLDistributionPoints([point]), critical=False)
        if self.policies:
            b = b.add_extension(
                x509.CertificatePolicies([x509.PolicyInformation(p, None) for p in self.policies]),
                critical=False,
            )
        for ext, critical in self.extra:
            b = b.add_extension(ext, critical)
        return b.sign(self.signer, self.hash)


GOOD = Leaf()
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
UNKNOWN = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
# Why pkilint (given the leaf alone, judging by the BR) reports no ERROR for a row.
NO_ISSUER = "pkilint is given the leaf alone, without its issuer"
P521 = "the BR allow P-521; R12 (and Mozilla's root store policy) do not"
UNKNOWN_CRITICAL = "pkilint warns of an unknown extension; RFC 5280 §4.2 has clients refuse it"

# (leaf, the one finding, None or why pkilint reports no ERROR for it)
ROWS = [
    pytest.param(
        replace(GOOD, hash=hashes.SHA224()), "lint.signature", None, id="R12/vendor-sha224"
    ),
    pytest.param(
        replace(GOOD, key=rsa.generate_private_key(65537, 1024), ku=_ku(digital_signature=True)),
        "lint.key",
        None,
        id="R12/vendor-rsa-1024",
    ),
    pytest.param(
        replace(GOOD, key=ec.generate_private_key(ec.SECP521R1())),
        "lint.key",
        P521,
        id="R12/vendor-p521",
    ),
    pytest.param(
        replace(GOOD, issuer_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other")])),
        "lint.issuer",
        NO_ISSUER,
        id="R16/vendor-issuer-name",
    ),
    pytest.param(replace(GOOD, san=None), "lint.san", None, id="R16/vendor-no-san"),
    pytest.param(
        replace(GOOD, san=[x509.DNSName(NAME), x509.IPAddress(IPv4Address("192.0.2.1"))]),
        "lint.san",
        None,
        id="R16/vendor-san-ip",
    ),
    pytest.param(
        replace(GOOD, subject=x509.Name([])), "lint.san", None, id="R16/vendor-empty-subject"
    ),
    pytest.param(
        replace(
            GOOD, subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "evil.dmv.ca.gov")])
        ),
        "lint.common_name",
        None,
        id="R16/vendor-cn-not-in-san",
    ),
    pytest.param(replace(GOOD, ca=True), "lint.basic_constraints", None, id="R16/vendor-ca-true"),
    pytest.param(
        replace(GOOD, ku=_ku(digital_signature=True, key_cert_sign=True)),
        "lint.key_usage",
        None,
        id="R16/vendor-ku-cert-sign",
    ),
    pytest.param(
        replace(GOOD, ku=_ku(digital_signature=True, content_commitment=True)),
        "lint.key_usage",
        None,
        id="R16/vendor-ku-non-repudiation",
    ),
    pytest.param(
        replace(GOOD, ku=_ku(digital_signature=True, key_encipherment=True)),
        "lint.ec_key_encipherment",
        None,
        id="R16/vendor-ec-key-encipherment",
    ),
    pytest.param(replace(GOOD, eku=None), "lint.eku", None, id="R16/vendor-no-eku"),
    pytest.param(
        replace(GOOD, eku=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CODE_SIGNING]),
        "lint.eku",
        None,
        id="R16/vendor-eku-code-signing",
    ),
    pytest.param(
        replace(GOOD, eku=[ExtendedKeyUsageOID.CLIENT_AUTH]),
        "lint.eku",
        None,
        id="R16/vendor-eku-no-server-auth",
    ),
    pytest.param(replace(GOOD, aki_key=None), "lint.aki", None, id="R16/vendor-no-aki"),
    pytest.param(
        replace(GOOD, aki_key=OTHER_KEY.public_key()),
        "lint.aki",
        NO_ISSUER,
        id="R16/vendor-aki-other",
    ),
    pytest.param(
        replace(GOOD, ocsp=False, crl=False), "lint.revocation", None, id="R16/vendor-no-revocation"
    ),
    pytest.param(
        replace(GOOD, ocsp=False, crl=False, days=7),
        "lint.revocation",
        None,
        id="R16/vendor-seven-days-and-a-second-no-pointer",
    ),
    pytest.param(replace(GOOD, policies=[]), "lint.policies", None, id="R16/vendor-no-policy"),
    pytest.param(
        replace(GOOD, policies=[x509.ObjectIdentifier("1.3.6.1.4.1.55555.2")]),
        "lint.policies",
        None,
        id="R16/vendor-only-own-policy",
    ),
    pytest.param(
        replace(GOOD, extra=[(x509.PrecertPoison(), True)]),
        "lint.precertificate",
        None,
        id="R16/vendor-precertificate",
    ),
    pytest.param(
        replace(GOOD, extra=[(UNKNOWN, True)]),
        "lint.critical_extension",
        UNKNOWN_CRITICAL,
        id="R16/vendor-unknown-critical",
    ),
]


def test_a_public_cas_leaf_passes() -> None:
    assert vendor_findings(GOOD.build(), CA) == []
    assert lint_vendor_tls_server(GOOD.build(), CA) == []


@pytest.mark.parametrize(
    "leaf",
    [
        pytest.param(replace(GOOD, ocsp=False), id="R16/vendor-crl-only"),
        pytest.param(replace(GOOD, crl=False), id="R16/vendor-ocsp-only"),
        pytest.param(
            replace(GOOD, ocsp=False, crl=False, days=6), id="R16/vendor-short-lived-no-pointer"
        ),
        pytest.param(
            replace(GOOD, subject=x509.Name([]), san_critical=True), id="R16/vendor-no-subject"
        ),
        pytest.param(
            replace(GOOD, eku=[ExtendedKeyUsageOID.SERVER_AUTH]), id="R16/vendor-server-auth-only"
        ),
        pytest.param(
            replace(
                GOOD,
                key=rsa.generate_private_key(65537, 2048),
                ku=_ku(digital_signature=True, key_encipherment=True),
            ),
            id="R16/vendor-rsa-key-encipherment",
        ),
    ],
)
def test_what_a_vendor_may_choose_passes(leaf: Leaf) -> None:
    assert vendor_findings(leaf.build(), CA) == []


@pytest.mark.parametrize(("leaf", "code", "unseen"), ROWS)
def test_each_defect_is_exactly_its_finding(leaf: Leaf, code: str, unseen: str | None) -> None:
    cert = leaf.build()
    assert [f.code for f in vendor_findings(cert, CA)] == [code]
    with pytest.raises(LintFailure) as refused:
        lint_vendor_tls_server(cert, CA)
    assert refused.value.code == code
    assert refused.value.extra["findings"] == [code]
    assert code in FINDINGS
    # Tolerating exactly that finding lets the certificate through, and says what it let.
    assert [f.code for f in lint_vendor_tls_server(cert, CA, tolerate={code})] == [code]


@pytest.fixture(scope="module")
def pkilint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vendor-pkilint")


def test_pkilint_agrees_the_good_leaf_has_no_error(pkilint_dir: Path) -> None:
    linted = pkilint_cert(GOOD.build(), pkilint_dir, "good")
    assert [str(f) for f in linted.findings if f.severity in BLOCKING] == []


@pytest.mark.slow
@pytest.mark.parametrize(("leaf", "code", "unseen"), ROWS)
def test_pkilint_also_reports_an_error(
    leaf: Leaf, code: str, unseen: str | None, pkilint_dir: Path
) -> None:
    """Where pkilint has no ERROR, the row says why; a row that says so must be right."""
    linted = pkilint_cert(leaf.build(), pkilint_dir, code)
    assert bool(linted.codes(BLOCKING)) is (unseen is None), [str(f) for f in linted.findings]


def test_unknown_tolerated_findings_are_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        lint_vendor_tls_server(GOOD.build(), CA, tolerate={"lint.whatever"})
    assert refused.value.code == "vendor.lint_tolerate"


# --- check_arrival ---------------------------------------------------------------------------


def _request(key: ec.EllipticCurvePrivateKey) -> IssueRequest:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return IssueRequest(
        csr=csr, names=(NAME,), not_before=NOW, not_after=NOW + timedelta(days=89), max_days=200
    )


def test_arrival_refuses_a_leaf_that_fails_the_lint_and_says_why() -> None:
    # The chain builds (the root is the anchor); only the lint finds the missing policy and
    # the EC key marked for key encipherment.
    leaf = replace(GOOD, policies=[], ku=_ku(digital_signature=True, key_encipherment=True))
    issued = IssuedChain(leaf=leaf.build(), chain=())
    with pytest.raises(ArrivalRefused) as refused:
        check_arrival(issued, _request(EC_KEY), anchors=[CA], now=NOW)
    assert refused.value.code == "vendor.lint"
    assert refused.value.extra["findings"] == ["lint.ec_key_encipherment", "lint.policies"]
    assert "certificate policy" in refused.value.detail
    assert refused.value.detail.count("pre-storage lint") == 1


def test_arrival_accepts_what_the_operator_tolerates_for_this_vendor() -> None:
    leaf = replace(GOOD, policies=[])
    issued = IssuedChain(leaf=leaf.build(), chain=())
    tolerate = frozenset({"lint.policies"})
    assert check_arrival(issued, _request(EC_KEY), anchors=[CA], now=NOW, tolerate=tolerate) == (
        issued
    )


def test_arrival_accepts_a_good_vendor_leaf() -> None:
    issued = IssuedChain(leaf=GOOD.build(), chain=())
    assert check_arrival(issued, _request(EC_KEY), anchors=[CA], now=NOW) == issued


MALFORMED = replace(
    GOOD,
    ku=None,
    extra=[(x509.UnrecognizedExtension(x509.oid.ExtensionOID.KEY_USAGE, b"\x00\x01"), True)],
)


def test_an_unreadable_extension_is_refused_not_a_crash() -> None:
    with pytest.raises(LintFailure) as linted:
        lint_vendor_tls_server(MALFORMED.build(), CA, tolerate=set(FINDINGS))
    assert linted.value.code == "lint.malformed"
    issued = IssuedChain(leaf=MALFORMED.build(), chain=())
    with pytest.raises(ArrivalRefused) as refused:
        check_arrival(issued, _request(EC_KEY), anchors=[CA], now=NOW)
    assert refused.value.code == "vendor.malformed"
