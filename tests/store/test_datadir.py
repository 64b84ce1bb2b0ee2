"""Security finding 1: the data directory and every file in it are private (0700/0600),
whatever the umask, and a queued enrollment mail holds its link sealed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from certdesk.store.datadir import make_private

CERTDESK = Path(sys.executable).with_name("certdesk")


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def loose_entries(root: Path) -> list[str]:
    return [f"{name} {mode:04o}" for name, mode in modes(root).items() if mode & 0o077]


def test_sec_datadir_processes_keep_everything_private_whatever_the_umask(
    tmp_path: Path,
) -> None:
    data = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
    env |= {"CERTDESK_DATA_DIR": str(data), "CERTDESK_PKI_BASE_URL": "http://pki.cdt.ca.gov"}

    def certdesk(*args: str) -> str:
        done = subprocess.run(
            ["sh", "-c", 'umask 022 && exec "$0" "$@"', str(CERTDESK), *args],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    certdesk("init")
    link = certdesk("user", "reset", "admin").strip()
    assert {"certdesk.db", "ca", "secrets"} <= set(modes(data))
    assert loose_entries(data) == []
    # A reader of the database file finds the queued link's token sealed, not usable.
    token = link.rsplit("/", 1)[1]
    engine = create_engine(f"sqlite:///{data / 'certdesk.db'}")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT body_text || body_html, sealed_link FROM notices")).all()
    engine.dispose()
    assert rows and all(token not in b and "/enroll/[single-use link]" in b for b, _ in rows)
    assert all(sealed and token not in sealed for _, sealed in rows)
    for raw in (data / "certdesk.db", data / "certdesk.db-wal"):
        if raw.exists():
            assert token.encode() not in raw.read_bytes()


@pytest.mark.usefixtures("loose_umask")
def test_sec_datadir_repairs_what_is_readable_by_others(tmp_path: Path) -> None:
    data = tmp_path / "var"
    (data / "ca").mkdir(parents=True, mode=0o755)
    data.chmod(0o755)
    (data / "certdesk.db").write_bytes(b"")
    (data / "certdesk.db").chmod(0o644)
    (data / "ca" / "root.key.pem").write_bytes(b"")
    (data / "ca" / "root.key.pem").chmod(0o640)
    # A script the operator keeps there loses group's and others' access, not its owner's.
    (data / "renew-hook.sh").write_bytes(b"")
    (data / "renew-hook.sh").chmod(0o755)
    repaired = make_private(data, data / "secrets")
    changes = sorted(r.split(": ")[1] for r in repaired)
    assert changes == [
        "0640 -> 0600", "0644 -> 0600", "0755 -> 0700", "0755 -> 0700", "0755 -> 0700"
    ]  # fmt: skip
    assert stat.S_IMODE((data / "renew-hook.sh").stat().st_mode) == 0o700
    assert loose_entries(data) == []
    assert make_private(data, data / "secrets") == []  # nothing left to repair
    # Files made afterwards by this process are private from the start (umask 077).
    (data / "certdesk.db-wal").write_bytes(b"")
    assert loose_entries(data) == []
