"""The one CLI driver: ``certdesk ARGS`` run in this process (``certdesk.cli.main.run``) with
its output captured, configured by the environment the way an operator configures it.

- :class:`Cli` runs commands: ``cli(...)`` (any outcome), ``cli.ok(...)``, ``cli.json(...)``,
  ``cli.failed(...)`` (a clean failure: the exit code, one ``error:`` line, no traceback) and
  ``cli.fails(...)`` (that, nothing on stdout, and nothing changed that ``state`` reads).
- :func:`operator_cli` is the usual fixture body: a CLI whose settings come from ``CERTDESK_*``
  variables, with the cached services closed before and after.
- A test that points the CLI's services at a desk monkeypatches the command module's
  ``services`` (see tests/cli/test_cases_cli.py); :class:`Cli` does not care how.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import structlog
import typer.main

from certdesk.cli import common
from certdesk.cli.main import run
from certdesk.services.registry import Services
from world.refusals import unchanged

if TYPE_CHECKING:
    from world.desk import Desk

# The module, not the package's console-script function `certdesk.cli.main`.
cli_main = importlib.import_module("certdesk.cli.main")
# run() builds the click command tree from the typer app on every call (~0.2 s: typer reads
# every command's signature). A process calls run() once; tests call it hundreds of times, so
# they build the tree once. Parsing and invocation stay fresh for every call.
_get_command_once = functools.cache(typer.main.get_command)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def __iter__(self) -> Iterator[object]:
        """``code, out, err = cli(...)``."""
        return iter((self.code, self.out, self.err))


def close_cached_services() -> None:
    """Close the CLI's cached services (one per process), so the next command opens anew."""
    if common.services.cache_info().currsize:
        common.services().rt.close()
    common.services.cache_clear()


def build_commands_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let ``run()`` reuse one command tree (see ``_get_command_once``)."""
    monkeypatch.setattr(cli_main, "get_command", _get_command_once)


class Cli:
    """The CLI run in this process, its output captured.

    ``desk`` is the populated certdesk a test works on (if any); ``state`` reads what a refused
    command must leave unchanged (by default the desk's row counts, else nothing is compared).
    """

    def __init__(
        self,
        capsys: pytest.CaptureFixture[str],
        tmp: Path,
        *,
        desk: Desk | None = None,
        state: Callable[[], object] | None = None,
        monkeypatch: pytest.MonkeyPatch | None = None,
    ) -> None:
        self._capsys = capsys
        self.tmp = tmp
        self.desk: Desk = desk  # type: ignore[assignment]  # tests without a desk never read it
        self._state = state or (desk.counts if desk is not None else None)
        self._mp = monkeypatch

    def __call__(self, *args: str | Path) -> Result:
        self._capsys.readouterr()  # drop anything printed before
        code = run([str(a) for a in args])
        captured = self._capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def ok(self, *args: str | Path) -> Result:
        result = self(*args)
        assert result.code == 0, result
        return result

    def json(self, *args: str | Path) -> Any:
        return json.loads(self.ok(*args, "--json").out)

    def failed(self, *args: str | Path, code: int = 1) -> Result:
        """A command that must fail cleanly: exit ``code``, one ``error:`` line, no traceback.

        Exit codes (cli/exits.py): 1 refused, 2 usage error, 3 not found, 4 unavailable.
        """
        result = self(*args)
        assert result.code == code, result
        assert result.err.startswith("error: "), result
        assert "Traceback" not in result.err
        return result

    def fails(self, *args: str | Path, code: int = 1) -> str:
        """Exit ``code``, one ``error:`` line, no traceback, nothing printed, nothing changed
        (what ``state`` reads); the error line."""
        with unchanged(self._state):
            result = self.failed(*args, code=code)
            assert result.out == "", result
        return result.err

    def write(self, name: str, data: str | bytes) -> Path:
        """A file under the test's folder, for commands that read one."""
        path = self.tmp / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    @property
    def services(self) -> Services:
        """The services the commands use (the CLI's cached ones)."""
        return common.services()

    def configure(self, **env: str | Path) -> None:
        """Point the CLI at another installation, as an operator would: ``CERTDESK_<NAME>``
        for every ``name=value``; the cached services are closed so the next command reads them."""
        assert self._mp is not None, "configure() needs the monkeypatch fixture"
        close_cached_services()
        for name, value in env.items():
            self._mp.setenv(f"CERTDESK_{name.upper()}", str(value))


@contextmanager
def operator_cli(
    capsys: pytest.CaptureFixture[str],
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    cls: type[Cli] = Cli,
    **env: str | Path,
) -> Iterator[Cli]:
    """A :class:`Cli` (or subclass ``cls``) working in ``tmp`` with the settings ``env`` (see
    :meth:`Cli.configure`); afterwards its services are closed and structlog reset (``run()``
    points structlog at the stderr of its moment, which capsys closes after the test)."""
    monkeypatch.chdir(tmp)
    build_commands_once(monkeypatch)
    cli = cls(capsys, tmp, monkeypatch=monkeypatch)
    cli.configure(**env)
    try:
        yield cli
    finally:
        close_cached_services()
        structlog.reset_defaults()
