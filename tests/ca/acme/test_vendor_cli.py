"""``certdesk issuer …``, ``org set --issuer`` and ``cert issue`` through a vendor (R16),
against pebble with EAB required, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from vendor_world import (
    EAB_HMAC,
    EAB_KID,
    FAST_BACKOFF,
    PEBBLE_LINT_TOLERATED,
    Pebble,
    running_pebble,
    unique_names,
)

from certdesk.services.pki.vendor_backends import Tuning
from world.cli import Cli, operator_cli
from world.csr import make_csr

pytestmark = pytest.mark.timeout(180)
FAST = Tuning(
    wait=timedelta(seconds=30), poll_interval=timedelta(milliseconds=50), backoff=FAST_BACKOFF
)


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with running_pebble(tmp_path_factory.mktemp("pebble"), always_valid=True) as server:
        yield server


@pytest.fixture
def cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pebble: Pebble,
) -> Iterator[Cli]:
    monkeypatch.delenv("ACME_EAB_HMAC_KEY", raising=False)
    with operator_cli(
        capsys, tmp_path, monkeypatch,
        data_dir=tmp_path / "var", database_url=database_url, ca_passphrase="vendor-cli-pass",
    ) as cli:  # fmt: skip
        cli.ok("init")
        cli.ok("org", "create", "dmv", "--name", "Motor Vehicles", "--grant", "zone:dmv.ca.gov")
        cli.services.vendor_backends.tune(FAST)
        cli.write("pebble-https.pem", Path(str(pebble.ca_bundle)).read_text())
        cli.write(
            "pebble-roots.pem",
            b"".join(c.public_bytes(serialization.Encoding.PEM) for c in pebble.roots()),
        )
        cli.write("eab.key", EAB_HMAC + "\n")
        yield cli


def _add(cli: Cli, pebble: Pebble, name: str, *extra: str) -> list[str]:
    return [
        "issuer", "add", name,
        "--acme-directory", pebble.endpoint.directory_url,
        "--eab-kid", EAB_KID,
        "--ca-bundle", "pebble-https.pem",
        "--trust-anchors", "pebble-roots.pem",
        "--solver", "http-01",
        *(f"--lint-tolerate={code}" for code in sorted(PEBBLE_LINT_TOLERATED)),
        *extra,
    ]  # fmt: skip


def test_issuer_add_list_show_disable(cli: Cli, pebble: Pebble) -> None:
    shown = cli.json(*_add(cli, pebble, "vendor", "--eab-hmac-key-file", "eab.key"))
    assert shown["name"] == "vendor" and shown["active"] is True
    assert shown["account_url"].startswith(f"https://127.0.0.1:{pebble.port}/")
    listed = cli.ok("issuer", "list").out
    assert listed.startswith("vendor\tacme\tactive\thttp-01\t")
    assert cli.json("issuer", "show", "vendor")["eab_kid"] == EAB_KID
    assert cli.json("issuer", "disable", "vendor")["active"] is False
    everything = cli.ok("issuer", "show", "vendor").out + listed
    assert EAB_HMAC not in everything


def test_the_hmac_key_from_the_environment(
    cli: Cli, pebble: Pebble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_EAB_HMAC_KEY", EAB_HMAC)
    assert cli.json(*_add(cli, pebble, "fromenv"))["name"] == "fromenv"


@pytest.mark.parametrize(
    ("extra", "code", "says"),
    [
        pytest.param(("--eab-hmac-key", EAB_HMAC[::-1]), 1, "refused", id="R17/wrong-eab-key"),
        pytest.param((), 1, "EAB HMAC key is missing", id="usage/no-hmac-key"),
        pytest.param(
            ("--eab-hmac-key", EAB_HMAC, "--eab-hmac-key-file", "eab.key"),
            1,
            "once",
            id="usage/two-hmac-keys",
        ),
        pytest.param(
            ("--eab-hmac-key-file", "eab.key", "--solver", "tls-alpn-01"),
            1,
            "--solver",
            id="usage/unknown-solver",
        ),
        pytest.param(
            ("--eab-hmac-key-file", "eab.key", "--solver", "dns-01"),
            1,
            "TSIG secret is missing",
            id="usage/dns01-without-secret",
        ),
        pytest.param(
            ("--eab-hmac-key-file", "nosuch.key"), 1, "cannot read", id="usage/no-key-file"
        ),
    ],
)
def test_issuer_add_mistakes_change_nothing(
    cli: Cli, pebble: Pebble, extra: tuple[str, ...], code: int, says: str
) -> None:
    err = cli.fails(*_add(cli, pebble, "bad", *extra), code=code)
    assert says in err, err
    assert EAB_HMAC not in err and EAB_HMAC[::-1] not in err
    assert cli.json("issuer", "list") == []


def test_org_set_issuer_then_cert_issue_through_the_vendor(cli: Cli, pebble: Pebble) -> None:
    cli.ok(*_add(cli, pebble, "vendor", "--eab-hmac-key-file", "eab.key"))
    assert cli.json("org", "set", "dmv", "--issuer", "vendor")["issuer"] == "vendor"
    names = unique_names("www")
    csr = cli.write("www.csr", make_csr(list(names)))
    serial = cli.ok("cert", "issue", "--org", "dmv", "--csr", csr, "--out", "www.pem").out.strip()
    assert (cli.tmp / "www.pem").read_text().count("BEGIN CERTIFICATE") >= 2  # leaf + chain
    shown = cli.json("cert", "show", serial)
    assert shown["issuer"] == "vendor" and shown["status"] == "active"
    line = cli.ok("cert", "list", "--org", "dmv").out.splitlines()[0]
    assert line.split("\t")[0] == serial and line.split("\t")[-1] == "vendor"
    chain = cli.ok("cert", "export", serial, "--format", "chain").out
    assert chain.count("BEGIN CERTIFICATE") >= 2

    # --no-wait prints the order; the worker completes it.
    csr = cli.write("later.csr", make_csr(list(unique_names("later"))))
    ordered = cli.json("cert", "issue", "--org", "dmv", "--csr", csr, "--no-wait")
    assert ordered["state"] == "ordering" and ordered["issuer"] == "vendor"
    cli.ok("worker", "--once")
    done = cli.json("issuer", "order", str(ordered["order"]))
    assert done["state"] == "issued" and done["serial"]
    assert cli.json("cert", "show", done["serial"])["issuer"] == "vendor"

    # Back to the built-in CA.
    assert cli.json("org", "set", "dmv", "--issuer", "builtin")["issuer"] == "builtin"
    csr = cli.write("own.csr", make_csr(["own.dmv.ca.gov"]))
    own = cli.json("cert", "issue", "--org", "dmv", "--csr", csr)
    assert own["issuer"] == "builtin"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        pytest.param(("issuer", "show", "nosuch"), 3, id="not-found/issuer"),
        pytest.param(("issuer", "disable", "nosuch"), 3, id="not-found/disable"),
        pytest.param(("org", "set", "dmv", "--issuer", "nosuch"), 3, id="not-found/org-issuer"),
        pytest.param(("issuer", "order", "999"), 3, id="not-found/order"),
        pytest.param(("org", "set", "dmv"), 1, id="usage/org-set-nothing"),
    ],
)
def test_issuer_mistakes(cli: Cli, args: tuple[str, ...], code: int) -> None:
    cli.fails(*args, code=code)


def test_org_grant_issuer_pins_a_grant_and_issuer_rollover(cli: Cli, pebble: Pebble) -> None:
    cli.ok(*_add(cli, pebble, "vendor", "--eab-hmac-key-file", "eab.key"))
    pinned = cli.json("org", "grant-issuer", "dmv", "zone:dmv.ca.gov", "--issuer", "vendor")
    assert pinned["grant_issuers"] == {"zone:dmv.ca.gov": "vendor"}
    assert pinned["issuer"] == "builtin"
    assert "zone:dmv.ca.gov by vendor" in cli.ok("org", "show", "dmv").out
    csr = cli.write("g.csr", make_csr(list(unique_names("g"))))
    serial = cli.ok("cert", "issue", "--org", "dmv", "--csr", csr, "--out", "g.pem").out.strip()
    assert cli.json("cert", "show", serial)["issuer"] == "vendor"
    # Unknown issuer, unknown grant: refused, nothing changes.
    cli.fails("org", "grant-issuer", "dmv", "zone:dmv.ca.gov", "--issuer", "nosuch", code=3)
    cli.fails("org", "grant-issuer", "dmv", "zone:other.ca.gov", "--issuer", "builtin", code=3)
    back = cli.json("org", "grant-issuer", "dmv", "zone:dmv.ca.gov", "--issuer", "organization")
    assert back["grant_issuers"] == {}

    # The account key is replaced; the next order works with the new key.
    before = cli.json("issuer", "show", "vendor")
    after = cli.json("issuer", "rollover", "vendor")
    assert after["account_url"] == before["account_url"]
    cli.ok("org", "set", "dmv", "--issuer", "vendor")
    csr = cli.write("r.csr", make_csr(list(unique_names("r"))))
    serial = cli.ok("cert", "issue", "--org", "dmv", "--csr", csr, "--out", "r.pem").out.strip()
    assert cli.json("cert", "show", serial)["issuer"] == "vendor"
    cli.fails("issuer", "rollover", "nosuch", code=3)
