"""The ACME resources (RFC 8555 §7), mounted at ``/acme/``: Boulder's web front end.

Each handler checks the request's JWS (certdesk/acme/jws.py), calls one service, and writes
the answer in the protocol's shape. Every answer, problem documents included, carries a
fresh ``Replay-Nonce`` (§6.5), ``Link: <directory>;rel="index"`` (§7.1) and
``Cache-Control: no-store``; the route class below adds them in one place.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from josepy.jwk import JWK

from certdesk.acme import jws as acme_jws
from certdesk.acme import problems
from certdesk.core import acme_profiles
from certdesk.core.acme_renewal import RETRY_AFTER
from certdesk.core.acme_states import AccountStatus, ChallengeStatus, ChallengeType, OrderStatus
from certdesk.errors import CertdeskError, InvalidInput, NotFound, Unauthorized
from certdesk.services.acme import va as acme_va
from certdesk.services.acme.accounts import AccountView, Registration
from certdesk.services.acme.authorizations import AuthzView, ChallengeView
from certdesk.services.acme.orders import OrderView
from certdesk.services.registry import Services
from certdesk.web.problems import database_unavailable

log = structlog.get_logger("certdesk.acme")

TERMS = (
    "certdesk ACME service\n\n"
    "Certificates are issued only for names your organization was granted, to accounts\n"
    "registered with an external account binding key from certificate services. Keep your\n"
    "account key private; revoke a certificate whose key was exposed.\n"
)


def _time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class AcmeRoute(APIRoute):
    """Errors become RFC 8555 problems; every answer gets a nonce, the index link and
    no-store, whatever happened."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            svc: Services = request.app.state.services
            try:
                response = await inner(request)
            except CertdeskError as exc:
                response = problems.from_error(exc, _base(svc))
            except Exception as exc:
                if database_unavailable(exc):
                    response = problems.render(
                        "serverInternal",
                        503,
                        "the database is not reachable; retry shortly",
                        headers={"Retry-After": "2"},
                    )
                else:
                    log.error(
                        "unhandled ACME error",
                        path=request.url.path,
                        exception="".join(traceback.format_exception(exc)),
                    )
                    response = problems.render("serverInternal", 500, "an unexpected error")
            try:
                # From this process's stored batch when it has one: no thread hop then.
                nonce = svc.acme_nonces.ready()
                if nonce is None:
                    nonce = await run_in_threadpool(svc.acme_nonces.new)
                response.headers["Replay-Nonce"] = nonce
            except Exception as exc:  # no nonce without a database; the answer still goes out
                log.warning("no nonce for an ACME answer", error=repr(exc)[:200])
            response.headers.append("Link", f'<{_url(svc, "/directory")}>;rel="index"')
            response.headers["Cache-Control"] = "no-store"
            return response

        return handler


T = TypeVar("T")

router = APIRouter(prefix="/acme", route_class=AcmeRoute, include_in_schema=False)


def _base(svc: Services) -> str:
    return svc.rt.settings.base_url.rstrip("/") + "/acme"


def _url(svc: Services, path: str) -> str:
    return _base(svc) + path


def _id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        raise NotFound("acme.not_found", "no such object")
    return int(text)


# --- request checking (§6) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    env: acme_jws.Envelope
    account: AccountView | None  # set for kid requests


async def _envelope(request: Request, svc: Services) -> acme_jws.Envelope:
    body = await request.body()
    env = acme_jws.parse(body, request.headers.get("content-type", ""))
    # §6.4: the url in the header is the URL this request was sent to, as the server names it.
    expected = svc.rt.settings.base_url.rstrip("/") + request.url.path
    if env.url != expected:
        raise Unauthorized("acme.unauthorized", f"the JWS url {env.url!r} is not {expected!r}")
    return env


async def _signed(request: Request, svc: Services, *, jwk_ok: bool = False) -> Signed:
    env = await _envelope(request, svc)
    return await run_in_threadpool(_check, svc, env, jwk_ok)


async def _as_account(
    request: Request, svc: Services, then: Callable[[Signed, AccountView], T]
) -> T:
    """The checks of ``_signed`` (kid requests), then ``then`` in the same worker thread: one
    hop from the event loop per request instead of two."""
    env = await _envelope(request, svc)

    def run() -> T:
        signed = _check(svc, env, False)
        assert signed.account is not None
        return then(signed, signed.account)

    return await run_in_threadpool(run)


def _check(svc: Services, env: acme_jws.Envelope, jwk_ok: bool) -> Signed:
    account: AccountView | None = None
    if env.kid is not None:
        prefix = _url(svc, "/acct/")
        if not env.kid.startswith(prefix):
            raise InvalidInput("acme.account_does_not_exist", "kid is not an account URL here")
        try:
            account = svc.acme_accounts.get(_id(env.kid.removeprefix(prefix)))
        except NotFound:
            raise InvalidInput("acme.account_does_not_exist", "no account with this kid") from None
        key = JWK.json_loads(account.jwk)
    else:
        if not jwk_ok or env.jwk is None:
            raise InvalidInput("acme.malformed", "this request must be signed with kid")
        key = env.jwk
    acme_jws.verify_signature(env, key)
    # §6.5: the nonce is used only once the signature holds (nobody else can burn it).
    if not svc.acme_nonces.use(env.nonce):
        raise InvalidInput("acme.bad_nonce", "the nonce is unknown, used or expired")
    if account is not None and account.status is not AccountStatus.VALID:
        raise Unauthorized("acme.account_deactivated", f"the account is {account.status}")
    return Signed(env, account)


def _post_as_get(signed: Signed) -> None:
    if signed.env.payload != b"":
        raise InvalidInput("acme.malformed", "POST-as-GET needs an empty payload (§6.3)")


def _json(body: dict[str, Any], status: int = 200, location: str | None = None) -> JSONResponse:
    headers = {"Location": location} if location else None
    return JSONResponse(body, status_code=status, headers=headers)


# --- objects ------------------------------------------------------------------------------------


def _account_json(svc: Services, account: AccountView) -> dict[str, Any]:
    return {
        "status": str(account.status),
        "contact": list(account.contacts),
        "orders": _url(svc, f"/acct/{account.id}/orders"),
        "createdAt": _time(account.created_at),
    }


def _order_json(svc: Services, order: OrderView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": str(order.status),
        "expires": _time(order.expires_at),
        "identifiers": [{"type": "dns", "value": n} for n in order.names],
        "authorizations": [_url(svc, f"/authz/{a}") for a in order.authz_ids],
        "finalize": _url(svc, f"/finalize/{order.id}"),
    }
    if order.error is not None:
        out["error"] = order.error
    if order.profile is not None:
        out["profile"] = order.profile
    if order.replaces is not None:
        out["replaces"] = order.replaces
    if order.status is OrderStatus.VALID and order.certificate_serial:
        out["certificate"] = _url(svc, f"/cert/{order.certificate_serial}")
    return out


def _challenge_json(svc: Services, chall: ChallengeView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": str(chall.kind),
        "url": _url(svc, f"/chall/{chall.id}"),
        "status": str(chall.status),
        "token": chall.token,
    }
    if chall.kind is ChallengeType.DNSPERSIST01:
        # draft-ietf-acme-dns-persist §3.1: the issuer names a record may carry.
        out["issuerDomainNames"] = list(acme_va.issuer_domain_names(svc.rt.settings))
    if chall.validated_at is not None:
        out["validated"] = _time(chall.validated_at)
    if chall.error is not None:
        out["error"] = chall.error
    return out


def _authz_json(svc: Services, authz: AuthzView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "identifier": {"type": "dns", "value": authz.name},
        "status": str(authz.status),
        "expires": _time(authz.expires_at),
        "challenges": [_challenge_json(svc, c) for c in authz.challenges],
    }
    if authz.wildcard:
        out["wildcard"] = True
    return out


# --- resources ----------------------------------------------------------------------------------


@router.get("/directory")
def directory(request: Request) -> JSONResponse:
    svc: Services = request.app.state.services
    settings = svc.rt.settings
    return _json(
        {
            "newNonce": _url(svc, "/new-nonce"),
            "newAccount": _url(svc, "/new-account"),
            "newOrder": _url(svc, "/new-order"),
            "revokeCert": _url(svc, "/revoke-cert"),
            "keyChange": _url(svc, "/key-change"),
            "renewalInfo": _url(svc, "/renewal-info"),  # RFC 9773 §3
            "meta": {
                "termsOfService": settings.acme_terms_of_service_url or _url(svc, "/terms"),
                "website": settings.base_url,
                "externalAccountRequired": True,
                # draft-aaron-acme-profiles §3: name → description for people.
                "profiles": acme_profiles.describe(settings.acme_shortlived_days),
                # draft-ietf-acme-dns-persist §3.2, §4.1: what a standing record names.
                "issuerDomainNames": list(acme_va.issuer_domain_names(settings)),
                "accountHashPrefix": acme_va.account_hash_prefix(settings),
            },
        }
    )


@router.get("/terms")
def terms() -> PlainTextResponse:
    return PlainTextResponse(TERMS)


@router.head("/new-nonce")
def new_nonce_head() -> Response:
    return Response(status_code=200)


@router.get("/new-nonce")
def new_nonce_get() -> Response:
    return Response(status_code=204)  # §7.2


@router.post("/new-account")
async def new_account(request: Request) -> Response:
    svc: Services = request.app.state.services
    signed = await _signed(request, svc, jwk_ok=True)
    assert signed.env.jwk is not None  # _check refuses a kid here
    key = signed.env.jwk
    payload = acme_jws.payload_json(signed.env)
    tp = acme_jws.thumbprint(key)
    existing = await run_in_threadpool(svc.acme_accounts.find, tp)
    if existing is not None:  # §7.3.1: the same key finds its account
        return _json(_account_json(svc, existing), 200, _url(svc, f"/acct/{existing.id}"))
    if payload.get("onlyReturnExisting") is True:
        raise InvalidInput("acme.account_does_not_exist", "no account exists for this key")
    if "externalAccountBinding" not in payload:
        raise InvalidInput(
            "acme.external_account_required",
            "an external account binding is required: ask certificate services for an EAB key",
        )
    kid, inner = acme_jws.eab_kid_and_proof(
        payload["externalAccountBinding"], key, _url(svc, "/new-account")
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
    account, created = await run_in_threadpool(svc.acme_accounts.register, reg)
    return _json(
        _account_json(svc, account), 201 if created else 200, _url(svc, f"/acct/{account.id}")
    )


@router.post("/acct/{account_id}")
async def account(account_id: str, request: Request) -> Response:
    svc: Services = request.app.state.services
    signed = await _signed(request, svc)
    assert signed.account is not None
    if signed.account.id != _id(account_id):
        raise Unauthorized("acme.unauthorized", "this is another account's URL")
    view = signed.account
    if signed.env.payload != b"":
        payload = acme_jws.payload_json(signed.env)
        if payload.get("status") == "deactivated":  # §7.3.6
            view = await run_in_threadpool(svc.acme_accounts.deactivate_own, view.id)
        elif "status" in payload and payload["status"] != str(view.status):
            raise InvalidInput("acme.malformed", "only status 'deactivated' may be asked for")
        elif "contact" in payload:  # §7.3.2
            if not isinstance(payload["contact"], list):
                raise InvalidInput("acme.malformed", "contact must be a list")
            view = await run_in_threadpool(
                svc.acme_accounts.update_contacts, view.id, payload["contact"]
            )
    return _json(_account_json(svc, view), 200, _url(svc, f"/acct/{view.id}"))


@router.post("/key-change")
async def key_change(request: Request) -> Response:
    """RFC 8555 §7.3.5: the account's key is rolled over to the inner JWS's key."""
    svc: Services = request.app.state.services
    signed = await _signed(request, svc)
    assert signed.account is not None
    change = acme_jws.key_change(signed.env)
    account_url = _url(svc, f"/acct/{signed.account.id}")
    if change.account != account_url:
        raise Unauthorized("acme.unauthorized", "the inner payload names another account")
    if acme_jws.thumbprint(change.old_key) != signed.account.thumbprint:
        raise Unauthorized("acme.unauthorized", "oldKey is not the account's key")
    view = await run_in_threadpool(
        svc.acme_accounts.change_key,
        signed.account.id,
        json.dumps(change.new_key.public_key().to_partial_json(), sort_keys=True),
        acme_jws.thumbprint(change.new_key),
    )
    return _json(_account_json(svc, view), 200, account_url)


@router.post("/acct/{account_id}/orders")
async def account_orders(account_id: str, request: Request) -> Response:
    svc: Services = request.app.state.services
    signed = await _signed(request, svc)
    _post_as_get(signed)
    assert signed.account is not None
    if signed.account.id != _id(account_id):
        raise Unauthorized("acme.unauthorized", "this is another account's URL")
    ids = await run_in_threadpool(svc.acme_orders.orders, signed.account)
    return _json({"orders": [_url(svc, f"/order/{i}") for i in ids]})


@router.post("/new-order")
async def new_order(request: Request) -> Response:
    svc: Services = request.app.state.services
    signed = await _signed(request, svc)
    assert signed.account is not None
    payload = acme_jws.payload_json(signed.env)
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
    order = await run_in_threadpool(
        lambda: svc.acme_orders.new_order(
            signed.account,  # type: ignore[arg-type]
            names,
            replaces=replaces,
            profile=profile or None,
        )
    )
    return _json(_order_json(svc, order), 201, _url(svc, f"/order/{order.id}"))


@router.get("/renewal-info/{cert_id}")
def renewal_info(cert_id: str, request: Request) -> Response:
    """RFC 9773 §4.2: the suggested renewal window, to anyone who asks (a plain GET)."""
    svc: Services = request.app.state.services
    window = svc.acme_renewal_info.window(cert_id)
    response = _json({"suggestedWindow": {"start": _time(window.start), "end": _time(window.end)}})
    response.headers["Retry-After"] = str(int(RETRY_AFTER.total_seconds()))
    return response


@router.post("/order/{order_id}")
async def order(order_id: str, request: Request) -> Response:
    svc: Services = request.app.state.services

    def then(signed: Signed, account: AccountView) -> OrderView:
        _post_as_get(signed)
        return svc.acme_orders.order(account, _id(order_id))

    return _order_response(svc, await _as_account(request, svc, then))


def _order_response(svc: Services, view: OrderView) -> JSONResponse:
    response = _json(_order_json(svc, view), 200, _url(svc, f"/order/{view.id}"))
    if view.status is OrderStatus.PROCESSING:
        # RFC 8555 §7.4: a client polls a processing order; tell it when to look again.
        response.headers["Retry-After"] = "1"
    return response


@router.post("/authz/{authz_id}")
async def authorization(authz_id: str, request: Request) -> Response:
    svc: Services = request.app.state.services

    def then(signed: Signed, account: AccountView) -> AuthzView:
        if signed.env.payload == b"":
            return svc.acme_orders.authorization(account, _id(authz_id))
        payload = acme_jws.payload_json(signed.env)
        if payload.get("status") != "deactivated":
            raise InvalidInput("acme.malformed", "only status 'deactivated' may be asked for")
        return svc.acme_orders.deactivate_authorization(account, _id(authz_id))

    view = await _as_account(request, svc, then)
    response = _json(_authz_json(svc, view))
    if any(c.status is ChallengeStatus.PROCESSING for c in view.challenges):
        # RFC 8555 §7.5.1: a validation under way takes a moment (it runs as soon as it is
        # answered); without this, clients wait their own default (certbot: 3 s) to look again.
        response.headers["Retry-After"] = "1"
    return response


@router.post("/chall/{challenge_id}")
async def challenge(challenge_id: str, request: Request) -> Response:
    svc: Services = request.app.state.services

    def then(signed: Signed, account: AccountView) -> ChallengeView:
        if signed.env.payload == b"":
            return svc.acme_orders.challenge(account, _id(challenge_id))
        acme_jws.payload_json(signed.env)  # §7.5.1: an empty object says "ready"
        return svc.acme_orders.respond(account, _id(challenge_id))

    view = await _as_account(request, svc, then)
    response = _json(_challenge_json(svc, view))
    response.headers.append("Link", f'<{_url(svc, f"/authz/{view.authz_id}")}>;rel="up"')
    return response


@router.post("/finalize/{order_id}")
async def finalize(order_id: str, request: Request) -> Response:
    svc: Services = request.app.state.services

    def then(signed: Signed, account: AccountView) -> OrderView:
        payload = acme_jws.payload_json(signed.env)
        csr = acme_jws.b64decode(payload.get("csr"), "csr")
        return svc.acme_orders.finalize(account, _id(order_id), csr)

    return _order_response(svc, await _as_account(request, svc, then))


@router.post("/cert/{serial}")
async def certificate(serial: str, request: Request) -> Response:
    svc: Services = request.app.state.services

    def then(signed: Signed, account: AccountView) -> bytes:
        _post_as_get(signed)
        if not serial.isascii() or not serial.isalnum() or len(serial) > 40:
            raise NotFound("acme.not_found", "no such certificate")
        return svc.acme_orders.certificate(account, serial.lower())

    pem = await _as_account(request, svc, then)
    return Response(pem, media_type="application/pem-certificate-chain")


@router.post("/revoke-cert")
async def revoke_cert(request: Request) -> Response:
    svc: Services = request.app.state.services
    signed = await _signed(request, svc, jwk_ok=True)
    payload = acme_jws.payload_json(signed.env)
    der = acme_jws.b64decode(payload.get("certificate"), "certificate")
    reason = payload.get("reason")
    if reason is not None and not isinstance(reason, int):
        raise InvalidInput("acme.bad_revocation_reason", "reason must be a number")
    jwk_spki = acme_jws.spki(signed.env.jwk) if signed.env.jwk is not None else None
    await run_in_threadpool(svc.acme_orders.revoke, signed.account, der, reason, jwk_spki)
    return Response(status_code=200)
