"""Bad input on the command line: one ``error:`` line and its exit code, never a traceback
(DESIGN's "bad input" rule). Each case once ended in a Python traceback: an id too large for
the database's integer, a wait too long for a time span, a passphrase too long for the key
file's encryption, a webhook address the URL parser cannot split, an output or input path
too long for the file system, and a file that never ends (found by a fuzz of every command's
parameters, 2026-12-07)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from world.cli import Cli, operator_cli

HUGE = (
    "99999999999999999999999"  # above a signed 64-bit integer, the largest id either database keeps
)
LONG_NAME = "n" * 300  # longer than a file name may be (255 bytes on Linux)


@pytest.fixture
def ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    with operator_cli(
        capsys, tmp_path, monkeypatch, Cli,
        data_dir=tmp_path / "var", database_url="", ca_passphrase="bad-input-passphrase",
    ) as cli:  # fmt: skip
        cli.ok("init")
        cli.ok(
            "org", "create", "dmv", "--name", "DMV", "--self-managed", "--grant", "zone:dmv.ca.gov"
        )
        cli.write("password.txt", "correct horse battery staple\n")
        yield cli


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["webhook", "remove", HUGE], id="webhook-id"),
        pytest.param(["webhook", "deliveries", HUGE], id="webhook-deliveries-id"),
        pytest.param(["acme", "account", "deactivate", "9223372036854775808"], id="acme-account"),
        pytest.param(
            ["acme", "persist-record", "--account", HUGE, "--domain", "dmv.ca.gov"],
            id="persist-record-account",
        ),
        pytest.param(["external", "show", HUGE], id="external-id"),
        pytest.param(["external", "adopt", HUGE], id="external-adopt-id"),
        pytest.param(["issuer", "order", HUGE], id="vendor-order-id"),
        pytest.param(["case", "remove-submittal", "1", HUGE], id="submittal-id"),
        pytest.param(["case", "detach", "1", HUGE], id="attachment-id"),
        pytest.param(["cert", "issue", "--org", "dmv", "--csr", "-", "--wait", HUGE], id="wait"),
    ],
)
def test_a_number_out_of_range_is_a_usage_error(ready: Cli, args: list[str]) -> None:
    assert "less than or equal to" in ready.fails(*args, code=2)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        pytest.param(
            [
                "csr",
                "new",
                "--name",
                "www.dmv.ca.gov",
                "--out-key",
                "k.pem",
                "--out-csr",
                "c.pem",
                "--passphrase",
                "p" * 1024,
            ],
            "longer than 1,023 bytes",
            id="r12-key-passphrase-too-long",
        ),
        pytest.param(
            ["webhook", "add", "https://[::1/hook", "--org", "dmv"],
            "is not an http(s) address",
            id="webhook-url-unclosed-ipv6",
        ),
        pytest.param(
            [
                "case",
                "download-key",
                "1",
                "--submittal",
                "1",
                "--password-file",
                "password.txt",
                "--out",
                LONG_NAME,
            ],
            "File name too long",
            id="output-name-too-long",
        ),
        pytest.param(["import", LONG_NAME], "File name too long", id="import-name-too-long"),
        pytest.param(["csr", "validate", "/dev/zero"], "is larger than", id="input-never-ends"),
    ],
)
def test_bad_input_is_one_error_line(ready: Cli, args: list[str], says: str) -> None:
    assert says in ready.fails(*args, code=1)
    assert not (ready.tmp / "k.pem").exists()
