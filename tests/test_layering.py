"""DESIGN §4 / STYLE habit 1: the core is pure and each room keeps to its responsibility.

Import statements are read from the source (ast), so a forbidden import anywhere in a module
— even inside a function — fails the test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "certdesk"

# Top-level packages a layer may not import.
FORBIDDEN: dict[str, set[str]] = {
    "core": {
        "sqlalchemy",
        "alembic",
        "fastapi",
        "starlette",
        "uvicorn",
        "httpx",
        "typer",
        "smtplib",
        "socket",
        "requests",
        "psycopg",
        "certdesk.store",
        "certdesk.services",
        "certdesk.web",
        "certdesk.cli",
        "certdesk.ca",
        "certdesk.config",
        "os",
        "subprocess",
        "pathlib",
    },
    "ca": {
        "sqlalchemy",
        "fastapi",
        "starlette",
        "typer",
        "certdesk.store",
        "certdesk.services",
        "certdesk.web",
        "certdesk.cli",
    },
    "store": {
        "fastapi",
        "starlette",
        "typer",
        "certdesk.services",
        "certdesk.web",
        "certdesk.cli",
        "certdesk.ca",
    },
    "services": {"fastapi", "starlette", "typer", "certdesk.web", "certdesk.cli"},
    "notify": {"fastapi", "starlette", "typer", "certdesk.web", "certdesk.cli", "certdesk.jobs"},
    "jobs": {"fastapi", "starlette", "certdesk.web", "certdesk.cli"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _violations(layer: str) -> list[str]:
    bad = []
    for path in sorted((SRC / layer).rglob("*.py")):
        for name in _imports(path):
            for forbidden in FORBIDDEN[layer]:
                if name == forbidden or name.startswith(forbidden + "."):
                    bad.append(f"{path.relative_to(SRC)} imports {name}")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN), ids=lambda layer: f"layering/{layer}")
def test_layer_imports_only_what_it_may(layer: str) -> None:
    assert _violations(layer) == []


def test_only_ca_loads_private_keys() -> None:
    """STYLE habit 5: CA keys are loaded only in certdesk/ca."""
    offenders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if "load_pem_private_key" in p.read_text() and p.relative_to(SRC).parts[0] != "ca"
    ]
    assert offenders == []


def test_no_grab_bag_modules() -> None:
    """STYLE habit 9: modules are named after domain nouns."""
    names = {p.stem for p in SRC.rglob("*.py")}
    assert not names & {"utils", "helpers", "misc", "common_utils"}
