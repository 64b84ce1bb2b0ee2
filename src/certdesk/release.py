"""Which certdesk is running: ``certdesk --version``, /healthz and ``certdesk_build_info``."""

from __future__ import annotations

import platform
from functools import cache
from importlib import metadata

from certdesk import __version__


@cache  # a fact of the process; /healthz asks on every probe
def version() -> str:
    """The installed distribution's version; ``certdesk.__version__`` when run from a source
    tree that is not installed (the wheel takes its version from ``__version__`` too)."""
    try:
        return metadata.version("certdesk")
    except metadata.PackageNotFoundError:
        return __version__


def python_version() -> str:
    """The interpreter's version, e.g. ``3.11.2``."""
    return platform.python_version()
