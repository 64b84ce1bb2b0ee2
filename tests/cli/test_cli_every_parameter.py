"""Every parameter of every command, given a value it cannot use, ends in an exit code of the
CLI's convention (0-4) and at most one ``error:`` line, never a traceback (the brief's "bad
input" rule). The command tree is walked, so a command added later is covered without being
listed here; the few that serve, loop or reach out to the network are left out.

A walk of this kind (seven thousand calls, more values) found the refusals now tested one by
one in tests/cli/test_cli_bad_input.py; this one keeps every command honest at a cost of a few
hundred in-process calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from certdesk.cli.main import app, run
from world.cli import Cli, close_cached_services, operator_cli

# Commands that run until stopped, wait on the network, or print a shell script.
LEFT_OUT = {"serve", "worker", "completion", "verify", "discover", "ct watch", "mail send"}
# Values no parameter can use: past a 64-bit integer, longer than a file name, empty.
VALUES = ["99999999999999999999999", "n" * 300, ""]
# What a required parameter gets while another one is being tried (each command then runs as
# far as its first refusal).
PLAUSIBLE = {
    "code": "dmv",
    "org": "dmv",
    "names": "www.dmv.ca.gov",
    "name": "www.dmv.ca.gov",
    "grant": "zone:dmv.ca.gov",
    "role": "operator",
    "email": "ops@dmv.ca.gov",
    "password_file": "password.txt",
    "passphrase_file": "password.txt",
    "file": "password.txt",
    "csr": "password.txt",
    "start": "2026-01-01",
    "end": "2026-12-31",
}


def _commands() -> Iterator[tuple[list[str], Any]]:
    def walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])
        elif " ".join(path) not in LEFT_OUT:
            yield path, command

    yield from walk(typer.main.get_command(app), [])


def _cases() -> list[Any]:
    return [pytest.param(path, command, id=" ".join(path)) for path, command in _commands()]


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One initialized certdesk for the whole file, with the organization dmv."""
    tmp = tmp_path_factory.mktemp("every-parameter")
    env = {
        "CERTDESK_DATA_DIR": str(tmp / "var"),
        "CERTDESK_DATABASE_URL": "",
        "CERTDESK_CA_PASSPHRASE": "every-parameter",
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        assert run(["init"]) == 0
        grant = ["--grant", "zone:dmv.ca.gov"]
        assert run(["org", "create", "dmv", "--name", "DMV", "--self-managed", *grant]) == 0
        close_cached_services()
    yield {k.removeprefix("CERTDESK_").lower(): v for k, v in env.items()}


@pytest.fixture
def cli(
    installation: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Cli]:
    with operator_cli(capsys, tmp_path, monkeypatch, Cli, **installation) as c:
        c.write("password.txt", "correct horse battery staple\n")
        yield c


def _args(path: list[str], params: list[Any], tried: str, value: str) -> list[str]:
    args = list(path)
    for p in params:
        if p.name == tried:
            given = value
        elif p.required:
            given = PLAUSIBLE.get(p.name, "1")
        else:
            continue
        if type(p).__name__.endswith("Option"):
            args += [p.opts[0], given]
        else:
            args.append(given)
    return args


@pytest.mark.parametrize(("path", "command"), _cases())
def test_bad_input_to_any_parameter_is_an_exit_code_never_a_traceback(
    cli: Cli, path: list[str], command: Any
) -> None:
    params = [p for p in command.params if not getattr(p, "is_flag", False)]
    for tried in params:
        for value in VALUES:
            result = cli(*_args(path, params, tried.name, value))
            assert result.code in (0, 1, 2, 3, 4), result
            assert "Traceback" not in result.err + result.out, result
            if result.code and result.err:  # (a refusal; `policy check` reports on stdout)
                assert result.err.startswith("error: "), result
                assert result.err.count("\n") == 1, result
