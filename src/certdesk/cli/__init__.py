"""The ``certdesk`` command line (Typer). It only translates: services do the work."""

from __future__ import annotations

import sys

from certdesk.cli.main import app, run

__all__ = ["app", "main"]


def main() -> None:
    sys.exit(run(sys.argv[1:]))
