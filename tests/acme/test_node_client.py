"""acme-client (npm ``acme-client`` 5.x, the Node.js ACME library of publishlab) against
``certdesk serve`` over https (R17, issue 13), one more client beside those of
test_other_clients.py, with the same served certdesk (a module fixture of its own here).

tests/acme/node_client.mjs, run with ``node`` and NODE_EXTRA_CA_CERTS set to the CA of
certdesk's https certificate: an account with an EAB key of organization alpha, ``auto()`` for
a SAN certificate on an EC key by http-01 (a node http server on the port the VA connects to),
revocation as superseded, keyChange and a contact update under the new key, an order outside
the grant, which acme-client throws on, and deactivation.

acme-client is a devDependency in package.json, installed by ``make assets``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from test_other_clients import Served, client_env, served

from world.processes import run_cli

__all__ = ["served"]  # the module fixture, shared with test_other_clients.py

pytestmark = pytest.mark.slow

NODE = shutil.which("node")
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("node_client.mjs")
REJECTED = "urn:ietf:params:acme:error:rejectedIdentifier"


@pytest.mark.skipif(NODE is None, reason="node is needed for `make assets`")
def test_r17_node_acme_client_issues_revokes_and_is_refused_outside_the_grant(
    served: Served, tmp_path: Path
) -> None:
    assert NODE is not None
    package = ROOT / "node_modules" / "acme-client" / "package.json"
    assert package.exists(), f"{package} is missing: run `make assets` (npm install)"
    assert json.loads(package.read_text())["version"].startswith("5.")

    eab = served.eab()
    names = ["node.alpha.ca.gov", "node-api.alpha.ca.gov"]
    outside = "node.beta.ca.gov"
    pem, result = tmp_path / "cert.pem", tmp_path / "result.json"
    job = tmp_path / "job.json"
    job.write_text(
        json.dumps(
            {
                "directory": served.directory,
                "kid": eab["kid"],
                "hmacKey": eab["hmac_key"],
                "httpPort": served.http_port,
                "email": "ops@alpha.ca.gov",
                "newEmail": "web@alpha.ca.gov",
                "names": names,
                "outside": outside,
                "certOut": str(pem),
                "resultOut": str(result),
            }
        )
    )
    env = client_env(served, NODE_EXTRA_CA_CERTS=str(served.ca_file))
    done = subprocess.run(
        [NODE, str(SCRIPT), str(job)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]

    shown = served.cert(pem)
    assert shown["organization"] == "alpha", shown
    assert sorted(shown["names"]) == sorted(names)
    assert shown["key_type"] == "ec256"
    assert shown["requested_by"].startswith("acme:account:")
    assert shown["status"] == "revoked" and shown["revocation_reason"] == "superseded"

    said = json.loads(result.read_text())
    assert said["revoked"] is True
    assert said["contact"] == ["mailto:web@alpha.ca.gov"]  # signed by the rolled-over key
    assert said["status"] == "deactivated"
    refused = said["refused"]
    assert refused is not None, "acme-client ordered a name outside the grant"
    # acme-client's Error carries the problem's detail only; node_client.mjs kept its type.
    assert refused["type"] == REJECTED, refused
    assert outside in refused["message"], refused

    listed = run_cli(["cert", "list", "--search", "node.beta"], served.env)
    assert listed["items"] == []
    accounts = run_cli(["acme", "account", "list", "--org", "alpha"], served.env)
    mine = [a for a in accounts if a["eab_kid"] == eab["kid"]]
    assert len(mine) == 1 and mine[0]["status"] == "deactivated", mine
