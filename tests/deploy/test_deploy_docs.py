"""docs/deploy.md and the files in deploy/ name only real settings, commands and sections.

Every ``CERTDESK_*`` name the guide, the example environment file or the Containerfile
writes is a setting; every ``certdesk …`` line of the guide's shell blocks parses with the
CLI (options, values, no extra arguments); every relative link leads to a file, and every
``#anchor`` to a heading there.
"""

from __future__ import annotations

import re
from pathlib import Path

import cli_lines
import pytest

from certdesk.config import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "deploy.md"
FILES = [GUIDE, ROOT / "deploy" / "certdesk.env", ROOT / "Containerfile"]
SETTINGS = {env_name(n, f.validation_alias) for n, f in Settings.model_fields.items()}


def _names() -> list[tuple[str, str]]:
    found = {
        (name, path.relative_to(ROOT).as_posix())
        for path in FILES
        for name in re.findall(r"\bCERTDESK_[A-Z0-9_]*[A-Z0-9]", path.read_text())
    }
    return sorted(found)


@pytest.mark.parametrize(
    ("name", "where"),
    [pytest.param(name, where, id=f"setting/{where}/{name}") for name, where in _names()],
)
def test_every_setting_named_exists(name: str, where: str) -> None:
    assert name in SETTINGS, f"{where} names {name}, which is no setting"


def _commands() -> list[str]:
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", GUIDE.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            code = re.split(r"\s#\s", line)[0].strip()
            if code.startswith("certdesk "):
                commands.append(code)
    return commands


def test_there_is_something_to_check() -> None:
    assert len(_names()) > 15
    assert len(_commands()) > 5


@pytest.mark.parametrize("line", [pytest.param(c, id=c) for c in _commands()])
def test_every_command_parses(line: str) -> None:
    cli_lines.parse(line.split()[1:])


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _links() -> list[str]:
    return sorted(set(re.findall(r"\]\(([^)\s]+)\)", GUIDE.read_text())))


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(t, id=f"link/{t}")
        for t in _links()
        if not t.startswith(("http://", "https://"))
    ],
)
def test_every_link_resolves(target: str) -> None:
    path, _, anchor = target.partition("#")
    file = (GUIDE.parent / path).resolve() if path else GUIDE
    assert file.exists(), target
    if anchor:
        headings = re.findall(r"^#+ (.+)$", file.read_text(), re.M)
        assert anchor in {_slug(h) for h in headings}, target
