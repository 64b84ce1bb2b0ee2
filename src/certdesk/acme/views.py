"""The ACME objects as the protocol shows them (RFC 8555 §7.1): accounts, orders,
authorizations, challenges and the directory, built from the services' views."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from certdesk.config import Settings
from certdesk.core import acme_profiles
from certdesk.core.acme_states import AuthzStatus, ChallengeStatus, ChallengeType, OrderStatus
from certdesk.services.acme import va as acme_va
from certdesk.services.acme.accounts import AccountView
from certdesk.services.acme.authorizations import AuthzView, ChallengeView
from certdesk.services.acme.orders import OrderView

TERMS = (
    "certdesk ACME service\n\n"
    "Certificates are issued only for names your organization was granted, to accounts\n"
    "registered with an external account binding key from certificate services. Keep your\n"
    "account key private; revoke a certificate whose key was exposed.\n"
)


def time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class Links:
    """Every URL of the ACME server, built in one place from ``CERTDESK_BASE_URL``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.site = settings.base_url.rstrip("/")
        self.base = self.site + "/acme"

    def url(self, path: str) -> str:
        return self.base + path

    def account(self, account_id: int) -> str:
        return f"{self.base}/acct/{account_id}"

    def order(self, order_id: int) -> str:
        return f"{self.base}/order/{order_id}"

    def authz(self, authz_id: int) -> str:
        return f"{self.base}/authz/{authz_id}"

    def terms(self) -> str:
        """The terms of service the directory names (``meta.termsOfService``)."""
        return self.settings.acme_terms_of_service_url or self.url("/terms")


def account_json(links: Links, account: AccountView) -> dict[str, Any]:
    return {
        "status": str(account.status),
        "contact": list(account.contacts),
        "orders": links.url(f"/acct/{account.id}/orders"),
        "createdAt": time(account.created_at),
    }


def order_json(links: Links, order: OrderView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": str(order.status),
        "expires": time(order.expires_at),
        "identifiers": [{"type": "dns", "value": n} for n in order.names],
        "authorizations": [links.authz(a) for a in order.authz_ids],
        "finalize": links.url(f"/finalize/{order.id}"),
    }
    if order.error is not None:
        out["error"] = order.error
    if order.profile is not None:
        out["profile"] = order.profile
    if order.replaces is not None:
        out["replaces"] = order.replaces
    if order.status is OrderStatus.VALID and order.certificate_serial:
        out["certificate"] = links.url(f"/cert/{order.certificate_serial}")
    return out


def challenge_json(links: Links, chall: ChallengeView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": str(chall.kind),
        "url": links.url(f"/chall/{chall.id}"),
        "status": str(chall.status),
        "token": chall.token,
    }
    if chall.kind is ChallengeType.DNSPERSIST01:
        # draft-ietf-acme-dns-persist §3.1: the issuer names a record may carry.
        out["issuerDomainNames"] = list(acme_va.issuer_domain_names(links.settings))
    if chall.validated_at is not None:
        out["validated"] = time(chall.validated_at)
    if chall.error is not None:
        out["error"] = chall.error
    return out


# RFC 8555 §7.1.4 "challenges": a valid authorization shows the challenge that was
# validated, an invalid one the challenge that was attempted and failed; any other (pending,
# expired, deactivated …) every challenge it offered.
_SHOWN = {
    AuthzStatus.VALID: ChallengeStatus.VALID,
    AuthzStatus.INVALID: ChallengeStatus.INVALID,
}


def authz_json(links: Links, authz: AuthzView) -> dict[str, Any]:
    shown = _SHOWN.get(authz.status)
    challenges = [c for c in authz.challenges if shown is None or c.status is shown]
    out: dict[str, Any] = {
        "identifier": {"type": "dns", "value": authz.name},
        "status": str(authz.status),
        "expires": time(authz.expires_at),
        "challenges": [challenge_json(links, c) for c in challenges],
    }
    if authz.wildcard:
        out["wildcard"] = True
    return out


def directory_json(links: Links) -> dict[str, Any]:
    """RFC 8555 §7.1.1, with RFC 9773's renewalInfo and the drafts' meta fields."""
    settings = links.settings
    return {
        "newNonce": links.url("/new-nonce"),
        "newAccount": links.url("/new-account"),
        "newOrder": links.url("/new-order"),
        "revokeCert": links.url("/revoke-cert"),
        "keyChange": links.url("/key-change"),
        "renewalInfo": links.url("/renewal-info"),  # RFC 9773 §3
        "meta": {
            "termsOfService": links.terms(),
            "website": settings.base_url,
            "externalAccountRequired": True,
            # draft-aaron-acme-profiles §3: name → description for people.
            "profiles": acme_profiles.describe(settings.acme_shortlived_days),
            # draft-ietf-acme-dns-persist §3.2, §4.1: what a standing record names.
            "issuerDomainNames": list(acme_va.issuer_domain_names(settings)),
            "accountHashPrefix": acme_va.account_hash_prefix(settings),
        },
    }
