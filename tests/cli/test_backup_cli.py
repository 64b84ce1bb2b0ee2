"""``certdesk backup`` and ``certdesk restore`` in-process through ``run``: refusals with
their exit codes that change nothing, and restores across backends that give back the very
same rows (the restored installation's own backup holds byte-identical tables).

The online backup under load, on both backends with real processes, is in
tests/integration/test_backup_restore.py.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, func, select

import world.cli
from certdesk.backup_archive import OpeningReader
from certdesk.cli import common
from certdesk.core.keys import KeyType
from certdesk.services.pki.issuance import IssueCommand
from certdesk.store.db import make_engine, migrate
from conftest import OPERATOR, scratch_database
from world.cli import close_cached_services, operator_cli

CA_PASSPHRASE = "cli-backup-ca-passphrase"
PASSPHRASE = "a long backup passphrase"


class Cli(world.cli.Cli):
    def use(self, data_dir: Path, url: str = "", ca_passphrase: str = CA_PASSPHRASE) -> None:
        """Point the CLI at another installation (as an operator would, by environment)."""
        self.configure(data_dir=data_dir, database_url=url, ca_passphrase=ca_passphrase)

    def backup(self, name: str = "certdesk.bak") -> Path:
        out = self.tmp / name
        self.ok("backup", "--out", out, "--passphrase-file", self.write("pp", PASSPHRASE))
        return out


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    """An initialized installation on SQLite (the default under its data directory) with an
    organization and a certificate; nothing ever read from a terminal."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with operator_cli(capsys, tmp_path, monkeypatch, Cli) as cli:
        cli.use(tmp_path / "src")
        populate(cli)
        yield cli


def populate(cli: Cli) -> None:
    cli.ok("init")
    cli.ok("org", "create", "dmv", "--name", "DMV", "--grant", "zone:dmv.ca.gov")
    svc = common.services()
    csr = svc.csrs.generate(["www.dmv.ca.gov"], KeyType.EC256)
    svc.issuance.issue(OPERATOR, IssueCommand("dmv", csr.csr_pem))


def state(data_dir: Path, url: str = "") -> tuple[list[str], dict[str, int]]:
    """The files of a data directory (the SQLite file aside) and the database's row counts."""
    files = sorted(
        str(p.relative_to(data_dir))
        for p in data_dir.rglob("*")
        if p.is_file() and not p.name.startswith("certdesk.db")
    )
    engine = make_engine(url or f"sqlite:///{data_dir / 'certdesk.db'}")
    try:
        meta = MetaData()
        with engine.connect() as conn:
            meta.reflect(conn)
            counts = {
                n: conn.scalar(select(func.count()).select_from(t)) or 0
                for n, t in meta.tables.items()
            }
    finally:
        engine.dispose()
    return files, counts


def manifest_of(archive: Path) -> dict[str, Any]:
    with open(archive, "rb") as f:
        reader = OpeningReader(f, PASSPHRASE.encode())
        with tarfile.open(fileobj=reader, mode="r|gz") as tar:  # type: ignore[call-overload]
            first = next(iter(tar))
            assert first.name == "manifest.json"
            data = tar.extractfile(first)
            assert data is not None
            return dict(json.loads(data.read()))


# --------------------------------------------------------------------------- backup


def test_backup_writes_a_private_file_and_leaves_nothing_else(cli: Cli) -> None:
    out = cli.tmp / "certdesk.bak"
    out.write_text("yesterday's backup")  # replaced whole by rename(2), never in place
    # The first line of the file is the passphrase (restore reads the same one).
    pp = cli.write("pp", PASSPHRASE + "\r\nsecond line\n")
    made = cli.json("backup", "--out", out, "--passphrase-file", pp)
    assert made["file"] == str(out)
    assert made["backend"] == "sqlite"
    assert made["tables"]["certificates"] == 1
    assert made["tables"]["issuers"] == 2
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(p.name for p in cli.tmp.iterdir()) == ["certdesk.bak", "pp", "src"]
    assert [p.name for p in (cli.tmp / "src").glob(".backup-*")] == []
    manifest = manifest_of(out)
    assert set(manifest["members"]) >= {"db/certificates.jsonl", "db/audit_events.jsonl"}
    assert len([m for m in manifest["members"] if m.startswith("files/ca/")]) == 2
    assert manifest["ca_passphrase"] == "setting"
    text = cli.ok("backup", "--out", out, "--passphrase-file", cli.tmp / "pp")
    assert text.out.startswith(f"backup written: {out} (")
    assert "CERTDESK_CA_PASSPHRASE, which is not in the backup" in text.err


def _remove_ca_keys(cli: Cli) -> None:
    for key in (cli.tmp / "src" / "ca").iterdir():
        key.unlink()


@pytest.mark.parametrize(
    ("args", "prepare", "code", "says"),
    [
        pytest.param(
            [], None, 2, "no terminal to ask for the passphrase on; give --passphrase-file",
            id="usage/no-terminal-and-no-passphrase-file",
        ),
        pytest.param(
            ["--passphrase-file", "empty"], None, 1, "empty: write the passphrase in it",
            id="refuse/empty-passphrase-file",
        ),
        pytest.param(
            ["--passphrase-file", "missing"], None, 1, "cannot read missing",
            id="refuse/passphrase-file-missing",
        ),
        pytest.param(
            ["--passphrase-file", "short"], None, 1, "at least 12 characters",
            id="refuse/short-passphrase",
        ),
        pytest.param(
            ["--passphrase-file", "pp", "--out", "nowhere/b.bak"], None, 1, "no folder nowhere",
            id="refuse/no-such-folder",
        ),
        pytest.param(
            ["--passphrase-file", "pp"], _remove_ca_keys, 1, "is missing: nothing to back up",
            id="refuse/ca-key-missing",
        ),
    ],
)  # fmt: skip
def test_backup_refusals_write_nothing(
    cli: Cli, args: list[str], prepare: Callable[[Cli], None] | None, code: int, says: str
) -> None:
    cli.write("empty", "\n")
    cli.write("short", "elevenchars\n")
    cli.write("pp", PASSPHRASE)
    if prepare:
        prepare(cli)
    before = sorted(p.name for p in cli.tmp.iterdir())
    out = ["--out", "b.bak"] if "--out" not in args else []
    result = cli.failed("backup", *out, *args, code=code)
    assert says in result.err
    assert result.err.count("\n") == 1
    assert sorted(p.name for p in cli.tmp.iterdir()) == before
    assert [p.name for p in (cli.tmp / "src").glob(".backup-*")] == []


# --------------------------------------------------------------------------- restore


def _flip_middle(archive: Path) -> None:
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 1
    archive.write_bytes(bytes(data))


def _cut(archive: Path) -> None:
    archive.write_bytes(archive.read_bytes()[:-100])


def _plain_file(archive: Path) -> None:
    archive.write_text("not a backup at all\n")


@pytest.mark.parametrize(
    ("passphrase", "spoil", "setup", "code", "says"),
    [
        pytest.param(
            "a wrong passphrase, long", None, None, 1, "wrong passphrase for",
            id="refuse/wrong-passphrase",
        ),
        pytest.param(
            PASSPHRASE, _flip_middle, None, 1, "is damaged or was altered: ",
            id="refuse/one-bit-flipped",
        ),
        pytest.param(
            PASSPHRASE, _cut, None, 1, "is damaged or was altered: its end is cut off",
            id="refuse/cut-short",
        ),
        pytest.param(
            PASSPHRASE, _plain_file, None, 1, "is not a certdesk backup", id="refuse/not-a-backup"
        ),
        pytest.param(
            None, None, None, 2, "give --passphrase-file", id="usage/no-terminal"
        ),
        pytest.param(
            PASSPHRASE, None, "keys", 1, "the data directory already holds keys (",
            id="refuse/data-dir-holds-keys",
        ),
        pytest.param(
            PASSPHRASE, None, "database", 1, "the database is not empty (",
            id="refuse/database-not-empty",
        ),
        pytest.param(
            PASSPHRASE, None, "ca-passphrase", 1, "CA keys cannot be decrypted with"
            " CERTDESK_CA_PASSPHRASE", id="refuse/other-ca-passphrase",
        ),
        pytest.param(
            PASSPHRASE, None, "no-ca-passphrase", 1, "locked with a configured passphrase, and"
            " neither CERTDESK_CA_PASSPHRASE nor", id="refuse/ca-passphrase-not-set",
        ),
    ],
)  # fmt: skip
def test_restore_refusals_change_nothing(
    cli: Cli,
    passphrase: str | None,
    spoil: Callable[[Path], None] | None,
    setup: str | None,
    code: int,
    says: str,
) -> None:
    archive = cli.backup()
    if spoil:
        spoil(archive)
    target, url = cli.tmp / "dst", ""
    target.mkdir()
    ca_passphrase = CA_PASSPHRASE
    if setup == "keys":
        (target / "secrets").mkdir()
        (target / "secrets" / "secretbox.key").write_text("a key of another installation\n")
    elif setup == "database":
        url = f"sqlite:///{cli.tmp / 'src' / 'certdesk.db'}"
    elif setup == "ca-passphrase":
        ca_passphrase = "another passphrase"
    elif setup == "no-ca-passphrase":
        ca_passphrase = ""
    cli.use(target, url, ca_passphrase)
    before = state(target, url)
    args = ["--passphrase-file", cli.write("given", passphrase)] if passphrase else []
    result = cli.failed("restore", archive, *args, code=code)
    assert says in result.err
    assert result.err.count("\n") == 1
    close_cached_services()
    assert state(target, url) == before
    assert [p.name for p in target.glob(".restore-*")] == []


@pytest.mark.parametrize(
    ("source", "target"),
    [
        pytest.param("sqlite", "postgresql", id="portable/sqlite-to-postgresql"),
        pytest.param("postgresql", "sqlite", id="portable/postgresql-to-sqlite"),
    ],
)
def test_restore_gives_back_the_same_rows_on_either_backend(
    cli: Cli, source: str, target: str
) -> None:
    (cli.tmp / "a").mkdir()
    (cli.tmp / "b").mkdir()
    with (
        scratch_database(source, cli.tmp / "a", "bkcli") as source_url,
        scratch_database(target, cli.tmp / "b", "bkcli") as target_url,
    ):
        cli.use(cli.tmp / "a" / "data", source_url)
        populate(cli)
        first = cli.backup("first.bak")

        cli.use(cli.tmp / "b" / "data", target_url)
        restored = cli.json("restore", first, "--passphrase-file", cli.tmp / "pp")
        assert restored["backend"] == source
        source_data = cli.tmp / "a" / "data"
        assert restored["restored_files"] == sorted(
            str(p.relative_to(source_data))
            for p in [*source_data.glob("ca/*"), *source_data.glob("secrets/*")]
        )
        second = cli.backup("second.bak")
        assert cli.ok("audit", "verify").out.startswith("audit log intact")

        tables = {
            name: entry
            for name, entry in manifest_of(first)["members"].items()
            if name.startswith("db/")
        }
        again = manifest_of(second)
        assert again["backend"] == target
        assert {n: e for n, e in again["members"].items() if n.startswith("db/")} == tables
        # New rows continue after the restored ones (PostgreSQL sequences were moved on).
        cli.ok("org", "create", "chp", "--name", "CHP", "--grant", "zone:chp.ca.gov")
        close_cached_services()


def test_restore_into_a_migrated_unused_database(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database that only went through the migrations (its genesis audit head included) is
    as empty as one without tables; secrets go to CERTDESK_SECRETS_DIR when it is set."""
    archive = cli.backup()
    target = cli.tmp / "dst"
    target.mkdir()
    engine = make_engine(f"sqlite:///{target / 'certdesk.db'}")
    migrate(engine)
    engine.dispose()
    cli.use(target)
    shared = cli.tmp / "shared-secrets"
    monkeypatch.setenv("CERTDESK_SECRETS_DIR", str(shared))
    cli.ok("restore", archive, "--passphrase-file", cli.tmp / "pp")
    key = "secretbox.key"
    assert (shared / key).read_bytes() == (cli.tmp / "src" / "secrets" / key).read_bytes()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o700
    assert not (target / "secrets").exists()
    # The restored key is the one the database knows (a start would refuse another).
    assert cli.ok("audit", "verify").out.startswith("audit log intact")
    listed = cli.json("cert", "list")
    assert [c["names"] for c in listed["items"]] == [["www.dmv.ca.gov"]]
    assert stat.S_IMODE((target / "certdesk.db").stat().st_mode) == 0o600


# pty.spawn in a process of its own (this one has threads: no fork here): the command gets a
# terminal, whose input is this test's pipe.
_ON_A_TERMINAL = "import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))"


def _answer_prompts(args: list[str], answers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """Run ``certdesk ARGS`` on a terminal, typing each answer once its prompt is shown.

    A prompt's trailing space comes from getpass after it turned echo off and flushed the
    input, so an answer typed after it is read, not echoed and not lost.
    """
    certdesk = str(Path(sys.executable).with_name("certdesk"))
    proc = subprocess.Popen(
        [sys.executable, "-c", _ON_A_TERMINAL, certdesk, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    seen = b""
    try:
        for prompt, answer in answers:
            while prompt not in seen:
                chunk = os.read(proc.stdout.fileno(), 1024)
                assert chunk, f"no prompt {prompt!r} in {seen!r}"
                seen += chunk
            seen = seen[seen.index(prompt) + len(prompt) :]
            proc.stdin.write(answer + b"\n")
            proc.stdin.flush()
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, seen + rest


def test_on_a_terminal_the_passphrase_is_asked_twice_and_not_shown(cli: Cli) -> None:
    close_cached_services()
    out = cli.tmp / "typed.bak"
    asked = [(b"Backup passphrase: ", PASSPHRASE.encode())]
    typed_twice = [*asked, (b"Repeat for confirmation: ", PASSPHRASE.encode())]
    code, shown = _answer_prompts(["backup", "--out", str(out)], typed_twice)
    assert code == 0, shown
    assert PASSPHRASE.encode() not in shown
    assert manifest_of(out)["tables"]["certificates"] == 1  # opens with the typed passphrase

    cli.use(cli.tmp / "dst")
    code, shown = _answer_prompts(["restore", str(out)], asked)
    assert code == 0, shown
    assert b"Repeat" not in shown
    assert b"restored " in shown
