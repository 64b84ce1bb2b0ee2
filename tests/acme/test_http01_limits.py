"""http-01's limits (RFC 8555 §8.3, services/acme/http01.py) against real HTTP and HTTPS
servers on loopback: redirects are followed at most ten times, only to http or https, only
to the standard or configured ports; an answer over 8 KiB is refused.
"""

from __future__ import annotations

import ssl
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from certdesk.config import Settings
from certdesk.core.acme_states import ChallengeType, key_authorization
from certdesk.services.acme.http01 import MAX_BODY_BYTES, MAX_REDIRECTS, Http01
from certdesk.services.acme.validation import Targets, ValidationFailed, ValidationTask
from world.processes import free_port
from world.tls_alpn import challenge_cert

NAME = "www.alpha.ca.gov"
TOKEN = "tok-" + "c" * 39
KEY_AUTH = key_authorization(TOKEN, "thumb")
WELL_KNOWN = f"/.well-known/acme-challenge/{TOKEN}"

# path → (status, Location or None, body); filled by each test.
Routes = dict[str, tuple[int, str | None, bytes]]


class _Server:
    def __init__(self, routes: Routes, *, tls: bool = False) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, location, body = routes.get(self.path, (404, None, b""))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._dir = tempfile.TemporaryDirectory()
        if tls:
            pair = challenge_cert(NAME, "-")
            crt, key = Path(self._dir.name, "s.crt"), Path(self._dir.name, "s.key")
            crt.write_bytes(pair.cert_pem)
            key.write_bytes(pair.key_pem)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(crt, key)
            self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._dir.cleanup()


@pytest.fixture
def routes() -> Routes:
    return {}


@pytest.fixture
def http(routes: Routes) -> Iterator[_Server]:
    server = _Server(routes)
    yield server
    server.close()


@pytest.fixture
def https(routes: Routes) -> Iterator[_Server]:
    server = _Server(routes, tls=True)
    yield server
    server.close()


def va(http: _Server, tls_port: int = 443) -> Http01:
    settings = Settings(acme_va_address="127.0.0.1", ca_passphrase="x")
    return Http01(Targets(settings), http.port, tls_port)


def task() -> ValidationTask:
    return ValidationTask(1, ChallengeType.HTTP01, NAME, TOKEN, KEY_AUTH)


def failure(validator: Http01) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as exc:
        validator.validate(task())
    return exc.value


def chain(routes: Routes, hops: int, final: bytes = KEY_AUTH.encode()) -> None:
    """The challenge URL redirects ``hops`` times (relative Locations), then answers."""
    path = WELL_KNOWN
    for i in range(hops):
        nxt = f"/hop/{i}"
        routes[path] = (302, nxt, b"")
        path = nxt
    routes[path] = (200, None, final)


@pytest.mark.parametrize(
    ("hops", "ok"),
    [
        pytest.param(0, True, id="8.3/no-redirect"),
        pytest.param(MAX_REDIRECTS, True, id="8.3/ten-redirects-followed"),
        pytest.param(MAX_REDIRECTS + 1, False, id="8.3/eleven-redirects-refused"),
    ],
)
def test_8_3_redirect_count(routes: Routes, http: _Server, hops: int, ok: bool) -> None:
    chain(routes, hops)
    if ok:
        assert va(http).validate(task()) is None
    else:
        exc = failure(va(http))
        assert exc.acme_type == "connection" and "redirects" in exc.detail


@pytest.mark.parametrize(
    ("location", "words"),
    [
        pytest.param(f"http://{NAME}:8081/x", "port 80", id="8.3/redirect-to-odd-http-port"),
        pytest.param(f"https://{NAME}:8443/x", "port 443", id="8.3/redirect-to-odd-https-port"),
        pytest.param(f"ftp://{NAME}/x", "not http or https", id="8.3/redirect-to-ftp"),
        pytest.param(f"http://{NAME}:99999/x", "bad port", id="8.3/redirect-to-bad-port"),
    ],
)
def test_8_3_redirect_targets_refused(
    routes: Routes, http: _Server, location: str, words: str
) -> None:
    routes[WELL_KNOWN] = (301, location, b"")
    exc = failure(va(http))
    assert exc.acme_type == "connection" and words in exc.detail, exc.detail


def test_8_3_redirect_to_standard_http_port_is_allowed_by_rule(
    routes: Routes, http: _Server
) -> None:
    """``:80`` is a standard port: the redirect is followed (and fails only because nothing
    listens on loopback port 80 here, or something else answers there)."""
    routes[WELL_KNOWN] = (301, f"http://{NAME}:80{WELL_KNOWN}", b"")
    with pytest.raises(ValidationFailed) as exc:
        va(http).validate(task())
    assert "is only followed to port" not in exc.value.detail


def test_8_3_redirect_to_https_on_the_configured_port_is_followed(
    routes: Routes, http: _Server, https: _Server
) -> None:
    """An https redirect without a port goes to CERTDESK_ACME_VA_TLS_PORT (a lab's 443);
    the server's certificate is not checked (§8.3)."""
    routes[WELL_KNOWN] = (302, f"https://{NAME}/secure", b"")
    routes["/secure"] = (200, None, KEY_AUTH.encode())
    assert va(http, tls_port=https.port).validate(task()) is None
    routes[WELL_KNOWN] = (302, f"https://{NAME}:{https.port}/secure", b"")
    assert va(http, tls_port=https.port).validate(task()) is None


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        pytest.param(KEY_AUTH.encode() + b"\n", None, id="8.3/trailing-whitespace-allowed"),
        pytest.param(b"x" * (MAX_BODY_BYTES + 1), "unauthorized", id="8.3/body-over-limit"),
        pytest.param(b"not it", "incorrectResponse", id="8.3/wrong-body"),
    ],
)
def test_8_3_response_body(routes: Routes, http: _Server, body: bytes, outcome: str | None) -> None:
    routes[WELL_KNOWN] = (200, None, body)
    if outcome is None:
        assert va(http).validate(task()) is None
    else:
        assert failure(va(http)).acme_type == outcome
