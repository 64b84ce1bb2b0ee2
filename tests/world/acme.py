"""The ACME world: a certdesk serving /acme/ on a loopback port (uvicorn in a thread, sharing
the test's services), an http-01 responder the VA is pointed at, and certbot's ``acme``
client library (tests/acme)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import josepy as jose
import requests
import uvicorn
from acme import challenges, client, messages
from acme import jws as acme_jws
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize
from certdesk.web.app import create_app
from conftest import OPERATOR, ManualClock, migrated_database
from world.csr import make_csr
from world.desk import settings_for
from world.processes import free_port

ORG = "alpha"  # self-managed, zone:alpha.ca.gov
OTHER = "bravo"  # self-managed, zone:bravo.ca.gov
MANAGED = "mgd"  # managed


NS = "urn:ietf:params:acme:error:"


def nonce(world: AcmeWorld) -> str:
    """A fresh nonce from newNonce (RFC 8555 §7.2)."""
    resp = requests.head(world.base + "/acme/new-nonce", timeout=10)
    assert resp.status_code == 200
    return resp.headers["Replay-Nonce"]


def post(
    world: AcmeWorld,
    path: str,
    payload: dict[str, Any] | None,
    key: jose.JWK,
    *,
    kid: str | None = None,
    use_nonce: str | None = None,
    url: str | None = None,
    alg: jose.JWASignature = jose.ES256,
    content_type: str = "application/jose+json",
) -> requests.Response:
    """A JWS POST built by hand, to reach every check of §6."""
    body = b"" if payload is None else json.dumps(payload).encode()
    signed = acme_jws.JWS.sign(
        body,
        key=key,
        alg=alg,
        nonce=jose.b64decode(use_nonce or nonce(world)),
        url=url or world.base + path,
        kid=kid,
    )
    return requests.post(
        world.base + path,
        data=signed.json_dumps(),
        headers={"Content-Type": content_type},
        timeout=10,
    )


def post_raw(
    world: AcmeWorld,
    path: str,
    protected: str,
    payload: bytes,
    key: jose.JWK,
    *,
    tamper: Any = None,
) -> requests.Response:
    """A flattened JWS whose protected header is the JSON text ``protected`` as given
    (duplicate members and all), signed ES256 by ``key``; ``tamper`` may rewrite the
    finished body (a dict of protected, payload, signature) before it is sent."""
    p64 = jose.b64encode(protected.encode()).decode()
    pl64 = jose.b64encode(payload).decode()
    signature = jose.ES256.sign(key.key, f"{p64}.{pl64}".encode())
    body: dict[str, Any] = {
        "protected": p64,
        "payload": pl64,
        "signature": jose.b64encode(signature).decode(),
    }
    if tamper is not None:
        body = tamper(body)
    return requests.post(
        world.base + path,
        data=json.dumps(body),
        headers={"Content-Type": "application/jose+json"},
        timeout=10,
    )


def problem(resp: requests.Response, status: int, kind: str) -> dict[str, Any]:
    """An RFC 8555 §6.7 problem of ``kind`` with a nonce and the index link."""
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert resp.headers.get("Replay-Nonce"), "a problem carries a fresh nonce too (§6.5)"
    assert 'rel="index"' in resp.headers.get("Link", "")
    body: dict[str, Any] = resp.json()
    assert body["type"] == NS + kind, body
    return body


class Responder:
    """An http-01 responder on loopback: serves ``/.well-known/acme-challenge/<token>``."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}
        answers = self.answers

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = self.path.rsplit("/", 1)[-1]
                body = answers.get(token)
                self.send_response(200 if body else 404)
                self.end_headers()
                if body:
                    self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class AcmeWorld:
    services: Services
    clock: ManualClock
    base: str  # http://127.0.0.1:PORT
    responder: Responder
    accounts: list[Any] = field(default_factory=list)

    @property
    def directory_url(self) -> str:
        return self.base + "/acme/directory"

    def eab(self, org: str = ORG) -> tuple[str, str]:
        new = self.services.acme_eab.create(OPERATOR, org)
        return new.kid, new.hmac_key

    def network(self, key: jose.JWK | None = None) -> client.ClientNetwork:
        key = key or account_key()
        return client.ClientNetwork(
            key, alg=algorithm(key), user_agent="certdesk-tests", verify_ssl=False
        )

    def client(self, key: jose.JWK | None = None) -> client.ClientV2:
        net = self.network(key)
        directory = messages.Directory.from_json(net.get(self.directory_url).json())
        return client.ClientV2(directory, net)

    def registered(self, org: str = ORG, key: jose.JWK | None = None) -> client.ClientV2:
        """A client with a fresh key and an account bound with a new EAB key of ``org``."""
        acme = self.client(key)
        kid, hmac_key = self.eab(org)
        eab = messages.ExternalAccountBinding.from_data(
            account_public_key=acme.net.key.public_key(),
            kid=kid,
            hmac_key=hmac_key,
            directory=acme.directory,
        )
        reg = acme.new_account(
            messages.NewRegistration.from_data(
                email="ops@alpha.ca.gov", terms_of_service_agreed=True, external_account_binding=eab
            )
        )
        acme.net.account = reg
        return acme


def account_key(kind: str = "ec256") -> jose.JWK:
    if kind == "rsa":
        return jose.JWKRSA(key=rsa.generate_private_key(65537, 2048))
    curve = ec.SECP384R1() if kind == "ec384" else ec.SECP256R1()
    return jose.JWKEC(key=ec.generate_private_key(curve))


def algorithm(key: jose.JWK) -> jose.JWASignature:
    """The JWS algorithm that fits ``key`` (RFC 7518 §3.1)."""
    if isinstance(key, jose.JWKRSA):
        return jose.RS256
    assert isinstance(key, jose.JWKEC)
    return jose.ES384 if key.key.curve.name == "secp384r1" else jose.ES256


def poll_ready(acme: client.ClientV2, order: messages.OrderResource) -> messages.OrderResource:
    """The order once it is no longer pending (its authorizations validated or failed)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        current = acme._post_as_get(order.uri)
        body = messages.Order.from_json(current.json())
        if body.status != messages.STATUS_PENDING:
            return order.update(body=body)
        time.sleep(0.05)
    raise AssertionError("the order stayed pending")


def solve_http01(world: AcmeWorld, acme: client.ClientV2, order: messages.OrderResource) -> None:
    """Answer every authorization's http-01 challenge through the world's responder."""
    for authz in order.authorizations:
        chall = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01))
        response, validation = chall.response_and_validation(acme.net.key)
        world.responder.answers[chall.chall.encode("token")] = validation
        acme.answer_challenge(chall, response)


def issue(
    world: AcmeWorld, acme: client.ClientV2, *names: str, profile: str | None = None
) -> messages.OrderResource:
    """An order for ``names`` proved by http-01, finalized and downloaded."""
    order = acme.new_order(make_csr(list(names)), profile=profile)
    solve_http01(world, acme, order)
    order = poll_ready(acme, order)
    assert order.body.status == messages.STATUS_READY
    return acme.finalize_order(order, deadline=datetime.now() + timedelta(seconds=30))


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # a thread cannot install them
        pass


@contextmanager
def acme_world(backend: str, tmp: Path, **more: Any) -> Iterator[AcmeWorld]:
    """certdesk on ``backend`` serving over plain http on a loopback port, three organizations,
    and the VA pointed at a loopback responder (``CERTDESK_ACME_VA_ADDRESS``); ``more`` are
    further settings (``acme_va_dns_server`` …)."""
    port = free_port()
    responder = Responder()
    base = f"http://127.0.0.1:{port}"
    with migrated_database(backend, tmp, "acme") as url:
        clock = ManualClock()
        settings = settings_for(
            url,
            tmp,
            base_url=base,
            acme_va_address="127.0.0.1",
            acme_va_http_port=responder.port,
            **more,
        )
        services = Services(Runtime.open(settings, clock))
        try:
            initialize(services, with_token=False)
            orgs = services.orgs
            orgs.create(OPERATOR, ORG, "Alpha", self_managed=True, grants=["zone:alpha.ca.gov"])
            orgs.create(OPERATOR, OTHER, "Bravo", self_managed=True, grants=["zone:bravo.ca.gov"])
            orgs.create(
                OPERATOR, MANAGED, "Managed", self_managed=False, grants=["zone:mgd.ca.gov"]
            )
            config = uvicorn.Config(
                create_app(services),
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="on",
            )
            server = _Server(config)
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            deadline = time.monotonic() + 20
            while not server.started:
                if time.monotonic() > deadline:
                    raise RuntimeError("the ACME test server did not start")
                time.sleep(0.02)
            try:
                yield AcmeWorld(services, clock, base, responder)
            finally:
                server.should_exit = True
                thread.join(10)
        finally:
            responder.close()
            services.rt.close()


def register_through(client: Any, base_url: str, kid: str, hmac_key: str) -> tuple[int, jose.JWK]:
    """Register an ACME account through ``client`` (a Starlette TestClient or anything with
    ``head``/``post``) with EAB key ``kid``: real JWS, real EAB MAC (RFC 8555 §7.3.4).
    ``base_url`` is the installation's CERTDESK_BASE_URL (the JWS ``url`` names it)."""
    key = account_key()
    url = base_url.rstrip("/") + "/acme/new-account"
    eab = messages.ExternalAccountBinding.from_data(
        account_public_key=key.public_key(),
        kid=kid,
        hmac_key=hmac_key,
        directory={"newAccount": url},
    )
    payload = {"termsOfServiceAgreed": True, "externalAccountBinding": eab}
    nonce = client.head("/acme/new-nonce").headers["Replay-Nonce"]
    signed = acme_jws.JWS.sign(
        json.dumps(payload, default=lambda o: o.to_partial_json()).encode(),
        key=key,
        alg=algorithm(key),
        nonce=jose.b64decode(nonce),
        url=url,
    )
    resp = client.post(
        "/acme/new-account",
        content=signed.json_dumps(),
        headers={"Content-Type": "application/jose+json"},
    )
    assert resp.status_code == 201, resp.text
    return int(resp.headers["Location"].rsplit("/", 1)[1]), key


# --- keyChange (RFC 8555 §7.3.5) ------------------------------------------------------------


def key_change_body(
    world: AcmeWorld, account_url: str, old: jose.JWK, new: jose.JWK, **tamper: Any
) -> dict[str, Any]:
    url = tamper.pop("url", world.base + "/acme/key-change")
    signer = tamper.pop("signer", new)
    inner_payload = {"account": tamper.pop("account", account_url), "oldKey": old.public_key()}
    inner = acme_jws.JWS.sign(
        json.dumps(inner_payload, default=lambda k: k.to_partial_json()).encode(),
        key=signer,
        alg=algorithm(new),
        nonce=None,
        url=url,
    )
    out: dict[str, Any] = inner.to_partial_json()
    header = json.loads(jose.b64decode(out["protected"]))
    if not tamper.pop("with_jwk", True):
        header.pop("jwk")
        header["kid"] = account_url
    elif signer is not new:  # the header names the new key; another key signed
        header["jwk"] = new.public_key().to_partial_json()
    out["protected"] = jose.b64encode(json.dumps(header).encode()).decode()
    return out


def rollover(world: AcmeWorld, acme: Any, new: jose.JWK, **tamper: Any) -> requests.Response:
    body = key_change_body(world, acme.net.account.uri, acme.net.key, new, **tamper)
    return post(world, "/acme/key-change", body, acme.net.key, kid=acme.net.account.uri)
