"""Command lines written into deployment files, parsed by certdesk's own CLI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import typer.main

from certdesk.cli.main import app as cli_app


def parse(args: Sequence[str]) -> Any:
    """Parse ``certdesk ARGS`` as the CLI would, without running it; returns the command.

    Walks the groups (``db upgrade``), then lets the command parse its options: an unknown
    command or option, a bad value or an extra argument raises.
    """
    command: Any = typer.main.get_command(cli_app)
    words, path = list(args), ["certdesk"]
    while hasattr(command, "commands"):
        assert words and words[0] in command.commands, f"no command {' '.join(args)}"
        path.append(words.pop(0))
        command = command.commands[path[-1]]
    command.make_context(" ".join(path), words)
    return command
