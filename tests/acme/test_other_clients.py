"""Three more ACME clients than certbot against ``certdesk serve`` over https (R17, issue 13):
Debian's ``lego`` (Go, its own ACME library), ``dehydrated`` (bash and curl) and ``uacme`` (C),
each with an EAB key of its own, http-01 on the loopback port the VA is pointed at.

* lego: a SAN certificate on an EC key, one by tls-alpn-01, one on an RSA key, a renewal, a
  revocation with a reason, and a name outside the organization's grant refused as
  ``rejectedIdentifier``.
* dehydrated: registration with EAB, a SAN certificate from a webroot, revocation, account
  deactivation, after which the account can order nothing.
* uacme: keyChange, then an order under the new key; revocation signed by the certificate's
  own key and by the account key; deactivation.

Every certificate is then looked up in the inventory: the organization of the account's EAB
key, the status and revocation reason the client asked for.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509

from integration.test_serve_tls import write_server_files
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

LEGO = shutil.which("lego")
DEHYDRATED = shutil.which("dehydrated")


@dataclass
class Served:
    directory: str
    ca_file: Path
    http_port: int
    tls_port: int
    env: dict[str, str]  # the certdesk CLI's

    def eab(self) -> dict[str, Any]:
        made: dict[str, Any] = run_cli(
            ["acme", "eab", "create", "--org", "alpha", "--expires", "1"], self.env
        )
        return made

    def cert(self, pem: Path) -> dict[str, Any]:
        leaf = x509.load_pem_x509_certificate(pem.read_bytes())
        shown: dict[str, Any] = run_cli(["cert", "show", format(leaf.serial_number, "x")], self.env)
        return shown


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("clients")
    ca = trustme.CA()
    cert, key = write_server_files(ca, tmp)
    ca_file = tmp / "tls-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    port, http_port, tls_port = free_port(), free_port(), free_port()
    settings = settings_for(
        f"sqlite:///{tmp / 'certdesk.db'}", tmp, base_url=f"https://127.0.0.1:{port}"
    )
    env = certdesk_env(settings)
    run_cli(["init"], env)
    run_cli(
        [
            "org",
            "create",
            "alpha",
            "--name",
            "Alpha",
            "--self-managed",
            "--grant",
            "zone:alpha.ca.gov",
        ],
        env,
    )
    serve_env = env | {
        "CERTDESK_TLS_CERT_FILE": str(cert),
        "CERTDESK_TLS_KEY_FILE": str(key),
        "CERTDESK_ACME_VA_ADDRESS": "127.0.0.1",
        "CERTDESK_ACME_VA_HTTP_PORT": str(http_port),
        "CERTDESK_ACME_VA_TLS_PORT": str(tls_port),
    }
    log = tmp / "serve.log"
    proc = spawn_serve(["--port", str(port), "--workers", "1"], serve_env, log)
    try:
        wait_until(lambda: accepting(port), timeout=60, what="serve", alive=[(proc, log)])
        yield Served(f"https://127.0.0.1:{port}/acme/directory", ca_file, http_port, tls_port, env)
    finally:
        stop(proc)


def client_env(served: Served, **more: str) -> dict[str, str]:
    # The environment here sets REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE: overwrite (FIELD-NOTES).
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
    return env | {"CURL_CA_BUNDLE": str(served.ca_file), **more}


def run(args: list[str], env: dict[str, str], *, ok: bool = True) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180, check=False)
    said = done.stdout + done.stderr
    assert (done.returncode == 0) is ok, said[-3000:]
    return said


# --------------------------------------------------------------------------- lego


@pytest.mark.skipif(LEGO is None, reason="lego is a Debian package of `make system-deps`")
def test_r17_lego_issues_renews_and_revokes(served: Served, tmp_path: Path) -> None:
    assert LEGO is not None
    eab = served.eab()
    env = client_env(served, LEGO_CA_CERTIFICATES=str(served.ca_file))
    lego = [
        *(LEGO, "--path", str(tmp_path), "--server", served.directory, "--accept-tos"),
        *("--email", "ops@alpha.ca.gov", "--eab", "--kid", eab["kid"], "--hmac", eab["hmac_key"]),
        *("--http", "--http.port", f"127.0.0.1:{served.http_port}"),
    ]
    certs = tmp_path / "certificates"

    run(
        [*lego, "--key-type", "ec256", "-d", "www.alpha.ca.gov", "-d", "api.alpha.ca.gov", "run"],
        env,
    )
    first = served.cert(certs / "www.alpha.ca.gov.crt")
    assert first["organization"] == "alpha" and first["status"] == "active"
    assert sorted(first["names"]) == ["api.alpha.ca.gov", "www.alpha.ca.gov"]
    assert first["key_type"] == "ec256"

    # tls-alpn-01 (RFC 8737) answered by lego itself on the port the VA connects to.
    tls = [*lego[: lego.index("--http")], "--tls", "--tls.port", f"127.0.0.1:{served.tls_port}"]
    run([*tls, "--key-type", "ec384", "-d", "alpn.alpha.ca.gov", "run"], env)
    assert served.cert(certs / "alpn.alpha.ca.gov.crt")["key_type"] == "ec384"

    run([*lego, "--key-type", "rsa2048", "-d", "rsa.alpha.ca.gov", "run"], env)
    assert served.cert(certs / "rsa.alpha.ca.gov.crt")["key_type"] == "rsa2048"

    # A renewal is a new order for the same names: a new certificate, the old one kept.
    run(
        [*lego, "--key-type", "ec256", "-d", "www.alpha.ca.gov", "-d", "api.alpha.ca.gov",
         "renew", "--days", "400", "--no-random-sleep"],
        env,
    )  # fmt: skip
    renewed = served.cert(certs / "www.alpha.ca.gov.crt")
    assert renewed["serial"] != first["serial"] and renewed["status"] == "active"
    assert run_cli(["cert", "show", first["serial"]], served.env)["status"] == "active"

    run([*lego, "-d", "rsa.alpha.ca.gov", "revoke", "--reason", "1", "--keep"], env)
    revoked = served.cert(certs / "rsa.alpha.ca.gov.crt")
    assert revoked["status"] == "revoked" and revoked["revocation_reason"] == "keyCompromise"

    refused = run([*lego, "-d", "www.beta.ca.gov", "run"], env, ok=False)
    assert "urn:ietf:params:acme:error:rejectedIdentifier" in refused
    assert "www.beta.ca.gov" in refused


# --------------------------------------------------------------------------- dehydrated


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webroot(served: Served, tmp_path: Path) -> Iterator[Path]:
    """``/.well-known/acme-challenge/`` served from a directory on the VA's http port."""
    root = tmp_path / "webroot"
    (root / ".well-known" / "acme-challenge").mkdir(parents=True)
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", served.http_port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root / ".well-known" / "acme-challenge"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(
    DEHYDRATED is None, reason="dehydrated is a Debian package of `make system-deps`"
)
def test_r17_dehydrated_registers_issues_revokes_and_deactivates(
    served: Served, tmp_path: Path, webroot: Path
) -> None:
    assert DEHYDRATED is not None
    eab = served.eab()
    config = tmp_path / "config"
    config.write_text(
        "\n".join(
            [
                f'CA="{served.directory}"',
                'CHALLENGETYPE="http-01"',
                f'WELLKNOWN="{webroot}"',
                f'BASEDIR="{tmp_path}"',
                f'EAB_KID="{eab["kid"]}"',
                f'EAB_HMAC_KEY="{eab["hmac_key"]}"',
                'CONTACT_EMAIL="ops@alpha.ca.gov"',
                "KEY_ALGO=secp384r1",
                "",
            ]
        )
    )
    (tmp_path / "domains.txt").write_text("dh.alpha.ca.gov www2.alpha.ca.gov\n")
    env = client_env(served)
    dehydrated = [DEHYDRATED, "--config", str(config)]

    run([*dehydrated, "--register", "--accept-terms"], env)
    run([*dehydrated, "--cron"], env)
    pem = tmp_path / "certs" / "dh.alpha.ca.gov" / "cert.pem"
    shown = served.cert(pem)
    assert shown["organization"] == "alpha" and shown["status"] == "active"
    assert sorted(shown["names"]) == ["dh.alpha.ca.gov", "www2.alpha.ca.gov"]
    assert shown["key_type"] == "ec384"

    run([*dehydrated, "--revoke", str(pem.resolve())], env)
    assert run_cli(["cert", "show", shown["serial"]], served.env)["status"] == "revoked"

    run([*dehydrated, "--deactivate"], env)
    after = run([*dehydrated, "--cron", "--force"], env, ok=False)
    assert "deactivated" in after.lower()


# --------------------------------------------------------------------------- uacme

UACME = shutil.which("uacme")
HOOK = """#!/bin/sh
# uacme's hook: METHOD TYPE IDENT TOKEN AUTH; only http-01, into the webroot.
[ "$2" = "http-01" ] || exit 1
case "$1" in
  begin) printf '%s' "$5" > "{root}/$4" ;;
  done|failed) rm -f "{root}/$4" ;;
esac
"""


def _private_mounts() -> bool:
    """uacme trusts only the system store (libcurl): it runs in a mount namespace of its own
    with a bundle bind-mounted over that store (FIELD-NOTES), which needs root."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    done = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    return done.returncode == 0


@pytest.mark.skipif(UACME is None, reason="uacme is a Debian package of `make system-deps`")
@pytest.mark.skipif(not _private_mounts(), reason="uacme's CA trust needs `unshare -m` as root")
def test_r17_uacme_rolls_its_key_over_and_revokes_by_certificate_key(
    served: Served, tmp_path: Path, webroot: Path
) -> None:
    """uacme: EAB registration, a SAN certificate, keyChange (``newkey``), an order under the
    new key, revocation signed by the certificate's own key (keyCompromise) and by the account
    key (superseded), then deactivation."""
    assert UACME is not None
    eab = served.eab()
    bundle = tmp_path / "bundle.pem"
    system = Path("/etc/ssl/certs/ca-certificates.crt")
    bundle.write_bytes(system.read_bytes() + served.ca_file.read_bytes())
    hook = tmp_path / "hook.sh"
    hook.write_text(HOOK.replace("{root}", str(webroot)))
    hook.chmod(0o755)
    conf = tmp_path / "conf"
    uacme = f"{UACME} -v -y -a {served.directory} -c {conf} -h {hook}"

    def run_uacme(*args: str) -> str:
        inner = f"mount --bind {bundle} {system} && {uacme} {' '.join(args)}"
        return run(["unshare", "-m", "sh", "-c", inner], client_env(served))

    run_uacme("-e", f"{eab['kid']}:{eab['hmac_key']}", "new", "ops@alpha.ca.gov")
    run_uacme("-t", "EC", "issue", "ua.alpha.ca.gov", "ua2.alpha.ca.gov")
    pem = conf / "ua.alpha.ca.gov" / "cert.pem"
    first = served.cert(pem)
    assert first["organization"] == "alpha" and first["status"] == "active"
    assert sorted(first["names"]) == ["ua.alpha.ca.gov", "ua2.alpha.ca.gov"]

    said = run_uacme("newkey")
    assert "account key changed" in said
    run_uacme("-f", "-t", "EC", "issue", "ua.alpha.ca.gov", "ua2.alpha.ca.gov")
    second = served.cert(pem)
    assert second["serial"] != first["serial"] and second["status"] == "active"
    accounts = run_cli(["acme", "account", "list", "--org", "alpha"], served.env)
    assert eab["kid"] in [a["eab_kid"] for a in accounts]  # one account, its key rolled over

    key = conf / "private" / "ua.alpha.ca.gov" / "key.pem"
    run_uacme("-r", "1", "revoke", str(pem), str(key))  # signed by the certificate's key
    shown = run_cli(["cert", "show", second["serial"]], served.env)
    assert shown["status"] == "revoked" and shown["revocation_reason"] == "keyCompromise"
    older = next(p for p in (conf / "ua.alpha.ca.gov").glob("cert-*.pem"))
    run_uacme("-r", "4", "revoke", str(older))  # signed by the account key
    shown = run_cli(["cert", "show", first["serial"]], served.env)
    assert shown["status"] == "revoked" and shown["revocation_reason"] == "superseded"

    run_uacme("deactivate")
    accounts = run_cli(["acme", "account", "list", "--org", "alpha"], served.env)
    mine = [a for a in accounts if a["eab_kid"] == eab["kid"]]
    assert len(mine) == 1 and mine[0]["status"] == "deactivated"
