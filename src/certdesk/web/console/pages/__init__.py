"""Console pages, one module per domain noun; each has a ``router``.

Every module of this package is mounted, in name order; a module orders its own routes
(a fixed path like ``/cases/new`` before ``/cases/{number}``).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def _pages() -> tuple[ModuleType, ...]:
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in names)


PAGES = _pages()
