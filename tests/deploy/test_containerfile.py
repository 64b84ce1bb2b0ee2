"""The Containerfile and .dockerignore hold together (docker cannot run on the test machines).

Read as instructions: every file the build copies from the context exists and is not left
out by .dockerignore; every ``COPY --from`` names an earlier stage; the run stage is not
root, keeps CERTDESK_DATA_DIR in its volume, listens where it says and checks /healthz there;
and CMD is a certdesk command line the CLI parses.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import cli_lines
import pytest

from certdesk.config import Settings, env_name
from certdesk.web.health import router as health_router

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "Containerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int  # index of the FROM it belongs to


def instructions(text: str) -> list[Instruction]:
    """The instructions, continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "a continuation line ends the file"
    out, stage = [], -1
    for line in logical:
        keyword, _, args = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        out.append(Instruction(keyword.upper(), args.strip(), stage))
    return out


INSTRUCTIONS = instructions(CONTAINERFILE.read_text())
STAGES = [i.args for i in INSTRUCTIONS if i.keyword == "FROM"]
RUN_STAGE = len(STAGES) - 1


def final(keyword: str) -> list[str]:
    return [i.args for i in INSTRUCTIONS if i.keyword == keyword and i.stage == RUN_STAGE]


def env() -> dict[str, str]:
    values: dict[str, str] = {}
    for args in final("ENV"):
        for word in shlex.split(args):
            name, _, value = word.partition("=")
            values[name] = value
    return values


def _copies() -> list[tuple[str | None, list[str]]]:
    """(``--from`` stage or None, sources) of every COPY."""
    out = []
    for i in INSTRUCTIONS:
        if i.keyword not in ("COPY", "ADD"):
            continue
        words = shlex.split(i.args)
        flags = [w for w in words if w.startswith("--")]
        paths = [w for w in words if not w.startswith("--")]
        assert len(paths) >= 2, i
        source = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
        out.append((source, paths[:-1]))
    return out


def ignored(path: str) -> bool:
    """Whether .dockerignore leaves ``path`` out of the build context (last match wins)."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        globs = [glob, glob.removeprefix("**/")] if glob.startswith("**/") else [glob]
        hit = any(
            fnmatch.fnmatchcase(p, g) or (g != glob and fnmatch.fnmatchcase(p.split("/")[-1], g))
            for p in prefixes
            for g in globs
        )
        if hit:
            result = not keep
    return result


CONTEXT_SOURCES = [s for stage, sources in _copies() if stage is None for s in sources]


def test_there_is_something_to_check() -> None:
    assert len(STAGES) == 3
    assert "src/" in CONTEXT_SOURCES
    assert "requirements/runtime.txt" in CONTEXT_SOURCES


@pytest.mark.parametrize("source", CONTEXT_SOURCES, ids=lambda s: f"copy/{s}")
def test_every_copied_file_exists_and_is_in_the_build_context(source: str) -> None:
    matches = sorted(ROOT.glob(source.rstrip("/")))
    assert matches, f"COPY {source}: nothing in the repository"
    files = [
        f
        for m in matches
        for f in ([m] if m.is_file() else m.rglob("*"))
        if f.is_file() and "__pycache__" not in f.parts
    ]
    assert files
    left_out = [str(f.relative_to(ROOT)) for f in files if ignored(str(f.relative_to(ROOT)))]
    assert not left_out, f".dockerignore leaves out {left_out[:5]}"


@pytest.mark.parametrize(
    ("path", "left_out"),
    [
        pytest.param("var/certdesk.db", True, id="ignore/data-dir"),
        pytest.param("var/ca/root.key.pem", True, id="ignore/ca-keys"),
        pytest.param(".venv/bin/python", True, id="ignore/venv"),
        pytest.param(".git/config", True, id="ignore/git"),
        pytest.param("node_modules/axe-core/axe.js", True, id="ignore/node-modules"),
        pytest.param("src/certdesk/__pycache__/x.pyc", True, id="ignore/bytecode"),
        pytest.param("src/certdesk/config/settings.py", False, id="keep/source"),
        pytest.param("package-lock.json", False, id="keep/npm-lock"),
    ],
)
def test_dockerignore(path: str, left_out: bool) -> None:
    assert ignored(path) is left_out


def test_copy_from_names_an_earlier_stage() -> None:
    names = [s.split()[-1] for s in STAGES if " AS " in s.upper()]
    seen: list[str] = []
    for i in INSTRUCTIONS:
        if i.keyword == "FROM" and " AS " in i.args.upper():
            seen.append(i.args.split()[-1])
        if i.keyword == "COPY" and "--from=" in i.args:
            stage = i.args.split("--from=")[1].split()[0]
            assert stage in seen, i
    assert names == ["build", "assets"]
    # The virtualenv is copied from the build stage: the same interpreter must run it.
    assert STAGES[0].split()[0] == STAGES[RUN_STAGE].split()[0]


def test_the_npm_assets_copied_are_the_ones_package_json_installs() -> None:
    (copy,) = [s for stage, sources in _copies() if stage == "assets" for s in sources]
    package = copy.split("node_modules/")[1].split("/dist")[0]
    assert package in json.loads((ROOT / "package.json").read_text())["dependencies"]
    assert (ROOT / copy.removeprefix("/src/")).is_dir(), "make assets installs it"


def test_run_stage_is_not_root_and_keeps_the_data_in_the_volume() -> None:
    (user,) = final("USER")
    assert user not in ("root", "0") and not user.startswith("0:")
    settings = env()
    assert {k for k in settings if k.startswith("CERTDESK_")} <= {
        env_name(n, f.validation_alias) for n, f in Settings.model_fields.items()
    }
    (volume,) = final("VOLUME")
    assert json.loads(volume) == [settings["CERTDESK_DATA_DIR"]]
    assert settings["CERTDESK_CONSOLE_ASSETS_DIR"] in final("COPY")[-1]


def test_cmd_serves_on_the_exposed_port_and_the_healthcheck_asks_there() -> None:
    (cmd,) = final("CMD")
    words = json.loads(cmd)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert words[0] in scripts
    command = cli_lines.parse(words[1:])
    assert command.name == "serve"
    port = words[words.index("--port") + 1]
    assert words[words.index("--host") + 1] == "0.0.0.0"
    assert final("EXPOSE") == [port]

    (healthcheck,) = final("HEALTHCHECK")
    probe = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert probe[:2] == ["python", "-c"]
    compile(probe[2], "HEALTHCHECK", "exec")
    (url,) = re.findall(r"'(http[^']+)'", probe[2])
    assert url == f"http://127.0.0.1:{port}/healthz"
    assert "/healthz" in {getattr(r, "path", None) for r in health_router.routes}
