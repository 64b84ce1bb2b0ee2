"""``certdesk serve``'s TLS settings, checked before uvicorn starts (in-process through ``run``).

A wrong pair of ``CERTDESK_TLS_CERT_FILE``/``CERTDESK_TLS_KEY_FILE`` is a usage error (exit 2)
with one line naming the setting and the problem; nothing is printed on stdout and no server
starts. A good pair is accepted, with a warning when the key is open to other users. (The
server answering https is tests/integration/test_serve_tls.py.) The locked environment serves
on httptools and uvloop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from certdesk.config import Settings
from certdesk.web.serving import HTTPTOOLS_PROTOCOL, has_uvloop, http_protocol, tls_files
from world.cli import Cli, operator_cli

CA = trustme.CA()
LEAF = CA.issue_cert("127.0.0.1", "localhost")
OTHER = CA.issue_cert("other.localhost")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """PEM files by role; keys are written mode 0600."""
    key = serialization.load_pem_private_key(LEAF.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    contents = {
        "chain": b"".join(pem.bytes() for pem in LEAF.cert_chain_pems),
        "key": LEAF.private_key_pem.bytes(),
        "other-key": OTHER.private_key_pem.bytes(),
        "encrypted-key": encrypted,
        "junk": b"not a PEM file\n",
    }
    paths = {}
    for name, data in contents.items():
        path = tmp_path / f"{name}.pem"
        path.touch(mode=0o600)
        path.write_bytes(data)
        paths[name] = path
    paths["missing"] = tmp_path / "missing.pem"
    return paths


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    with operator_cli(capsys, tmp_path, monkeypatch, data_dir=tmp_path / "var") as cli:
        yield cli


@pytest.mark.parametrize(
    ("cert", "key", "message"),
    [
        pytest.param("chain", None,
                     "error: CERTDESK_TLS_CERT_FILE is set but CERTDESK_TLS_KEY_FILE is not",
                     id="tls/cert-without-key"),
        pytest.param(None, "key",
                     "error: CERTDESK_TLS_KEY_FILE is set but CERTDESK_TLS_CERT_FILE is not",
                     id="tls/key-without-cert"),
        pytest.param("missing", "key",
                     "error: cannot read CERTDESK_TLS_CERT_FILE {missing}: No such file",
                     id="tls/cert-missing"),
        pytest.param("chain", "missing",
                     "error: cannot read CERTDESK_TLS_KEY_FILE {missing}: No such file",
                     id="tls/key-missing"),
        pytest.param("dir", "key", "error: cannot read CERTDESK_TLS_CERT_FILE {dir}: Is a dir",
                     id="tls/cert-is-a-directory"),
        pytest.param("junk", "key", "error: CERTDESK_TLS_CERT_FILE {junk} holds no PEM cert",
                     id="tls/cert-not-pem"),
        pytest.param("key", "key", "error: CERTDESK_TLS_CERT_FILE {key} holds no PEM cert",
                     id="tls/cert-file-holds-the-key"),
        pytest.param("chain", "junk", "error: CERTDESK_TLS_KEY_FILE {junk} holds no PEM private",
                     id="tls/key-not-pem"),
        pytest.param("chain", "chain", "error: CERTDESK_TLS_KEY_FILE {chain} holds no PEM private",
                     id="tls/key-file-holds-the-chain"),
        pytest.param("chain", "encrypted-key",
                     "error: CERTDESK_TLS_KEY_FILE {encrypted-key} is encrypted",
                     id="tls/key-encrypted"),
        pytest.param("chain", "other-key",
                     "error: CERTDESK_TLS_KEY_FILE {other-key} is not the key of the first"
                     " certificate in CERTDESK_TLS_CERT_FILE {chain} (KEY_VALUES_MISMATCH)",
                     id="tls/key-of-another-certificate"),
    ],
)  # fmt: skip
def test_a_wrong_tls_setting_stops_serve_before_it_starts(
    cli: Cli,
    files: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cert: str | None,
    key: str | None,
    message: str,
) -> None:
    files["dir"] = tmp_path
    for setting, role in (("CERTDESK_TLS_CERT_FILE", cert), ("CERTDESK_TLS_KEY_FILE", key)):
        if role is not None:
            monkeypatch.setenv(setting, str(files[role]))
    result = cli.failed("serve", "--port", "1", code=2)
    assert result.out == ""
    assert result.err.startswith(message.format_map(files)), result.err
    assert len(result.err.splitlines()) == 1


@pytest.mark.parametrize(
    ("mode", "warned"),
    [
        pytest.param(0o600, False, id="tls/key-0600-quiet"),
        pytest.param(0o400, False, id="tls/key-0400-quiet"),
        pytest.param(0o640, True, id="tls/key-group-readable-warns"),
        pytest.param(0o604, True, id="tls/key-world-readable-warns"),
        pytest.param(0o620, True, id="tls/key-group-writable-warns"),
    ],
)
def test_a_good_pair_is_served_and_an_open_key_warned_about(
    files: dict[str, Path], mode: int, warned: bool
) -> None:
    files["key"].chmod(mode)
    tls = tls_files(Settings(tls_cert_file=files["chain"], tls_key_file=files["key"]))
    assert tls is not None
    assert (tls.cert_file, tls.key_file) == (files["chain"], files["key"])
    expected = f"CERTDESK_TLS_KEY_FILE {files['key']} is open to its group or others (mode"
    assert [w.startswith(expected) for w in tls.warnings] == ([True] if warned else [])


@pytest.mark.parametrize(
    "value", [pytest.param(None, id="tls/unset"), pytest.param("", id="tls/empty")]
)
def test_neither_file_means_plain_http(value: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in ("CERTDESK_TLS_CERT_FILE", "CERTDESK_TLS_KEY_FILE"):
        if value is not None:
            monkeypatch.setenv(setting, value)
    assert tls_files(Settings()) is None


def test_serve_runs_on_the_locked_httptools_and_uvloop() -> None:
    """pyproject.toml and requirements/ bring httptools and uvloop; serve picks both, and the
    protocol it names (Nagle's algorithm off) is importable the way uvicorn imports it."""
    from uvicorn.importer import import_from_string
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert http_protocol() == HTTPTOOLS_PROTOCOL
    assert issubclass(import_from_string(HTTPTOOLS_PROTOCOL), HttpToolsProtocol)
    assert has_uvloop()
