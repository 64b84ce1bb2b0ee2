"""The ACME server's objects as the rules see them (RFC 8555 §7.1.6, R17).

States are stored as their RFC 8555 text. What can be derived is derived here and nowhere
else (STYLE habit 13): an authorization's status from its challenges and its expiry, an
order's status from its authorizations, its expiry and what finalization recorded.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum


class AccountStatus(StrEnum):
    """RFC 8555 §7.1.6, account objects."""

    VALID = "valid"
    DEACTIVATED = "deactivated"  # by the client (§7.3.6) or by cert services
    REVOKED = "revoked"  # by the server


class OrderStatus(StrEnum):
    """RFC 8555 §7.1.6, order objects."""

    PENDING = "pending"
    READY = "ready"
    PROCESSING = "processing"
    VALID = "valid"
    INVALID = "invalid"


class AuthzStatus(StrEnum):
    """RFC 8555 §7.1.6, authorization objects."""

    PENDING = "pending"
    VALID = "valid"
    INVALID = "invalid"
    DEACTIVATED = "deactivated"
    EXPIRED = "expired"
    REVOKED = "revoked"


class ChallengeStatus(StrEnum):
    """RFC 8555 §7.1.6, challenge objects."""

    PENDING = "pending"
    PROCESSING = "processing"
    VALID = "valid"
    INVALID = "invalid"


class ChallengeType(StrEnum):
    """The validation methods this server offers (RFC 8555 §8.3, §8.4, RFC 8737,
    draft-ietf-acme-dns-persist)."""

    HTTP01 = "http-01"
    DNS01 = "dns-01"
    TLSALPN01 = "tls-alpn-01"
    DNSPERSIST01 = "dns-persist-01"


# An authorization in one of these states can never become valid again (§7.1.6).
DEAD_AUTHZ = frozenset(
    {AuthzStatus.INVALID, AuthzStatus.DEACTIVATED, AuthzStatus.EXPIRED, AuthzStatus.REVOKED}
)
# Order states that only finalization writes; the others are derived from authorizations.
RECORDED_ORDER = frozenset({OrderStatus.PROCESSING, OrderStatus.VALID, OrderStatus.INVALID})


def authz_status(
    stored: AuthzStatus, challenges: Iterable[ChallengeStatus], expires: datetime, now: datetime
) -> AuthzStatus:
    """An authorization's status (§7.1.6): valid once one challenge is, invalid once one
    failed (this server does not retry a failed challenge, like Boulder), expired when its
    time is up before it became valid; deactivated or revoked stay what they are."""
    if stored in (AuthzStatus.DEACTIVATED, AuthzStatus.REVOKED):
        return stored
    found = set(challenges)
    if ChallengeStatus.VALID in found:
        return AuthzStatus.EXPIRED if now >= expires else AuthzStatus.VALID
    if ChallengeStatus.INVALID in found:
        return AuthzStatus.INVALID
    return AuthzStatus.EXPIRED if now >= expires else AuthzStatus.PENDING


def order_status(
    stored: OrderStatus, authorizations: Iterable[AuthzStatus], expires: datetime, now: datetime
) -> OrderStatus:
    """An order's status (§7.1.6, §7.4).

    ``processing``, ``valid`` and ``invalid`` are recorded by finalization and kept. Before
    that: invalid if the order expired or any authorization can no longer become valid, ready
    when every one is valid, else pending.
    """
    if stored in RECORDED_ORDER:
        return stored
    found = list(authorizations)
    if now >= expires or any(a in DEAD_AUTHZ for a in found):
        return OrderStatus.INVALID
    if found and all(a is AuthzStatus.VALID for a in found):
        return OrderStatus.READY
    return OrderStatus.PENDING


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 8555 §6.1, RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def key_authorization(token: str, thumbprint: str) -> str:
    """RFC 8555 §8.1: ``token || '.' || base64url(Thumbprint(accountKey))``."""
    return f"{token}.{thumbprint}"


def dns01_txt(key_auth: str) -> str:
    """RFC 8555 §8.4: the TXT value is base64url(SHA-256(key authorization))."""
    return b64url(hashlib.sha256(key_auth.encode("ascii")).digest())


def identifier_base(name: str) -> tuple[str, bool]:
    """The name an authorization is for and whether the order asked for a wildcard
    (RFC 8555 §7.1.3: the authorization of ``*.example.gov`` is for ``example.gov``)."""
    if name.startswith("*."):
        return name[2:], True
    return name, False


def offered_challenges(wildcard: bool) -> tuple[ChallengeType, ...]:
    """RFC 8555 §7.1.3 and §8.3, RFC 8737 §3: a wildcard can only be proved in the DNS
    (dns-01, or a standing dns-persist-01 record that says ``policy=wildcard``)."""
    if wildcard:
        return (ChallengeType.DNS01, ChallengeType.DNSPERSIST01)
    return (
        ChallengeType.HTTP01,
        ChallengeType.DNS01,
        ChallengeType.TLSALPN01,
        ChallengeType.DNSPERSIST01,
    )


def tls_alpn01_digest(key_auth: str) -> bytes:
    """RFC 8737 §3: the acmeIdentifier extension holds SHA-256 of the key authorization."""
    return hashlib.sha256(key_auth.encode("ascii")).digest()
