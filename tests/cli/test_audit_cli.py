"""``certdesk audit list|verify|checkpoint`` (R15) through the in-process CLI driver
(tests/world/cli.py): the console script's own ``run()``, without a new interpreter for every
command (tests/cli/test_cli.py runs the installed script itself)."""

from __future__ import annotations

import json
import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from certdesk.core.audit import GENESIS, AuditEvent, chain_hash
from world.cli import Cli, operator_cli


def test_audit_verify_finds_an_edited_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with operator_cli(capsys, tmp_path, monkeypatch, data_dir=tmp_path, ca_passphrase="x") as cli:
        cli.ok("init")
        cli.ok("org", "create", "dmv", "--name", "DMV", "--grant", "zone:dmv.ca.gov")
        listed = cli.json("audit", "list")
        assert [e["action"] for e in listed["items"]][:3] == [
            "org.create",
            "user.create",
            "token.create",
        ]
        assert cli.json("audit", "verify")["intact"] is True

        with sqlite3.connect(tmp_path / "certdesk.db") as conn:
            conn.execute("UPDATE audit_events SET summary = '{}' WHERE seq = 4")
        bad = cli("audit", "verify")
        assert bad.code == 1
        assert "event #4" in bad.err
        assert "Traceback" not in bad.err


# --- security finding 2: a keyed chain and signed checkpoints (R15) -------------------------


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    """An initialized installation with four organizations, its checkpoints in their own
    directory."""
    with operator_cli(
        capsys, tmp_path, monkeypatch,
        data_dir=tmp_path / "var", ca_passphrase="x", pki_base_url="http://pki.cdt.ca.gov",
        audit_checkpoint_dir=tmp_path / "checkpoints",
    ) as cli:  # fmt: skip
        cli.ok("init")
        for code in ("dmv", "chp", "cdt", "edd"):
            cli.ok("org", "create", code, "--name", code.upper(), "--grant", f"zone:{code}.ca.gov")
        yield cli


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


def test_sec_audit_rewritten_and_rehashed_without_the_key_is_detected(
    cli: Cli, tmp_path: Path
) -> None:
    db = tmp_path / "var" / "certdesk.db"
    assert len(_rows(db)) >= 8
    _rewrite(db, 8, '{"after":{"code":"forged"}}', key=None)  # the review's reproduction
    bad = cli("audit", "verify")
    assert bad.code == 1
    assert bad.err.startswith("audit log BROKEN at event #1:"), bad.err


def test_sec_audit_checkpoint_proves_the_log_up_to_it(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "var" / "certdesk.db"
    taken = cli.json("audit", "checkpoint")
    saved = Path(taken["file"])
    assert saved.parent == tmp_path / "checkpoints" and taken["seq"] == len(_rows(db))
    assert stat.S_IMODE(saved.stat().st_mode) & 0o077 == 0
    ok = cli("audit", "verify", "--checkpoint", saved)
    assert (ok.code, ok.err) == (0, ""), ok.err
    assert ok.out.startswith(f"audit log intact: {taken['seq']} events verified, the checkpoint")
    # Events after the checkpoint are fine; the checkpoint still holds.
    cli.ok("org", "create", "ftb", "--name", "FTB")
    cli.ok("audit", "verify", "--checkpoint", saved)

    # Someone who also holds the chain key rewrites event 3 and rehashes everything: the
    # chain verifies, the checkpoint does not.
    key = _chain_key(tmp_path / "var" / "secrets")
    _rewrite(db, 3, '{"after":{"code":"forged"}}', key=key)
    cli.ok("audit", "verify")  # the chain alone cannot tell
    bad = cli("audit", "verify", "--checkpoint", saved, "--json")
    assert bad.code == 1
    assert json.loads(bad.out)["reason"].endswith("(the log was rewritten)")


def test_sec_audit_truncation_after_a_checkpoint_is_detected(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "var" / "certdesk.db"
    saved = tmp_path / "cp.json"
    cli.ok("audit", "checkpoint", "--out", saved)
    # Cut off the last three events and move the head back: a consistent, shorter chain.
    with sqlite3.connect(db) as conn:
        last = conn.execute("SELECT max(seq) FROM audit_events").fetchone()[0]
        conn.execute("DELETE FROM audit_events WHERE seq > ?", (last - 3,))
        seq, digest = conn.execute(
            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, digest))
    cli.ok("audit", "verify")  # the chain alone cannot tell
    bad = cli("audit", "verify", "--checkpoint", saved)
    assert bad.code == 1
    assert f"saw {last} events, the log now ends at #{last - 3}" in bad.err


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
    cli: Cli, tmp_path: Path, change: Any, message: str
) -> None:
    saved = tmp_path / "cp.json"
    cli.ok("audit", "checkpoint", "--out", saved)
    saved.write_text(json.dumps(change(json.loads(saved.read_text()))))
    bad = cli.failed("audit", "verify", "--checkpoint", saved)
    assert message in bad.err, bad.err


def test_sec_audit_worker_writes_a_checkpoint_each_pass(cli: Cli, tmp_path: Path) -> None:
    written = Path(cli.json("worker", "--once")["checkpoint"])
    assert written.parent == tmp_path / "checkpoints"
    cli.ok("audit", "verify", "--checkpoint", written)


def _chain_key(secrets: Path) -> bytes:
    from certdesk.services.audit import CHAIN_KEY_PURPOSE
    from certdesk.services.secretbox import SecretBox

    return SecretBox(secrets).derive(CHAIN_KEY_PURPOSE)
