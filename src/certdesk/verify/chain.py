"""Does a served chain lead to a trusted root? (R14: an incomplete chain is a finding.)

``cryptography``'s path builder (``x509.verification``, the WebPKI rules) judges the path
the server sent, without fetching missing intermediates (AIA) as browsers sometimes do: a
server that omits its intermediate is reported, because many clients cannot repair it. The
name is judged elsewhere (``core.endpoints.name_matches``), so the path is checked against
one of the leaf's own names; the time is clamped into the leaf's validity so that an expired
leaf is one finding (expired), not two.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.x509 import verification


def _subject(leaf: x509.Certificate) -> verification.Subject | None:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for name in san.get_values_for_type(x509.DNSName):
        probe = "wildcard-probe" + name[1:] if name.startswith("*.") else name
        return x509.DNSName(probe)
    for ip in san.get_values_for_type(x509.IPAddress):
        if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return x509.IPAddress(ip)
    return None


def problem(
    chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], now: datetime
) -> str | None:
    """Why ``chain`` (leaf first, as served) does not build to one of ``roots``; None if it does."""
    if not chain:
        return "the server sent no certificate"
    if not roots:
        return "no trusted roots are configured"
    leaf, rest = chain[0], list(chain[1:])
    subject = _subject(leaf)
    if subject is None:
        return "the certificate names no DNS name or address (subjectAltName)"
    root_subjects = {r.subject for r in roots}
    last = rest[-1] if rest else leaf
    if last.issuer != last.subject and last.issuer not in root_subjects:
        return (
            f"incomplete chain: the issuer {last.issuer.rfc4514_string()} is neither sent "
            "by the server nor a trusted root"
        )
    start = leaf.not_valid_before_utc + timedelta(seconds=1)
    end = leaf.not_valid_after_utc - timedelta(seconds=1)
    at = min(max(now, start), end)
    # The CA certificates are held to the WebPKI rules; the leaf's extensions are not
    # (internal servers' certificates often carry a critical subjectAltName, say): whether
    # the path holds is the question here, the leaf's profile is the linter's.
    builder = (
        verification.PolicyBuilder()
        .store(verification.Store(list(roots)))
        .time(at)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=verification.ExtensionPolicy.permit_all().require_present(
                x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None
            ),
        )
    )
    try:
        builder.build_server_verifier(subject).verify(leaf, rest)
    except verification.VerificationError as exc:
        text = str(exc)
        if "candidates exhausted" in text or "issuer" in text.lower():
            return f"no path to a trusted root ({text})"
        return text
    return None
