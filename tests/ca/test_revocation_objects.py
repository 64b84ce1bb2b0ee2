"""CRLs and OCSP responses signed by the built-in CA (``LocalCA.sign_crl`` / ``sign_ocsp``).

The CA is a real hierarchy from ``create_hierarchy`` (both issuing key types); requests are
built with ``cryptography.x509.ocsp.OCSPRequestBuilder`` the way OCSP clients build them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtensionOID, NameOID

from certdesk.ca.hierarchy import NewCA, create_hierarchy
from certdesk.ca.issuer import OcspLookup, OcspStatus, RevokedEntry
from certdesk.ca.local import LocalCA
from certdesk.ca.profile import IssuerUrls, LeafRequest, new_serial
from certdesk.core.keys import KeyType
from certdesk.core.names import DEFAULT_SUFFIXES
from world.csr import subscriber_key

NOW = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
URLS = IssuerUrls(
    ca_issuers="http://pki.cdt.ca.gov/ca/x.cer",
    ocsp="http://pki.cdt.ca.gov/ocsp",
    crl="http://pki.cdt.ca.gov/crl/x.crl",
)
OCSP_HOURS = 96


@dataclass(frozen=True)
class Authority:
    ca: LocalCA
    root: NewCA
    intermediate: NewCA
    leaf: x509.Certificate  # issued by the intermediate, status given by the lookups below

    def verify(self, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm) -> None:
        key = self.intermediate.certificate.public_key()
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            assert isinstance(key, rsa.RSAPublicKey)
            key.verify(signature, data, padding.PKCS1v15(), algorithm)


@pytest.fixture(scope="module", params=["ec256", "rsa2048"], ids=lambda k: f"{k}-ca")
def authority(request: pytest.FixtureRequest) -> Authority:
    root, inter = create_hierarchy(NOW, key_type=request.param, urls_for=lambda slug: URLS)
    ca = LocalCA(
        certificate=inter.certificate,
        key=inter.key,
        parents=[root.certificate],
        urls=URLS,
        suffixes=DEFAULT_SUFFIXES,
    )
    leaf_request = LeafRequest(
        serial=new_serial(),
        public_key=subscriber_key(KeyType.EC256).public_key(),
        names=("www.dmv.ca.gov",),
        not_before=NOW,
        not_after=NOW + timedelta(days=90),
    )
    leaf = ca.sign(ca.prepare(leaf_request, max_days=200))
    return Authority(ca, root, inter, leaf)


def _public_key(cert: x509.Certificate) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
    return key


def _ski(cert: x509.Certificate) -> bytes:
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


# ---------------------------------------------------------------------------------- CRL

REVOKED_AT = NOW - timedelta(days=2)
REASONS = [
    pytest.param(x509.ReasonFlags.unspecified, False, id="crl/unspecified-reason-omitted"),
    pytest.param(x509.ReasonFlags.key_compromise, True, id="crl/key-compromise"),
    pytest.param(x509.ReasonFlags.superseded, True, id="crl/superseded"),
    pytest.param(x509.ReasonFlags.affiliation_changed, True, id="crl/affiliation-changed"),
    pytest.param(x509.ReasonFlags.cessation_of_operation, True, id="crl/cessation-of-operation"),
    pytest.param(x509.ReasonFlags.privilege_withdrawn, True, id="crl/privilege-withdrawn"),
]


def _crl(
    authority: Authority, entries: list[RevokedEntry], number: int = 42
) -> x509.CertificateRevocationList:
    der = authority.ca.sign_crl(
        entries, number=number, this_update=NOW, next_update=NOW + timedelta(days=7)
    )
    return x509.load_der_x509_crl(der)


@pytest.mark.parametrize(("reason", "has_reason_code"), REASONS)
def test_crl_entry_reason(
    authority: Authority, reason: x509.ReasonFlags, has_reason_code: bool
) -> None:
    """BR §7.2.2: reasonCode is left out for unspecified and present for every other reason."""
    serial = new_serial()
    crl = _crl(authority, [RevokedEntry(serial, REVOKED_AT, reason)])
    entry = crl.get_revoked_certificate_by_serial_number(serial)
    assert entry is not None
    assert entry.revocation_date_utc == REVOKED_AT
    if has_reason_code:
        ext = entry.extensions.get_extension_for_class(x509.CRLReason)
        assert ext.critical is False
        assert ext.value.reason is reason
    else:
        assert list(entry.extensions) == []


def test_crl_header_number_aki_and_signature(authority: Authority) -> None:
    """crl/header: issuer, thisUpdate/nextUpdate, CRL number, AKI = issuer SKI, valid signature."""
    entries = [
        RevokedEntry(new_serial(), REVOKED_AT, x509.ReasonFlags.key_compromise),
        RevokedEntry(new_serial(), REVOKED_AT + timedelta(hours=1), x509.ReasonFlags.unspecified),
    ]
    crl = _crl(authority, entries, number=12345)
    inter = authority.intermediate.certificate
    assert crl.issuer == inter.subject
    assert crl.last_update_utc == NOW
    assert crl.next_update_utc == NOW + timedelta(days=7)
    number = crl.extensions.get_extension_for_class(x509.CRLNumber)
    assert (number.critical, number.value.crl_number) == (False, 12345)
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert aki.critical is False
    assert aki.value == x509.AuthorityKeyIdentifier(_ski(inter), None, None)
    assert [e.oid for e in crl.extensions] == [
        ExtensionOID.CRL_NUMBER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    ]
    assert crl.is_signature_valid(_public_key(inter))
    assert not crl.is_signature_valid(_public_key(authority.root.certificate))
    assert sorted(e.serial_number for e in crl) == sorted(e.serial for e in entries)


def test_empty_crl_is_valid(authority: Authority) -> None:
    crl = _crl(authority, [], number=1)
    assert len(crl) == 0
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    assert crl.is_signature_valid(_public_key(authority.intermediate.certificate))


# --------------------------------------------------------------------------------- OCSP


def _request(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    algorithm: hashes.HashAlgorithm | None = None,
    nonce: bytes | None = None,
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm or hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _answer(authority: Authority, request_der: bytes, lookup: OcspLookup) -> ocsp.OCSPResponse:
    der = authority.ca.sign_ocsp(request_der, lookup, now=NOW, validity_hours=OCSP_HOURS)
    return ocsp.load_der_ocsp_response(der)


def _status(
    authority: Authority, revoked_at: datetime | None, reason: x509.ReasonFlags | None
) -> OcspLookup:
    def lookup(serial: int) -> OcspStatus | None:
        if serial != authority.leaf.serial_number:
            return None
        return OcspStatus(authority.leaf, revoked_at, reason)

    return lookup


def _assert_signed_by_ca(authority: Authority, resp: ocsp.OCSPResponse) -> None:
    assert resp.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.responder_key_hash == _ski(authority.intermediate.certificate)
    assert resp.responder_name is None
    assert resp.certificates == []  # signed by the CA itself: no delegated responder
    assert isinstance(resp.signature_hash_algorithm, hashes.SHA256)
    authority.verify(resp.signature, resp.tbs_response_bytes, hashes.SHA256())


@pytest.mark.parametrize(
    "algorithm",
    [
        pytest.param(hashes.SHA1(), id="ocsp/good-sha1-certid"),
        pytest.param(hashes.SHA256(), id="ocsp/good-sha256-certid"),
        pytest.param(hashes.SHA384(), id="ocsp/good-sha384-certid"),
    ],
)
def test_ocsp_good(authority: Authority, algorithm: hashes.HashAlgorithm) -> None:
    inter = authority.intermediate.certificate
    request = _request(authority.leaf, inter, algorithm)
    resp = _answer(authority, request, _status(authority, None, None))
    _assert_signed_by_ca(authority, resp)
    assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert resp.serial_number == authority.leaf.serial_number
    assert type(resp.hash_algorithm) is type(algorithm)
    req = ocsp.load_der_ocsp_request(request)
    assert (resp.issuer_name_hash, resp.issuer_key_hash) == (
        req.issuer_name_hash,
        req.issuer_key_hash,
    )
    assert resp.this_update_utc == NOW
    assert resp.next_update_utc == NOW + timedelta(hours=OCSP_HOURS)
    assert resp.revocation_time_utc is None
    assert resp.revocation_reason is None
    assert list(resp.extensions) == []  # no nonce asked, none sent


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        pytest.param(
            x509.ReasonFlags.key_compromise,
            x509.ReasonFlags.key_compromise,
            id="ocsp/revoked-key-compromise",
        ),
        pytest.param(
            x509.ReasonFlags.superseded, x509.ReasonFlags.superseded, id="ocsp/revoked-superseded"
        ),
        # BR §7.3: the reason must be one a CRL may carry, and §7.2.2 excludes unspecified.
        pytest.param(x509.ReasonFlags.unspecified, None, id="ocsp/revoked-unspecified-omitted"),
    ],
)
def test_ocsp_revoked(
    authority: Authority, reason: x509.ReasonFlags, expected: x509.ReasonFlags | None
) -> None:
    revoked_at = NOW - timedelta(hours=5, minutes=3, seconds=7)
    request = _request(authority.leaf, authority.intermediate.certificate)
    resp = _answer(authority, request, _status(authority, revoked_at, reason))
    _assert_signed_by_ca(authority, resp)
    assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_time_utc == revoked_at
    assert resp.revocation_reason is expected


def test_ocsp_unknown_serial(authority: Authority) -> None:
    """A serial this CA never issued: ``unknown``, echoing the request's CertID."""
    inter = authority.intermediate.certificate
    stranger = _certificate_with_serial(authority, 0x5EED_0000_0000_0000_0001)
    request = _request(stranger, inter, hashes.SHA256())
    resp = _answer(authority, request, _status(authority, None, None))
    _assert_signed_by_ca(authority, resp)
    assert resp.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    assert resp.serial_number == 0x5EED_0000_0000_0000_0001
    req = ocsp.load_der_ocsp_request(request)
    assert (resp.issuer_name_hash, resp.issuer_key_hash) == (
        req.issuer_name_hash,
        req.issuer_key_hash,
    )
    assert resp.next_update_utc == NOW + timedelta(hours=OCSP_HOURS)


def _certificate_with_serial(authority: Authority, serial: int) -> x509.Certificate:
    """A certificate naming the intermediate as issuer, only to build an OCSP request."""
    key = subscriber_key(KeyType.EC256)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(authority.intermediate.certificate.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def _sha1(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA1())
    digest.update(data)
    return digest.finalize()


# RFC 6960 §4.1.1 CertID: issuerNameHash over the issuer's DER name, issuerKeyHash over its
# public key BIT STRING (with SHA-1 that is RFC 5280's method-1 key identifier).
def _name_hash(name: x509.Name) -> bytes:
    return _sha1(name.public_bytes())


def _key_hash(key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> bytes:
    return x509.SubjectKeyIdentifier.from_public_key(key).digest


def _ca_key(a: Authority) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
    return _public_key(a.intermediate.certificate)


def _other_key() -> ec.EllipticCurvePublicKey:
    return ec.generate_private_key(ec.SECP256R1()).public_key()


OTHER_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the issuing CA")])
CertIdHashes = Callable[[Authority], tuple[bytes, bytes]]


@pytest.mark.parametrize(
    "cert_id",
    [
        pytest.param(
            lambda a: (_name_hash(a.root.certificate.subject), _ca_key_hash(a.root)),
            id="ocsp/unauthorized-root-as-issuer",
        ),
        pytest.param(
            lambda a: (_name_hash(a.intermediate.certificate.subject), _key_hash(_other_key())),
            id="ocsp/unauthorized-same-name-other-key",
        ),
        pytest.param(
            lambda a: (_name_hash(OTHER_NAME), _key_hash(_ca_key(a))),
            id="ocsp/unauthorized-same-key-other-name",
        ),
    ],
)
def test_ocsp_request_for_another_issuer_is_unauthorized(
    authority: Authority, cert_id: CertIdHashes
) -> None:
    """RFC 5019 §2.2.3 / RFC 6960 §2.3: the CA answers only for certificates it issued."""
    looked_up: list[int] = []

    def lookup(serial: int) -> OcspStatus | None:
        looked_up.append(serial)
        return OcspStatus(authority.leaf, None, None)

    name_hash, key_hash = cert_id(authority)
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(name_hash, key_hash, authority.leaf.serial_number, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    resp = _answer(authority, request, lookup)
    assert resp.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert looked_up == []  # refused before the inventory is asked


def test_cert_id_hashes_match_what_clients_send(authority: Authority) -> None:
    """The hand-made CertIDs above are built the way OCSPRequestBuilder builds them."""
    inter = authority.intermediate.certificate
    request_der = _request(authority.leaf, inter, hashes.SHA1())
    req = ocsp.load_der_ocsp_request(request_der)
    assert req.issuer_name_hash == _name_hash(inter.subject)
    assert req.issuer_key_hash == _key_hash(_ca_key(authority))
    by_hash = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            _name_hash(inter.subject),
            _key_hash(_ca_key(authority)),
            authority.leaf.serial_number,
            hashes.SHA1(),
        )
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    resp = _answer(authority, by_hash, _status(authority, None, None))
    assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD


def _ca_key_hash(ca: NewCA) -> bytes:
    return _key_hash(_public_key(ca.certificate))


@pytest.mark.parametrize(
    "make_bytes",
    [
        pytest.param(lambda req: b"", id="ocsp/malformed-empty"),
        pytest.param(lambda req: b"not an OCSP request", id="ocsp/malformed-text"),
        pytest.param(lambda req: req[:-5], id="ocsp/malformed-truncated"),
        pytest.param(lambda req: b"\x30\x03\x02\x01\x01", id="ocsp/malformed-wrong-structure"),
    ],
)
def test_ocsp_malformed_request(authority: Authority, make_bytes: Callable[[bytes], bytes]) -> None:
    good = _request(authority.leaf, authority.intermediate.certificate)
    der = authority.ca.sign_ocsp(
        make_bytes(good), _status(authority, None, None), now=NOW, validity_hours=OCSP_HOURS
    )
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@pytest.mark.parametrize(
    "nonce",
    [
        pytest.param(b"\x01" * 16, id="ocsp/nonce-16-octets-echoed"),
        pytest.param(bytes(range(32)), id="ocsp/nonce-32-octets-echoed"),
    ],
)
def test_ocsp_nonce_is_echoed(authority: Authority, nonce: bytes) -> None:
    """RFC 8954 / RFC 6960 §4.4.1: the response carries the request's nonce, non-critical."""
    request = _request(authority.leaf, authority.intermediate.certificate, nonce=nonce)
    resp = _answer(authority, request, _status(authority, None, None))
    _assert_signed_by_ca(authority, resp)
    ext = resp.extensions.get_extension_for_class(x509.OCSPNonce)
    assert ext.critical is False
    assert ext.value.nonce == nonce
    assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD
