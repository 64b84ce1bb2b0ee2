"""The README stays true: it documents every setting and leads with the two commands."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from certdesk.cli.main import app as cli_app
from certdesk.config import Settings, env_name

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize(
    "variable",
    sorted(env_name(n, f.validation_alias) for n, f in Settings.model_fields.items()),
    ids=lambda v: f"readme/{v}",
)
def test_every_setting_is_documented(variable: str) -> None:
    assert f"`{variable}`" in README


def test_readme_leads_with_make_run_and_make_test() -> None:
    head = README[:1200]
    assert "make run" in head
    assert "make test" in head


# --- every command and link in the README works as written ---------------------------------

ROOT = Path(__file__).resolve().parent.parent
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"```sh\n(.*?)```", re.S)


def _readme_commands() -> list[str]:
    """Each ``certdesk …`` command of the README's shell blocks (``a ; b`` is two)."""
    commands = []
    for block in _FENCE.findall(README):
        lines = block.replace("\\\n", " ").splitlines()
        for line in lines:
            code = re.split(r"\s#\s", line)[0].strip()
            for part in code.split(" ; "):
                if part.startswith("certdesk "):
                    commands.append(part.strip())
    return commands


def _walk(words: list[str]) -> tuple[Any, list[str], list[str]]:
    """The command a README line names, its path, and the option names the line uses.

    (Typer carries its own copy of click, so groups are told by their ``commands``.)
    """
    command: Any = typer.main.get_command(cli_app)
    path = ["certdesk"]
    rest = words[1:]
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        # "submit|approve|cancel": alternatives, each a command of this group.
        found = [command.commands.get(n) for n in rest[0].split("|")]
        assert all(found), f"{' '.join(path)} has no command {rest[0]!r}"
        command = found[0]
        path.append(rest[0])
        rest = rest[1:]
    options = [m.group(0) for w in rest for m in re.finditer(r"--[a-z][a-z0-9-]*", w)]
    return command, path, options


@pytest.mark.parametrize("line", _readme_commands())
def test_readme_command_exists_with_its_options(line: str) -> None:
    command, path, options = _walk(line.split())
    # A group alone only with options of its own (`certdesk --version`).
    assert not hasattr(command, "commands") or options, (
        f"{' '.join(path)} needs a subcommand: {line}"
    )
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)} | {"--help"}
    unknown = [o for o in options if o not in known]
    assert not unknown, f"{' '.join(path)} has no option {unknown}: {line}"


def test_readme_has_commands_to_check() -> None:
    assert len(_readme_commands()) > 50


@pytest.mark.parametrize("target", sorted(set(_LINK.findall(README))))
def test_readme_link_resolves(target: str) -> None:
    if target.startswith(("http://", "https://")):
        assert "127.0.0.1" in target or "." in target.split("/")[2]
        return
    assert (ROOT / target.split("#")[0]).exists(), target


@pytest.mark.parametrize(
    "target", sorted(set(re.findall(r"`make ([a-z-]+)", README))), ids=lambda t: f"make/{t}"
)
def test_readme_make_target_exists(target: str) -> None:
    assert re.search(rf"^{re.escape(target)}:", (ROOT / "Makefile").read_text(), re.M), target
