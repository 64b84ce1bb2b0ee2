"""certbot from PyPI against ``certdesk serve`` over https on loopback (R17, issue 13): an
EAB key from ``certdesk acme eab create``, http-01 answered by ``certbot --standalone`` on a
loopback port that ``CERTDESK_ACME_VA_HTTP_PORT`` points the VA at, a SAN certificate issued
and in the inventory under the organization; ``certbot renew`` asking renewalInfo (RFC 9773):
nothing is due until ``certdesk acme renew-early`` marks the organization, then it renews; then
``certbot revoke``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from integration.test_serve_tls import write_server_files
from world.desk import settings_for
from world.processes import (
    VENV_BIN,
    accepting,
    certdesk_env,
    free_port,
    run_cli,
    spawn_serve,
    stop,
    wait_until,
)

pytestmark = pytest.mark.slow

CERTBOT = VENV_BIN / "certbot"


def certbot(args: list[str], env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    dirs = ["--config-dir", str(home / "etc"), "--work-dir", str(home / "work")]
    dirs += ["--logs-dir", str(home / "logs")]
    done = subprocess.run(
        [str(CERTBOT), *args, *dirs, "--non-interactive"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_r17_certbot_issues_a_san_certificate_and_revokes_it(tmp_path: Path) -> None:
    assert CERTBOT.exists(), "certbot is a test dependency (pyproject.toml, extra 'test')"
    ca = trustme.CA()
    cert, key = write_server_files(ca, tmp_path)
    ca_file = tmp_path / "tls-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    port, http_port = free_port(), free_port()
    server = f"https://127.0.0.1:{port}/acme/directory"
    settings = settings_for(
        f"sqlite:///{tmp_path / 'certdesk.db'}", tmp_path, base_url=f"https://127.0.0.1:{port}"
    )
    env = certdesk_env(settings)
    run_cli(["init"], env)
    run_cli(
        [
            *("org", "create", "alpha", "--name", "Alpha"),
            *("--self-managed", "--grant", "zone:alpha.ca.gov"),
        ],
        env,
    )
    eab = run_cli(["acme", "eab", "create", "--org", "alpha", "--expires", "1"], env)
    env |= {
        "CERTDESK_TLS_CERT_FILE": str(cert),
        "CERTDESK_TLS_KEY_FILE": str(key),
        "CERTDESK_ACME_VA_ADDRESS": "127.0.0.1",
        "CERTDESK_ACME_VA_HTTP_PORT": str(http_port),
    }
    log = tmp_path / "serve.log"
    proc = spawn_serve(["--port", str(port)], env, log)
    try:
        wait_until(lambda: accepting(port), timeout=60, what="serve", alive=[(proc, log)])
        # The environment here sets REQUESTS_CA_BUNDLE: overwrite it (FIELD-NOTES).
        client_env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
        client_env |= {"REQUESTS_CA_BUNDLE": str(ca_file), "CURL_CA_BUNDLE": str(ca_file)}
        certbot(
            [
                *("certonly", "--server", server, "--eab-kid", eab["kid"]),
                *("--eab-hmac-key", eab["hmac_key"], "--agree-tos", "-m", "ops@alpha.ca.gov"),
                *("--no-eff-email", "--standalone", "--http-01-address", "127.0.0.1"),
                *("--http-01-port", str(http_port), "--key-type", "ecdsa"),
                *("-d", "www.alpha.ca.gov", "-d", "api.alpha.ca.gov"),
            ],
            client_env,
            tmp_path,
        )
        pem = tmp_path / "etc" / "live" / "www.alpha.ca.gov" / "cert.pem"
        leaf = x509.load_pem_x509_certificate(pem.read_bytes())
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sorted(sans.get_values_for_type(x509.DNSName)) == [
            "api.alpha.ca.gov",
            "www.alpha.ca.gov",
        ]
        serial = format(leaf.serial_number, "x")
        shown = run_cli(["cert", "show", serial], env)
        assert shown["organization"] == "alpha" and shown["status"] == "active"
        accounts = run_cli(["acme", "account", "list", "--org", "alpha"], env)
        assert [a["eab_kid"] for a in accounts] == [eab["kid"]]

        # RFC 9773: `certbot renew` asks renewalInfo; a fresh certificate's window is months
        # away, so nothing is renewed …
        conf = tmp_path / "etc" / "renewal" / "www.alpha.ca.gov.conf"
        quiet = certbot(["renew"], client_env, tmp_path)
        assert "No renewals were attempted" in quiet.stdout + quiet.stderr
        assert "ari_retry_after" in conf.read_text()  # it asked, and keeps our Retry-After
        # … until cert services ask for early renewal: the window is now, and renew renews.
        marked = run_cli(["acme", "renew-early", "--org", "alpha"], env)
        assert marked["marked"] == 1
        # certbot waits for Retry-After (six hours) before asking again: as if they passed.
        conf.write_text(
            "\n".join(x for x in conf.read_text().splitlines() if "ari_retry_after" not in x)
        )
        certbot(["renew", "--no-random-sleep-on-renew"], client_env, tmp_path)
        renewed = x509.load_pem_x509_certificate(pem.read_bytes())
        assert renewed.serial_number != leaf.serial_number
        new_serial = format(renewed.serial_number, "x")
        assert run_cli(["cert", "show", new_serial], env)["organization"] == "alpha"
        leaf, serial = renewed, new_serial

        certbot(
            [
                *("revoke", "--server", server, "--cert-path", str(pem)),
                *("--reason", "superseded", "--no-delete-after-revoke"),
            ],
            client_env,
            tmp_path,
        )
        assert run_cli(["cert", "show", serial], env)["status"] == "revoked"
    finally:
        stop(proc)
