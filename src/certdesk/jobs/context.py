"""What a job of the worker's pass may use (:class:`certdesk.jobs.worker.Worker` provides it).

Each job is a function ``job(ctx, report, now)`` in the module of its concern
(:mod:`certdesk.jobs.certificates`, :mod:`certdesk.jobs.cases`, :mod:`certdesk.jobs.mail`,
:mod:`certdesk.jobs.publishing`): it calls services, counts what they did on the
:class:`certdesk.jobs.report.PassReport`, and stops taking new items once ``ctx.stopping``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Protocol, TypeVar

from certdesk.jobs.report import PassReport
from certdesk.notify.smtp import Transport
from certdesk.services.registry import Services

T = TypeVar("T")
R = TypeVar("R")


class JobContext(Protocol):
    @property
    def svc(self) -> Services: ...

    @property
    def transport(self) -> Transport | None: ...

    @property
    def worker_id(self) -> str: ...

    @property
    def stopping(self) -> bool: ...

    def each(
        self, items: Iterable[T], work: Callable[[T], R]
    ) -> Iterator[tuple[T, R | Exception]]: ...


Job = Callable[[JobContext, PassReport, datetime], None]
