"""The validation authority of one process: a validator per challenge type offered
(core/acme_states.offered_challenges), and the names the ACME server shows for
dns-persist-01 (the issuer domain, the account URL and the hashed-URI prefix), built here
once so that the VA, the directory and the record certdesk shows always agree."""

from __future__ import annotations

from urllib.parse import urlsplit

from certdesk.clock import Clock
from certdesk.config import Settings
from certdesk.core.acme_states import ChallengeType
from certdesk.services.acme.dns01 import Dns01
from certdesk.services.acme.dns_persist01 import DnsPersist01
from certdesk.services.acme.http01 import Http01
from certdesk.services.acme.tls_alpn01 import TlsAlpn01
from certdesk.services.acme.validation import Targets, Validator


def acme_base(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + "/acme"


def account_url(settings: Settings, account_id: int) -> str:
    """The account's URL (RFC 8555 §7.3), as the WFE names it."""
    return f"{acme_base(settings)}/acct/{account_id}"


def account_hash_prefix(settings: Settings) -> str:
    """The directory's ``accountHashPrefix`` (draft-ietf-acme-dns-persist §4.1)."""
    return f"{acme_base(settings)}/account-hash/"


def issuer_domain_names(settings: Settings) -> tuple[str, ...]:
    """The directory's and challenges' ``issuerDomainNames`` (lower-case, no trailing dot)."""
    name = settings.acme_issuer_domain_name or urlsplit(settings.base_url).hostname or ""
    return (name.lower().rstrip("."),)


def validators(settings: Settings, clock: Clock) -> dict[ChallengeType, Validator]:
    targets = Targets(settings)
    return {
        ChallengeType.HTTP01: Http01(
            targets, settings.acme_va_http_port, settings.acme_va_tls_port
        ),
        ChallengeType.DNS01: Dns01(targets),
        ChallengeType.TLSALPN01: TlsAlpn01(targets, settings.acme_va_tls_port),
        ChallengeType.DNSPERSIST01: DnsPersist01(
            targets, issuer_domain_names(settings), account_hash_prefix(settings), clock
        ),
    }
