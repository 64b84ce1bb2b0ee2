"""``certdesk verify``, ``import``, ``discover`` and ``external`` against TLS servers on
loopback (R14, R18): each kind of endpoint gives its findings and its exit code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from world.cli import Cli, operator_cli
from world.tlsservers import OLD_TLS, leaf, rsa_key_exchange_leaf, s_server

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ca: trustme.CA,
) -> Iterator[Cli]:
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(ca.cert_pem.bytes())
    with operator_cli(
        capsys, tmp_path, monkeypatch,
        data_dir=tmp_path / "var", database_url=database_url, ca_passphrase=PASSPHRASE,
        verify_allow_networks="127.0.0.0/8", verify_ca_file=bundle, verify_timeout_seconds="3",
    ) as cli:  # fmt: skip
        cli.ok("init")
        cli.ok("org", "create", "dmv", "--name", "Motor Vehicles", "--self-managed")
        cli.ok("org", "grant", "dmv", "zone:dmv.ca.gov")
        yield cli


def codes(report: dict[str, object]) -> set[str]:
    return {f["code"] for f in report["findings"]}  # type: ignore[attr-defined, index]


def verify(cli: Cli, port: int, sni: str, expect: int) -> dict[str, object]:
    import json

    result = cli("verify", f"127.0.0.1:{port}", "--sni", sni, "--json")
    assert result.code == expect, result
    return json.loads(result.out)  # type: ignore[no-any-return]


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    ("kind", "sni", "extra", "want", "unwanted", "code"),
    [
        pytest.param("good", "www.dmv.ca.gov", [], {"protocol.tls1_3"},
                     {"chain.untrusted", "name.mismatch", "protocol.tls1_0"}, 5,
                     id="R14/trusted-chain-tls13-no-hsts-warns"),
        pytest.param("good", "other.dmv.ca.gov", [], {"name.mismatch"}, set(), 6,
                     id="R14/name-mismatch-is-critical"),
        pytest.param("intermediate", "www.dmv.ca.gov", [], {"protocol.tls1_3"},
                     {"chain.untrusted"}, 5, id="R14/intermediate-sent-chain-complete"),
        pytest.param("incomplete", "www.dmv.ca.gov", [], {"chain.untrusted"}, set(), 6,
                     id="R14/incomplete-chain-is-critical"),
        pytest.param("expired", "www.dmv.ca.gov", [], {"cert.expired"}, {"chain.untrusted"}, 6,
                     id="R14/expired-is-critical"),
        pytest.param("good", "www.dmv.ca.gov", OLD_TLS, {"protocol.tls1_0", "protocol.no_tls1_3"},
                     {"protocol.tls1_3"}, 5, id="R14/tls1.0-only-is-a-finding"),
        pytest.param("good", "www.dmv.ca.gov", ["-no_tls1_3"], {"protocol.no_tls1_3"},
                     {"protocol.tls1_0", "protocol.no_forward_secrecy"}, 5,
                     id="R14/tls1.2-forward-secret-no-tls13"),
    ],
)  # fmt: skip
def test_verify_findings_by_endpoint(
    cli: Cli,
    ca: trustme.CA,
    tmp_path: Path,
    kind: str,
    sni: str,
    extra: list[str],
    want: set[str],
    unwanted: set[str],
    code: int,
) -> None:
    issuer = ca.create_child_ca() if kind in ("incomplete", "intermediate") else ca
    served = leaf(
        issuer, tmp_path, "www.dmv.ca.gov",
        send_chain=kind != "incomplete", expired=kind == "expired",
    )  # fmt: skip
    with s_server(served, extra) as port:
        report = verify(cli, port, sni, code)
    found = codes(report)
    assert want <= found, found
    assert not (unwanted & found), found
    assert "inventory.unknown" in found  # nothing imported yet
    assert report["inventory"] is None


@pytest.mark.parametrize("backend", ["sqlite"])
def test_verify_matches_the_inventory_after_import(
    cli: Cli, ca: trustme.CA, tmp_path: Path
) -> None:
    served = leaf(ca, tmp_path, "www.dmv.ca.gov")
    cli.ok("import", served.chain)
    with s_server(served) as port:
        report = verify(cli, port, "www.dmv.ca.gov", 5)
    assert "inventory.unknown" not in codes(report)
    assert report["inventory"]["kind"] == "external"  # type: ignore[index]
    assert report["http"] is True and report["hsts"] is None
    assert "hsts.missing" in codes(report)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_loopback_is_refused_unless_allowed(cli: Cli, ca: trustme.CA, tmp_path: Path) -> None:
    cli.configure(verify_allow_networks="10.0.0.0/8")
    served = leaf(ca, tmp_path, "www.dmv.ca.gov")
    with s_server(served) as port:
        err = cli.failed("verify", f"127.0.0.1:{port}").err
    assert "private, loopback or reserved" in err and "CERTDESK_VERIFY_ALLOW_NETWORKS" in err


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    ("args", "code"),
    [
        pytest.param(["verify", "https://x.dmv.ca.gov/"], 1, id="R14/url-is-no-target"),
        pytest.param(["verify", "x.dmv.ca.gov:99999"], 1, id="R14/bad-port"),
        pytest.param(["verify", "127.0.0.1:9", "--starttls", "ftp"], 1, id="R14/bad-starttls"),
        pytest.param(["discover", "10.0.0.0/8:443"], 1, id="R18/range-too-large"),
        pytest.param(["import", "/no/such/file"], 1, id="R18/missing-file"),
    ],
)
def test_bad_input_is_one_line(cli: Cli, args: list[str], code: int) -> None:
    cli.fails(*args, code=code)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_unreachable_is_unavailable(cli: Cli) -> None:
    from world.processes import free_port

    assert "connection refused" in cli.failed("verify", f"127.0.0.1:{free_port()}", code=4).err


def test_import_formats_dedup_and_attribution(cli: Cli, ca: trustme.CA, tmp_path: Path) -> None:
    """R18: PEM, DER, PKCS#7 and PKCS#12 (with its password) in a directory, recursively;
    each certificate once, the CA certificate skipped, attributed by the covering grant."""
    a = leaf(ca, tmp_path, "a.dmv.ca.gov", tag="a")
    b = leaf(ca, tmp_path, "b.dmv.ca.gov", tag="b")
    c = leaf(ca, tmp_path, "c.chp.ca.gov", tag="c")
    d = leaf(ca, tmp_path, "d.dmv.ca.gov", tag="d")
    served = {"a": a, "b": b, "c": c, "d": d}
    certs = {t: x509.load_pem_x509_certificate(s.leaf_pem) for t, s in served.items()}
    folder = tmp_path / "certs" / "deep"
    folder.mkdir(parents=True)
    (folder / "a.pem").write_bytes(a.leaf_pem + ca.cert_pem.bytes())
    (folder / "b.der").write_bytes(certs["b"].public_bytes(serialization.Encoding.DER))
    (tmp_path / "certs" / "c.p7b").write_bytes(
        pkcs7.serialize_certificates([certs["c"]], serialization.Encoding.DER)
    )
    key = serialization.load_pem_private_key(d.key.read_bytes(), None)
    (tmp_path / "certs" / "d.p12").write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"d", key, certs["d"], None,  # type: ignore[arg-type]
            serialization.BestAvailableEncryption(b"s3cret-pass"),
        )
    )  # fmt: skip
    err = cli.failed("import", tmp_path / "certs" / "d.p12").err
    assert "password is needed" in err or "PKCS#12" in err
    report = cli.json("import", tmp_path / "certs", "--password", "s3cret-pass",
                      "--contact", "ops@dmv.ca.gov")  # fmt: skip
    added = {v["names"][0]: v for v in report["added"]}
    assert set(added) == {"a.dmv.ca.gov", "b.dmv.ca.gov", "c.chp.ca.gov", "d.dmv.ca.gov"}
    assert added["a.dmv.ca.gov"]["organization"] == "dmv"
    assert added["c.chp.ca.gov"]["organization"] is None  # no grant covers it: unassigned
    again = cli.json("import", tmp_path / "certs", "--password", "s3cret-pass")
    assert again["added"] == [] and again["duplicates"] == 4
    listed = cli.json("external", "list", "--unassigned")
    assert [v["names"] for v in listed] == [["c.chp.ca.gov"]]
    shown = cli.json("external", "show", str(added["d.dmv.ca.gov"]["id"]))
    assert shown["contacts"] == [{"name": "ops", "email": "ops@dmv.ca.gov"}]
    assert shown["sha256"] == certs["d"].fingerprint(hashes.SHA256()).hex()


def test_adopt_opens_one_case(cli: Cli, ca: trustme.CA, tmp_path: Path) -> None:
    served = leaf(ca, tmp_path, "www.dmv.ca.gov")
    (added,) = cli.json("import", served.chain)["added"]
    adopted = cli.json("external", "adopt", str(added["id"]))
    assert adopted["adopted_case"]
    case = cli.json("case", "show", adopted["adopted_case"])
    assert case["submittals"][0]["names"] == ["www.dmv.ca.gov"]
    cli.fails("external", "adopt", str(added["id"]), code=1)  # once


@pytest.mark.parametrize("backend", ["sqlite"])
def test_discover_imports_and_flags_disappeared(cli: Cli, ca: trustme.CA, tmp_path: Path) -> None:
    one = leaf(ca, tmp_path, "one.dmv.ca.gov", tag="one")
    two = leaf(ca, tmp_path, "two.dmv.ca.gov", tag="two")
    with s_server(one) as p1, s_server(two) as p2:
        first = cli.json("discover", f"127.0.0.1:{p1}", f"127.0.0.1:{p2}")
        assert first["answered"] == 2 and first["new_external"] == 2
        again = cli.json("discover", f"127.0.0.1:{p1}", f"127.0.0.1:{p2}")
        assert again["new_external"] == 0 and again["known"] == 2
    gone = cli.json("discover", f"127.0.0.1:{p1}")
    assert gone["unreachable"] == 1 and len(gone["disappeared"]) == 1
    listed = {v["names"][0]: v for v in cli.json("external", "list")}
    assert listed["one.dmv.ca.gov"]["gone_at"] is not None
    assert listed["two.dmv.ca.gov"]["gone_at"] is None
    assert listed["two.dmv.ca.gov"]["source"] == "discovery"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_tls12_without_forward_secrecy_is_a_finding(cli: Cli, tmp_path: Path) -> None:
    """R14: RSA key exchange only (no ECDHE/DHE suite) at TLS 1.2."""
    served = rsa_key_exchange_leaf(tmp_path, "www.dmv.ca.gov")
    extra = ["-no_tls1_3", "-cipher", "AES128-SHA256:AES256-GCM-SHA384"]
    with s_server(served, extra) as port:
        report = verify(cli, port, "www.dmv.ca.gov", 6)  # self-signed: critical as well
    assert "protocol.no_forward_secrecy" in codes(report), report
    assert report["forward_secrecy_tls12"] is False


@pytest.mark.parametrize("backend", ["sqlite"])
def test_starttls_smtp(cli: Cli, ca: trustme.CA, tmp_path: Path) -> None:
    """R14 over SMTP's STARTTLS (aiosmtpd), no HTTP question asked."""
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    from world.processes import free_port

    served = leaf(ca, tmp_path, "mail.dmv.ca.gov", tag="mail")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(served.chain, served.key)
    port = free_port()
    smtp = Controller(Sink(), hostname="127.0.0.1", port=port, tls_context=ctx)
    smtp.start()
    try:
        result = cli("verify", f"127.0.0.1:{port}", "--sni", "mail.dmv.ca.gov",
                     "--starttls", "smtp", "--json")  # fmt: skip
    finally:
        smtp.stop()
    import json

    assert result.code == 5, result  # not in the inventory
    report = json.loads(result.out)
    assert report["http"] is False and "hsts.missing" not in codes(report)
    assert "chain.untrusted" not in codes(report) and "TLSv1.3" in report["protocols"]


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    ("how", "greeting", "command", "reply"),
    [
        pytest.param("imap", b"* OK IMAP4rev1 ready\r\n", b"a1 STARTTLS", b"a1 OK begin TLS\r\n",
                     id="R14/starttls-imap"),
        pytest.param("pop3", b"+OK POP3 ready\r\n", b"STLS", b"+OK begin TLS\r\n",
                     id="R14/starttls-pop3"),
    ],
)  # fmt: skip
def test_starttls_imap_pop3(
    cli: Cli, ca: trustme.CA, tmp_path: Path, how: str, greeting: bytes, command: bytes,
    reply: bytes,
) -> None:  # fmt: skip
    """A minimal IMAP/POP3 server that answers the upgrade command, then TLS (every probe)."""
    import json
    import socket
    import ssl
    import threading

    served = leaf(ca, tmp_path, "mail.dmv.ca.gov", tag=how)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(served.chain, served.key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def one(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.sendall(greeting)
                if not conn.recv(1024).startswith(command):
                    return
                conn.sendall(reply)
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1024)
            except (OSError, ssl.SSLError):
                pass

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        result = cli("verify", f"127.0.0.1:{port}", "--sni", "mail.dmv.ca.gov",
                     "--starttls", how, "--json")  # fmt: skip
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert result.code == 5, result
    report = json.loads(result.out)
    assert report["certificate"]["names"] == ["mail.dmv.ca.gov"]
    assert "chain.untrusted" not in codes(report) and report["http"] is False
