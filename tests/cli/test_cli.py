"""The ``certdesk`` command line, driven in-process through ``certdesk.cli.main.run``.

Configuration comes from the environment, as for an operator. The core flows run on SQLite
and PostgreSQL; formatting and error tables run on SQLite. One test runs the installed
console script in a subprocess, to prove the entry point.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command as alembic_command
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from sqlalchemy import func, select, text, update

import certdesk
import world.cli
from certdesk.cli import common
from certdesk.store.db import alembic_config
from certdesk.store.models import (
    ApiToken,
    CertificateRow,
    CrlRow,
    GrantRow,
    Issuer,
    Organization,
    WorkerBeat,
)
from certdesk.store.schema import head_revision
from world.cli import Result, close_cached_services, operator_cli

PASSPHRASE = "cli-test-passphrase"
SQLITE = pytest.mark.parametrize("backend", ["sqlite"])  # overrides the backend fixture
TOKEN = re.compile(r"cd_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
SERIAL = re.compile(r"[0-9a-f]{1,40}")


class Cli(world.cli.Cli):
    """The CLI driver, plus what these tests read and make through the CLI itself."""

    _files = 0

    def counts(self) -> Counter[str]:
        out: Counter[str] = Counter()
        with self.services.rt.reads() as s:
            for label, model in (
                ("orgs", Organization),
                ("grants", GrantRow),
                ("tokens", ApiToken),
                ("crls", CrlRow),
                ("issuers", Issuer),
            ):
                out[label] = s.scalar(select(func.count()).select_from(model)) or 0
            for status, n in s.execute(
                select(CertificateRow.status, func.count()).group_by(CertificateRow.status)
            ):
                out[f"certs.{status}"] = n
        return out

    def csr(self, *names: str, key: str = "ec256") -> Path:
        """A new key + CSR through ``certdesk csr new``; returns the CSR path."""
        self._files += 1
        stem = self.tmp / f"req{self._files}-{key}"
        args: list[str | Path] = ["csr", "new", "--key", key]
        for name in names:
            args += ["--name", name]
        self.ok(*args, "--out-key", f"{stem}.key", "--out-csr", f"{stem}.csr")
        return Path(f"{stem}.csr")

    def issue(self, org: str, *names: str, days: int | None = None) -> str:
        """Issue through ``certdesk cert issue``; the leaf + chain land in ``<serial>.pem``."""
        csr = self.csr(*names)
        extra = ["--days", str(days)] if days else []
        out = self.tmp / "issued.pem"
        serial = self.ok(
            "cert", "issue", "--org", org, "--csr", csr, "--out", out, *extra
        ).out.strip()  # fmt: skip
        assert SERIAL.fullmatch(serial)
        out.rename(self.tmp / f"{serial}.pem")
        return serial


@pytest.fixture
def cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Cli]:
    """An environment as an operator would set it; nothing initialized yet."""
    with operator_cli(
        capsys, tmp_path, monkeypatch, Cli,
        data_dir=tmp_path / "var", database_url=database_url, ca_passphrase=PASSPHRASE,
    ) as cli:  # fmt: skip
        yield cli


@pytest.fixture
def ready(cli: Cli) -> Cli:
    """Initialized, with the self-managed organization dmv holding zone:dmv.ca.gov."""
    cli.ok("init")
    cli.ok(
        "org",
        "create",
        "dmv",
        "--name",
        "Department of Motor Vehicles",
        "--self-managed",
        "--grant",
        "zone:dmv.ca.gov",
    )
    return cli


# --------------------------------------------------------------------------- init


def test_init_is_idempotent(cli: Cli) -> None:
    first = cli.ok("init")
    assert "root CA created: CN=certdesk Root CA" in first.out
    assert "issuing CA created: CN=certdesk TLS ECC Issuing CA" in first.out
    assert first.out.count("First operator API token") == 1
    (token,) = TOKEN.findall(first.out)
    assert cli.services.tokens.authenticate(token).role == "operator"
    after_first = cli.counts()
    assert after_first["issuers"] == 2
    assert after_first["tokens"] == 1

    second = cli.ok("init")
    assert "root CA present" in second.out
    assert "issuing CA present" in second.out
    assert TOKEN.search(second.out) is None
    assert "operator token: already created" in second.out
    assert cli.counts() == after_first

    report = cli.json("init")
    assert report["created_ca"] is False
    assert report["operator_token"] is None
    assert sorted(i["root"] for i in report["issuers"]) == [False, True]
    assert cli.counts() == after_first


# --------------------------------------------------------------------------- organizations


def test_org_commands(cli: Cli) -> None:
    cli.ok("init")
    created = cli.json(
        "org", "create", "dmv", "--name", "DMV", "--self-managed",
        "--grant", "zone:dmv.ca.gov", "--grant", "host:permits.ca.gov",
    )  # fmt: skip
    assert created == {
        "code": "dmv",
        "name": "DMV",
        "service": "self-managed",
        "grants": ["zone:dmv.ca.gov", "host:permits.ca.gov"],
        "issuer": "builtin",  # R16: the built-in CA until cert services choose a vendor
        "grant_issuers": {},
    }
    line = cli.ok("org", "create", "cdt", "--name", "Technology").out
    assert line == "cdt\tTechnology\tmanaged\t(no grants)\n"

    granted = cli.json("org", "grant", "cdt", "zone:apps.ca.gov")
    assert granted["grants"] == ["zone:apps.ca.gov"]
    removed = cli.json("org", "revoke-grant", "dmv", "host:permits.ca.gov")
    assert removed["grants"] == ["zone:dmv.ca.gov"]

    listed = cli.json("org", "list")
    assert [(o["code"], o["service"], o["grants"]) for o in listed] == [
        ("cdt", "managed", ["zone:apps.ca.gov"]),
        ("dmv", "self-managed", ["zone:dmv.ca.gov"]),
    ]
    assert cli.ok("org", "show", "dmv").out == "dmv\tDMV\tself-managed\tzone:dmv.ca.gov\n"
    assert cli.json("org", "show", "DMV")["code"] == "dmv"
    assert cli.ok("org", "list").out.splitlines() == [
        "cdt\tTechnology\tmanaged\tzone:apps.ca.gov",
        "dmv\tDMV\tself-managed\tzone:dmv.ca.gov",
    ]


def test_token_create(ready: Cli) -> None:
    made = ready.ok("token", "create", "--role", "delegated_admin", "--org", "dmv", "--label", "ci")
    assert TOKEN.fullmatch(made.out.strip())
    assert made.err == "(delegated_admin token for dmv; shown once — store it now)\n"
    actor = ready.services.tokens.authenticate(made.out.strip())
    assert actor.role == "delegated_admin"
    assert actor.org_id == ready.services.orgs.get(common.OPERATOR, "dmv").id

    as_json = ready.json("token", "create", "--role", "auditor")
    assert as_json["role"] == "auditor"
    assert as_json["org"] is None
    assert TOKEN.fullmatch(as_json["token"])
    assert as_json["token"].split("_")[1] == as_json["prefix"]


# --------------------------------------------------------------------------- policy


SUFFIXES = "ca.gov, california.gov, cahwnet.gov, state.ca.us"


@SQLITE
@pytest.mark.parametrize(
    ("args", "code", "lines"),
    [
        pytest.param(
            ["www.dmv.ca.gov", "*.apps.dmv.ca.gov", "--org", "dmv"],
            0,
            ["allow www.dmv.ca.gov (zone dmv.ca.gov)", "allow *.apps.dmv.ca.gov (zone dmv.ca.gov)"],
            id="org/all-allowed",
        ),
        pytest.param(
            ["www.dmv.ca.gov", "evil.com", "--org", "dmv"],
            1,
            [
                "allow www.dmv.ca.gov (zone dmv.ca.gov)",
                f"deny evil.com: R1: it is not under any configured suffix ({SUFFIXES})",
            ],
            id="org/one-outside-r1",
        ),
        pytest.param(
            ["www.other.ca.gov", "--org", "dmv"],
            1,
            [
                "deny www.other.ca.gov: R2: no grant of the organization covers it "
                "(grants: zone dmv.ca.gov)"
            ],
            id="org/not-granted",
        ),
        pytest.param(
            ["www.other.ca.gov", "WWW.DMV.CA.GOV"],
            0,
            ["allow www.other.ca.gov (suffix ca.gov)", "allow WWW.DMV.CA.GOV (suffix ca.gov)"],
            id="operator-scope",
        ),
        pytest.param(
            [" a.ca.gov", "x.ca.gov."],
            1,
            [
                "deny ' a.ca.gov': R1: it has spaces around it; give the bare host name",
                "deny x.ca.gov.: R1: it ends with a dot; a certificate name may not carry one, "
                "remove it",
            ],
            id="operator-scope/r1-refusals",
        ),
    ],
)
def test_policy_check_lines(ready: Cli, args: list[str], code: int, lines: list[str]) -> None:
    result = ready("policy", "check", *args)
    assert result.code == code
    assert result.out.splitlines() == lines
    assert result.err == ""


@SQLITE
def test_policy_check_json(ready: Cli) -> None:
    result = ready("policy", "check", "--org", "dmv", "--json", "WWW.dmv.ca.gov", "dmv_x.ca.gov")
    assert result.code == 1
    assert json.loads(result.out) == [
        {
            "name": "WWW.dmv.ca.gov",
            "allowed": True,
            "rule": "R2",
            "reason": "zone dmv.ca.gov",
            "normalized": "www.dmv.ca.gov",
            "code": "name.allowed",
        },
        {
            "name": "dmv_x.ca.gov",
            "allowed": False,
            "rule": "R1",
            "reason": "label 'dmv_x' contains an underscore, which host names may not carry",
            "normalized": None,
            "code": "name.underscore",
        },
    ]
    assert ready("policy", "check", "--json", "a.dmv.ca.gov", "--org", "dmv").code == 0


# --------------------------------------------------------------------------- keys and CSRs


@SQLITE
@pytest.mark.parametrize(
    ("key", "check"),
    [
        pytest.param("ec256", lambda k: isinstance(k, ec.EllipticCurvePrivateKey)
                     and k.curve.name == "secp256r1", id="ec256"),
        pytest.param("ec384", lambda k: isinstance(k, ec.EllipticCurvePrivateKey)
                     and k.curve.name == "secp384r1", id="ec384"),
        pytest.param("rsa2048", lambda k: isinstance(k, rsa.RSAPrivateKey)
                     and k.key_size == 2048, id="rsa2048"),
        pytest.param("rsa3072", lambda k: isinstance(k, rsa.RSAPrivateKey)
                     and k.key_size == 3072, id="rsa3072"),
        pytest.param("rsa4096", lambda k: isinstance(k, rsa.RSAPrivateKey)
                     and k.key_size == 4096, id="rsa4096"),
    ],
)  # fmt: skip
def test_csr_new_for_each_key_type(ready: Cli, key: str, check: Any) -> None:
    out = ready.ok(
        "csr", "new", "--key", key, "--name", "www.dmv.ca.gov", "--name", "API.dmv.ca.gov",
        "--out-key", "k.pem", "--out-csr", "c.pem",
    ).out  # fmt: skip
    assert out == (
        f"wrote {key} key (unencrypted, mode 0600) to k.pem and CSR for "
        "www.dmv.ca.gov, api.dmv.ca.gov to c.pem\n"
    )
    key_file = ready.tmp / "k.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    private = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert check(private)
    csr = x509.load_pem_x509_csr((ready.tmp / "c.pem").read_bytes())
    assert csr.is_signature_valid
    assert csr.public_key() == private.public_key()
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["www.dmv.ca.gov", "api.dmv.ca.gov"]

    validated = ready.ok("csr", "validate", "c.pem", "--org", "dmv")
    assert validated.out.splitlines() == [
        f"key: {key}  signature: sha256  subject: (empty)",
        "allow www.dmv.ca.gov (zone dmv.ca.gov)",
        "allow api.dmv.ca.gov (zone dmv.ca.gov)",
        "acceptable",
    ]


@SQLITE
@pytest.mark.parametrize("how", ["--passphrase", "--passphrase-file"])
def test_csr_new_encrypts_the_key_with_a_passphrase(ready: Cli, how: str) -> None:
    secret = "correct horse battery staple"
    if how == "--passphrase-file":
        (ready.tmp / "pass.txt").write_text(secret + "\n")
        given = ["--passphrase-file", "pass.txt"]
    else:
        given = ["--passphrase", secret]
    out = ready.ok("csr", "new", "--name", "www.dmv.ca.gov", "--out-key", "k.pem",
                   "--out-csr", "c.pem", *given).out  # fmt: skip
    assert "(encrypted, mode 0600)" in out
    data = (ready.tmp / "k.pem").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in data
    assert stat.S_IMODE((ready.tmp / "k.pem").stat().st_mode) == 0o600
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(data, password=None)
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(data, password=b"wrong")
    key = serialization.load_pem_private_key(data, password=secret.encode())
    csr = x509.load_pem_x509_csr((ready.tmp / "c.pem").read_bytes())
    assert csr.public_key() == key.public_key()


@SQLITE
def test_csr_validate_refuses_a_bad_csr(ready: Cli) -> None:
    not_granted = ready.csr("www.other.ca.gov")
    result = ready("csr", "validate", not_granted, "--org", "dmv")
    assert result.code == 1
    assert result.out.splitlines()[-2:] == [
        "deny www.other.ca.gov: R2: no grant of the organization covers it "
        "(grants: zone dmv.ca.gov)",
        "not acceptable",
    ]
    as_json = ready("csr", "validate", not_granted, "--org", "dmv", "--json")
    assert as_json.code == 1
    assert json.loads(as_json.out)["acceptable"] is False

    (ready.tmp / "garbage.csr").write_text("not a csr\n")
    garbage = ready("csr", "validate", "garbage.csr")
    assert garbage.code == 1
    assert garbage.err == (
        "error: this is neither a PEM nor a DER certificate signing request (one CSR expected)\n"
    )
    assert garbage.out == ""


# --------------------------------------------------------------------------- certificates


def test_cert_issue_out_writes_leaf_and_chain(ready: Cli) -> None:
    csr = ready.csr("www.dmv.ca.gov", "api.dmv.ca.gov")
    result = ready.ok("cert", "issue", "--org", "dmv", "--csr", csr, "--out", "full.pem",
                      "--platform", "dedicated")  # fmt: skip
    serial = result.out.strip()
    assert SERIAL.fullmatch(serial)
    certs = x509.load_pem_x509_certificates((ready.tmp / "full.pem").read_bytes())
    assert len(certs) == 2
    leaf, issuing = certs
    assert format(leaf.serial_number, "x") == serial
    leaf.verify_directly_issued_by(issuing)
    assert issuing.subject.rfc4514_string().startswith("CN=certdesk TLS ECC Issuing CA")
    assert result.err.startswith("issued www.dmv.ca.gov, api.dmv.ca.gov until ")
    assert result.err.endswith("; leaf + chain in full.pem\n")

    shown = ready.json("cert", "show", serial)
    assert shown["status"] == "active"
    assert shown["platform"] == "dedicated"
    assert shown["names"] == ["www.dmv.ca.gov", "api.dmv.ca.gov"]
    assert shown["requested_by"] == "cli:operator"
    assert datetime.fromisoformat(shown["not_after"]) == leaf.not_valid_after_utc

    # Without --out, the leaf and chain go to stdout and the serial to stderr.
    again = ready.ok("cert", "issue", "--org", "dmv", "--csr", csr)
    assert len(x509.load_pem_x509_certificates(again.out.encode())) == 2
    assert re.fullmatch(r"serial [0-9a-f]+\n", again.err)

    as_json = ready.json("cert", "issue", "--org", "dmv", "--csr", csr, "--days", "7")
    assert as_json["organization"] == "dmv"
    assert len(x509.load_pem_x509_certificates(as_json["fullchain"].encode())) == 2
    not_after = datetime.fromisoformat(as_json["not_after"])
    assert timedelta(days=6) < not_after - datetime.now(UTC) < timedelta(days=8, hours=12)


def test_cert_list_filters(ready: Cli) -> None:
    ready.ok("org", "create", "cdt", "--name", "CDT", "--grant", "zone:cdt.ca.gov")
    default = ready.issue("dmv", "www.dmv.ca.gov")
    short = ready.issue("dmv", "api.dmv.ca.gov", days=10)
    other = ready.issue("cdt", "www.cdt.ca.gov")

    def serials(*args: str) -> list[str]:
        return [c["serial"] for c in ready.json("cert", "list", *args)["items"]]

    assert serials() == [other, short, default]
    assert serials("--expiring-within", "30d") == [short]
    assert serials("--expiring-within", "2w") == [short]
    assert serials("--org", "dmv") == [short, default]
    assert serials("--name", "www.cdt.ca.gov") == [other]
    ready.ok("cert", "revoke", default)
    assert serials("--status", "revoked") == [default]
    assert serials("--status", "active") == [other, short]

    page = ready.json("cert", "list", "--limit", "2")
    assert [c["serial"] for c in page["items"]] == [other, short]
    rest = ready.json("cert", "list", "--limit", "2", "--cursor", page["next_cursor"])
    assert [c["serial"] for c in rest["items"]] == [default]

    lines = ready.ok("cert", "list", "--org", "dmv").out.splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        [short, "active", "dmv"],
        [default, "revoked", "dmv"],
    ]
    assert lines[0].split("\t")[4] == "api.dmv.ca.gov"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:00Z", lines[0].split("\t")[3])


@SQLITE
def test_cert_show_text(ready: Cli) -> None:
    serial = ready.issue("dmv", "www.dmv.ca.gov")
    lines = ready.ok("cert", "show", serial.upper()).out.splitlines()
    fields = {line[:20].strip(): line[21:] for line in lines}
    assert fields["serial"] == serial
    assert fields["organization"] == "dmv"
    assert fields["names"] == "www.dmv.ca.gov"
    assert fields["status"] == "active"
    assert fields["revoked_at"] == "-"
    assert fields["requested_by"] == "cli:operator"


@SQLITE
@pytest.mark.parametrize("fmt", ["pem", "der", "chain", "p7b"])
def test_cert_export(ready: Cli, fmt: str) -> None:
    serial = ready.issue("dmv", "www.dmv.ca.gov")
    ready.ok("cert", "export", serial, "--format", fmt, "--out", f"out.{fmt}")
    data = (ready.tmp / f"out.{fmt}").read_bytes()
    parsed = {
        "pem": lambda d: [x509.load_pem_x509_certificate(d)],
        "der": lambda d: [x509.load_der_x509_certificate(d)],
        "chain": x509.load_pem_x509_certificates,
        "p7b": pkcs7.load_der_pkcs7_certificates,
    }[fmt](data)
    assert format(parsed[0].serial_number, "x") == serial
    assert len(parsed) == (1 if fmt in ("pem", "der") else 2)
    if len(parsed) == 2:
        parsed[0].verify_directly_issued_by(parsed[1])


def test_cert_revoke_and_crl(ready: Cli) -> None:
    serial = ready.issue("dmv", "www.dmv.ca.gov")
    before = {c["issuer"]: c["number"] for c in ready.json("crl")}

    out = ready.ok("cert", "revoke", serial, "--reason", "keyCompromise").out
    assert re.fullmatch(
        rf"revoked {serial} \(keyCompromise\) at \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n", out
    )
    shown = ready.json("cert", "show", serial)
    assert shown["status"] == "revoked"
    assert shown["revocation_reason"] == "keyCompromise"

    again = ready("cert", "revoke", serial)
    assert again.code == 1
    assert again.err == f"error: certificate {serial} is already revoked\n"

    published = ready.json("crl")
    assert {c["issuer"] for c in published} == set(before)
    issuing = ready.services.inventory.show(common.OPERATOR, serial).issuer
    # revoke published one CRL for the issuing CA, `crl` one more for each CA
    assert {c["issuer"]: c["number"] for c in published} == {
        slug: n + (2 if slug == issuing else 1) for slug, n in before.items()
    }
    crl = x509.load_der_x509_crl(ready.services.revocation.crl(issuing))
    entry = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise

    text = ready.ok("crl").out.splitlines()
    assert len(text) == 2
    for line in text:
        assert re.fullmatch(
            r"CRL #\d+ for CN=certdesk .+: http://127\.0\.0\.1:8080/crl/[0-9a-f]+\.crl", line
        )


# --------------------------------------------------------------------------- bad input


@SQLITE
@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        pytest.param(["cert", "issue", "--org", "nosuch", "--csr", "{csr}"],
                     "error: no organization with code 'nosuch'", 3, id="unknown-org/issue"),
        pytest.param(["org", "show", "nosuch"],
                     "error: no organization with code 'nosuch'", 3, id="unknown-org/show"),
        pytest.param(["org", "grant", "nosuch", "zone:x.ca.gov"],
                     "error: no organization with code 'nosuch'", 3, id="unknown-org/grant"),
        pytest.param(["policy", "check", "a.ca.gov", "--org", "nosuch"],
                     "error: no organization with code 'nosuch'", 3, id="unknown-org/policy"),
        pytest.param(["cert", "issue", "--org", "dmv", "--csr", "/nonexistent/x.csr"],
                     "error: cannot read /nonexistent/x.csr: No such file or directory",
                     1, id="unreadable-file"),
        pytest.param(["cert", "issue", "--org", "dmv", "--csr", "{garbage}"],
                     "error: this is neither a PEM nor a DER certificate signing request "
                     "(one CSR expected)", 1, id="garbage-csr"),
        pytest.param(["cert", "issue", "--org", "dmv", "--csr", "{cert}"],
                     "error: this is a certificate, not a CSR; upload the certificate signing "
                     "request", 1, id="certificate-instead-of-csr"),
        pytest.param(["cert", "issue", "--org", "dmv", "--csr", "{csr}", "--days", "201"],
                     "error: 201 days is longer than the CA/Browser Forum maximum of 200 days",
                     1, id="R13/days-too-long"),
        pytest.param(["cert", "issue", "--org", "dmv", "--csr", "{csr}", "--platform", "vm"],
                     "error: platform must be 'dedicated' or 'virtual', not 'vm'",
                     1, id="bad-platform"),
        pytest.param(["cert", "revoke", "{serial}", "--reason", "bogus"],
                     "error: unknown reason 'bogus'; use one of unspecified, keyCompromise, "
                     "affiliationChanged, superseded, cessationOfOperation", 1, id="bad-reason"),
        pytest.param(["cert", "show", "abcdef12"],
                     "error: no certificate with serial abcdef12", 3, id="unknown-serial/show"),
        pytest.param(["cert", "revoke", "abcdef12"],
                     "error: no certificate with serial abcdef12", 3, id="unknown-serial/revoke"),
        pytest.param(["cert", "show", "zz"],
                     "error: 'zz' is not a certificate serial (hex)", 1, id="bad-serial"),
        pytest.param(["cert", "export", "{serial}", "--format", "zip"],
                     "error: unknown format 'zip'; use pem, der, chain or p7b",
                     1, id="bad-export-format"),
        pytest.param(["cert", "list", "--status", "lost"],
                     "error: unknown status 'lost'; use one of active, superseded, revoked, "
                     "expired, signing, void", 1, id="bad-status"),
        pytest.param(["cert", "list", "--expiring-within", "soon"],
                     "error: cannot read duration 'soon'; use e.g. 30d, 2w or 12h",
                     1, id="bad-duration"),
        pytest.param(["cert", "list", "--cursor", "abc"],
                     "error: invalid page cursor", 1, id="bad-cursor"),
        pytest.param(["cert", "list", "--expiring-within", "nan"],
                     "error: cannot read duration 'nan'", 1, id="bad-duration/nan"),
        pytest.param(["cert", "list", "--cursor", "²"], "error: invalid page cursor",
                     1, id="bad-cursor/superscript-digit"),
        pytest.param(["cert", "list", "--cursor", "9" * 25], "error: invalid page cursor",
                     1, id="bad-cursor/huge"),
        pytest.param(["token", "create", "--role", "god"],
                     "error: unknown role 'god'; use one of requester, ", 1, id="bad-role"),
        pytest.param(["org", "create", "dmv", "--name", "Again"],
                     "error: organization dmv already exists", 1, id="duplicate-org"),
        pytest.param(["org", "grant", "dmv", "zone:*.dmv.ca.gov"],
                     "error: grant 'zone:*.dmv.ca.gov' names a wildcard", 1, id="wildcard-grant"),
        pytest.param(["csr", "new", "--name", "a_b.dmv.ca.gov", "--out-key", "k.pem",
                      "--out-csr", "c.pem"],
                     "error: a_b.dmv.ca.gov: R1: label 'a_b' contains an underscore",
                     1, id="csr-new/bad-name"),
        pytest.param(["csr", "new", "--name", "a.dmv.ca.gov", "--key", "dsa1024",
                      "--out-key", "k.pem", "--out-csr", "c.pem"],
                     "error: unknown key type 'dsa1024'; use one of ec256, ec384, rsa2048, "
                     "rsa3072, rsa4096", 1, id="csr-new/bad-key-type"),
        pytest.param(["cert", "list", "--bogus"],
                     "error: No such option: --bogus", 2, id="unknown-option"),
        pytest.param(["cert", "issue", "--csr", "{csr}"],
                     "error: Missing option '--org'", 2, id="missing-option"),
        pytest.param(["cert", "list", "--limit", "0"],
                     "error: Invalid value for '--limit'", 2, id="bad-option-value"),
        pytest.param(["nonsense"], "error: No such command 'nonsense'", 2, id="unknown-command"),
    ],
)  # fmt: skip
def test_bad_input_is_one_error_line_and_changes_nothing(
    ready: Cli, args: list[str], message: str, code: int
) -> None:
    files: dict[str, str] = {}
    wanted = " ".join(args)
    if "{csr}" in wanted:
        files["csr"] = str(ready.csr("www.dmv.ca.gov"))
    if "{garbage}" in wanted:
        files["garbage"] = str(ready.tmp / "garbage.csr")
        (ready.tmp / "garbage.csr").write_bytes(b"\x00\x01 garbage")
    if "{serial}" in wanted or "{cert}" in wanted:
        files["serial"] = ready.issue("dmv", "www.dmv.ca.gov")
        files["cert"] = str(ready.tmp / f"{files['serial']}.pem")  # leaf + chain, no CSR
    before = ready.counts()
    result = ready(*[a.format(**files) for a in args])
    assert result.code == code, result
    assert result.out == ""
    assert result.err.startswith(message), result.err
    assert result.err.endswith("\n")
    assert len(result.err.splitlines()) == 1, result.err
    assert "Traceback" not in result.err
    assert ready.counts() == before
    assert not (ready.tmp / "k.pem").exists()


def _csr_of(tmp: Path, count: int) -> Path:
    """A CSR naming ``count`` hosts, made here (``csr new`` itself refuses over the limit)."""
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(f"n{i}.dmv.ca.gov") for i in range(count)]
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = tmp / f"{count}-names.csr"
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        pytest.param(["cert", "issue", "--org", "dmv", "--csr", "{many}"],
                     "error: 101 names were given; a certificate names at most 100",
                     1, id="sec/max-names/issuance"),
        pytest.param(["csr", "validate", "{many}"],
                     "error: 101 names were given; a certificate names at most 100",
                     1, id="sec/max-names/csr"),
        pytest.param(["csr", "new", *[f"--name=n{i}.dmv.ca.gov" for i in range(101)],
                      "--out-key", "k.pem", "--out-csr", "c.pem"],
                     "error: 101 names were given; a certificate names at most 100",
                     1, id="sec/max-names/csr-new"),
        pytest.param(["org", "create", "n\x00x", "--name", "X"],
                     "error: argument 3: character 2 is a NUL", 2,
                     id="sec/bad-characters/argument-nul"),
        pytest.param(["org", "create", "nx", "--name", "\udcff"],
                     "error: argument 5: character 1 is a lone surrogate U+DCFF", 2,
                     id="sec/bad-characters/argument-not-utf8"),
        pytest.param(["user", "enroll", "tok", "--password-file", "{nul}"],
                     "error: {nul}: character 5 is a NUL", 1,
                     id="sec/bad-characters/password-file"),
        pytest.param(["user", "enroll", "tok", "--password-file", "{latin1}"],
                     "error: {latin1} is not a UTF-8 text file", 1,
                     id="sec/bad-characters/password-file-not-utf8"),
    ],
)  # fmt: skip
def test_limits_and_characters_hold_on_both_backends(
    ready: Cli, args: list[str], message: str, code: int
) -> None:
    """Issue 10, findings 5 and 6: the same refusal on SQLite and PostgreSQL."""
    files = {"many": str(_csr_of(ready.tmp, 101)), "nul": str(ready.tmp / "nul.txt")}
    files["latin1"] = str(ready.tmp / "latin1.txt")
    (ready.tmp / "nul.txt").write_bytes(b"pass\x00word\n")
    (ready.tmp / "latin1.txt").write_bytes("passw\xf6rd".encode("latin-1"))
    before = ready.counts()
    result = ready(*[a.format(**files) for a in args])
    assert result.code == code, result
    assert result.out == ""
    assert result.err.startswith(message.format(**files)), result.err
    assert len(result.err.splitlines()) == 1, result.err
    assert ready.counts() == before
    assert not (ready.tmp / "k.pem").exists()


def _never_migrated(cli: Cli) -> None:
    """Point the CLI at a SQLite database nobody has migrated (``database_url`` is migrated)."""
    cli.configure(database_url=f"sqlite:///{cli.tmp / 'never-migrated.db'}")


@SQLITE
def test_uninitialized_database_is_a_clear_error(cli: Cli) -> None:
    _never_migrated(cli)
    result = cli("cert", "list")
    assert result.code == 4  # unavailable
    assert result.err == "error: the database is not initialized: run 'certdesk init'\n"
    assert len(result.err.splitlines()) == 1


@pytest.mark.parametrize("named", [False, True], ids=["default-sqlite", "sqlite-url"])
def test_a_command_before_init_creates_nothing(cli: Cli, named: bool) -> None:
    # A SQLite database nobody initialized, the default one under the data directory or the
    # file CERTDESK_DATABASE_URL names: the refusal comes before anything is opened, so no
    # directory, secrets folder or empty file is made.
    fresh = cli.tmp / "never-initialized"
    database = (cli.tmp / "elsewhere.db") if named else (fresh / "certdesk.db")
    cli.configure(data_dir=fresh, database_url=f"sqlite:///{database}" if named else "")
    assert cli.failed("cert", "list", code=4).err == (
        "error: the database is not initialized: run 'certdesk init'\n"
    )
    assert not fresh.exists()
    assert not database.exists()
    cli.ok("init")  # and init still makes it
    assert database.exists()


HEAD = head_revision()


@SQLITE
def test_db_current_on_an_empty_database_says_run_init(cli: Cli) -> None:
    _never_migrated(cli)
    assert cli.ok("db", "current").out == (
        f"schema none (this certdesk: {HEAD}): empty; run 'certdesk init'\n"
    )
    assert cli.json("db", "current") == {"current": None, "head": HEAD, "state": "empty"}
    assert cli.ok("db", "upgrade").out == (
        f"schema upgraded from empty to {HEAD}\n"
        "the database was empty: run 'certdesk init' to create the CA\n"
    )
    assert cli.json("db", "current")["state"] == "current"


def _downgrade(engine: Any, revision: str) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        alembic_command.downgrade(cfg, revision)


@SQLITE
@pytest.mark.parametrize(
    ("revision", "current", "refusal", "init_code"),
    [
        pytest.param(None, f"{HEAD}: current", None, 0, id="schema/current"),
        pytest.param("0004", "0004: upgrade needed; run 'certdesk db upgrade'",
                     f"the database schema is at 0004, this certdesk needs {HEAD}:"
                     " run 'certdesk db upgrade'", 0, id="schema/outdated-init-upgrades"),
        pytest.param("9999", "9999: newer than this certdesk; install the certdesk release"
                     " that upgraded it", f"the database schema is at 9999, newer than this"
                     f" certdesk knows ({HEAD}): install the certdesk release that upgraded it",
                     4, id="schema/newer-never-touched"),
    ],
)  # fmt: skip
def test_commands_refuse_a_schema_not_their_own_in_one_line(
    ready: Cli, revision: str | None, current: str, refusal: str | None, init_code: int
) -> None:
    engine = ready.services.rt.engine
    if revision == "0004":
        _downgrade(engine, revision)
    elif revision is not None:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    close_cached_services()  # each command below is a new process
    number, state = current.split(": ", 1)
    assert ready.ok("db", "current").out == f"schema {number} (this certdesk: {HEAD}): {state}\n"
    close_cached_services()
    listed = ready("org", "list")
    if refusal is None:
        assert (listed.code, listed.err) == (0, "")
    else:
        assert (listed.code, listed.out, listed.err) == (4, "", f"error: {refusal}\n")
    close_cached_services()
    init = ready("init")
    assert init.code == init_code, init
    assert "Traceback" not in init.err
    if init_code:
        assert init.err == f"error: {refusal}\n"
        close_cached_services()
        assert ready("db", "upgrade").err == f"error: {refusal}\n"
    close_cached_services()
    after = ready.json("db", "current")
    assert after["current"] == (revision if init_code else HEAD)


@SQLITE
@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"CERTDESK_DATABSE_URL": "sqlite:///x.db"},
                     "error: unknown setting CERTDESK_DATABSE_URL (did you mean "
                     "CERTDESK_DATABASE_URL?)", id="settings/typo"),
        pytest.param({"CERTDESK_COLOUR": "blue"}, "error: unknown setting CERTDESK_COLOUR;",
                     id="settings/unknown"),
        pytest.param({"CERTDESK_LOG_LEVELS": "debug", "CERTDESK_WINDOW_DAY": "3"},
                     "error: unknown settings CERTDESK_LOG_LEVELS (did you mean "
                     "CERTDESK_LOG_LEVEL?), CERTDESK_WINDOW_DAY (did you mean "
                     "CERTDESK_WINDOW_DAYS?)", id="settings/two"),
        pytest.param({"CERTDESK_WINDOW_DAYS": "soon"}, "error: bad setting CERTDESK_WINDOW_DAYS",
                     id="settings/unparsable"),
        pytest.param({"CERTDESK_LOG_LEVEL": "loud"},
                     "error: bad setting CERTDESK_LOG_LEVEL: Input should be 'debug', 'info',"
                     " 'warning' or 'error'", id="settings/log-level"),
        pytest.param({"CERTDESK_LOG_FORMAT": "xml"},
                     "error: bad setting CERTDESK_LOG_FORMAT: Input should be 'auto', 'json'"
                     " or 'console'", id="settings/log-format"),
    ],
)  # fmt: skip
def test_a_bad_setting_is_a_usage_error_before_anything_runs(
    ready: Cli, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    before = ready.counts()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    close_cached_services()  # a new process: settings are read again
    result = ready("org", "create", "chp", "--name", "Highway Patrol")
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith(message), result.err
    assert len(result.err.splitlines()) == 1
    for name in env:
        monkeypatch.delenv(name)
    close_cached_services()
    assert ready.counts() == before


@pytest.mark.parametrize(
    ("args", "code"),
    [
        pytest.param(["policy", "check", "www.dmv.ca.gov"], 0, id="exit/0-done"),
        pytest.param(["policy", "check", "evil.com"], 1, id="exit/1-refused-by-a-rule"),
        pytest.param(["cert", "list", "--bogus"], 2, id="exit/2-usage"),
        pytest.param(["cert", "show", "abcdef12"], 3, id="exit/3-not-found"),
    ],
)
@SQLITE
def test_exit_codes_are_distinct(ready: Cli, args: list[str], code: int) -> None:
    assert ready(*args).code == code


# --------------------------------------------------------------------------- status


def test_status_healthy_and_worker_once_leaves_no_heartbeat(ready: Cli) -> None:
    ready.ok("worker", "--once")
    with ready.services.rt.reads() as s:
        assert s.scalar(select(func.count()).select_from(WorkerBeat)) == 0
    out = ready.ok("status").out.splitlines()
    head = out[0]
    assert head.startswith("certdesk ") and head.endswith(": healthy"), out
    schema = next(line for line in out if line.startswith("schema: "))
    assert schema.endswith(": current")
    assert sum(line.startswith("CA ") for line in out) == 2  # root and issuing intermediate
    assert sum(line.startswith("CRL ") and "nextUpdate" in line for line in out) == 2
    assert "workers: none running (a cron 'worker --once' leaves none between runs)" in out
    assert "outbox: 0 pending, 0 failed" in out
    assert not [line for line in out if line.startswith(("attention:", "unavailable:"))]
    data = ready.json("status")
    assert data["status"] == "healthy" and data["findings"] == []
    assert data["schema"]["state"] == "current"
    assert data["schema"]["current"] == data["schema"]["head"]
    assert [c["root"] for c in data["cas"]] == [True, False]
    assert all(c["days_left"] > 0 for c in data["cas"])
    assert [c["number"] for c in data["crls"]] == [1, 1]
    assert data["outbox"] == {"pending": 0, "failed": 0}
    assert data["notices"]["failed"] == 0 and data["workers"] == []


def _stale_worker(cli: Cli) -> None:
    svc = cli.services
    started = svc.rt.clock() - timedelta(hours=2)
    svc.worker_health.beat("host:1:killed", started, pass_seconds=1.5)
    with svc.rt.sessions.begin() as s:
        s.execute(update(WorkerBeat).values(beat_at=started, last_pass_at=started))


def _old_schema(cli: Cli) -> None:
    with cli.services.rt.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))


@pytest.mark.parametrize(
    ("make", "code", "verdict", "finding"),
    [
        pytest.param(
            _stale_worker, 1, "needs attention", "attention: no worker is beating",
            id="exit/1-stale-worker",
        ),
        pytest.param(
            _old_schema, 4, "unavailable", "unavailable: the database schema is at 0001",
            id="exit/4-old-schema",
        ),
    ],
)  # fmt: skip
@SQLITE
def test_status_exit_codes(
    ready: Cli, make: Callable[[Cli], None], code: int, verdict: str, finding: str
) -> None:
    make(ready)
    result = ready("status")
    assert result.code == code, result
    assert result.err == ""
    lines = result.out.splitlines()
    assert lines[0].endswith(f": {verdict}")
    assert any(line.startswith(finding) for line in lines), lines
    if code == 1:
        assert any(
            line.startswith("worker host:1:killed: last pass")
            and "stale: no heartbeat for 2h" in line
            for line in lines
        ), lines
    else:
        assert "(nothing more read: the schema is not current)" in lines
    data = json.loads(ready("status", "--json").out)
    assert data["status"] == verdict.removeprefix("needs ")


@SQLITE
def test_status_of_an_unreachable_database_is_exit_4(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTDESK_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    close_cached_services()
    result = cli("status")
    assert (result.code, result.out) == (4, "")
    assert result.err.startswith("error: the database does not answer"), result.err
    assert len(result.err.splitlines()) == 1


@SQLITE
def test_help_is_not_an_error(cli: Cli) -> None:
    result = cli("cert", "--help")
    assert result.code == 0
    assert "issue" in result.out
    assert result.err == ""


# --------------------------------------------------------------------------- version, completion


@SQLITE
def test_version_prints_name_and_version(cli: Cli) -> None:
    assert cli("--version") == Result(0, f"certdesk {certdesk.__version__}\n", "")


@SQLITE
@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        pytest.param("bash", "complete -o default -F _certdesk_completion certdesk", id="bash"),
        pytest.param("zsh", "compdef _certdesk_completion certdesk", id="zsh"),
        pytest.param("fish", "complete --command certdesk", id="fish"),
    ],
)
def test_completion_prints_the_shells_script(cli: Cli, shell: str, marker: str) -> None:
    result = cli.ok("completion", shell)
    assert marker in result.out
    assert f"_CERTDESK_COMPLETE=complete_{shell}" in result.out
    assert result.err == ""


@SQLITE
def test_completion_for_an_unknown_shell_is_a_usage_error(cli: Cli) -> None:
    result = cli("completion", "tcsh")
    assert result.code == 2
    assert result.err.startswith("error: ") and result.err.count("\n") == 1
    assert "'bash', 'zsh', 'fish'" in result.err


@SQLITE
@pytest.mark.parametrize(
    ("words", "expected"),
    [
        pytest.param("certdesk ser", ["serve"], id="complete/command"),
        pytest.param("certdesk cert re", ["revoke"], id="complete/subcommand"),
        pytest.param("certdesk completion ", ["bash", "zsh", "fish"], id="complete/argument"),
    ],
)
def test_completion_requests_of_the_bash_script_are_answered(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, words: str, expected: list[str]
) -> None:
    # What the printed script's function runs: certdesk with the script's variable set.
    script = cli.ok("completion", "bash").out
    found = re.search(r"(\w+)=(complete_bash)", script)
    assert found is not None, script
    monkeypatch.setenv(found.group(1), found.group(2))
    monkeypatch.setenv("COMP_WORDS", words)
    monkeypatch.setenv("COMP_CWORD", str(len(words.split(" ")) - 1))
    result = cli()
    assert (result.code, result.out.split(), result.err) == (0, expected, "")


# --------------------------------------------------------------------------- entry point


def test_console_script_end_to_end(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("certdesk")
    assert script.exists(), "the package is installed with its console script"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
    env |= {
        "CERTDESK_DATA_DIR": str(tmp_path / "var"),
        "CERTDESK_CA_PASSPHRASE": PASSPHRASE,
        # A public name, so that init has no note about the certificate URLs to print.
        "CERTDESK_PKI_BASE_URL": "http://pki.cdt.ca.gov",
    }

    def certdesk(*args: str, note: str = "") -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(script), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        # Success is silent on stderr (no deprecation warning from a dependency, no log
        # noise) but for the one line a command prints for people beside its data.
        assert done.stderr.startswith(note) and done.stderr.count("\n") == (1 if note else 0), (
            args,
            done.stderr,
        )
        return done

    assert TOKEN.search(certdesk("init").stdout)
    certdesk("org", "create", "dmv", "--name", "DMV", "--self-managed", "--grant",
             "zone:dmv.ca.gov")  # fmt: skip
    certdesk("csr", "new", "--name", "www.dmv.ca.gov", "--out-key", "k.pem", "--out-csr", "c.pem")
    serial = certdesk("cert", "issue", "--org", "dmv", "--csr", "c.pem", "--out", "f.pem",
                      note="issued www.dmv.ca.gov until ").stdout  # fmt: skip
    serial = serial.strip()
    assert len(x509.load_pem_x509_certificates((tmp_path / "f.pem").read_bytes())) == 2
    shown = json.loads(certdesk("cert", "show", serial, "--json").stdout)
    assert (shown["serial"], shown["status"]) == (serial, "active")
    assert (
        "(keyCompromise)" in certdesk("cert", "revoke", serial, "--reason", "keyCompromise").stdout
    )
    listed = json.loads(certdesk("cert", "list", "--json").stdout)
    assert [(c["serial"], c["status"]) for c in listed["items"]] == [(serial, "revoked")]


def test_python_m_certdesk_and_bash_completion_in_a_real_shell(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        [sys.executable, "-m", "certdesk", "--version"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"certdesk {certdesk.__version__}\n",
        "",
    )
    # README: eval "$(certdesk completion bash)"; then <TAB> runs the function it defines.
    tab = (
        'eval "$(certdesk completion bash)"; COMP_WORDS=(certdesk cert re); COMP_CWORD=2;'
        ' _certdesk_completion certdesk; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        ["bash", "--norc", "-c", tab], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "revoke\n", "")
