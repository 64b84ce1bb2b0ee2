"""The ACME server (RFC 8555, R17) spoken to by certbot's ``acme`` client library over real
HTTP, on SQLite and PostgreSQL: each JWS check (§6) and problem type, EAB (§7.3.4), orders
within the organization's grants (R1/R2), http-01 validation through the VA, finalization
through the issuance pipeline, download and revocation."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import josepy as jose
import pytest
import requests
from acme import challenges, client, errors, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certdesk.acme.frontend import ROUTES, VALIDATION_WAIT_SECONDS
from certdesk.core.acme_states import b64url
from certdesk.services.pki.inventory import ExportFormat
from conftest import BACKENDS, OPERATOR
from world.acme import (
    MANAGED,
    NS,
    ORG,
    AcmeWorld,
    account_key,
    acme_world,
    issue,
    nonce,
    poll_ready,
    post,
    problem,
    rollover,
    solve_http01,
)
from world.csr import build_csr, make_csr
from world.loop import on_loop_calls


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AcmeWorld]:
    with acme_world(request.param, tmp_path_factory.mktemp("acme")) as w:
        yield w


# --- directory and nonces (§7.1.1, §7.2) ----------------------------------------------------


def test_directory_requires_external_accounts(world: AcmeWorld) -> None:
    resp = requests.get(world.directory_url, timeout=10)
    assert resp.status_code == 200
    meta = resp.json()["meta"]
    assert meta["externalAccountRequired"] is True
    assert meta["termsOfService"] == world.base + "/acme/terms"
    assert meta["website"] == world.base
    assert resp.headers["Replay-Nonce"]
    assert requests.get(world.base + "/acme/new-nonce", timeout=10).status_code == 204


# --- accounts and EAB (§7.3) -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ec256", "ec384", "rsa"], ids=lambda k: f"6.2/alg-{k}")
def test_account_keys_of_each_accepted_algorithm_register(world: AcmeWorld, kind: str) -> None:
    acme = world.registered(key=account_key(kind))
    assert acme.net.account.body.status == "valid"
    found = world.services.acme_accounts.find(b64url(acme.net.key.public_key().thumbprint()))
    assert found is not None and found.org_code == ORG


@pytest.mark.parametrize(
    ("bits", "exponent"),
    [
        pytest.param(1024, 65537, id="6.7/badPublicKey-rsa-1024"),
        pytest.param(1536, 65537, id="6.7/badPublicKey-rsa-1536"),
        pytest.param(2048, 3, id="6.7/badPublicKey-rsa-exponent-3"),
    ],
)
def test_r12_a_weak_account_key_is_bad_public_key_and_registers_nothing(
    world: AcmeWorld, bits: int, exponent: int
) -> None:
    kid, hmac_key = world.eab()
    weak = jose.JWKRSA(key=rsa.generate_private_key(exponent, bits))
    resp = post(
        world, "/acme/new-account", _eab_payload(world, weak, kid, hmac_key), weak, alg=jose.RS256
    )
    body = problem(resp, 400, "badPublicKey")
    assert "RSA" in body["detail"] and "2048" in body["detail"]
    assert world.services.acme_accounts.find(b64url(weak.public_key().thumbprint())) is None
    # The EAB key was not spent on the refusal: a strong key registers with it.
    strong = account_key()
    ok = post(world, "/acme/new-account", _eab_payload(world, strong, kid, hmac_key), strong)
    assert ok.status_code == 201, ok.text


def test_r12_a_key_change_to_a_weak_key_is_bad_public_key(world: AcmeWorld) -> None:
    acme = world.registered()
    weak = jose.JWKRSA(key=rsa.generate_private_key(65537, 1024))
    problem(rollover(world, acme, weak), 400, "badPublicKey")
    # The account still answers to its own key.
    orders = f"/acme/acct/{acme.net.account.uri.rsplit('/', 1)[1]}/orders"
    resp = post(world, orders, None, acme.net.key, kid=acme.net.account.uri)
    assert resp.status_code == 200, resp.text


def test_signed_work_runs_on_the_event_loop_on_sqlite_and_in_a_thread_on_postgresql(
    world: AcmeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13/16: on SQLite a signed request's checks, service call and nonce skip the
    worker thread's hop (its CPU cost); PostgreSQL's round trips must never hold the loop."""
    acme = world.registered()
    seen = on_loop_calls(monkeypatch, world.services.acme_nonces, "new")
    orders = f"/acme/acct/{acme.net.account.uri.rsplit('/', 1)[1]}/orders"
    resp = post(world, orders, None, acme.net.key, kid=acme.net.account.uri)
    assert resp.status_code == 200, resp.text
    sqlite = world.services.rt.engine.dialect.name == "sqlite"
    assert seen and set(seen) == {sqlite}


def test_only_work_that_may_wait_on_the_network_leaves_the_event_loop() -> None:
    """newOrder (the dns-persist-01 VA may ask DNS) always runs in a worker thread; finalize
    and revokeCert do wherever a vendor CA is configured (an order or a revocation at the
    vendor goes over the network); every other resource's work is local."""
    assert {r.path for r in ROUTES if r.network} == {"/acme/new-order"}
    assert {r.path for r in ROUTES if r.vendors} == {
        "/acme/finalize/{order_id}",
        "/acme/revoke-cert",
    }


def test_r17_no_eab_is_external_account_required(world: AcmeWorld) -> None:
    key = account_key()
    resp = post(world, "/acme/new-account", {"termsOfServiceAgreed": True}, key)
    problem(resp, 400, "externalAccountRequired")


def _eab_payload(world: AcmeWorld, key: jose.JWK, kid: str, hmac_key: str) -> dict[str, Any]:
    eab = messages.ExternalAccountBinding.from_data(
        account_public_key=key.public_key(),
        kid=kid,
        hmac_key=hmac_key,
        directory={"newAccount": world.base + "/acme/new-account"},
    )
    return {"termsOfServiceAgreed": True, "externalAccountBinding": eab}


def test_r17_revoked_eab_key_binds_nothing(world: AcmeWorld) -> None:
    kid, hmac_key = world.eab()
    world.services.acme_eab.revoke(OPERATOR, kid)
    key = account_key()
    problem(
        post(world, "/acme/new-account", _eab_payload(world, key, kid, hmac_key), key),
        403,
        "unauthorized",
    )
    assert world.services.acme_accounts.find(b64url(key.public_key().thumbprint())) is None


def test_r17_eab_key_binds_one_account_only(world: AcmeWorld) -> None:
    kid, hmac_key = world.eab()
    first, second = account_key(), account_key()
    ok = post(world, "/acme/new-account", _eab_payload(world, first, kid, hmac_key), first)
    assert ok.status_code == 201 and ok.headers["Location"].startswith(world.base + "/acme/acct/")
    again = post(world, "/acme/new-account", _eab_payload(world, second, kid, hmac_key), second)
    problem(again, 403, "unauthorized")


def test_r17_wrong_hmac_key_is_refused(world: AcmeWorld) -> None:
    kid, _ = world.eab()
    key = account_key()
    wrong = b64url(b"x" * 32)
    problem(
        post(world, "/acme/new-account", _eab_payload(world, key, kid, wrong), key),
        403,
        "unauthorized",
    )


def test_r17_expired_eab_key_is_refused(world: AcmeWorld) -> None:
    kid, hmac_key = world.eab()
    world.clock.advance(days=31)
    try:
        key = account_key()
        problem(
            post(world, "/acme/new-account", _eab_payload(world, key, kid, hmac_key), key),
            403,
            "unauthorized",
        )
    finally:
        world.clock.advance(days=-31)


def test_r17_eab_key_never_begins_with_a_dash(
    world: AcmeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """certbot's ``--eab-hmac-key -q3x…`` takes such a key for an unknown option: one key in
    64 would stop an agency's first certbot run. The key is drawn again instead."""
    drawn = [b"\xf8" + b"\x01" * 31, b"\xfc" + b"\x02" * 31]
    real = secrets.token_bytes
    monkeypatch.setattr(secrets, "token_bytes", lambda n: drawn.pop(0) if n == 32 else real(n))
    _, hmac_key = world.eab()
    assert b64url(b"\xf8" + b"\x01" * 31).startswith("-")  # what the first draw would give
    assert hmac_key == b64url(b"\xfc" + b"\x02" * 31)
    assert hmac_key.startswith("_")  # an underscore is no option to any parser


def test_r11_managed_organization_gets_no_eab_key(world: AcmeWorld) -> None:
    from certdesk.errors import Forbidden

    with pytest.raises(Forbidden) as exc:
        world.eab(MANAGED)
    assert exc.value.code == "org.managed"


def test_only_return_existing_for_an_unknown_key(world: AcmeWorld) -> None:
    key = account_key()
    resp = post(world, "/acme/new-account", {"onlyReturnExisting": True}, key)
    problem(resp, 400, "accountDoesNotExist")


def test_existing_key_finds_its_account(world: AcmeWorld) -> None:
    acme = world.registered()
    resp = post(world, "/acme/new-account", {"onlyReturnExisting": True}, acme.net.key)
    assert resp.status_code == 200
    assert resp.headers["Location"] == acme.net.account.uri


def test_unknown_kid_is_account_does_not_exist(world: AcmeWorld) -> None:
    resp = post(
        world,
        "/acme/new-order",
        {"identifiers": []},
        account_key(),
        kid=world.base + "/acme/acct/999999",
    )
    problem(resp, 400, "accountDoesNotExist")


def test_contacts_update_and_deactivation(world: AcmeWorld) -> None:
    acme = world.registered()
    updated = acme.update_registration(
        acme.net.account.update(
            body=acme.net.account.body.update(contact=("mailto:new@alpha.ca.gov",))
        )
    )
    assert updated.body.contact == ("mailto:new@alpha.ca.gov",)
    bad = post(
        world,
        acme.net.account.uri.removeprefix(world.base),
        {"contact": ["tel:+15555"]},
        acme.net.key,
        kid=acme.net.account.uri,
    )
    problem(bad, 400, "unsupportedContact")
    acme.deactivate_registration(acme.net.account)
    after = post(
        world,
        "/acme/new-order",
        {"identifiers": [{"type": "dns", "value": "a.alpha.ca.gov"}]},
        acme.net.key,
        kid=acme.net.account.uri,
    )
    problem(after, 403, "unauthorized")


# --- JWS (§6.2-6.5) ----------------------------------------------------------------------------


def test_reused_nonce_is_bad_nonce(world: AcmeWorld) -> None:
    acme = world.registered()
    used = nonce(world)
    kid = acme.net.account.uri
    first = post(
        world,
        "/acme/acct/0/orders".replace("0", kid.rsplit("/", 1)[1]),
        None,
        acme.net.key,
        kid=kid,
        use_nonce=used,
    )
    assert first.status_code == 200, first.text
    again = post(
        world,
        "/acme/acct/0/orders".replace("0", kid.rsplit("/", 1)[1]),
        None,
        acme.net.key,
        kid=kid,
        use_nonce=used,
    )
    problem(again, 400, "badNonce")


def test_made_up_nonce_is_bad_nonce(world: AcmeWorld) -> None:
    acme = world.registered()
    made_up = b64url(b"0123456789abcdef")
    resp = post(
        world,
        "/acme/new-order",
        {"identifiers": [{"type": "dns", "value": "a.alpha.ca.gov"}]},
        acme.net.key,
        kid=acme.net.account.uri,
        use_nonce=made_up,
    )
    problem(resp, 400, "badNonce")


def test_r17_batched_nonces_are_each_good_once_and_handed_out_fresh(world: AcmeWorld) -> None:
    nonces = world.services.acme_nonces
    handed = [nonce(world) for _ in range(3)]  # the first may start a batch, the rest come from it
    assert len(set(handed)) == 3
    for value in handed:
        assert nonces.use(value)
        assert not nonces.use(value)
    nonces.new()  # a batch with nonces left in it
    lifetime = world.services.rt.settings.acme_nonce_seconds
    world.clock.advance(seconds=lifetime * 0.2)
    # The rest of the batch has lost more than a tenth of its lifetime: not handed out.
    assert nonces.ready() is None
    fresh = nonce(world)
    world.clock.advance(seconds=lifetime * 0.85)
    assert nonces.use(fresh)  # good for its whole lifetime from when it was handed out


def test_wrong_url_is_unauthorized(world: AcmeWorld) -> None:
    acme = world.registered()
    resp = post(
        world,
        "/acme/new-order",
        {"identifiers": [{"type": "dns", "value": "a.alpha.ca.gov"}]},
        acme.net.key,
        kid=acme.net.account.uri,
        url=world.base + "/acme/new-account",
    )
    problem(resp, 403, "unauthorized")


def test_unaccepted_algorithm_is_bad_signature_algorithm(world: AcmeWorld) -> None:
    key = jose.JWKEC(key=ec.generate_private_key(ec.SECP521R1()))
    resp = post(world, "/acme/new-account", {"onlyReturnExisting": True}, key, alg=jose.ES512)
    body = problem(resp, 400, "badSignatureAlgorithm")
    assert body["algorithms"] == ["ES256", "ES384", "RS256"]


def test_signature_by_another_key_is_malformed(world: AcmeWorld) -> None:
    acme = world.registered()
    resp = post(
        world,
        "/acme/new-order",
        {"identifiers": [{"type": "dns", "value": "a.alpha.ca.gov"}]},
        account_key(),
        kid=acme.net.account.uri,
    )
    problem(resp, 400, "malformed")


def test_kid_and_jwk_together_are_malformed(world: AcmeWorld) -> None:
    acme = world.registered()
    key = acme.net.key
    header = {
        "alg": "ES256",
        "nonce": nonce(world),
        "url": world.base + "/acme/new-order",
        "kid": acme.net.account.uri,
        "jwk": key.public_key().to_partial_json(),
    }
    protected = b64url(json.dumps(header).encode())
    payload = b64url(b"{}")
    sig = jose.ES256.sign(key.key, f"{protected}.{payload}".encode())
    body = {"protected": protected, "payload": payload, "signature": b64url(sig)}
    resp = requests.post(
        world.base + "/acme/new-order",
        json=body,
        headers={"Content-Type": "application/jose+json"},
        timeout=10,
    )
    problem(resp, 400, "malformed")


def test_wrong_media_type_is_malformed(world: AcmeWorld) -> None:
    resp = post(
        world,
        "/acme/new-account",
        {"onlyReturnExisting": True},
        account_key(),
        content_type="application/json",
    )
    problem(resp, 415, "malformed")


def test_post_as_get_needs_an_empty_payload(world: AcmeWorld) -> None:
    acme = world.registered()
    number = acme.net.account.uri.rsplit("/", 1)[1]
    resp = post(world, f"/acme/acct/{number}/orders", {}, acme.net.key, kid=acme.net.account.uri)
    problem(resp, 400, "malformed")


# --- orders (§7.4) ----------------------------------------------------------------------------


def test_r2_name_outside_the_grant_is_rejected_identifier(world: AcmeWorld) -> None:
    acme = world.registered()
    resp = post(
        world,
        "/acme/new-order",
        {
            "identifiers": [
                {"type": "dns", "value": "www.alpha.ca.gov"},
                {"type": "dns", "value": "www.bravo.ca.gov"},
                {"type": "dns", "value": "x_y.alpha.ca.gov"},
            ]
        },
        acme.net.key,
        kid=acme.net.account.uri,
    )
    body = problem(resp, 400, "rejectedIdentifier")
    subs = {s["identifier"]["value"]: s for s in body["subproblems"]}
    assert set(subs) == {"www.bravo.ca.gov", "x_y.alpha.ca.gov"}
    assert subs["www.bravo.ca.gov"]["rule"] == "R2"
    assert subs["x_y.alpha.ca.gov"]["rule"] == "R1"
    assert "R2" in subs["www.bravo.ca.gov"]["detail"]


def test_non_dns_identifier_is_unsupported(world: AcmeWorld) -> None:
    acme = world.registered()
    resp = post(
        world,
        "/acme/new-order",
        {"identifiers": [{"type": "ip", "value": "192.0.2.1"}]},
        acme.net.key,
        kid=acme.net.account.uri,
    )
    problem(resp, 400, "unsupportedIdentifier")


def test_wildcard_order_offers_dns_challenges_only(world: AcmeWorld) -> None:
    acme = world.registered()
    order = acme.new_order(make_csr(["*.apps.alpha.ca.gov", "apps.alpha.ca.gov"]))
    by_name = {(a.body.identifier.value, bool(a.body.wildcard)): a for a in order.authorizations}
    wild = by_name[("apps.alpha.ca.gov", True)]
    # certbot's acme library knows neither tls-alpn-01's server side nor dns-persist-01:
    # the JSON says what was offered.
    assert [c.to_partial_json()["type"] for c in wild.body.challenges] == [
        "dns-01",
        "dns-persist-01",
    ]
    plain = by_name[("apps.alpha.ca.gov", False)]
    assert sorted(c.to_partial_json()["type"] for c in plain.body.challenges) == [
        "dns-01",
        "dns-persist-01",
        "http-01",
        "tls-alpn-01",
    ]
    persist = next(
        c for c in plain.body.challenges if c.to_partial_json()["type"] == "dns-persist-01"
    )
    assert persist.to_partial_json()["issuerDomainNames"] == ["127.0.0.1"]


def _finalize(
    world: AcmeWorld, acme: client.ClientV2, order: messages.OrderResource, csr_der: bytes
) -> requests.Response:
    """POST ``csr_der`` to the order's finalize URL, signed by the account (§7.4)."""
    return post(
        world,
        order.body.finalize.removeprefix(world.base),
        {"csr": b64url(csr_der)},
        acme.net.key,
        kid=acme.net.account.uri,
    )


def test_finalize_before_ready_is_order_not_ready(world: AcmeWorld) -> None:
    acme = world.registered()
    order = acme.new_order(make_csr(["early.alpha.ca.gov"]))
    csr = x509.load_pem_x509_csr(order.csr_pem).public_bytes(serialization.Encoding.DER)
    resp = _finalize(world, acme, order, csr)
    problem(resp, 403, "orderNotReady")


def test_r12_finalize_with_other_names_is_bad_csr(world: AcmeWorld) -> None:
    acme = world.registered()
    order = acme.new_order(make_csr(["one.alpha.ca.gov"]))
    solve_http01(world, acme, order)
    order = poll_ready(acme, order)
    other = x509.load_pem_x509_csr(make_csr(["two.alpha.ca.gov"])).public_bytes(
        serialization.Encoding.DER
    )
    resp = _finalize(world, acme, order, other)
    problem(resp, 400, "badCSR")


def test_r12_must_staple_csr_is_bad_csr_and_leaves_the_order_ready(world: AcmeWorld) -> None:
    acme = world.registered()
    order = acme.new_order(make_csr(["staple.alpha.ca.gov"]))
    solve_http01(world, acme, order)
    order = poll_ready(acme, order)
    staple = build_csr(
        ["staple.alpha.ca.gov"],
        extensions=[x509.TLSFeature([x509.TLSFeatureType.status_request])],
    ).public_bytes(serialization.Encoding.DER)
    resp = _finalize(world, acme, order, staple)
    assert "Must-Staple" in problem(resp, 400, "badCSR")["detail"]
    # Nothing changed: the order is still ready, and the CSR without it is signed.
    done = acme.finalize_order(order, datetime.now() + timedelta(seconds=30))
    cert = x509.load_pem_x509_certificate(done.fullchain_pem.encode())
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.TLSFeature)


def test_failed_http01_makes_the_order_invalid(world: AcmeWorld) -> None:
    acme = world.registered()
    order = acme.new_order(make_csr(["nobody.alpha.ca.gov"]))
    chall = next(
        c for c in order.authorizations[0].body.challenges if isinstance(c.chall, challenges.HTTP01)
    )
    response, _ = chall.response_and_validation(acme.net.key)
    acme.answer_challenge(chall, response)  # the responder does not know this token
    order = poll_ready(acme, order)
    assert order.body.status == messages.STATUS_INVALID
    authz = acme.poll(order.authorizations[0])[0]
    failed = next(c for c in authz.body.challenges if c.chall.typ == "http-01")
    assert failed.error.typ == NS + "unauthorized"


def test_r17_san_certificate_issued_downloaded_in_inventory_and_revoked(world: AcmeWorld) -> None:
    acme = world.registered()
    order = issue(world, acme, "www.alpha.ca.gov", "api.alpha.ca.gov")
    assert order.body.status == messages.STATUS_VALID
    chain = x509.load_pem_x509_certificates(order.fullchain_pem.encode())
    leaf = chain[0]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == [
        "api.alpha.ca.gov",
        "www.alpha.ca.gov",
    ]
    assert len(chain) >= 2
    serial = format(leaf.serial_number, "x")
    view = world.services.inventory.show(OPERATOR, serial)
    assert view.org_code == ORG and view.status == "active"
    # Revocation by the account key (§7.6); again is alreadyRevoked.
    acme.revoke(chain[0], 4)
    assert world.services.inventory.show(OPERATOR, serial).status == "revoked"
    with pytest.raises(errors.Error) as exc:
        acme.revoke(chain[0], 4)
    assert exc.value.typ == NS + "alreadyRevoked"


def test_r17_certificate_download_is_the_inventory_chain_for_its_account_only(
    world: AcmeWorld,
) -> None:
    """§7.4.2 and R17: the download (one read, the issuing chain kept per process) answers
    the inventory's chain byte for byte, twice alike; another account, a serial of no
    order and a malformed serial all answer 404 as an unknown certificate."""
    acme = world.registered()
    order = issue(world, acme, "dl.alpha.ca.gov")
    url = order.body.certificate
    leaf = x509.load_pem_x509_certificates(order.fullchain_pem.encode())[0]
    serial = format(leaf.serial_number, "x")
    chain = world.services.inventory.export(OPERATOR, serial, ExportFormat.CHAIN)
    assert order.fullchain_pem.encode() == chain
    kid = acme.net.account.uri
    again = post(world, url.removeprefix(world.base), None, acme.net.key, kid=kid)
    assert again.status_code == 200, again.text
    assert again.headers["Content-Type"] == "application/pem-certificate-chain"
    assert again.content == chain
    other = world.registered()
    for who, path in [
        (other, url.removeprefix(world.base)),  # another account of the same organization
        (acme, "/acme/cert/" + "0" * 20),  # a serial no order produced
        (acme, "/acme/cert/zz-not-hex"),  # not a serial at all
    ]:
        resp = post(world, path, None, who.net.key, kid=who.net.account.uri)
        problem(resp, 404, "malformed")


def test_revocation_by_another_account_refused_by_the_certificate_key_done(
    world: AcmeWorld,
) -> None:
    acme = world.registered()
    key = ec.generate_private_key(ec.SECP256R1())
    csr = make_csr(["rev.alpha.ca.gov"], key=key)
    order = acme.new_order(csr)
    solve_http01(world, acme, order)
    order = acme.finalize_order(poll_ready(acme, order), datetime.now() + timedelta(seconds=20))
    leaf = x509.load_pem_x509_certificates(order.fullchain_pem.encode())[0]
    other = world.registered()
    with pytest.raises(errors.Error) as exc:
        other.revoke(leaf, 0)
    assert exc.value.typ == NS + "unauthorized"
    # Signed with the certificate's own key, as a jwk (§7.6).
    cert_key = jose.JWKEC(key=key)
    der = leaf.public_bytes(serialization.Encoding.DER)
    resp = post(world, "/acme/revoke-cert", {"certificate": b64url(der), "reason": 1}, cert_key)
    assert resp.status_code == 200, resp.text
    assert (
        world.services.inventory.show(OPERATOR, format(leaf.serial_number, "x")).status == "revoked"
    )


@pytest.mark.parametrize(
    ("responder_knows_token", "status"),
    [
        pytest.param(True, messages.STATUS_VALID, id="proved"),
        pytest.param(False, messages.STATUS_INVALID, id="not-proved"),
    ],
)
def test_r17_a_challenge_answer_waits_for_a_quick_validation(
    world: AcmeWorld, responder_knows_token: bool, status: messages.Status
) -> None:
    # RFC 8555 §7.5.1: the answer to a challenge POST is the challenge as it stands. A quick
    # validation (loopback http-01) ends within the bounded wait, so the answer already says
    # how it ended and the client's first poll needs no second one.
    acme = world.registered()
    name = f"wait-{'yes' if responder_knows_token else 'no'}-{secrets.token_hex(3)}.alpha.ca.gov"
    order = acme.new_order(make_csr([name]))
    chall = next(
        c for c in order.authorizations[0].body.challenges if isinstance(c.chall, challenges.HTTP01)
    )
    response, validation = chall.response_and_validation(acme.net.key)
    if responder_knows_token:
        world.responder.answers[chall.chall.encode("token")] = validation
    started = time.monotonic()
    answered = acme.answer_challenge(chall, response)
    if answered.body.status != status:
        # Only a validation slower than the wait (a loaded machine) is answered unfinished,
        # and then only after the whole wait.
        assert answered.body.status in (messages.STATUS_PENDING, messages.STATUS_PROCESSING)
        assert time.monotonic() - started >= VALIDATION_WAIT_SECONDS
    order = poll_ready(acme, order)
    authz = acme.poll(order.authorizations[0])[0]
    assert authz.body.status == status
