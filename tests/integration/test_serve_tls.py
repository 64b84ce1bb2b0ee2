"""``certdesk serve`` answers https with ``CERTDESK_TLS_CERT_FILE``/``CERTDESK_TLS_KEY_FILE``.

A throw-away CA and a server certificate for 127.0.0.1 and localhost come from trustme; the
server is a real ``certdesk serve`` process (one process, and two uvicorn workers: each loads
the key itself). /healthz must answer over https to a client that trusts only that CA, and
nothing else: not plain http, not a client that trusts only the system's CAs.
"""

from __future__ import annotations

import signal
import ssl
from pathlib import Path

import httpx
import pytest
import trustme

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


def write_server_files(ca: trustme.CA, directory: Path) -> tuple[Path, Path]:
    """A certificate chain for 127.0.0.1 and localhost and its key (mode 0600)."""
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = directory / "tls-chain.pem", directory / "tls-key.pem"
    cert.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    key.touch(mode=0o600)
    leaf.private_key_pem.write_to_path(str(key))
    return cert, key


@pytest.mark.parametrize(
    "workers", [pytest.param(1, id="tls/one-process"), pytest.param(2, id="tls/two-workers")]
)
def test_serve_answers_https_with_its_certificate_only(tmp_path: Path, workers: int) -> None:
    ca = trustme.CA()
    cert, key = write_server_files(ca, tmp_path)
    settings = settings_for(f"sqlite:///{tmp_path / 'certdesk.db'}", tmp_path)
    env = certdesk_env(settings)
    run_cli(["init"], env)
    env |= {"CERTDESK_TLS_CERT_FILE": str(cert), "CERTDESK_TLS_KEY_FILE": str(key)}

    port = free_port()
    log = tmp_path / "serve.log"
    proc = spawn_serve(["--port", str(port), "--workers", str(workers)], env, log)
    try:
        wait_until(lambda: accepting(port), timeout=60, what="serve", alive=[(proc, log)])
        trusting_ca = ssl.create_default_context()
        ca.configure_trust(trusting_ca)

        health = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trusting_ca, timeout=10)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"

        # The TLS port speaks nothing but TLS: a plain-http request gets no HTTP answer.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        # And the certificate is the one from the settings: unknown to the system's CAs.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(
                f"https://127.0.0.1:{port}/healthz", verify=ssl.create_default_context(), timeout=10
            )
        # Still serving after the refused connections.
        again = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trusting_ca, timeout=10)
        assert again.status_code == 200

        printed = log.read_text()
        assert f"certdesk serving on https://127.0.0.1:{port} " in printed
        assert f"console: open https://127.0.0.1:{port}/" in printed
        assert "http://127.0.0.1" not in printed.split("URLs in certificates")[0]
        assert "warning:" not in printed  # the key is 0600
        # uvicorn shuts down gracefully on SIGTERM, then ends by that signal (as systemd expects).
        proc.terminate()
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM), log.read_text()
    finally:
        stop(proc)
