"""``certdesk audit list|verify`` (R15) through the installed console script."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from certdesk.core.audit import GENESIS, AuditEvent, chain_hash

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


# --- security finding 2: a keyed chain and signed checkpoints (R15) -------------------------


def _installation(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
    env |= {
        "CERTDESK_DATA_DIR": str(tmp_path / "var"),
        "CERTDESK_CA_PASSPHRASE": "x",
        "CERTDESK_PKI_BASE_URL": "http://pki.cdt.ca.gov",
        "CERTDESK_AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
    }
    assert _run(env, "init").returncode == 0
    for code in ("dmv", "chp", "cdt", "edd"):
        done = _run(env, "org", "create", code, "--name", code.upper(), "--grant",
                    f"zone:{code}.ca.gov")  # fmt: skip
        assert done.returncode == 0, done.stderr
    return env


def _rows(db: Path) -> list[tuple[int, str, str, str, str, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT seq, at, actor, action, object_type, object_id, summary"
            " FROM audit_events ORDER BY seq"
        ).fetchall()


def _rewrite(db: Path, seq: int, summary: str, key: bytes | None) -> None:
    """Change event ``seq`` and recompute every later link and the head, as someone who can
    write the database would, with ``key`` (None: the plain SHA-256 of an unkeyed chain)."""
    rows = _rows(db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_events SET summary = ? WHERE seq = ?", (summary, seq))
        prev = GENESIS
        for s, at, actor, action, otype, oid, stored in rows:
            summ = summary if s == seq else stored
            event = AuditEvent(
                s, datetime.fromisoformat(at).replace(tzinfo=UTC), actor, action, otype, oid,
                json.loads(summ),
            )  # fmt: skip
            digest = chain_hash(prev, event, key)
            conn.execute(
                "UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, s)
            )
            prev = digest
        conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (rows[-1][0], prev))


def test_sec_audit_rewritten_and_rehashed_without_the_key_is_detected(tmp_path: Path) -> None:
    env = _installation(tmp_path)
    db = tmp_path / "var" / "certdesk.db"
    assert len(_rows(db)) >= 8
    _rewrite(db, 8, '{"after":{"code":"forged"}}', key=None)  # the review's reproduction
    bad = _run(env, "audit", "verify")
    assert bad.returncode == 1
    assert bad.stderr.startswith("audit log BROKEN at event #1:"), bad.stderr


def test_sec_audit_checkpoint_proves_the_log_up_to_it(tmp_path: Path) -> None:
    env = _installation(tmp_path)
    db = tmp_path / "var" / "certdesk.db"
    made = _run(env, "audit", "checkpoint", "--json")
    assert made.returncode == 0, made.stderr
    taken = json.loads(made.stdout)
    saved = Path(taken["file"])
    assert saved.parent == tmp_path / "checkpoints" and taken["seq"] == len(_rows(db))
    assert stat.S_IMODE(saved.stat().st_mode) & 0o077 == 0
    ok = _run(env, "audit", "verify", "--checkpoint", str(saved))
    assert (ok.returncode, ok.stderr) == (0, ""), ok.stderr
    assert ok.stdout.startswith(f"audit log intact: {taken['seq']} events verified, the checkpoint")
    # Events after the checkpoint are fine; the checkpoint still holds.
    assert _run(env, "org", "create", "ftb", "--name", "FTB").returncode == 0
    assert _run(env, "audit", "verify", "--checkpoint", str(saved)).returncode == 0

    # Someone who also holds the chain key rewrites event 3 and rehashes everything: the
    # chain verifies, the checkpoint does not.
    key = _chain_key(tmp_path / "var" / "secrets")
    _rewrite(db, 3, '{"after":{"code":"forged"}}', key=key)
    assert _run(env, "audit", "verify").returncode == 0  # the chain alone cannot tell
    bad = _run(env, "audit", "verify", "--checkpoint", str(saved), "--json")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["reason"].endswith("(the log was rewritten)")


def test_sec_audit_truncation_after_a_checkpoint_is_detected(tmp_path: Path) -> None:
    env = _installation(tmp_path)
    db = tmp_path / "var" / "certdesk.db"
    saved = tmp_path / "cp.json"
    assert _run(env, "audit", "checkpoint", "--out", str(saved)).returncode == 0
    # Cut off the last three events and move the head back: a consistent, shorter chain.
    with sqlite3.connect(db) as conn:
        last = conn.execute("SELECT max(seq) FROM audit_events").fetchone()[0]
        conn.execute("DELETE FROM audit_events WHERE seq > ?", (last - 3,))
        seq, digest = conn.execute(
            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, digest))
    assert _run(env, "audit", "verify").returncode == 0  # the chain alone cannot tell
    bad = _run(env, "audit", "verify", "--checkpoint", str(saved))
    assert bad.returncode == 1
    assert f"saw {last} events, the log now ends at #{last - 3}" in bad.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(lambda d: d | {"seq": d["seq"] - 1}, "signature does not verify",
                     id="sec/checkpoint/altered"),
        pytest.param(lambda d: d | {"public_key": "AAAA"}, "another installation's key",
                     id="sec/checkpoint/other-key"),
        pytest.param(lambda d: {"hello": 1}, "not a certdesk audit checkpoint",
                     id="sec/checkpoint/not-one"),
    ],
)  # fmt: skip
def test_sec_audit_a_checkpoint_that_is_not_ours_is_refused(
    tmp_path: Path, change: Any, message: str
) -> None:
    env = _installation(tmp_path)
    saved = tmp_path / "cp.json"
    assert _run(env, "audit", "checkpoint", "--out", str(saved)).returncode == 0
    saved.write_text(json.dumps(change(json.loads(saved.read_text()))))
    bad = _run(env, "audit", "verify", "--checkpoint", str(saved))
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: ") and message in bad.stderr, bad.stderr


def test_sec_audit_worker_writes_a_checkpoint_each_pass(tmp_path: Path) -> None:
    env = _installation(tmp_path)
    done = _run(env, "worker", "--once", "--json")
    assert done.returncode == 0, done.stderr
    written = Path(json.loads(done.stdout)["checkpoint"])
    assert written.parent == tmp_path / "checkpoints"
    assert _run(env, "audit", "verify", "--checkpoint", str(written)).returncode == 0


def _chain_key(secrets: Path) -> bytes:
    from certdesk.services.audit import CHAIN_KEY_PURPOSE
    from certdesk.services.secretbox import SecretBox

    return SecretBox(secrets).derive(CHAIN_KEY_PURPOSE)
