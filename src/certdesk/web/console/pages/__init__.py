"""Console pages, one module per domain noun; each has a ``router``."""

from __future__ import annotations

from types import ModuleType

from certdesk.web.console.pages import account, home

PAGES: tuple[ModuleType, ...] = (account, home)
