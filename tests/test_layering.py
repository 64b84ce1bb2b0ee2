"""DESIGN §4 / STYLE habit 1: the core is pure and each room keeps to its responsibility.

Import statements are read from the source (ast), so a forbidden import anywhere in a module
— even inside a function or under ``TYPE_CHECKING`` — fails the test. Imports run one way:
adapters → services → core, store, ca, notify; inside ``services`` floor by floor (issue 11,
part 5); and no certdesk module reaches itself again through its imports.
"""

from __future__ import annotations

import ast
import subprocess
import sys
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
    # Mail transport and templates only: what is sent and when is the services' business.
    "notify": {
        "fastapi",
        "starlette",
        "typer",
        "sqlalchemy",
        "certdesk.web",
        "certdesk.cli",
        "certdesk.jobs",
        "certdesk.services",
        "certdesk.store",
    },
    "jobs": {"fastapi", "starlette", "certdesk.web", "certdesk.cli", "certdesk.store"},
    # Talking to endpoints and reading files: nothing stored, nothing served (R14, R18).
    "verify": {
        "sqlalchemy",
        "fastapi",
        "starlette",
        "typer",
        "certdesk.store",
        "certdesk.services",
        "certdesk.web",
        "certdesk.cli",
        "certdesk.jobs",
    },
    # Adapters call the services' public API; storage is behind them.
    "web": {"certdesk.store", "certdesk.cli", "certdesk.jobs"},
    "cli": {"certdesk.store"},  # (``certdesk serve`` starts the web server: cli → web)
    # The ACME front end translates the protocol; storage is behind the services (R17).
    "acme": {"certdesk.store", "certdesk.cli", "certdesk.jobs"},
    # The metrics are fed by the services (collectors given callables), never reach up.
    "metrics.py": {"certdesk.services", "certdesk.web", "certdesk.cli", "certdesk.jobs"},
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


def _files(layer: str) -> list[Path]:
    root = SRC / layer
    return [root] if root.is_file() else sorted(root.rglob("*.py"))


def _violations(layer: str) -> list[str]:
    bad = []
    for path in _files(layer):
        for name in _imports(path):
            for forbidden in FORBIDDEN[layer]:
                if name == forbidden or name.startswith(forbidden + "."):
                    bad.append(f"{path.relative_to(SRC)} imports {name}")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN), ids=lambda layer: f"layering/{layer}")
def test_layer_imports_only_what_it_may(layer: str) -> None:
    assert _violations(layer) == []


# --- the services' floors --------------------------------------------------------------------

# The ground floor: the services' top modules every floor may use.
GROUND = {"audit", "runtime", "secretbox", "checkpoints", "backup", "backup_members", "visibility"}
# Composition: wires every floor together; may import all of them.
COMPOSITION = {"registry", "setup", "startup", "status", "exports"}
# Each floor imports the ground floor, itself, and the floors named here.
FLOORS: dict[str, set[str]] = {
    "people": set(),
    "pki": set(),
    "reporting": {"people"},
    "casework": {"pki", "people"},
    "lifecycle": {"casework", "pki", "people"},
    # The ACME server's registration authority issues and revokes through pki (R17).
    "acme": {"pki", "people"},
    # Certificate Transparency monitoring (R18): reads logs, records findings, queues mail.
    "transparency": set(),
    # Verification, discovery, external certificates (R14, R18): adoption opens a case.
    "discovery": {"casework", "pki", "people"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in SRC.rglob("*.py")}


def _resolve(name: str) -> str | None:
    """The certdesk module ``name`` is, or is in (``certdesk.x.y.Thing`` → ``certdesk.x.y``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _edges(module: str) -> set[str]:
    """The certdesk modules ``module`` imports (absolute and relative, any depth)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                kept = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*kept, *([node.module] if node.module else [])])
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {r for r in map(_resolve, names) if r is not None and r != module}
    # Importing ``a.b.c`` first runs the ``__init__`` of ``a`` and ``a.b``: a package whose
    # ``__init__`` imports much is part of every import of its submodules (the module's own
    # packages are already being initialized when it runs, so they are no edge).
    own = {module.rsplit(".", k)[0] for k in range(1, module.count(".") + 1)}
    for target in list(found):
        parts = target.split(".")
        found |= {
            p
            for p in (".".join(parts[:k]) for k in range(2, len(parts)))
            if p in MODULES and p not in own and p != module
        }
    return found


GRAPH = {m: _edges(m) for m in MODULES}


def _room(module: str) -> str | None:
    """``people`` … for a floor module, the top module's name for ground and composition."""
    parts = module.split(".")
    return parts[2] if parts[:2] == ["certdesk", "services"] and len(parts) > 2 else None


def floor_violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in sorted(graph.items()):
        room = _room(module)
        if room is None or room in COMPOSITION:
            continue
        allowed = GROUND | ({room} | FLOORS[room] if room in FLOORS else set())
        for target in sorted(targets):
            other = _room(target)
            if other is not None and other not in allowed:
                bad.append(f"{module} imports {target}")
    return bad


def test_services_floors_import_only_downward() -> None:
    """people and pki stand on the ground floor; reporting on people; casework on pki and
    people; lifecycle on casework, pki and people; ground modules on ground only;
    composition (registry, setup, startup, status) on everything."""
    assert set(FLOORS) | GROUND | COMPOSITION >= {
        _room(m) for m in MODULES if _room(m) is not None
    }, "a services module that belongs to no floor"
    assert floor_violations(GRAPH) == []


def test_adapters_use_only_the_services_public_names() -> None:
    """web, cli and jobs never import or reach a private (``_name``) member of a service."""
    bad = []
    for layer in ("web", "cli", "jobs"):
        for path in _files(layer):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "certdesk.services"
                ):
                    bad += [
                        f"{path.relative_to(SRC)} imports {node.module}.{a.name}"
                        for a in node.names
                        if a.name.startswith("_")
                    ]
                if isinstance(node, ast.Attribute) and _private(node.attr):
                    owner = node.value
                    if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                        bad.append(f"{path.relative_to(SRC)}:{node.lineno} {ast.unparse(node)}")
    assert bad == []


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    """No certdesk module imports itself back through others (TYPE_CHECKING imports too)."""
    assert cycles(GRAPH) == []


@pytest.mark.parametrize(
    ("graph", "found"),
    [
        pytest.param({"a": {"b"}, "b": {"c"}, "c": set()}, [], id="cycles/none"),
        pytest.param({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c"]], id="cycles/ring"),
        pytest.param(
            {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c", "a"}},
            [["a", "b"], ["c", "d"]],
            id="cycles/two",
        ),
    ],
)
def test_the_cycle_finder_finds_cycles(graph: dict[str, set[str]], found: list[list[str]]) -> None:
    assert sorted(cycles(graph)) == found


def test_the_floor_rule_sees_an_upward_import() -> None:
    graph = {
        "certdesk.services.pki.policy": {"certdesk.services.people.orgs"},
        "certdesk.services.lifecycle.notices": {"certdesk.services.casework.cases"},
        "certdesk.services.audit": {"certdesk.services.pki.policy"},
        "certdesk.services.registry": {"certdesk.services.lifecycle.notices"},
    }
    assert floor_violations(graph) == [
        "certdesk.services.audit imports certdesk.services.pki.policy",
        "certdesk.services.pki.policy imports certdesk.services.people.orgs",
    ]


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


@pytest.mark.parametrize(
    "module", ["certdesk.web.problems", "certdesk.web.console", "certdesk.web.api.certificates"]
)
def test_a_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    """The console's pages are loaded by name (``importlib``), which the graph above cannot
    see: the problem renderer once reached them through the console package and, imported
    first, met itself half-initialized. Each of these imports alone, in a new process."""
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
