"""The lock files in requirements/ cover pyproject.toml: every dependency pinned, with hashes.

`make run` and `make test` install from them (`pip install --require-hashes`); a dependency
added to pyproject.toml without `make lock` would be missing from a fresh install.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)")


def _pins(lock: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements" / lock).read_text().splitlines():
        m = PIN.match(line)
        if m:
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def _names(requirements: list[str]) -> list[str]:
    return [canonicalize_name(Requirement(r).name) for r in requirements]


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        pytest.param("runtime.txt", PYPROJECT["dependencies"], id="lock/runtime"),
        pytest.param(
            "test.txt",
            PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["test"],
            id="lock/test",
        ),
    ],
)
def test_lock_pins_every_dependency(lock: str, requirements: list[str]) -> None:
    pins = _pins(lock)
    missing = [name for name in _names(requirements) if name not in pins]
    assert not missing, f"not in requirements/{lock}; run `make lock`: {missing}"
    # Each pinned release satisfies the range pyproject.toml asks for.
    for spec in requirements:
        req = Requirement(spec)
        version = pins[canonicalize_name(req.name)]
        assert req.specifier.contains(version, prereleases=True), f"{req.name}=={version}"


@pytest.mark.parametrize("lock", ["runtime.txt", "test.txt"])
def test_lock_entries_carry_hashes(lock: str) -> None:
    text = (ROOT / "requirements" / lock).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1])
    unhashed = [e.split()[0] for e in entries if PIN.match(e) and "--hash=sha256:" not in e]
    assert not unhashed
