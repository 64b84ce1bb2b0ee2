"""Logging for every certdesk process: structlog, configured here and nowhere else.

A process writes one stream, stderr, in one format (``CERTDESK_LOG_FORMAT``): ``json``, one
object a line for a log collector, or ``console`` for a person at a terminal; ``auto`` (the
default) picks json unless stderr is a terminal. The standard library's loggers (uvicorn's,
Python warnings, any library's) go through structlog's ``ProcessorFormatter``, so every line
of a process has the same shape, and what is bound with :mod:`structlog.contextvars` (a
request's id, ``web/access.py``) is on every line written while it is bound.

Who calls :func:`configure`: the CLI (``cli/main.py``) for every command, ``serve`` and
``worker`` again with their own level, and the app factory in every server process
(``web/app.py``), so that each uvicorn worker process is configured too.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import structlog
from structlog.typing import Processor

from certdesk.config import Settings

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

Format = Literal["json", "console"]


def configure(settings: Settings, *, one_shot: bool = False) -> None:
    """Configure structlog and the standard library's logging from ``settings``.

    ``one_shot``: a CLI command that prints its own result shows warnings and up only,
    unless ``CERTDESK_LOG_LEVEL`` was set; a server or worker process honours the level.
    """
    level = settings.log_level
    if one_shot and "log_level" not in settings.model_fields_set:
        level = "warning"
    install(level, resolve_format(settings.log_format))


def resolve_format(setting: str) -> Format:
    """``auto``: JSON lines when stderr is not a terminal (a service manager, a pipe)."""
    if setting == "json":
        return "json"
    if setting == "console":
        return "console"
    return "console" if _stderr_isatty() else "json"


def install(level: str, fmt: Format) -> None:
    """Point structlog and the root logger at stderr, at ``level``, in ``fmt`` (idempotent)."""
    threshold = LEVELS[level]
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: list[Processor]
    if fmt == "json":
        renderer = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        # A plain traceback: a renderer showing frame locals would print a request's scope
        # and with it the caller's bearer token.
        renderer = [
            structlog.dev.ConsoleRenderer(
                colors=_stderr_isatty(), exception_formatter=structlog.dev.plain_traceback
            )
        ]
    # The standard library's records: the same processors, through its handler.
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
    # structlog's own lines skip the standard library (a record, a caller lookup and a copy
    # of the record cost more than the rest of an access line): rendered by the same
    # processors, written under the same lock.
    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), *renderer],
        # Calls below the level return at once, before any processor runs.
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=_LineWriterFactory(handler),
        # Not cached: the CLI configures once at start and again for serve and worker, and
        # module-level loggers must follow the second configuration.
        cache_logger_on_first_use=False,
    )
    # uvicorn's loggers write through the root handler; its access log stays off (certdesk
    # writes its own access line: web/access.py).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    logging.captureWarnings(True)


def _stderr_isatty() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty is not None and isatty())


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the ``sys.stderr`` of the moment of each record (tests replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class _LineWriter:
    """The end of a structlog line: one write to stderr under the handler's lock, so that
    lines of structlog and of the standard library never interleave."""

    def __init__(self, name: str, handler: logging.Handler) -> None:
        self.name = name  # for add_logger_name
        self._handler = handler

    def msg(self, line: str) -> None:
        self._handler.acquire()
        try:
            stream = sys.stderr
            stream.write(line + "\n")
            stream.flush()
        finally:
            self._handler.release()

    debug = info = warning = warn = error = critical = fatal = exception = log = msg


class _LineWriterFactory:
    def __init__(self, handler: logging.Handler) -> None:
        self._handler = handler

    def __call__(self, *args: Any) -> _LineWriter:
        # structlog.get_logger("certdesk.web") names the logger; unnamed ones are "certdesk".
        name = args[0] if args and isinstance(args[0], str) else "certdesk"
        return _LineWriter(name, self._handler)
