"""Caddy (Debian's ``caddy`` 2.6, whose ACME client is certmagic/acmez) against
``certdesk serve`` over https (R17, issue 13), one more client beside those of
test_other_clients.py, with the same served certdesk (a module fixture of its own here).

A real ``caddy run`` from a Caddyfile written to tmp: ``acme_ca`` is certdesk's directory,
``acme_ca_root`` the CA of certdesk's https certificate, ``acme_eab`` a key of organization
alpha; Caddy's http port is the one the VA's http-01 connects to and its https port the one
the VA's tls-alpn-01 connects to, and each site disables the other challenge, so each path is
really used (``skip_install_trust``: as root, Caddy would otherwise add its own local CA to
the system's trust store when anything needs it):

1. first start, one site by http-01: Caddy registers with the EAB key and obtains it;
2. second start on the same storage (the account and the first certificate are reused), one
   more site by tls-alpn-01 and one outside the organization's grant, which certdesk refuses
   as ``rejectedIdentifier``.

Every certificate is looked up in the inventory (organization alpha, active, its name) and
then fetched from Caddy's TLS port by SNI: Caddy serves what certdesk issued.

The first start has one site only: certmagic obtains each name in a goroutine of its own, and
at a first start each of them registers an account of its own with the same EAB key. certdesk
binds a key to one account (R17), so all but one are refused ``unauthorized`` and Caddy
retries them a minute later with the account the winner stored (docs/acme.md).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from test_other_clients import Served, client_env, served

from world.processes import run_cli, stop, wait_until

__all__ = ["served"]  # the module fixture, shared with test_other_clients.py

pytestmark = pytest.mark.slow

CADDY = shutil.which("caddy")
REJECTED = "urn:ietf:params:acme:error:rejectedIdentifier"

GLOBAL = """{{
	admin off
	skip_install_trust
	http_port {http_port}
	https_port {tls_port}
	default_bind 127.0.0.1
	servers {{
		protocols h1 h2
	}}
	storage file_system {storage}
	email ops@alpha.ca.gov
	acme_ca {directory}
	acme_ca_root {ca_file}
	acme_eab {{
		key_id {kid}
		mac_key {hmac_key}
	}}
	ocsp_stapling off
	log {{
		output file {log}
		format json
		level DEBUG
	}}
}}
"""

# One site per name; ``disable`` is the challenge it must not use.
SITE = """{name} {{
	tls {{
		issuer acme {{
			disable_{disable}_challenge
		}}
	}}
	respond "{name}"
}}
"""


class Caddy:
    """A Caddy of this test: its storage, log, and the certificates it obtained."""

    def __init__(self, served: Served, tmp: Path, eab: dict[str, Any]) -> None:
        self.served = served
        self.tmp = tmp
        self.storage = tmp / "storage"
        self.eab = eab

    def crt(self, name: str) -> Path | None:
        found = sorted(self.storage.glob(f"certificates/*/{name}/{name}.crt"))
        return found[0] if found else None

    def obtained(self, name: str, timeout: float = 60) -> Path:
        wait_until(lambda: self.crt(name) is not None, timeout=timeout, what=f"caddy: {name}")
        crt = self.crt(name)
        assert crt is not None
        return crt

    @contextlib.contextmanager
    def running(self, run: str, sites: dict[str, str]) -> Iterator[Path]:
        """``caddy run`` serving ``sites`` (name: the challenge to disable); yields its log."""
        log = self.tmp / f"caddy-{run}.log"
        text = GLOBAL.format(
            http_port=self.served.http_port,
            tls_port=self.served.tls_port,
            storage=self.storage,
            directory=self.served.directory,
            ca_file=self.served.ca_file,
            kid=self.eab["kid"],
            hmac_key=self.eab["hmac_key"],
            log=log,
        ) + "".join(SITE.format(name=n, disable=d) for n, d in sites.items())
        config = self.tmp / f"Caddyfile-{run}"
        config.write_text(text)
        home = self.tmp / "home"
        env = client_env(
            self.served,
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_DATA_HOME=str(home / "data"),
        )
        out = self.tmp / f"caddy-{run}.out"
        assert CADDY is not None
        with open(out, "wb") as sink:
            proc = subprocess.Popen(
                [CADDY, "run", "--config", str(config), "--adapter", "caddyfile"],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stop() ends its process group
            )
        try:
            wait_until(lambda: log.exists(), timeout=30, what="caddy's log", alive=[(proc, out)])
            yield log
        finally:
            stop(proc)


def caddy_log(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def solved_by(log: Path, name: str) -> set[str]:
    """The challenge types Caddy answered for ``name`` (its own log lines)."""
    return {
        line["challenge"]
        for line in caddy_log(log)
        if line.get("msg", "").startswith("served key authentication")
        and name in (line.get("identifier"), line.get("server_name"))
    }


def served_serial(port: int, name: str) -> int:
    """The serial of the certificate Caddy presents on 127.0.0.1:``port`` for SNI ``name``."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the serial is compared, the chain is certdesk's
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def serial_of(crt: Path) -> int:
    return x509.load_pem_x509_certificate(crt.read_bytes()).serial_number


def in_inventory(served: Served, crt: Path, name: str) -> None:
    shown = served.cert(crt)
    assert shown["organization"] == "alpha" and shown["status"] == "active", shown
    assert shown["names"] == [name] and shown["requested_by"].startswith("acme:account:")


@pytest.mark.skipif(CADDY is None, reason="caddy is a Debian package of `make system-deps`")
def test_r17_caddy_obtains_by_http01_and_tls_alpn01_and_is_refused_outside_the_grant(
    served: Served, tmp_path: Path
) -> None:
    eab = served.eab()
    caddy = Caddy(served, tmp_path, eab)

    http01 = "caddy.alpha.ca.gov"
    with caddy.running("first", {http01: "tlsalpn"}) as log:
        crt = caddy.obtained(http01)
        in_inventory(served, crt, http01)
        assert solved_by(log, http01) == {"http-01"}
        assert served_serial(served.tls_port, http01) == serial_of(crt)

    accounts = run_cli(["acme", "account", "list", "--org", "alpha"], served.env)
    mine = [a for a in accounts if a["eab_kid"] == eab["kid"]]
    assert len(mine) == 1 and mine[0]["status"] == "valid"

    alpn, outside = "caddy-alpn.alpha.ca.gov", "caddy.beta.ca.gov"
    with caddy.running("second", {http01: "tlsalpn", alpn: "http", outside: "http"}) as log:
        crt = caddy.obtained(alpn)
        in_inventory(served, crt, alpn)
        assert solved_by(log, alpn) == {"tls-alpn-01"}
        assert served_serial(served.tls_port, alpn) == serial_of(crt)
        # The first certificate came back from storage, no second order for it.
        assert served_serial(served.tls_port, http01) == serial_of(caddy.obtained(http01))
        assert solved_by(log, http01) == set()

        def refused() -> list[str]:
            return [
                line["error"]
                for line in caddy_log(log)
                if line.get("msg") == "could not get certificate from issuer"
                and line.get("identifier") == outside
            ]

        wait_until(lambda: bool(refused()), timeout=60, what=f"caddy: {outside} refused")
        assert REJECTED in refused()[0] and outside in refused()[0]
        time.sleep(0.5)  # nothing arrives late
        assert caddy.crt(outside) is None
    listed = run_cli(["cert", "list", "--search", "caddy.beta"], served.env)
    assert listed["items"] == []
    # The second start reused the account: still one for the key.
    accounts = run_cli(["acme", "account", "list", "--org", "alpha"], served.env)
    assert [a["eab_kid"] for a in accounts].count(eab["kid"]) == 1
