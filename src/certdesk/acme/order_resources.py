"""The order resources (RFC 8555 §7.4, §7.5): newOrder, the order, its authorizations and
challenges, finalize and the certificate; and renewalInfo (RFC 9773 §4.2), a plain GET.

Each handler runs in one worker thread after :func:`certdesk.acme.signed.check`."""

from __future__ import annotations

from certdesk.acme import jws as acme_jws
from certdesk.acme.account_resources import Call
from certdesk.acme.problems import Answer, json_answer
from certdesk.acme.signed import as_id, post_as_get
from certdesk.acme.views import Links, authz_json, challenge_json, order_json, time
from certdesk.core.acme_renewal import RETRY_AFTER
from certdesk.core.acme_states import ChallengeStatus, OrderStatus
from certdesk.errors import InvalidInput, NotFound
from certdesk.services.acme.authorizations import AuthzView, ChallengeView
from certdesk.services.acme.orders import OrderView
from certdesk.services.registry import Services


def new_order(call: Call) -> Answer:
    payload = acme_jws.payload_json(call.signed.env)
    identifiers = payload.get("identifiers")
    if not isinstance(identifiers, list) or not identifiers:
        raise InvalidInput("acme.malformed", "identifiers must be a non-empty list")
    names = []
    for ident in identifiers:
        if not isinstance(ident, dict) or not isinstance(ident.get("value"), str):
            raise InvalidInput("acme.malformed", "an identifier is {type, value}")
        if ident.get("type") != "dns":
            raise InvalidInput(
                "acme.unsupported_identifier", f"identifier type {ident.get('type')!r}: only dns"
            )
        names.append(ident["value"])
    if "notBefore" in payload or "notAfter" in payload:
        raise InvalidInput("acme.malformed", "notBefore and notAfter are not supported")
    replaces, profile = payload.get("replaces"), payload.get("profile")
    if replaces is not None and not isinstance(replaces, str):
        raise InvalidInput("acme.malformed", "replaces is a certID string (RFC 9773 §5)")
    if profile is not None and not isinstance(profile, str):
        raise InvalidInput("acme.malformed", "profile is a string")
    order = call.svc.acme_orders.new_order(
        call.signed.own, names, replaces=replaces, profile=profile or None
    )
    return json_answer(order_json(call.links, order), 201, call.links.order(order.id))


def order(call: Call) -> Answer:
    post_as_get(call.signed)
    view = call.svc.acme_orders.order(call.signed.own, as_id(call.params["order_id"]))
    return _order_answer(call.links, view)


def _order_answer(links: Links, view: OrderView) -> Answer:
    answer = json_answer(order_json(links, view), 200, links.order(view.id))
    if view.status is OrderStatus.PROCESSING:
        # RFC 8555 §7.4: a client polls a processing order; tell it when to look again.
        answer.headers["Retry-After"] = "1"
    return answer


def authorization(call: Call) -> Answer:
    orders, account = call.svc.acme_orders, call.signed.own
    authz_id = as_id(call.params["authz_id"])
    if call.signed.env.payload == b"":
        view = orders.authorization(account, authz_id)
    else:
        payload = acme_jws.payload_json(call.signed.env)
        if payload.get("status") != "deactivated":
            raise InvalidInput("acme.malformed", "only status 'deactivated' may be asked for")
        view = orders.deactivate_authorization(account, authz_id)
    return _authz_answer(call.links, view)


def _authz_answer(links: Links, view: AuthzView) -> Answer:
    answer = json_answer(authz_json(links, view))
    if any(c.status is ChallengeStatus.PROCESSING for c in view.challenges):
        # RFC 8555 §7.5.1: a validation under way takes a moment (it runs as soon as it is
        # answered); without this, clients wait their own default (certbot: 3 s) to look again.
        answer.headers["Retry-After"] = "1"
    return answer


def challenge(call: Call) -> Answer:
    svc, links, account = call.svc, call.links, call.signed.own
    challenge_id = as_id(call.params["challenge_id"])
    if call.signed.env.payload == b"":
        return _challenge_answer(links, svc.acme_orders.challenge(account, challenge_id))
    acme_jws.payload_json(call.signed.env)  # §7.5.1: an empty object says "ready"
    started = svc.acme_orders.respond(account, challenge_id)
    answer = _challenge_answer(links, started.view)
    if started.validation is not None:
        # The validation runs in the pool; the front end waits for it a moment so that
        # this answer, and the client's first look at the authorization, show its result.
        answer.wait = started.validation
        answer.then = lambda: _challenge_answer(
            links, svc.acme_orders.challenge(account, challenge_id)
        )
    return answer


def _challenge_answer(links: Links, view: ChallengeView) -> Answer:
    answer = json_answer(challenge_json(links, view))
    answer.headers["Link"] = f'<{links.authz(view.authz_id)}>;rel="up"'
    return answer


def finalize(call: Call) -> Answer:
    payload = acme_jws.payload_json(call.signed.env)
    csr = acme_jws.b64decode(payload.get("csr"), "csr")
    view = call.svc.acme_orders.finalize(call.signed.own, as_id(call.params["order_id"]), csr)
    return _order_answer(call.links, view)


def certificate(call: Call) -> Answer:
    post_as_get(call.signed)
    serial = call.params["serial"]
    if not serial.isascii() or not serial.isalnum() or len(serial) > 40:
        raise NotFound("acme.not_found", "no such certificate")
    pem = call.svc.acme_orders.certificate(call.signed.own, serial.lower())
    return Answer(200, pem, "application/pem-certificate-chain")


def renewal_info(svc: Services, cert_id: str) -> Answer:
    """RFC 9773 §4.2: the suggested renewal window, to anyone who asks (a plain GET)."""
    window = svc.acme_renewal_info.window(cert_id)
    answer = json_answer(
        {"suggestedWindow": {"start": time(window.start), "end": time(window.end)}}
    )
    answer.headers["Retry-After"] = str(int(RETRY_AFTER.total_seconds()))
    return answer
