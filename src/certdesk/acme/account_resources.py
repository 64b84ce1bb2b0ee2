"""The account resources (RFC 8555 §7.3, §7.6): newAccount with EAB, the account itself
(contacts, deactivation), keyChange, the account's orders, and revokeCert.

Each handler runs in one worker thread after :func:`certdesk.acme.signed.check` and returns
the :class:`~certdesk.acme.problems.Answer` the front end sends."""

from __future__ import annotations

import json
from dataclasses import dataclass

from certdesk.acme import jws as acme_jws
from certdesk.acme.problems import Answer, json_answer
from certdesk.acme.signed import Signed, as_id, post_as_get
from certdesk.acme.views import Links, account_json
from certdesk.errors import InvalidInput, Unauthorized
from certdesk.services.acme.accounts import Registration
from certdesk.services.registry import Services

# Orders listed per page of an account's orders URL (RFC 8555 §7.1.2.1).
ORDERS_PAGE = 100


@dataclass(frozen=True)
class Call:
    """What a resource's handler gets: the services, the URLs, the checked request and the
    path's parameters."""

    svc: Services
    links: Links
    signed: Signed
    params: dict[str, str]


def new_account(call: Call) -> Answer:
    svc, links, signed = call.svc, call.links, call.signed
    assert signed.env.jwk is not None  # check() refuses a kid here
    key = signed.env.jwk
    acme_jws.check_account_key(key)
    payload = acme_jws.payload_json(signed.env)
    tp = acme_jws.thumbprint(key)
    existing = svc.acme_accounts.find(tp)
    if existing is not None:  # §7.3.1: the same key finds its account
        return json_answer(account_json(links, existing), 200, links.account(existing.id))
    if payload.get("onlyReturnExisting") is True:
        raise InvalidInput("acme.account_does_not_exist", "no account exists for this key")
    if "externalAccountBinding" not in payload:
        raise InvalidInput(
            "acme.external_account_required",
            "an external account binding is required: ask certificate services for an EAB key",
        )
    if payload.get("termsOfServiceAgreed") is not True:
        # RFC 8555 §7.3: the directory names terms of service (meta.termsOfService), and an
        # account is created only for a client that agrees to them (as Boulder and Pebble).
        raise InvalidInput(
            "acme.malformed",
            "a new account must agree to the terms of service (termsOfServiceAgreed: true): "
            + call.links.terms(),
        )
    kid, inner = acme_jws.eab_kid_and_proof(
        payload["externalAccountBinding"], key, links.url("/new-account")
    )
    contacts = payload.get("contact", [])
    if not isinstance(contacts, list):
        raise InvalidInput("acme.malformed", "contact must be a list")
    reg = Registration(
        jwk=json.dumps(key.public_key().to_partial_json(), sort_keys=True),
        thumbprint=tp,
        contacts=tuple(contacts),
        eab_kid=kid,
        prove=lambda hmac_key: acme_jws.check_eab_mac(inner, hmac_key),
    )
    account, created = svc.acme_accounts.register(reg)
    return json_answer(
        account_json(links, account), 201 if created else 200, links.account(account.id)
    )


def account(call: Call) -> Answer:
    svc, signed = call.svc, call.signed
    if signed.own.id != as_id(call.params["account_id"]):
        raise Unauthorized("acme.unauthorized", "this is another account's URL")
    view = signed.own
    if signed.env.payload != b"":
        payload = acme_jws.payload_json(signed.env)
        if payload.get("status") == "deactivated":  # §7.3.6
            view = svc.acme_accounts.deactivate_own(view.id)
        elif "status" in payload and payload["status"] != str(view.status):
            raise InvalidInput("acme.malformed", "only status 'deactivated' may be asked for")
        elif "contact" in payload:  # §7.3.2
            if not isinstance(payload["contact"], list):
                raise InvalidInput("acme.malformed", "contact must be a list")
            view = svc.acme_accounts.update_contacts(view.id, payload["contact"])
    return json_answer(account_json(call.links, view), 200, call.links.account(view.id))


def key_change(call: Call) -> Answer:
    """RFC 8555 §7.3.5: the account's key is rolled over to the inner JWS's key."""
    signed, links = call.signed, call.links
    change = acme_jws.key_change(signed.env)
    acme_jws.check_account_key(change.new_key)
    account_url = links.account(signed.own.id)
    if change.account != account_url:
        raise Unauthorized("acme.unauthorized", "the inner payload names another account")
    if acme_jws.thumbprint(change.old_key) != signed.own.thumbprint:
        raise Unauthorized("acme.unauthorized", "oldKey is not the account's key")
    view = call.svc.acme_accounts.change_key(
        signed.own.id,
        json.dumps(change.new_key.public_key().to_partial_json(), sort_keys=True),
        acme_jws.thumbprint(change.new_key),
    )
    return json_answer(account_json(links, view), 200, account_url)


def account_orders(call: Call) -> Answer:
    """RFC 8555 §7.1.2.1: the account's orders, :data:`ORDERS_PAGE` at a time; a further
    page is named by ``Link: <…/orders/{last}>;rel="next"`` (the orders after the last one
    listed), and invalid orders are left out."""
    post_as_get(call.signed)
    account_id = call.signed.own.id
    if account_id != as_id(call.params["account_id"]):
        raise Unauthorized("acme.unauthorized", "this is another account's URL")
    after = as_id(call.params["after"]) if "after" in call.params else 0
    ids = call.svc.acme_orders.orders(call.signed.own, after=after, limit=ORDERS_PAGE + 1)
    answer = json_answer({"orders": [call.links.order(i) for i in ids[:ORDERS_PAGE]]})
    if len(ids) > ORDERS_PAGE:
        following = call.links.url(f"/acct/{account_id}/orders/{ids[ORDERS_PAGE - 1]}")
        answer.headers["Link"] = f'<{following}>;rel="next"'
    return answer


def revoke_cert(call: Call) -> Answer:
    """RFC 8555 §7.6: by the account that ordered it, or signed by the certificate's key."""
    signed = call.signed
    payload = acme_jws.payload_json(signed.env)
    der = acme_jws.b64decode(payload.get("certificate"), "certificate")
    reason = payload.get("reason")
    if reason is not None and not isinstance(reason, int):
        raise InvalidInput("acme.bad_revocation_reason", "reason must be a number")
    jwk_spki = acme_jws.spki(signed.env.jwk) if signed.env.jwk is not None else None
    call.svc.acme_orders.revoke(signed.account, der, reason, jwk_spki)
    return Answer(200)
