"""``certdesk user prefs`` and ``certdesk webhook add|list|remove|deliveries`` (issue 14),
in-process through ``run``, configured by the environment as an operator would (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from certdesk.cli import common
from certdesk.store.models import AuditRow, MailPreference, Webhook
from world.cli import Cli, operator_cli

SQLITE = pytest.mark.parametrize("backend", ["sqlite"])


def counts() -> dict[str, int]:
    with common.services().rt.reads() as s:
        return {
            m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
            for m in (MailPreference, Webhook, AuditRow)
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
        data_dir=tmp_path / "var",
        database_url=database_url,
        ca_passphrase="cli-test-passphrase",
        base_url="https://desk.cdt.ca.gov",
    ) as runner:  # fmt: skip
        runner.ok("init")
        runner.ok("org", "create", "dmv", "--name", "DMV")
        runner.ok(
            "user", "create", "jdoe", "--name", "Jane Doe", "--email", "jane@dmv.ca.gov",
            "--org", "dmv", "--role", "approver",
        )  # fmt: skip
        yield runner


def test_prefs_show_and_set(cli: Cli) -> None:
    shown = {p["kind"]: p for p in cli.json("user", "prefs", "jdoe")}
    assert shown["submitted"]["mode"] == "immediate"
    assert shown["expiry"]["safety"] is True
    out = cli.ok("user", "prefs", "jdoe", "--set", "submitted=digest", "--set", "waiting=off").out
    assert "submitted\tdigest\t" in out and "waiting\toff\t" in out
    assert cli.json("user", "prefs", "jdoe")[0]["mode"] == "digest"


@SQLITE
@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        pytest.param(["jdoe", "--set", "expiry=off"], 1, "cannot be turned off", id="safety-off"),
        pytest.param(["jdoe", "--set", "nonsense=off"], 1, "unknown kind", id="unknown-kind"),
        pytest.param(["jdoe", "--set", "waiting=loud"], 1, "unknown choice", id="unknown-mode"),
        pytest.param(["jdoe", "--set", "waiting"], 1, "KIND=MODE", id="no-equals"),
        pytest.param(
            ["jdoe", "--set", "waiting=off", "--set", "revocation=off"],
            1,
            "cannot be turned off",
            id="all-or-nothing",
        ),
        pytest.param(["nobody"], 3, "no user", id="unknown-person"),
    ],
)
def test_prefs_refusals_change_nothing(cli: Cli, args: list[str], code: int, said: str) -> None:
    before = counts()
    err = cli.failed("user", "prefs", *args, code=code).err
    assert said in err and err.count("\n") == 1
    assert counts() == before


def test_webhook_add_list_deliveries_remove(cli: Cli) -> None:
    added = cli.json(
        "webhook", "add", "https://bridge.example/hook", "--org", "dmv",
        "--event", "case.approved", "--label", "Teams",
    )  # fmt: skip
    hook_id = added["webhook"]["id"]
    secret = added["secret"]
    assert len(secret) >= 40
    with common.services().rt.reads() as s:
        stored = s.scalars(select(Webhook)).one()
    assert secret.encode() not in stored.sealed_secret  # sealed at rest
    assert common.services().secretbox.open(stored.sealed_secret) == secret.encode()
    plain = cli.ok("webhook", "add", "http://127.0.0.1:9/hook")
    assert "secret: " in plain.out and "shown only this once" in plain.err
    lines = cli.ok("webhook", "list").out.strip().splitlines()
    assert [ln.split("\t")[1] for ln in lines] == ["dmv", "cert-services"]
    assert secret not in "".join(lines)
    assert cli.json("webhook", "list", "--org", "dmv")[0]["events"] == ["case.approved"]
    assert cli.json("webhook", "deliveries", str(hook_id)) == []
    assert "is removed" in cli.ok("webhook", "remove", str(hook_id)).out
    assert [w["org"] for w in cli.json("webhook", "list")] == [None]
    cli.failed("webhook", "remove", str(hook_id), code=3)


@SQLITE
@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        pytest.param(["http://bridge.example/hook"], 1, "use https", id="http-elsewhere"),
        pytest.param(["ftp://bridge.example/"], 1, "not an http", id="scheme"),
        pytest.param(["https://u:p@bridge.example/"], 1, "user name", id="credentials"),
        pytest.param(["https://b.example/", "--event", "nope"], 1, "unknown event", id="event"),
        pytest.param(["https://b.example/", "--org", "qzx"], 3, "no organization", id="org"),
    ],
)
def test_webhook_add_refusals_change_nothing(
    cli: Cli, args: list[str], code: int, said: str
) -> None:
    before = counts()
    err = cli.failed("webhook", "add", *args, code=code).err
    assert said in err
    assert counts() == before


@SQLITE
def test_webhook_unknown_and_bad_status(cli: Cli) -> None:
    cli.failed("webhook", "deliveries", "42", code=3)
    hook = cli.json("webhook", "add", "https://b.example/")["webhook"]["id"]
    assert (
        "unknown status" in cli.failed("webhook", "deliveries", str(hook), "--status", "lost").err
    )
