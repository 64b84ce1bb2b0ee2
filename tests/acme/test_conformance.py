"""RFC 8555 conformance where the common clients never go (R17): what a strict or unusual
ACME client sends or reads that certbot, lego, dehydrated, uacme, Caddy and acme-client do
not. Each case names the section it proves; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import josepy as jose
import pytest
import requests
from acme import challenges, messages

from certdesk.acme import account_resources
from conftest import BACKENDS
from world.acme import (
    NS,
    AcmeWorld,
    account_key,
    acme_world,
    issue,
    nonce,
    poll_ready,
    post,
    post_raw,
    problem,
)
from world.csr import make_csr


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AcmeWorld]:
    with acme_world(request.param, tmp_path_factory.mktemp("acme")) as w:
        yield w


def _order_payload(name: str) -> bytes:
    return json.dumps({"identifiers": [{"type": "dns", "value": name}]}).encode()


# --- §6.1, §6.2: the JWS itself --------------------------------------------------------------


def _encodes(data: bytes, want: Callable[[str], bool]) -> bytes:
    """``data`` (JSON) with leading spaces until its base64url satisfies ``want``."""
    for spaces in range(3):
        # "???" somewhere in the text: one of three alignments encodes a "_" (0x3f3f3f).
        candidate = b" " * spaces + data[:-1] + b', "note": "???"}'
        if want(jose.b64encode(candidate).decode()):
            return candidate
    raise AssertionError("no variant of the case encodes as it needs")


def _pads(text: str) -> bool:
    return len(text) % 4 != 0


def _padded(field: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The body with ``field`` base64url-encoded *with* its "=" padding."""

    def tamper(body: dict[str, Any]) -> dict[str, Any]:
        value = body[field]
        assert _pads(value), "the case needs a value that pads"
        return {**body, field: value + "=" * (-len(value) % 4)}

    return tamper


def _std_alphabet(body: dict[str, Any]) -> dict[str, Any]:
    """The payload in the standard base64 alphabet ('+' and '/' instead of '-' and '_')."""
    value = body["payload"]
    assert "-" in value or "_" in value, "the case needs a payload with URL-safe characters"
    return {**body, "payload": value.replace("-", "+").replace("_", "/")}


def _general(body: dict[str, Any]) -> dict[str, Any]:
    """RFC 7515 §7.2.1 general serialization: a signatures array instead of one signature."""
    return {
        "payload": body["payload"],
        "signatures": [{"protected": body["protected"], "signature": body["signature"]}],
    }


Header = Callable[[str, str, str], str]  # (kid, nonce, url) -> the protected header's text


def _header(extra: str = "") -> Header:
    return lambda kid, n, url: f'{{"alg":"ES256","kid":"{kid}","nonce":"{n}","url":"{url}"{extra}}}'


def _duplicate(member: str, first: str) -> Header:
    """``member`` twice, a wrong value first and the genuine one last (the one a
    "last member wins" parser reads, RFC 7515 §4)."""

    def build(kid: str, n: str, url: str) -> str:
        genuine = {"nonce": n, "url": url}
        rest = "".join(f',"{k}":"{v}"' for k, v in genuine.items() if k != member)
        return (
            f'{{"alg":"ES256","kid":"{kid}","{member}":"{first}"{rest},'
            f'"{member}":"{genuine[member]}"}}'
        )

    return build


@pytest.mark.parametrize(
    ("header", "tamper", "want", "detail"),
    [
        pytest.param(_header(), _padded("payload"), _pads, "padding", id="R17/6.1-padded-payload"),
        pytest.param(_header(), _padded("signature"), None, "padding", id="R17/6.1-padded-sig"),
        pytest.param(
            _header(), _padded("protected"), None, "padding", id="R17/6.1-padded-protected"
        ),
        pytest.param(
            _header(),
            _std_alphabet,
            lambda t: "-" in t or "_" in t,
            "padding",
            id="R17/6.1-standard-alphabet",
        ),
        pytest.param(
            _duplicate("url", "http://elsewhere.example/acme/new-order"),
            None,
            None,
            "unique member",
            id="R17/6.2-duplicate-url",
        ),
        pytest.param(
            _duplicate("nonce", "bm90LWEtbm9uY2U"),
            None,
            None,
            "unique member",
            id="R17/6.2-duplicate-nonce",
        ),
        pytest.param(
            _header(',"b64":false,"crit":["b64"]'), None, None, "cannot be read", id="R17/6.2-b64"
        ),
        pytest.param(_header(',"crit":["exp"]'), None, None, "cannot be read", id="R17/6.2-crit"),
        pytest.param(_header(), _general, None, "flattened", id="R17/6.2-general-serialization"),
    ],
)
def test_r17_a_jws_outside_rfc8555_is_malformed_and_does_nothing(
    world: AcmeWorld,
    header: Header,
    tamper: Callable[[dict[str, Any]], dict[str, Any]] | None,
    want: Callable[[str], bool] | None,
    detail: str,
) -> None:
    acme = world.registered()
    kid, url = acme.net.account.uri, world.base + "/acme/new-order"
    protected = header(kid, nonce(world), url)
    if not _pads(jose.b64encode(protected.encode()).decode()):
        protected += " "  # JSON allows it; the padded-protected case needs a value that pads
    payload = _order_payload("refused.alpha.ca.gov")
    if want is not None:
        payload = _encodes(payload, want)
    resp = post_raw(world, "/acme/new-order", protected, payload, acme.net.key, tamper=tamper)
    found = problem(resp, 400, "malformed")
    assert detail in found["detail"], found
    listed = post(world, kid.removeprefix(world.base) + "/orders", None, acme.net.key, kid=kid)
    assert listed.json()["orders"] == [], "a refused request created an order"


@pytest.mark.parametrize(
    ("jwk", "kind"),
    [
        pytest.param({"kty": "EC"}, "malformed", id="R17/6.2-jwk-ec-without-curve"),
        pytest.param({"kty": "RSA"}, "malformed", id="R17/6.2-jwk-rsa-without-modulus"),
        pytest.param(
            {"kty": "EC", "crv": "P-256", "x": 1, "y": 2}, "malformed", id="R17/6.2-jwk-numbers"
        ),
        pytest.param({"kty": "oct", "k": "c2VjcmV0"}, "badPublicKey", id="R17/6.2-jwk-oct"),
        pytest.param(
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            "malformed",
            id="R17/6.2-jwk-okp",
        ),
        pytest.param("not a key", "malformed", id="R17/6.2-jwk-string"),
    ],
)
def test_r17_a_jwk_that_is_no_account_key_is_refused_and_registers_nothing(
    world: AcmeWorld, jwk: Any, kind: str
) -> None:
    # Each of these once reached josepy's own errors (KeyError, AttributeError): a 500.
    url = world.base + "/acme/new-account"
    protected = json.dumps({"alg": "ES256", "jwk": jwk, "nonce": nonce(world), "url": url})
    resp = post_raw(
        world, "/acme/new-account", protected, b'{"onlyReturnExisting":true}', account_key()
    )
    problem(resp, 400, kind)


def test_r17_an_external_account_binding_with_a_nonce_of_another_type_is_malformed(
    world: AcmeWorld,
) -> None:
    key = account_key()
    eab = _eab_signed_with(world, key, "HS256")
    header = json.loads(jose.b64decode(eab["protected"]))
    eab["protected"] = jose.b64encode(json.dumps({**header, "nonce": 5}).encode()).decode()
    body = {"termsOfServiceAgreed": True, "externalAccountBinding": eab}
    problem(post(world, "/acme/new-account", body, key), 400, "malformed")
    lookup = post(world, "/acme/new-account", {"onlyReturnExisting": True}, key)
    problem(lookup, 400, "accountDoesNotExist")


@pytest.mark.parametrize(
    "alg",
    [
        pytest.param("HS256", id="R17/6.2-HS256"),
        pytest.param("none", id="R17/6.2-none"),
        pytest.param("ES512", id="R17/6.2-ES512"),
    ],
)
def test_r17_an_unaccepted_alg_names_the_accepted_ones(world: AcmeWorld, alg: str) -> None:
    acme = world.registered()
    kid, url = acme.net.account.uri, world.base + "/acme/new-order"
    protected = json.dumps({"alg": alg, "kid": kid, "nonce": nonce(world), "url": url})
    resp = post_raw(world, "/acme/new-order", protected, b"{}", acme.net.key)
    assert problem(resp, 400, "badSignatureAlgorithm")["algorithms"] == [
        "ES256",
        "ES384",
        "RS256",
    ]


# --- §7.3: accounts ----------------------------------------------------------------------------


def _new_account(world: AcmeWorld, key: jose.JWK, **fields: Any) -> dict[str, Any]:
    kid, hmac_key = world.eab()
    eab = messages.ExternalAccountBinding.from_data(
        account_public_key=key.public_key(),
        kid=kid,
        hmac_key=hmac_key,
        directory={"newAccount": world.base + "/acme/new-account"},
    )
    body: dict[str, Any] = json.loads(
        json.dumps({"externalAccountBinding": eab}, default=lambda o: o.to_partial_json())
    )
    body.update({k: v for k, v in fields.items() if v is not ...})
    return body


def _eab_signed_with(world: AcmeWorld, key: jose.JWK, alg: str) -> dict[str, Any]:
    """newAccount's externalAccountBinding MACed with ``alg`` (certbot's acme sends HS256)."""
    kid, hmac_key = world.eab()
    url = world.base + "/acme/new-account"
    protected = jose.b64encode(json.dumps({"alg": alg, "kid": kid, "url": url}).encode())
    payload = jose.b64encode(json.dumps(key.public_key().to_partial_json()).encode())
    signer = jose.JWASignature.from_json(alg) if alg.startswith("HS") else None
    mac = (
        b"" if signer is None else signer.sign(jose.b64decode(hmac_key), protected + b"." + payload)
    )
    return {
        "protected": protected.decode(),
        "payload": payload.decode(),
        "signature": jose.b64encode(mac).decode(),
    }


@pytest.mark.parametrize(
    ("alg", "status"),
    [
        pytest.param("HS256", 201, id="R17/7.3.4-eab-HS256"),
        pytest.param("HS384", 201, id="R17/7.3.4-eab-HS384"),
        pytest.param("HS512", 201, id="R17/7.3.4-eab-HS512"),
        pytest.param("none", 400, id="R17/7.3.4-eab-none"),
        pytest.param("RS256", 400, id="R17/7.3.4-eab-RS256"),
    ],
)
def test_r17_the_external_account_binding_is_an_hmac(
    world: AcmeWorld, alg: str, status: int
) -> None:
    key = account_key()
    body = {
        "termsOfServiceAgreed": True,
        "externalAccountBinding": _eab_signed_with(world, key, alg),
    }
    resp = post(world, "/acme/new-account", body, key)
    if status == 201:
        assert resp.status_code == 201, resp.text
        assert resp.json()["status"] == "valid"
        return
    found = problem(resp, 400, "badSignatureAlgorithm")
    assert found["algorithms"] == ["HS256", "HS384", "HS512"]
    lookup = post(world, "/acme/new-account", {"onlyReturnExisting": True}, key)
    problem(lookup, 400, "accountDoesNotExist")


@pytest.mark.parametrize(
    ("agreed", "status"),
    [
        pytest.param(True, 201, id="R17/7.3-terms-agreed"),
        pytest.param(False, 400, id="R17/7.3-terms-refused"),
        pytest.param(..., 400, id="R17/7.3-terms-not-said"),
        pytest.param("yes", 400, id="R17/7.3-terms-not-boolean"),
    ],
)
def test_r17_a_new_account_must_agree_to_the_terms_of_service(
    world: AcmeWorld, agreed: Any, status: int
) -> None:
    key = account_key()
    resp = post(
        world, "/acme/new-account", _new_account(world, key, termsOfServiceAgreed=agreed), key
    )
    if status == 201:
        assert resp.status_code == 201, resp.text
        return
    found = problem(resp, 400, "malformed")
    assert world.base + "/acme/terms" in found["detail"]
    # Nothing was created: the same key asking for its account finds none.
    lookup = post(world, "/acme/new-account", {"onlyReturnExisting": True}, key)
    problem(lookup, 400, "accountDoesNotExist")


@pytest.mark.parametrize(
    ("contacts", "kind"),
    [
        pytest.param(["mailto:a@alpha.ca.gov", "mailto:b@alpha.ca.gov"], None, id="R17/7.3-two"),
        pytest.param(["mailto:a@alpha.ca.gov?subject=x"], "invalidContact", id="R17/7.3-hfields"),
        pytest.param(["mailto:a@alpha.ca.gov?cc=b@x.ca.gov"], "invalidContact", id="R17/7.3-cc"),
        pytest.param(
            ["mailto:a@alpha.ca.gov,b@alpha.ca.gov"], "invalidContact", id="R17/7.3-comma-list"
        ),
        pytest.param(["mailto:a%40alpha.ca.gov"], "invalidContact", id="R17/7.3-pct-encoded"),
        pytest.param(["mailto:a@alpha.ca.gov\n"], "invalidContact", id="R17/7.3-newline"),
        pytest.param(["mailto:a b@alpha.ca.gov"], "invalidContact", id="R17/7.3-space"),
        pytest.param(["mailto:a@localhost"], "invalidContact", id="R17/7.3-one-label"),
        pytest.param(["tel:+15555550100"], "unsupportedContact", id="R17/7.3-tel"),
    ],
)
def test_r17_contacts_are_plain_mailto_addresses(
    world: AcmeWorld, contacts: list[str], kind: str | None
) -> None:
    acme = world.registered()
    kid = acme.net.account.uri
    resp = post(world, kid.removeprefix(world.base), {"contact": contacts}, acme.net.key, kid=kid)
    if kind is None:
        assert resp.status_code == 200, resp.text
        assert resp.json()["contact"] == contacts
        return
    problem(resp, 400, kind)
    # The account keeps the contact it registered with.
    again = post(world, kid.removeprefix(world.base), None, acme.net.key, kid=kid)
    assert again.json()["contact"] == ["mailto:ops@alpha.ca.gov"]


def test_r17_a_new_account_with_hfields_is_invalid_contact(world: AcmeWorld) -> None:
    key = account_key()
    body = _new_account(
        world, key, termsOfServiceAgreed=True, contact=["mailto:ops@alpha.ca.gov?body=hi"]
    )
    problem(post(world, "/acme/new-account", body, key), 400, "invalidContact")


# --- §7.1.2.1: the account's orders -------------------------------------------------------------


def test_r17_the_orders_list_pages_with_link_next_and_leaves_invalid_orders_out(
    world: AcmeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(account_resources, "ORDERS_PAGE", 2)
    acme = world.registered()
    kid = acme.net.account.uri
    made = []
    for label in ("p1", "failed", "p2", "p3"):
        order = acme.new_order(make_csr([f"{label}.alpha.ca.gov"]))
        made.append(order.uri)
        if label == "failed":  # http-01 answered with nothing served: the order is invalid
            chall = next(
                c
                for c in order.authorizations[0].body.challenges
                if isinstance(c.chall, challenges.HTTP01)
            )
            acme.answer_challenge(chall, chall.response(acme.net.key))
            assert poll_ready(acme, order).body.status == messages.STATUS_INVALID
    pages, url = [], kid + "/orders"
    while url:
        resp = post(world, url.removeprefix(world.base), None, acme.net.key, kid=kid)
        assert resp.status_code == 200, resp.text
        pages.append(resp.json()["orders"])
        url = resp.links.get("next", {}).get("url", "")
        assert len(pages) < 5, "the next links do not end"
    assert pages == [[made[0], made[2]], [made[3]]]
    # A page URL of another account is refused like the first page's.
    other = world.registered()
    resp = post(
        world,
        (kid + "/orders/1").removeprefix(world.base),
        None,
        other.net.key,
        kid=other.net.account.uri,
    )
    problem(resp, 403, "unauthorized")


# --- §7.1.4, §7.5.1: authorizations and challenges ----------------------------------------------


def test_r17_a_valid_authorization_shows_the_challenge_that_was_validated(
    world: AcmeWorld,
) -> None:
    acme = world.registered()
    order = issue(world, acme, "shown.alpha.ca.gov")
    url = order.body.authorizations[0]
    resp = post(world, url.removeprefix(world.base), None, acme.net.key, kid=acme.net.account.uri)
    body = resp.json()
    assert body["status"] == "valid"
    assert [(c["type"], c["status"]) for c in body["challenges"]] == [("http-01", "valid")]


def test_r17_an_invalid_authorization_shows_the_challenge_that_failed_and_stays_failed(
    world: AcmeWorld,
) -> None:
    acme = world.registered()
    kid = acme.net.account.uri
    order = acme.new_order(make_csr(["unshown.alpha.ca.gov"]))
    pending = post(
        world, order.authorizations[0].uri.removeprefix(world.base), None, acme.net.key, kid=kid
    ).json()
    assert len(pending["challenges"]) == 4  # pending: every challenge it offers
    chall = next(c for c in pending["challenges"] if c["type"] == "http-01")
    path = chall["url"].removeprefix(world.base)
    post(world, path, {}, acme.net.key, kid=kid)
    poll_ready(acme, order)
    failed = post(
        world, order.authorizations[0].uri.removeprefix(world.base), None, acme.net.key, kid=kid
    ).json()
    assert failed["status"] == "invalid"
    assert [c["url"] for c in failed["challenges"]] == [chall["url"]]
    assert failed["challenges"][0]["error"]["type"] == NS + "unauthorized"
    # §7.1.6: invalid is final; answering again (§8.2) starts nothing and changes nothing.
    world.responder.answers[chall["token"]] = f"{chall['token']}.whatever"
    again = post(world, path, {}, acme.net.key, kid=kid)
    assert again.status_code == 200 and again.json()["status"] == "invalid"


# --- §6.5, §7.2: nonces on every answer ----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/acme/directory", 200, id="R17/6.5-directory"),
        pytest.param("HEAD", "/acme/new-nonce", 200, id="R17/7.2-new-nonce-head"),
        pytest.param("GET", "/acme/new-nonce", 204, id="R17/7.2-new-nonce-get"),
        pytest.param("GET", "/acme/new-order", 405, id="R17/6.5-405"),
        pytest.param("POST", "/acme/no-such-resource", 404, id="R17/6.5-404-signed-post"),
        pytest.param("POST", "/acme/order/1/extra", 404, id="R17/6.5-404-under-a-resource"),
    ],
)
def test_r17_every_acme_answer_carries_a_fresh_nonce(
    world: AcmeWorld, method: str, path: str, status: int
) -> None:
    acme = world.registered()
    if method == "POST":
        resp = post(world, path, None, acme.net.key, kid=acme.net.account.uri)
        problem(resp, 404, "malformed")
    else:
        resp = requests.request(method, world.base + path, timeout=10)
    assert resp.status_code == status, resp.text
    assert resp.headers.get("Replay-Nonce")
    assert resp.headers["Cache-Control"] == "no-store"
    if status == 404:
        # The nonce is a good one: the client's next request may use it.
        again = post(
            world,
            acme.net.account.uri.removeprefix(world.base),
            None,
            acme.net.key,
            kid=acme.net.account.uri,
            use_nonce=resp.headers["Replay-Nonce"],
        )
        assert again.status_code == 200, again.text
