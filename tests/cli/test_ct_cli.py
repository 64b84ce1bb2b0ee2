"""``certdesk ct …`` (issue 15, part 3; R18), in-process through ``run``, on SQLite and
PostgreSQL, against a log on loopback that the test builds (tests/world/ctlog.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from certdesk.cli import common
from certdesk.store.models import CtFinding, CtLog
from world.cli import Cli, operator_cli
from world.ctlog import Authority, Served, TestLog, serving


def counts() -> dict[str, int]:
    with common.services().rt.reads() as s:
        return {
            m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
            for m in (CtLog, CtFinding)
        }


@pytest.fixture
def cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Cli]:
    with operator_cli(
        capsys, tmp_path, monkeypatch,
        data_dir=tmp_path / "var", database_url=database_url, ca_passphrase="ct-cli-passphrase",
    ) as runner:  # fmt: skip
        runner._state = counts
        runner.ok("init")
        runner.ok("org", "create", "dmv", "--name", "DMV", "--grant", "zone:dmv.ca.gov")
        yield runner


@pytest.fixture
def served() -> Iterator[Served]:
    with serving(TestLog()) as s:
        yield s


@pytest.mark.parametrize("tiled", [False, True], ids=["R18/rfc6962", "R18/static-ct"])
def test_log_add_watch_and_findings(cli: Cli, served: Served, tiled: bool) -> None:
    ca = Authority()
    served.log.add_certificate(ca.certificate("www.dmv.ca.gov"), ca.cert)
    served.log.add_certificate(ca.certificate("www.example.com"), ca.cert)
    served.log.publish()
    key = cli.write("log.pem", served.log.public_pem)
    extra = ["--tiled"] if tiled else []
    added = cli.json(
        "ct", "log", "add", "main", "--url", served.url, "--public-key", key, "--start", "0",
        *extra,
    )  # fmt: skip
    assert added["kind"] == ("static-ct" if tiled else "rfc6962")
    report = cli.json("ct", "watch", "--once")
    assert (report["read"], report["findings"], report["errors"]) == (2, 1, [])
    out = cli.ok("ct", "findings").out
    assert "unknown issuer for www.dmv.ca.gov" in out and "dmv" in out
    (found,) = cli.json("ct", "findings")["items"]
    assert (found["names"], found["org"], found["log"]) == (["www.dmv.ca.gov"], "dmv", "main")
    (listed,) = cli.json("ct", "log", "list")
    assert (listed["position"], listed["verified_size"], listed["findings"]) == (2, 2, 1)
    assert "main" in cli.ok("ct", "log", "list").out
    # A second pass finds nothing new.
    assert cli.json("ct", "watch", "--once")["findings"] == 0


def test_watch_exit_codes(cli: Cli, served: Served) -> None:
    served.log.publish()
    key = cli.write("log.pem", served.log.public_pem)
    cli.ok("ct", "log", "add", "main", "--url", served.url, "--public-key", key)
    served.log.forge_signature = True
    # The pass's report on stdout, one error line per log refused (after the log's warning).
    refused = cli("ct", "watch", "--once")
    assert refused.code == 1 and "Traceback" not in refused.err
    assert "error: main: the tree head's signature does not verify" in refused.err
    cli.ok("ct", "log", "add", "gone", "--url", "http://127.0.0.1:9", "--public-key", key,
           "--start", "0")  # fmt: skip
    gone = cli("ct", "watch", "--once", "--log", "gone")
    assert gone.code == 4 and "error: gone: log gone: ConnectError" in gone.err


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        pytest.param(["--url", "ftp://x/log"], 1, "not an http(s) URL", id="R18/bad-url"),
        pytest.param(["--url", "http://127.0.0.1:9"], 1, "public key", id="R18/bad-key"),
        pytest.param(["--url", "http://127.0.0.1:9", "--public-key", "missing.pem"], 1,
                     "cannot read", id="R18/missing-key-file"),
    ],
)  # fmt: skip
def test_log_add_refusals(cli: Cli, args: list[str], code: int, says: str) -> None:
    if "--public-key" not in args:
        args = [*args, "--public-key", str(cli.write("bad.pem", "not a key"))]
    assert says in cli.fails("ct", "log", "add", "x", *args, code=code)


def test_unknown_log_and_bad_cursor(cli: Cli) -> None:
    assert "no log named" in cli.fails("ct", "watch", "--once", "--log", "nope")
    assert "cursor" in cli.fails("ct", "findings", "--cursor", "abc")


def test_log_add_starts_at_the_head_by_default(cli: Cli, served: Served) -> None:
    ca = Authority()
    served.log.add_certificate(ca.certificate("old.dmv.ca.gov"), ca.cert)
    served.log.add_certificate(ca.certificate("www.example.com"), ca.cert)
    served.log.publish()
    key = cli.write("log.pem", served.log.public_pem)
    said = cli.ok("ct", "log", "add", "main", "--url", served.url, "--public-key", key).out
    assert said.startswith(f"following log main ({served.url}) from entry 2, log id ")
    assert cli.json("ct", "watch", "--once")["read"] == 0
    served.log.add_certificate(ca.certificate("new.dmv.ca.gov"), ca.cert)
    served.log.publish()
    report = cli.json("ct", "watch", "--once")
    assert (report["read"], report["findings"], report["errors"]) == (1, 1, [])
    (found,) = cli.json("ct", "findings")["items"]
    assert (found["names"], found["entry_index"]) == (["new.dmv.ca.gov"], 2)
    assert "main             rfc6962   from 2 read 3/3 proven 3" in cli.ok("ct", "log", "list").out
    says = cli.fails("ct", "log", "add", "x", "--url", served.url, "--public-key", key,
                     "--start", "9")  # fmt: skip
    assert "holds 3 entries; it cannot be read from entry 9" in says
    unreachable = cli.failed("ct", "log", "add", "gone", "--url", "http://127.0.0.1:9",
                             "--public-key", key, code=4)  # fmt: skip
    assert "ConnectError" in unreachable.err
