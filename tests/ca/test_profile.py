"""The certificate profiles of the built-in CA (ca/profile.py), checked on what it issues.

Leaves come from the real pipeline. Each row names the profile rule it checks; the CA/B
Forum section is in the profile module. Extension values are compared whole (cryptography's
extension types compare by value), so an extra flag, URL or policy fails the row.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    ExtensionOID,
    SignatureAlgorithmOID,
)
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from certdesk.ca.keystore import read_private_key, resolve_passphrase
from certdesk.ca.profile import DV_POLICY, new_serial
from certdesk.config import Settings
from certdesk.core.calendar import PACIFIC, max_validity_days
from certdesk.core.keys import KeyType
from certdesk.errors import Unavailable
from certdesk.services.registry import Services
from conftest import ManualClock
from world.authority import Hierarchy, add_org, hierarchy, issue, open_ca_services

NAMES = ("www.dmv.ca.gov", "*.apps.dmv.ca.gov")
LEAF_KEY_TYPES = (KeyType.EC256, KeyType.RSA2048)


@dataclass(frozen=True)
class Desk:
    """One initialized certdesk (SQLite) and leaves it issued with the default validity."""

    services: Services
    base_url: str
    ca: Hierarchy
    leaves: dict[KeyType, x509.Certificate]


@pytest.fixture(scope="module")
def desks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Desk]]:
    """One desk per issuing-CA key type, opened once for the module (fixed ManualClock)."""
    out: dict[str, Desk] = {}
    for ca_key_type in ("ec256", "rsa2048"):
        services = open_ca_services(
            tmp_path_factory.mktemp(f"profile-{ca_key_type}"),
            ManualClock(),
            ca_key_type=ca_key_type,
        )
        leaves = {kt: issue(services, NAMES, kt).certificate for kt in LEAF_KEY_TYPES}
        out[ca_key_type] = Desk(
            services, services.rt.settings.base_url, hierarchy(services), leaves
        )
    yield out
    for desk in out.values():
        desk.services.rt.close()


@dataclass(frozen=True)
class Leaf:
    cert: x509.Certificate
    key_type: KeyType
    issuer: x509.Certificate
    issuer_slug: str
    base_url: str

    @property
    def is_rsa(self) -> bool:
        return self.key_type.value.startswith("rsa")


@pytest.fixture(params=LEAF_KEY_TYPES, ids=lambda kt: f"leaf-{kt}")
def leaf(request: pytest.FixtureRequest, desks: dict[str, Desk]) -> Leaf:
    desk = desks["ec256"]
    kt: KeyType = request.param
    return Leaf(desk.leaves[kt], kt, desk.ca.intermediate, desk.ca.intermediate_slug, desk.base_url)


def _ski(cert: x509.Certificate) -> bytes:
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def _leaf_key_usage(leaf: Leaf) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=leaf.is_rsa,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _aia(leaf: Leaf) -> x509.AuthorityInformationAccess:
    return x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP,
                x509.UniformResourceIdentifier(f"{leaf.base_url}/ocsp"),
            ),
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(f"{leaf.base_url}/ca/{leaf.issuer_slug}.cer"),
            ),
        ]
    )


def _crldp(leaf: Leaf) -> x509.CRLDistributionPoints:
    url = f"{leaf.base_url}/crl/{leaf.issuer_slug}.crl"
    return x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)]
    )


ExpectedValue = Callable[[Leaf], x509.ExtensionType]

LEAF_EXTENSIONS = [
    pytest.param(
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        True,
        lambda leaf: x509.SubjectAlternativeName([x509.DNSName(n) for n in NAMES]),
        id="profile/san-critical-dns-only",
    ),
    pytest.param(
        ExtensionOID.BASIC_CONSTRAINTS,
        True,
        lambda leaf: x509.BasicConstraints(ca=False, path_length=None),
        id="profile/basic-constraints-ca-false-critical",
    ),
    pytest.param(
        ExtensionOID.KEY_USAGE,
        True,
        _leaf_key_usage,
        id="profile/ku-digital-signature-plus-key-encipherment-rsa-only",
    ),
    pytest.param(
        ExtensionOID.EXTENDED_KEY_USAGE,
        False,
        lambda leaf: x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
        id="profile/eku-serverauth-only",
    ),
    pytest.param(
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        False,
        lambda leaf: x509.AuthorityKeyIdentifier(_ski(leaf.issuer), None, None),
        id="profile/aki-is-issuer-ski",
    ),
    pytest.param(
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        False,
        _aia,
        id="profile/aia-ocsp-and-ca-issuers-from-base-url",
    ),
    pytest.param(
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        False,
        _crldp,
        id="profile/crldp-from-base-url",
    ),
    pytest.param(
        ExtensionOID.CERTIFICATE_POLICIES,
        False,
        lambda leaf: x509.CertificatePolicies(
            [x509.PolicyInformation(x509.ObjectIdentifier("2.23.140.1.2.1"), None)]
        ),
        id="profile/policy-dv-2.23.140.1.2.1",
    ),
]


@pytest.mark.parametrize(("oid", "critical", "expected"), LEAF_EXTENSIONS)
def test_leaf_extension(
    leaf: Leaf, oid: x509.ObjectIdentifier, critical: bool, expected: ExpectedValue
) -> None:
    ext = leaf.cert.extensions.get_extension_for_oid(oid)
    assert ext.critical is critical
    assert ext.value == expected(leaf)


def _exact_extension_set(leaf: Leaf) -> None:
    assert [e.oid for e in leaf.cert.extensions] == [p.values[0] for p in LEAF_EXTENSIONS]


def _no_ski(leaf: Leaf) -> None:
    with pytest.raises(x509.ExtensionNotFound):
        leaf.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)


def _empty_subject(leaf: Leaf) -> None:
    assert leaf.cert.subject == x509.Name([])
    assert leaf.cert.subject.public_bytes() == bytes.fromhex("3000")  # an empty SEQUENCE


def _v3_issued_by_intermediate(leaf: Leaf) -> None:
    assert leaf.cert.version is x509.Version.v3
    assert leaf.cert.issuer == leaf.issuer.subject


def _dv_policy_object(leaf: Leaf) -> None:
    policies = leaf.cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [DV_POLICY]


def _serial(leaf: Leaf) -> None:
    serial = leaf.cert.serial_number
    assert serial > 0
    assert serial.bit_length() >= 64
    assert serial.bit_length() // 8 + 1 <= 20  # DER octets of a positive INTEGER


LEAF_RULES = [
    # Nothing beyond the extension table above: no SKI, no SCT list, no extras.
    pytest.param(_exact_extension_set, id="profile/extension-set-exact"),
    # BR §7.1.2.7.6: subjectKeyIdentifier is NOT RECOMMENDED in subscriber certificates.
    pytest.param(_no_ski, id="profile/no-ski"),
    # BR §7.1.2.7.2: the names live only in the (critical) SAN; no deprecated commonName.
    pytest.param(_empty_subject, id="profile/subject-empty"),
    pytest.param(_v3_issued_by_intermediate, id="profile/v3-issued-by-intermediate"),
    pytest.param(_dv_policy_object, id="profile/policy-dv-object"),
    # BR §7.1: ≥64 bits of CSPRNG output, positive; RFC 5280 §4.1.2.2: ≤20 octets.
    pytest.param(_serial, id="profile/serial-positive-64-bits-max-20-octets"),
]


@pytest.mark.parametrize("check", LEAF_RULES)
def test_leaf_rule(leaf: Leaf, check: Callable[[Leaf], None]) -> None:
    check(leaf)


def test_new_serial_is_unique_positive_and_fits() -> None:
    """profile/serial-unique: 1000 draws, all distinct, all positive, ≥64 bits, ≤20 octets."""
    serials = [new_serial() for _ in range(1000)]
    assert len(set(serials)) == 1000
    assert all(s > 0 for s in serials)
    assert min(s.bit_length() for s in serials) >= 64
    assert max(s.bit_length() // 8 + 1 for s in serials) <= 20
    # 1000 draws agreeing on most low bits would mean little randomness went in.
    assert len({s & 0xFFFF_FFFF_FFFF for s in serials}) == 1000


@pytest.mark.parametrize(
    "ca_key_type",
    [
        pytest.param("ec256", id="profile/signed-by-intermediate-ecdsa-sha256"),
        pytest.param("rsa2048", id="profile/signed-by-intermediate-rsa-sha256"),
    ],
)
def test_leaf_signature_verifies_with_the_intermediate_key(
    desks: dict[str, Desk], ca_key_type: str
) -> None:
    desk = desks[ca_key_type]
    inter = desk.ca.intermediate
    for cert in desk.leaves.values():
        cert.verify_directly_issued_by(inter)
        key = inter.public_key()
        assert cert.signature_hash_algorithm is not None
        assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
        if isinstance(key, ec.EllipticCurvePublicKey):
            assert cert.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
        else:
            assert isinstance(key, rsa.RSAPublicKey)
            assert cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
            key.verify(
                cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256()
            )
        # The root's key did not sign it: the check above can fail.
        with pytest.raises((InvalidSignature, ValueError, TypeError)):
            cert.verify_directly_issued_by(desk.ca.root)


# ------------------------------------------------------------------ pipeline, both backends


def test_issued_chain_verifies_to_the_root(services: Services, clock: ManualClock) -> None:
    """profile/chain: leaf → intermediate → root, for each SAN name, at the clock's time."""
    add_org(services)
    issued = issue(services, NAMES, KeyType.EC256)
    ca = hierarchy(services)
    assert issued.chain == (ca.intermediate,)  # root excluded from what is delivered

    def verifier(name: str, at: datetime) -> x509.verification.ServerVerifier:
        builder = PolicyBuilder().store(Store([ca.root])).time(at)
        return builder.build_server_verifier(x509.DNSName(name))

    for name in ("www.dmv.ca.gov", "anything.apps.dmv.ca.gov"):
        chain = verifier(name, clock.now).verify(issued.certificate, list(issued.chain))
        assert chain == [issued.certificate, ca.intermediate, ca.root]
    with pytest.raises(VerificationError):
        verifier("other.dmv.ca.gov", clock.now).verify(issued.certificate, list(issued.chain))
    with pytest.raises(VerificationError):
        expired = issued.not_after + timedelta(seconds=1)
        verifier("www.dmv.ca.gov", expired).verify(issued.certificate, list(issued.chain))


def test_urls_are_built_from_settings_base_url(services: Services, settings: Settings) -> None:
    """profile/urls: AIA and CRL DP follow CERTDESK_BASE_URL (here the conftest's)."""
    add_org(services)
    cert = issue(services, ["www.dmv.ca.gov"], KeyType.EC256).certificate
    slug = hierarchy(services).intermediate_slug
    base = settings.base_url.rstrip("/")
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [(d.access_method, d.access_location.value) for d in aia] == [
        (AuthorityInformationAccessOID.OCSP, f"{base}/ocsp"),
        (AuthorityInformationAccessOID.CA_ISSUERS, f"{base}/ca/{slug}.cer"),
    ]
    crldp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for dp in crldp for n in dp.full_name or []] == [f"{base}/crl/{slug}.crl"]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# The default validity is the CA/B maximum minus one day (BR 6.3.2: SHOULD NOT exceed
# 199/99/46 days) and its inclusive span stays within that; an explicit days may use the whole
# maximum. Each default row: 17:00 Pacific on issue day + (maximum - 1), one day earlier when
# that is more than (maximum - 1) days inclusive.
@pytest.mark.parametrize(
    ("issued_at", "days", "not_after", "max_days"),
    [
        # 10:00 PST + 199 days: 17:00 PDT on 2027-06-13 is 199 days 6 h away, so 06-12.
        pytest.param(
            "2026-11-26T18:00:00", None, "2027-06-13T00:00:00", 200, id="R7/pst-morning-to-pdt"
        ),
        # 18:00 PST on 12-01 + 199 days: 17:00 PDT on 2027-06-18 is 199 days - 2 h, it fits.
        pytest.param(
            "2026-12-02T02:00:00", None, "2027-06-19T00:00:00", 200, id="R7/after-17h-pacific"
        ),
        # 16:59:59 PDT on 03-14 + 199 days: 17:00 PDT on 09-29 is 199 days 1 s (+1 s), so 09-28.
        pytest.param(
            "2027-03-14T23:59:59", None, "2027-09-29T00:00:00", 200, id="R13/last-200-day-second"
        ),
        # 17:00 PDT on 03-14 + 99 days: 17:00 PDT on 06-21 is exactly 99 days (+1 s), so 06-20.
        pytest.param(
            "2027-03-15T00:00:00", None, "2027-06-21T00:00:00", 100, id="R13/first-100-day-second"
        ),
        # 09:00 PDT on 10-01 + 46 days: 17:00 PST on 11-16 is 46 days 9 h away, so 11-15.
        pytest.param(
            "2029-10-01T16:00:00", None, "2029-11-16T01:00:00", 47, id="R13/47-days-pdt-to-pst"
        ),
        pytest.param(
            "2026-11-26T18:00:00", 30, "2026-12-27T01:00:00", 200, id="R7/explicit-30-days-pst"
        ),
        # The whole maximum may still be asked for: 17:00 PDT on 2027-06-14 is 200 days 6 h
        # away, so 06-13 (199 days 6 h, more than the default allows, within 200).
        pytest.param(
            "2026-11-26T18:00:00", 200, "2027-06-14T00:00:00", 200, id="R13/explicit-200-days"
        ),
    ],
)
def test_not_after_is_17h_pacific_within_the_r13_maximum(
    services: Services,
    clock: ManualClock,
    issued_at: str,
    days: int | None,
    not_after: str,
    max_days: int,
) -> None:
    add_org(services)
    clock.now = _utc(issued_at)
    cert = issue(services, ["www.dmv.ca.gov"], KeyType.EC256, days=days).certificate
    assert cert.not_valid_before_utc == clock.now
    assert cert.not_valid_after_utc == _utc(not_after)
    local = cert.not_valid_after_utc.astimezone(PACIFIC)
    assert (local.hour, local.minute, local.second) == (17, 0, 0)
    assert max_validity_days(clock.now) == max_days
    inclusive = cert.not_valid_after_utc - cert.not_valid_before_utc + timedelta(seconds=1)
    assert inclusive <= timedelta(days=max_days)
    if days is None:
        assert inclusive <= timedelta(days=max_days - 1)  # BR 6.3.2 SHOULD NOT


# ------------------------------------------------------------------------ CA certificates


@pytest.mark.parametrize("ca_key_type", ["ec256", "rsa2048"], ids=lambda k: f"{k}-ca")
def test_root_is_p384_self_signed_for_about_20_years(
    desks: dict[str, Desk], ca_key_type: str
) -> None:
    """profile/root: P-384, ECDSA-SHA384, CA:TRUE without pathlen, keyCertSign+cRLSign, SKI,
    AKI = its own SKI (BR §7.1.2.1), no EKU, ~20 years."""
    root = desks[ca_key_type].ca.root
    key = root.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp384r1"
    assert root.subject == root.issuer
    root.verify_directly_issued_by(root)
    assert root.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA384
    span = root.not_valid_after_utc - root.not_valid_before_utc
    assert timedelta(days=365 * 20) <= span <= timedelta(days=365 * 20 + 10)
    ext = root.extensions
    bc = ext.get_extension_for_class(x509.BasicConstraints)
    assert (bc.critical, bc.value) == (True, x509.BasicConstraints(ca=True, path_length=None))
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert (ku.value.key_cert_sign, ku.value.crl_sign, ku.value.key_encipherment) == (
        True,
        True,
        False,
    )
    assert _ski(root) == x509.SubjectKeyIdentifier.from_public_key(key).digest
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki == x509.AuthorityKeyIdentifier(_ski(root), None, None)
    with pytest.raises(x509.ExtensionNotFound):
        ext.get_extension_for_class(x509.ExtendedKeyUsage)


@pytest.mark.parametrize(
    ("ca_key_type", "expected_key"),
    [
        pytest.param("ec256", "secp256r1", id="profile/intermediate-p256-default"),
        pytest.param("rsa2048", "rsa2048", id="profile/intermediate-rsa2048-selected"),
    ],
)
def test_intermediate(desks: dict[str, Desk], ca_key_type: str, expected_key: str) -> None:
    """profile/intermediate: pathlen 0, serverAuth EKU, signed by the root, AKI = root SKI,
    AIA/CRL DP pointing at the root, inside the root's validity."""
    desk = desks[ca_key_type]
    inter, root = desk.ca.intermediate, desk.ca.root
    key = inter.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        assert key.curve.name == expected_key
    else:
        assert isinstance(key, rsa.RSAPublicKey)
        assert f"rsa{key.key_size}" == expected_key
    inter.verify_directly_issued_by(root)
    assert inter.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA384
    ext = inter.extensions
    bc = ext.get_extension_for_class(x509.BasicConstraints)
    assert (bc.critical, bc.value) == (True, x509.BasicConstraints(ca=True, path_length=0))
    assert ext.get_extension_for_class(x509.KeyUsage).critical
    eku = ext.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki == x509.AuthorityKeyIdentifier(_ski(root), None, None)
    assert _ski(inter) == x509.SubjectKeyIdentifier.from_public_key(key).digest
    aia = ext.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [d.access_location.value for d in aia] == [f"{desk.base_url}/ca/{desk.ca.root_slug}.cer"]
    crldp = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for dp in crldp for n in dp.full_name or []] == [
        f"{desk.base_url}/crl/{desk.ca.root_slug}.crl"
    ]
    assert root.not_valid_before_utc <= inter.not_valid_before_utc
    assert inter.not_valid_after_utc <= root.not_valid_after_utc


# ------------------------------------------------------------------------- keys at rest


def test_ca_keys_on_disk_are_encrypted_and_private(services: Services, settings: Settings) -> None:
    """R: CA keys encrypted at rest — PKCS#8 with a passphrase, files of mode 0600."""
    passphrase = settings.ca_passphrase.encode()
    certs = {slug: c for slug, c in _slugs_and_certs(services)}
    files = sorted(settings.ca_dir.glob("*.key.pem"))
    assert sorted(f.name for f in files) == sorted(f"{slug}.key.pem" for slug in certs)
    assert stat.S_IMODE(settings.ca_dir.stat().st_mode) & 0o077 == 0
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        data = path.read_bytes()
        assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
        with pytest.raises(TypeError):  # "Password was not given but private key is encrypted"
            serialization.load_pem_private_key(data, password=None)
        with pytest.raises(ValueError):
            serialization.load_pem_private_key(data, password=b"not-the-passphrase")
        key = serialization.load_pem_private_key(data, password=passphrase)
        cert = certs[path.name.removesuffix(".key.pem")]
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        assert key.public_key().public_bytes(
            serialization.Encoding.DER, spki
        ) == cert.public_key().public_bytes(serialization.Encoding.DER, spki)
        with pytest.raises(Unavailable) as locked:
            read_private_key(path, b"not-the-passphrase")
        assert locked.value.code == "ca.key_locked"


def _slugs_and_certs(services: Services) -> list[tuple[str, x509.Certificate]]:
    return [(row.slug, cert) for row, cert in services.authority.all_certificates()]


def test_generated_passphrase_file_is_private_and_stable(tmp_path: Path) -> None:
    """Without CERTDESK_CA_PASSPHRASE, init writes a random secret file of mode 0600."""
    secrets_dir = tmp_path / "secrets"
    with pytest.raises(Unavailable) as missing:
        resolve_passphrase("", secrets_dir, create=False)
    assert missing.value.code == "ca.no_passphrase"
    first = resolve_passphrase("", secrets_dir, create=True)
    assert len(first) >= 32
    path = secrets_dir / "ca-passphrase"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets_dir.stat().st_mode) & 0o077 == 0
    assert resolve_passphrase("", secrets_dir, create=False) == first
    assert resolve_passphrase("configured", secrets_dir, create=False) == b"configured"
    assert os.listdir(secrets_dir) == ["ca-passphrase"]
