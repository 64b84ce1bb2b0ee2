"""``certdesk completion bash|zsh|fish``: the shell's completion script, printed.

The script asks ``certdesk`` itself for completions (it runs the program with
``_CERTDESK_COMPLETE=complete_<shell>``), so it stays right when commands change. Typer
carries its own copy of click and answers that variable with its own completion classes, so
the script comes from Typer too: click's scripts speak another instruction format. Typer
registers those classes only when ``add_completion`` is on (it would add two options of its
own to every run, and guess the shell), so :func:`register` does it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

# Typer's own modules (no public API for this); tests/cli/test_cli.py runs a printed script's
# request through `run` and a real bash, so a Typer release that moves them fails there.
from typer._completion_classes import completion_init
from typer._completion_shared import get_completion_script

PROG_NAME = "certdesk"
# The variable click/Typer read for a completion request: _<PROG_NAME>_COMPLETE.
COMPLETE_VAR = f"_{PROG_NAME.upper()}_COMPLETE"


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def register(app: typer.Typer) -> None:
    completion_init()  # so that a completion request (COMPLETE_VAR set) finds its shell
    app.command("completion")(completion)


def completion(
    shell: Annotated[Shell, typer.Argument(help="The shell to complete in.", show_default=False)],
) -> None:
    """Print the completion script for SHELL (bash: eval "$(certdesk completion bash)")."""
    script = get_completion_script(
        prog_name=PROG_NAME, complete_var=COMPLETE_VAR, shell=shell.value
    )
    typer.echo(script)
