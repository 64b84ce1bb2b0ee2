"""Which certdesk is running: one version, from the installed distribution or the source."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import metadata

import pytest

import certdesk
from certdesk import release


@pytest.fixture(autouse=True)
def _uncached() -> Iterator[None]:
    release.version.cache_clear()
    yield
    release.version.cache_clear()


def test_the_wheel_takes_its_version_from_the_source() -> None:
    # pyproject.toml: dynamic version = certdesk.__version__, so the two cannot drift apart.
    assert metadata.version("certdesk") == certdesk.__version__ == release.version()


def _installed(version: str) -> object:
    def lookup(name: str) -> str:
        assert name == "certdesk"
        return version

    return lookup


def _not_installed(name: str) -> str:
    raise metadata.PackageNotFoundError(name)


@pytest.mark.parametrize(
    ("lookup", "expected"),
    [
        pytest.param(_installed("2.3.4"), "2.3.4", id="version/installed-distribution"),
        pytest.param(_not_installed, "9.9.9+source", id="version/source-tree-fallback"),
    ],
)
def test_version(monkeypatch: pytest.MonkeyPatch, lookup: object, expected: str) -> None:
    monkeypatch.setattr(release.metadata, "version", lookup)
    monkeypatch.setattr(release, "__version__", "9.9.9+source")
    assert release.version() == expected
