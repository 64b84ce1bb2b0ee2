"""``certdesk user …`` and ``certdesk mail send`` (R10), in-process through ``run``.

Configuration comes from the environment, as for an operator. The flow runs on SQLite and
PostgreSQL; the tables of bad input run on SQLite.
"""

from __future__ import annotations

import io
import re
import socket
import sys
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from certdesk.cli import common
from certdesk.store.models import AuditRow, Enrollment, Notice, User, UserRole
from world.cli import Cli, close_cached_services, operator_cli

SQLITE = pytest.mark.parametrize("backend", ["sqlite"])  # overrides the backend fixture
LINK = re.compile(r"^https://desk\.cdt\.ca\.gov/enroll/[0-9a-f]{64}$")
PASSWORD = "correct horse battery"


def counts() -> dict[str, int]:
    """Row counts a refused command must leave as they were."""
    with common.services().rt.reads() as s:
        return {
            m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
            for m in (User, UserRole, Enrollment, Notice, AuditRow)
        }


@pytest.fixture
def cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Cli]:
    """Initialized, with organizations dmv and cdt."""
    with operator_cli(
        capsys, tmp_path, monkeypatch,
        data_dir=tmp_path / "var",
        database_url=database_url,
        ca_passphrase="cli-test-passphrase",
        base_url="https://desk.cdt.ca.gov",
        training_url="https://training.cdt.ca.gov/certdesk",
    ) as runner:  # fmt: skip
        runner.ok("init")
        runner.ok("org", "create", "dmv", "--name", "DMV", "--self-managed")
        runner.ok("org", "create", "cdt", "--name", "CDT")
        yield runner


def test_user_lifecycle(cli: Cli) -> None:
    created = cli.ok(
        "user", "create", "JDoe", "--name", "Jane Doe", "--email", "jane@dmv.ca.gov",
        "--org", "dmv", "--role", "requester", "--role", "approver",
    )  # fmt: skip
    link = created.out.strip()
    assert LINK.match(link), created.out  # the link alone on stdout, for scripts
    assert "shown once" in created.err and "jane@dmv.ca.gov" in created.err
    assert PASSWORD not in created.out + created.err

    # `init` made the first operator account, admin; jdoe is the other one.
    lines = cli.ok("user", "list").out.strip().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == ["admin", "jdoe"]
    line = lines[1]
    assert line.split("\t") == [
        "jdoe", "Jane Doe", "jane@dmv.ca.gov", "dmv", "approver,requester", "enrolling",
    ]  # fmt: skip
    shown = cli.json("user", "show", "jdoe")
    assert shown["roles"] == ["approver", "requester"] and shown["enrolled"] is False

    # Enroll with the whole link, the password from a file (one trailing newline dropped).
    enrolled = cli.json(
        "user", "enroll", link, "--password-file", cli.write("pw.txt", PASSWORD + "\n")
    )
    assert enrolled["enrolled"] is True
    assert common.services().logins.login("jdoe", PASSWORD).user.login_id == "jdoe"
    again = cli.fails("user", "enroll", link, "--password-file", cli.write("pw.txt", PASSWORD))
    assert "already been used" in again  # R10: single use

    assert cli.json("user", "roles", "jdoe", "--role", "requester")["roles"] == ["requester"]
    assert cli.ok("user", "disable", "jdoe").out.strip().endswith("disabled")
    assert cli.json("user", "enable", "jdoe")["disabled"] is False

    reset = cli.json("user", "reset", "jdoe")
    assert LINK.match(reset["link"]) and reset["user"]["login_id"] == "jdoe"
    token = reset["link"].rsplit("/", 1)[1]
    cli.ok("user", "enroll", token, "--password-file", cli.write("pw.txt", "another long one!"))
    common.services().logins.login("jdoe", "another long one!")

    cli.ok("user", "create", "ops1", "--name", "Ops", "--email", "ops@cdt.ca.gov",
           "--role", "operator")  # fmt: skip
    assert [u["login_id"] for u in cli.json("user", "list")] == ["admin", "jdoe", "ops1"]
    assert [u["login_id"] for u in cli.json("user", "list", "--org", "dmv")] == ["jdoe"]
    text = cli.ok("user", "show", "ops1").out
    assert "org: -" in text and "roles: operator" in text and "status: enrolling" in text


def test_enroll_reads_the_password_from_stdin(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    link = cli.ok(
        "user", "create", "jdoe", "--name", "J", "--email", "j@dmv.ca.gov", "--org", "dmv",
        "--role", "requester",
    ).out.strip()  # fmt: skip

    class Stdin:
        buffer = io.BytesIO(PASSWORD.encode() + b"\r\n")

    monkeypatch.setattr(sys, "stdin", Stdin())
    cli.ok("user", "enroll", link, "--password-file", "-")
    common.services().logins.login("jdoe", PASSWORD)


@SQLITE
def test_mail_send_without_smtp_says_what_to_set(cli: Cli) -> None:
    cli.ok("user", "create", "jdoe", "--name", "J", "--email", "j@dmv.ca.gov", "--org", "dmv",
           "--role", "requester")  # fmt: skip
    error = cli.fails("mail", "send", code=4)  # unavailable: no mail server
    assert "CERTDESK_SMTP_URL is not set; 1 message(s) wait in the outbox" in error


@SQLITE
@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        pytest.param(["user", "create", "x", "--name", "N", "--email", "n@dmv.ca.gov",
                      "--org", "dmv", "--role", "requester"], "login ID 'x' must be",
                     1, id="R10/cli/short-login"),
        pytest.param(["user", "create", "newbie", "--name", "N", "--email", "bad",
                      "--org", "dmv", "--role", "requester"], "not an e-mail address",
                     1, id="cli/bad-email"),
        pytest.param(["user", "create", "newbie", "--name", "N", "--email", "n@dmv.ca.gov",
                      "--role", "requester"], "need an organization",
                     1, id="R10/cli/org-role-without-org"),
        pytest.param(["user", "create", "newbie", "--name", "N", "--email", "n@dmv.ca.gov",
                      "--org", "dmv", "--role", "operator"], "belong to no organization",
                     1, id="R10/cli/operator-with-org"),
        pytest.param(["user", "create", "newbie", "--name", "N", "--email", "n@dmv.ca.gov",
                      "--org", "dmv", "--role", "king"], "unknown role 'king'",
                     1, id="R10/cli/unknown-role"),
        pytest.param(["user", "create", "newbie", "--name", "N", "--email", "n@dmv.ca.gov",
                      "--org", "nope", "--role", "requester"], "no organization with code",
                     3, id="cli/unknown-org"),
        pytest.param(["user", "create", "newbie", "--name", "N", "--email", "n@dmv.ca.gov",
                      "--org", "dmv"], "--role", 2, id="cli/missing-role"),
        pytest.param(["user", "create", "taken", "--name", "N", "--email", "n@dmv.ca.gov",
                      "--org", "dmv", "--role", "requester"], "is taken",
                     1, id="R10/cli/login-taken"),
        pytest.param(["user", "show", "ghost"], "no user 'ghost'", 3, id="cli/show-unknown"),
        pytest.param(["user", "disable", "ghost"], "no user 'ghost'", 3, id="cli/disable-unknown"),
        pytest.param(["user", "reset", "ghost"], "no user 'ghost'", 3, id="cli/reset-unknown"),
        pytest.param(["user", "roles", "taken", "--role", "operator"], "belong to no organization",
                     1, id="R10/cli/roles-operator-in-org"),
        pytest.param(["user", "enroll", "a" * 64, "--password-file", "pw.txt"],
                     "link is not valid", 3, id="R10/cli/enroll-unknown-link"),
        pytest.param(["user", "enroll", "a" * 64, "--password-file", "missing.txt"],
                     "cannot read missing.txt", 1, id="cli/enroll-missing-file"),
    ],
)  # fmt: skip
def test_bad_input_exits_and_changes_nothing(
    cli: Cli, args: list[str], message: str, code: int
) -> None:
    cli.ok("user", "create", "taken", "--name", "T", "--email", "t@dmv.ca.gov", "--org", "dmv",
           "--role", "requester")  # fmt: skip
    cli.write("pw.txt", PASSWORD)
    before = counts()
    assert message in cli.fails(*args, code=code)
    assert counts() == before


@SQLITE
def test_enroll_with_a_short_password_keeps_the_link(cli: Cli) -> None:
    link = cli.ok("user", "create", "jdoe", "--name", "J", "--email", "j@dmv.ca.gov",
                  "--org", "dmv", "--role", "requester").out.strip()  # fmt: skip
    before = counts()
    error = cli.fails("user", "enroll", link, "--password-file", cli.write("pw.txt", "short"))
    assert "at least 12 characters" in error
    assert counts() == before
    cli.ok("user", "enroll", link, "--password-file", cli.write("pw.txt", PASSWORD))


class _Inbox:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.bodies.append(envelope.content)
        return "250 OK"


@SQLITE
def test_mail_send_delivers_the_outbox(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    link = cli.ok("user", "create", "jdoe", "--name", "J", "--email", "j@dmv.ca.gov",
                  "--org", "dmv", "--role", "requester").out.strip()  # fmt: skip
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.setenv("CERTDESK_SMTP_URL", f"smtp://127.0.0.1:{port}")
        close_cached_services()  # settings are read once per process, as in production
        assert cli.json("mail", "send") == {"sent": 1, "retrying": 0, "failed": 0, "errors": []}
        assert cli.ok("mail", "send").out.strip() == "sent 0, retrying 0, failed 0"
    finally:
        controller.stop()
    (raw,) = inbox.bodies
    mail = message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    text = mail.get_body(("plain",))
    assert text is not None and link in text.get_content()
    # Nobody listens any more: the attempt is recorded and the command says so with exit 4
    # (unavailable: the mail waits for the server, nothing was refused).
    cli.ok("user", "reset", "jdoe")
    result = cli("mail", "send")
    assert result.code == 4
    assert result.out.strip() == "sent 0, retrying 1, failed 0"
    assert "j@dmv.ca.gov: ConnectionRefusedError" in result.err
