"""``certdesk audit list|verify`` (R15) through the installed console script."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

CERTDESK = str(Path(sys.executable).with_name("certdesk"))


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CERTDESK, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_audit_verify_finds_an_edited_row(tmp_path: Path) -> None:
    env = {**os.environ, "CERTDESK_DATA_DIR": str(tmp_path), "CERTDESK_CA_PASSPHRASE": "x"}
    assert _run(env, "init").returncode == 0
    assert (
        _run(env, "org", "create", "dmv", "--name", "DMV", "--grant", "zone:dmv.ca.gov").returncode
        == 0
    )
    listed = json.loads(_run(env, "audit", "list", "--json").stdout)
    assert [e["action"] for e in listed["items"]][:3] == [
        "org.create",
        "user.create",
        "token.create",
    ]
    ok = _run(env, "audit", "verify", "--json")
    assert ok.returncode == 0
    assert json.loads(ok.stdout)["intact"] is True

    with sqlite3.connect(tmp_path / "certdesk.db") as conn:
        conn.execute("UPDATE audit_events SET summary = '{}' WHERE seq = 4")
    bad = _run(env, "audit", "verify")
    assert bad.returncode == 1
    assert "event #4" in bad.stderr
    assert "Traceback" not in bad.stderr
