"""Two ``certdesk serve`` processes on one PostgreSQL database serve one ACME client
alternately (R17, RFC 8555 §6.5): every request goes to the other process than the one before,
so every nonce a request carries was handed out by the other process, and the order made on
one is validated, finalized and downloaded across both."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import josepy as jose
import pytest
import requests
from acme import client, messages
from cryptography import x509
from requests.adapters import HTTPAdapter

from conftest import scratch_database
from world.acme import Responder, account_key, algorithm, poll_ready
from world.csr import make_csr
from world.desk import settings_for
from world.processes import (
    accepting,
    certdesk_env,
    free_port,
    run_cli,
    spawn_serve,
    stop,
    wait_until,
)

pytestmark = pytest.mark.slow


class Alternating(HTTPAdapter):
    """Sends each request to the next of ``ports`` in turn (a round-robin load balancer in
    front of the processes); remembers where each one went."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__()
        self._cycle = itertools.cycle(ports)
        self._ports = ports
        self.sent: list[tuple[str, int, str | None]] = []  # (method, port, nonce it carried)
        self.issued: dict[str, int] = {}  # Replay-Nonce -> the port of the process that gave it

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        port = next(self._cycle)
        assert request.url is not None
        for p in self._ports:
            request.url = request.url.replace(f"127.0.0.1:{p}/", f"127.0.0.1:{port}/")
        carried = None
        if request.method == "POST" and request.body:
            protected = json.loads(request.body)["protected"]
            carried = json.loads(jose.b64decode(protected))["nonce"]
        self.sent.append((str(request.method), port, carried))
        response = super().send(request, **kwargs)
        if nonce := response.headers.get("Replay-Nonce"):
            self.issued[nonce] = port
        return response


def test_r17_two_serve_processes_share_nonces_and_orders(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    responder = Responder()
    procs = []
    with scratch_database("postgresql", tmp_path, "acme-two") as url:
        # One base URL for both (what a load balancer in front of them would be).
        settings = settings_for(url, tmp_path, base_url=f"http://127.0.0.1:{ports[0]}")
        env = certdesk_env(settings)
        run_cli(["init"], env)
        run_cli(
            [
                *("org", "create", "alpha", "--name", "Alpha"),
                *("--self-managed", "--grant", "zone:alpha.ca.gov"),
            ],
            env,
        )
        eab = run_cli(["acme", "eab", "create", "--org", "alpha"], env)
        env |= {
            "CERTDESK_ACME_VA_ADDRESS": "127.0.0.1",
            "CERTDESK_ACME_VA_HTTP_PORT": str(responder.port),
        }
        try:
            for i, port in enumerate(ports):
                log = tmp_path / f"serve-{i}.log"
                procs.append((spawn_serve(["--port", str(port)], env, log), log))
            for port in ports:
                wait_until(lambda p=port: accepting(p), timeout=60, what="serve", alive=procs)

            key = account_key()
            net = client.ClientNetwork(key, alg=algorithm(key), user_agent="certdesk-tests")
            adapter = Alternating(ports)
            net.session.mount("http://", adapter)
            net.session.trust_env = False
            directory = messages.Directory.from_json(
                net.get(f"http://127.0.0.1:{ports[0]}/acme/directory").json()
            )
            acme = client.ClientV2(directory, net)
            binding = messages.ExternalAccountBinding.from_data(
                account_public_key=key.public_key(),
                kid=eab["kid"],
                hmac_key=eab["hmac_key"],
                directory=directory,
            )
            acme.net.account = acme.new_account(
                messages.NewRegistration.from_data(
                    email="ops@alpha.ca.gov",
                    terms_of_service_agreed=True,
                    external_account_binding=binding,
                )
            )
            order = acme.new_order(make_csr(["www.alpha.ca.gov", "api.alpha.ca.gov"]))
            for authz in order.authorizations:
                chall = next(c for c in authz.body.challenges if c.chall.typ == "http-01")
                response, validation = chall.response_and_validation(key)
                responder.answers[chall.chall.encode("token")] = validation
                acme.answer_challenge(chall, response)
            order = poll_ready(acme, order)
            assert order.body.status == messages.STATUS_READY
            order = acme.finalize_order(order, datetime.now() + timedelta(seconds=30))
            leaf = x509.load_pem_x509_certificates(order.fullchain_pem.encode())[0]
            shown = run_cli(["cert", "show", format(leaf.serial_number, "x")], env)
            assert shown["organization"] == "alpha" and shown["status"] == "active"

            posts = [(port, n) for method, port, n in adapter.sent if method == "POST"]
            # Both processes answered signed requests, and every nonce a signed request carried
            # was handed out by the other process (§6.5 across processes).
            assert {port for port, _ in posts} == set(ports) and len(posts) >= 8
            for port, carried in posts:
                assert carried is not None and adapter.issued[carried] != port
        finally:
            for proc, _ in procs:
                stop(proc)
            responder.close()
