"""What every command shares: settings, services, output and the error convention.

A domain error prints ``error: <what is wrong>`` on stderr and exits 1; nothing else is
shown to the user (no traceback for a user mistake).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

import typer

from certdesk.config import Settings
from certdesk.core.text import check_text
from certdesk.errors import InvalidInput
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import LOCAL_OPERATOR
from certdesk.services.startup import check_ready_to_start, refuse_before_init

# The largest row number either database stores (a signed 64-bit integer): a larger one given
# as an id is a usage error, not a number the database cannot even compare.
MAX_ID = 2**63 - 1

OPERATOR = LOCAL_OPERATOR  # the CLI runs with the database and CA key: cert services' authority


# `init` and `db` work on a database whose schema is not (yet) current; every other command
# refuses one, before it reads or writes anything (services/startup.py).
_schema_checked: ContextVar[bool] = ContextVar("schema_checked", default=True)


@cache
def services() -> Services:
    settings = Settings()
    if _schema_checked.get():
        refuse_before_init(settings, program=program())
    svc = Services(Runtime.open(settings))
    if _schema_checked.get():
        try:
            check_ready_to_start(svc, program=program())
        except BaseException:
            svc.rt.close()
            raise
    return svc


@contextmanager
def schema_in_change() -> Iterator[None]:
    """For ``init`` and ``db``: open the services without the schema check."""
    token = _schema_checked.set(False)
    try:
        yield
    finally:
        _schema_checked.reset(token)


def program() -> str:
    """How the user ran certdesk, for the commands our hints suggest.

    ``certdesk`` when that name on PATH is this program; otherwise the path as typed (after
    ``make run`` that is ``.venv/bin/certdesk``), so a hint can be pasted as written.
    """
    argv0 = sys.argv[0] if sys.argv else ""
    if Path(argv0).name != "certdesk" or not Path(argv0).exists():
        return "certdesk"  # python -m certdesk, or run in-process (tests)
    on_path = shutil.which("certdesk")
    if on_path and os.path.realpath(on_path) == os.path.realpath(argv0):
        return "certdesk"
    return argv0


class PassOutcome(Protocol):
    """What one pass of a repeating command (``worker``, ``ct watch``) reports."""

    @property
    def errors(self) -> Sequence[str]: ...

    def as_dict(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=PassOutcome)


def show_pass(report: R, summary: Callable[[R], str], *, json_out: bool) -> None:
    """One pass on stdout (its summary line, or JSON), each of its errors on stderr; flushed,
    so a log collector sees a long-running command's passes as they end."""
    if json_out:
        emit_json(report.as_dict())
    else:
        typer.echo(summary(report))
    for error in report.errors:
        typer.echo(f"error: {error}", err=True)
    sys.stdout.flush()


def emit_json(data: Any) -> None:
    def default(o: object) -> object:
        if isinstance(o, datetime | date):
            return o.isoformat().replace("+00:00", "Z")
        raise TypeError(type(o).__name__)

    typer.echo(json.dumps(data, indent=2, default=default))


# The most any command reads from one file: the largest case attachment the settings allow
# (CERTDESK_ATTACHMENT_MAX_BYTES, at most 64 MiB); every other input (a CSR, a key, a
# passphrase, a certificate) is far smaller. A wrong path (a disk image, a log, /dev/zero, a
# FIFO that never ends) is refused after this many bytes instead of filling the memory.
MAX_INPUT_BYTES = 64 * 1024 * 1024


def read_input(path: str, *, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Read a file, or stdin for ``-``, of at most ``limit`` bytes; a missing, unreadable or
    larger file is a clear error."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
    except OSError as exc:
        raise InvalidInput("file.unreadable", f"cannot read {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise InvalidInput(
            "file.too_large", f"{path} is larger than {limit:,} bytes: not a file certdesk reads"
        )
    return data


def read_text(path: str) -> str:
    """Read a UTF-8 text file, or stdin for ``-``; one holding a NUL is refused like any text
    input (``input.bad_characters``)."""
    try:
        text = read_input(path).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("file.encoding", f"{path} is not a UTF-8 text file") from None
    return check_text(text, path)


def write_output(path: str | None, data: bytes, *, private: bool = False) -> None:
    """Write to ``path`` (0600 for private keys; never overwrite a key) or to stdout."""
    if path is None or path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    target = Path(path)
    try:
        if private:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        else:
            target.write_bytes(data)
    except FileExistsError:
        raise InvalidInput("file.exists", f"{path} exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise InvalidInput("file.unwritable", f"cannot write {path}: {exc.strerror}") from None
