"""The README stays true: it documents every setting and leads with the two commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from certdesk.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(Settings.model_fields), ids=lambda n: f"readme/{n}")
def test_every_setting_is_documented(name: str) -> None:
    assert f"`CERTDESK_{name.upper()}`" in README


def test_readme_leads_with_make_run_and_make_test() -> None:
    head = README[:1200]
    assert "make run" in head
    assert "make test" in head
