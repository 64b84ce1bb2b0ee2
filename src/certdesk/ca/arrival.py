"""Checks on a certificate that arrives from outside (a vendor CA), before it is stored (R16).

Whatever a remote CA sends is untrusted until: the chain builds to one of the configured
trust anchors (RFC 5280 path validation, by ``cryptography``'s verifier, at ``now``); the
names are exactly the requested ones; the public key is the CSR's; the validity is within
the R13 maximum and not already over. Each failure raises :class:`ArrivalRefused` naming the
check, so the case can say why the vendor's certificate was refused.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification

from certdesk.ca.issuer import IssuedChain, IssueRequest
from certdesk.ca.lint import LintFailure
from certdesk.ca.vendor_lint import lint_vendor_tls_server
from certdesk.errors import CertdeskError, Kind


class ArrivalRefused(CertdeskError):
    """The vendor's certificate failed a check; it is not stored or delivered."""

    kind = Kind.CONFLICT


def _spki(cert_or_csr: x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    return cert_or_csr.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _probe_name(name: str) -> str:
    # The verifier matches a concrete host name; a wildcard SAN matches any one label.
    return "certdesk-probe." + name[2:] if name.startswith("*.") else name


def check_arrival(
    issued: IssuedChain,
    request: IssueRequest,
    *,
    anchors: Sequence[x509.Certificate],
    now: datetime,
    tolerate: Collection[str] = frozenset(),
) -> IssuedChain:
    """Return ``issued`` unchanged if it passes every check; raise otherwise.

    Alternate chains that do not build to an anchor are dropped (they are offers, not
    promises); the main chain must build. ``tolerate`` names lint findings
    (:data:`certdesk.ca.vendor_lint.FINDINGS`) this vendor is known to produce and the
    operator accepts (a test CA such as pebble); it is empty for a public vendor.
    """
    leaf = issued.leaf
    try:
        leaf.extensions  # noqa: B018 -- parsed here once, so a malformed one is refused
    except ValueError as err:
        raise ArrivalRefused(
            "vendor.malformed", f"the vendor's certificate has an unreadable extension: {err}"
        ) from err
    if _spki(leaf) != _spki(request.csr):
        raise ArrivalRefused(
            "vendor.key_mismatch", "the vendor's certificate is not for the requested key"
        )
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise ArrivalRefused(
            "vendor.names", "the vendor's certificate has no subjectAltName"
        ) from None
    got = sorted(n.lower() for n in san.get_values_for_type(x509.DNSName))
    if got != sorted(request.names) or len(san) != len(got):
        raise ArrivalRefused(
            "vendor.names",
            f"the vendor's certificate names {', '.join(got) or 'nothing'} instead of"
            f" {', '.join(sorted(request.names))}",
        )
    # BR §6.3.2: the validity period counts both ends, so one second is added.
    period = leaf.not_valid_after_utc - leaf.not_valid_before_utc + timedelta(seconds=1)
    if period > timedelta(days=request.max_days):
        raise ArrivalRefused(
            "vendor.validity",
            f"the vendor's certificate is valid for {period.days} days, over the"
            f" {request.max_days}-day maximum",
        )
    if not leaf.not_valid_before_utc <= now < leaf.not_valid_after_utc:
        raise ArrivalRefused("vendor.validity", "the vendor's certificate is not valid now")
    if not anchors:
        raise ArrivalRefused("vendor.no_anchor", "no trust anchor is configured for this vendor")
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(list(anchors)))
        .time(now)
        .build_server_verifier(x509.DNSName(_probe_name(request.names[0])))
    )
    try:
        verifier.verify(leaf, list(issued.chain))
    except verification.VerificationError as err:
        raise ArrivalRefused(
            "vendor.chain", f"the vendor's chain does not lead to a trusted root: {err}"
        ) from err
    issuer = next((c for c in (*issued.chain, *anchors) if c.subject == leaf.issuer), None)
    try:
        lint_vendor_tls_server(leaf, issuer, tolerate=tolerate)
    except LintFailure as err:
        raise ArrivalRefused(
            "vendor.lint",
            "the vendor's certificate fails the pre-storage lint: "
            + err.detail.removeprefix("pre-storage lint: "),
            findings=err.extra["findings"],
        ) from err
    alternates = []
    for chain in issued.alternates:
        try:
            verifier.verify(leaf, list(chain))
        except verification.VerificationError:
            continue
        alternates.append(chain)
    return IssuedChain(leaf=leaf, chain=issued.chain, alternates=tuple(alternates))
