"""Certificate profiles: what goes into a TLS server leaf and into the built-in CA certificates.

The leaf follows the CA/Browser Forum TLS Baseline Requirements §7.1.2.7 (DV subscriber
certificate): names only in a critical subjectAltName with an empty subject, AKI but no SKI,
AIA caIssuers and OCSP, a CRL distribution point, policy 2.23.140.1.2.1, EKU serverAuth,
basicConstraints CA:FALSE and a positive serial of at least 64 random bits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

DV_POLICY = x509.ObjectIdentifier("2.23.140.1.2.1")  # CA/B Forum domain-validated


def new_serial() -> int:
    """A positive serial of 127 random bits: ≥64 bits of CSPRNG output (BR §7.1), ≤20 octets.

    The top bit of 16 random bytes is cleared so that the DER INTEGER stays positive and
    fits in 16 octets without a padding byte.
    """
    return int.from_bytes(secrets.token_bytes(16), "big") >> 1 | 1 << 120


def hash_for(issuer_key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | hashes.SHA384:
    """SHA-384 for P-384 issuers, SHA-256 for everything else (BR §7.1.3.2)."""
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey) and issuer_key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


@dataclass(frozen=True)
class LeafRequest:
    """What the issuance pipeline asks the CA to put in a TLS server certificate."""

    serial: int
    public_key: CertificatePublicKeyTypes
    names: tuple[str, ...]  # normalized DNS names, the first is the "primary" name
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True)
class IssuerUrls:
    ca_issuers: str
    ocsp: str | None
    crl: str


def tls_server_leaf(
    request: LeafRequest, issuer: x509.Certificate, urls: IssuerUrls
) -> x509.CertificateBuilder:
    """The builder of a DV TLS server certificate; nothing here signs."""
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    access = [_ca_issuers(urls)]
    if urls.ocsp:
        access.insert(
            0,
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp)
            ),
        )
    is_rsa = isinstance(request.public_key, rsa.RSAPublicKey)
    return (
        x509.CertificateBuilder()
        # BR §7.1.2.7.2: the subject may be empty when every name is in the SAN; an empty
        # subject avoids the deprecated commonName (pkilint warns on it).
        .subject_name(x509.Name([]))
        .issuer_name(issuer.subject)
        .public_key(request.public_key)
        .serial_number(request.serial)
        .not_valid_before(request.not_before)
        .not_valid_after(request.not_after)
        # RFC 5280 §4.2.1.6: with an empty subject the SAN must be critical.
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in request.names]), critical=True
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,  # TLS handshake signatures (ECDHE, TLS 1.3)
                # RSA key transport (TLS 1.2 RSA kex) is the only use of keyEncipherment;
                # an EC key must not carry it (BR §7.1.2.7.11).
                key_encipherment=is_rsa,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,  # a leaf never signs certificates
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .add_extension(x509.AuthorityInformationAccess(access), critical=False)
        .add_extension(_crl_points(urls), critical=False)
        .add_extension(_dv_policies(), critical=False)
    )


def ca_name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def root_ca(
    name: x509.Name,
    public_key: CertificatePublicKeyTypes,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    """A self-signed root: signs intermediates and its own CRL, nothing else."""
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(new_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(ski, critical=False)
        # BR §7.1.2.1.2/§7.1.2.1.3: a root SHOULD carry an AKI, holding only the keyIdentifier
        # and equal to its own SKI (pkilint warns when it is absent).
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )


def intermediate_ca(
    name: x509.Name,
    public_key: CertificatePublicKeyTypes,
    root: x509.Certificate,
    urls: IssuerUrls,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    """The issuing CA: path length 0, restricted to TLS server certificates (BR §7.1.2.10)."""
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(root.subject)
        .public_key(public_key)
        .serial_number(new_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
            critical=False,
        )
        .add_extension(x509.AuthorityInformationAccess([_ca_issuers(urls)]), critical=False)
        .add_extension(_crl_points(urls), critical=False)
        .add_extension(_dv_policies(), critical=False)
    )


def _ca_issuers(urls: IssuerUrls) -> x509.AccessDescription:
    """AIA caIssuers: where the issuer's certificate can be fetched (BR §7.1.2.7.7)."""
    return x509.AccessDescription(
        AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(urls.ca_issuers)
    )


def _crl_points(urls: IssuerUrls) -> x509.CRLDistributionPoints:
    """The one HTTP URL of the issuer's CRL (BR §7.1.2.11.2), for leaves and intermediates."""
    return x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(urls.crl)], None, None, None)]
    )


def _dv_policies() -> x509.CertificatePolicies:
    """The CA/B Forum domain-validated policy, the only one certdesk asserts."""
    return x509.CertificatePolicies([x509.PolicyInformation(DV_POLICY, None)])


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,  # OCSP responses signed directly by the CA
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,  # signs certificates
        crl_sign=True,  # signs CRLs
        encipher_only=False,
        decipher_only=False,
    )
