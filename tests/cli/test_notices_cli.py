"""``certdesk notices list|preview|run`` (R9), in-process through ``certdesk.cli.main.run``,
configured by the environment as an operator would, against a real SMTP server (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import structlog

import world.cli
from certdesk.cli import notices as cli_notices
from certdesk.config import Settings
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from world.cli import build_commands_once
from world.mail import SmtpServer, received
from world.notices import START, Snapshots, open_notice_desk

SQLITE = pytest.mark.parametrize("backend", ["sqlite"])


class Cli(world.cli.Cli):
    """The CLI driver on a notice desk, with its SMTP server and one certificate."""

    smtp: SmtpServer
    serial: str


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshots]:
    made = Snapshots(tmp_path_factory.mktemp("notice-cli-snapshots"))
    yield made
    made.close()


@pytest.fixture
def cli(
    backend: str,
    tmp_path: Path,
    snapshots: Snapshots,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Cli]:
    url = snapshots.clone(backend, tmp_path)
    with SmtpServer() as smtp, open_notice_desk(url, tmp_path, smtp_url=smtp.url) as desk:
        serial = desk.issue("dmv", "portal.dmv.ca.gov", days=100)
        desk.attach([serial], [("Ana", "ana@dmv.ca.gov"), ("Typo", "ana-at-dmv")])
        for key, value in {
            "DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": url,
            "CA_PASSPHRASE": "test-passphrase",
            "SMTP_URL": smtp.url,
            "MAIL_FROM": "certdesk@cdt.ca.gov",
        }.items():
            monkeypatch.setenv(f"CERTDESK_{key}", value)
        build_commands_once(monkeypatch)
        # The commands read the time from the services' clock: the test's, not the wall's.
        made: list[Services] = []

        def services() -> Services:
            if not made:
                made.append(Services(Runtime.open(Settings(), desk.clock)))
            return made[0]

        monkeypatch.setattr(cli_notices, "services", services)
        try:
            cli = Cli(capsys, tmp_path, desk=desk)
            cli.smtp, cli.serial = smtp, serial
            yield cli
        finally:
            for svc in made:
                svc.rt.close()
            structlog.reset_defaults()


@SQLITE
def test_run_list_and_preview(cli: Cli) -> None:
    cli.desk.clock.now = START + timedelta(days=13)
    at = cli.desk.clock().isoformat().replace("+00:00", "Z")
    result = cli("notices", "run", "--now", at)
    # The bad address is reported and makes the exit code 1 (a cron job mails its output).
    assert result.code == 1
    assert result.out.startswith("planned 2, sent 1 (1 late) in 1 messages")
    assert "'ana-at-dmv' is not a valid email address" in result.err
    assert [g.reason for g in received(cli.smtp.inbox.messages)] == ["expiry.90"]
    assert cli.json("notices", "run", "--now", at)["planned"] == 0  # nothing twice

    items = cli.json("notices", "list")["items"]
    assert sorted((n["contact_email"], n["status"]) for n in items) == [
        ("ana-at-dmv", "failed"),
        ("ana@dmv.ca.gov", "sent"),
    ]
    failed = cli.json("notices", "list", "--status", "failed", "--cert", cli.serial)["items"]
    assert [n["contact_email"] for n in failed] == ["ana-at-dmv"]
    text = cli("notices", "list", "--status", "sent")
    assert text.code == 0
    (line,) = text.out.splitlines()
    assert f"sent LATE\texpiry.90\tcertificate:{cli.serial}\tana@dmv.ca.gov" in line

    preview = cli("notices", "preview", cli.serial, "--reason", "expiry.7")
    assert preview.code == 0
    assert f"Subject: Certificate portal.dmv.ca.gov ({cli.serial}) expires in 7 days" in preview.out
    assert "(not sent: 'ana-at-dmv' is not a valid email address)" in preview.out
    html = cli("notices", "preview", cli.serial, "--html")
    assert "<!DOCTYPE html>" in html.out and "expires in 60 days" in html.out
    (first, _) = cli.json("notices", "preview", cli.serial)
    assert first["reason"] == "expiry.60" and first["to"] == "ana@dmv.ca.gov"
    assert len(cli.smtp.inbox.messages) == 1  # previews send nothing


@SQLITE
@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        pytest.param(("run", "--now", "yesterday"), "cannot read 'yesterday'", 1, id="bad-now"),
        pytest.param(("run", "--now", "2027-02-01T10:00"), "has no time zone", 1, id="naive-now"),
        pytest.param(("list", "--status", "lost"), "unknown status 'lost'", 1, id="bad-status"),
        pytest.param(("preview", "abc123"), "no certificate with serial abc123", 3, id="unknown"),
        pytest.param(("preview", "zz"), "is not a certificate serial", 1, id="not-hex"),
        pytest.param(("list", "--case", "CS-2027-999999"), "no case", 3, id="unknown-case"),
    ],
)
def test_bad_input_is_one_line_with_its_exit_code(
    cli: Cli, args: tuple[str, ...], message: str, code: int
) -> None:
    result = cli("notices", *args)
    assert result.code == code
    assert result.err.startswith("error: ") and message in result.err
    assert "Traceback" not in result.err and len(result.err.splitlines()) == 1


@SQLITE
def test_preview_rejects_a_reason_it_cannot_render(cli: Cli) -> None:
    result = cli("notices", "preview", cli.serial, "--reason", "case.approved#1")
    assert result.code == 1 and "unknown reason" in result.err
