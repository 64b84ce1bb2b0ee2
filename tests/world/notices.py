"""The notice desk (R9): a :class:`world.desk.Desk` on a copy of certdesk initialized once per
backend (organizations dmv and chp, no people), with the settings the notice tests share.

Certificates come from the real issuance pipeline (:meth:`Desk.issue`). Submittal contacts
are attached with direct rows (:meth:`Desk.attach`), clearly test data: the case workflow
itself is exercised by the case-event tests through the case services.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from certdesk.config import Settings
from certdesk.services.lifecycle.notices import NoticeService
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize
from conftest import OPERATOR, ManualClock, scratch_pg
from world.desk import Desk, settings_for
from world.mail import SENDER

START = datetime(2027, 1, 4, 18, 0, tzinfo=UTC)  # a Monday, 10:00 Pacific


def moment(not_after: datetime, days: int) -> datetime:
    """R9, from first principles: ``days`` calendar days before expiry, same Pacific time."""
    pacific = ZoneInfo("America/Los_Angeles")
    local = not_after.astimezone(pacific)
    day = local.date() - timedelta(days=days)
    return datetime.combine(day, local.time(), tzinfo=pacific).astimezone(UTC)


def notice_settings(url: str, tmp: Path, **kw: Any) -> Settings:
    """:func:`world.desk.settings_for` with a public base URL, a sender, a short retry and
    SQLite commits that need not wait for the disk: these tests are about which notices go
    out, not about surviving power loss."""
    base: dict[str, Any] = {
        "base_url": "https://certdesk.cdt.ca.gov",
        "mail_from": SENDER,
        "notice_retry_seconds": 60,
        "sqlite_synchronous": "normal",
    }
    return settings_for(url, tmp, **{**base, **kw})


# What a test adds; emptied between the tests that share a PostgreSQL database (CASCADE takes
# the submittals, case events, approvals, comments and certificate names along).
_TEST_TABLES = "notices, contacts, certificates, cases"


class Snapshots:
    """certdesk initialized once per backend (schema, built-in CA, the organizations dmv and
    chp) and handed to each test in that state: a copy of the file on SQLite; on PostgreSQL
    the one database, emptied of what the previous test added. Initializing (a CA per test)
    would cost most of the tests' time."""

    def __init__(self, tmp: Path) -> None:
        self._tmp = tmp
        self._made: dict[str, str] = {}
        self._pg = ExitStack()  # the PostgreSQL templates, dropped by close()

    def _make(self, backend: str) -> str:
        home = self._tmp / f"template-{backend}"
        home.mkdir()
        if backend == "sqlite":
            url = f"sqlite:///{home / 'certdesk.db'}"
        else:
            url = self._pg.enter_context(scratch_pg("notices"))
        rt = Runtime.open(notice_settings(url, home), ManualClock(START))
        try:
            services = Services(rt)
            initialize(services, with_token=False)
            for code, name_ in (("dmv", "Motor Vehicles"), ("chp", "Highway Patrol")):
                services.orgs.create(
                    OPERATOR, code, name_, self_managed=False, grants=[f"zone:{code}.ca.gov"]
                )
        finally:
            rt.close()
        self._made[backend] = url
        return url

    def clone(self, backend: str, tmp: Path) -> str:
        """certdesk as initialized, for one test (its CA files in ``tmp/data``); the URL."""
        fresh = backend not in self._made
        source = self._made.get(backend) or self._make(backend)
        shutil.copytree(self._tmp / f"template-{backend}" / "data", tmp / "data")
        if backend == "sqlite":
            shutil.copy(source.removeprefix("sqlite:///"), tmp / "certdesk.db")
            return f"sqlite:///{tmp / 'certdesk.db'}"
        if not fresh:
            with psycopg.connect(source.replace("+psycopg", ""), autocommit=True) as conn:
                conn.execute(f"TRUNCATE {_TEST_TABLES} RESTART IDENTITY CASCADE")
        return source

    def close(self) -> None:
        self._pg.close()


@contextmanager
def open_notice_desk(
    url: str,
    tmp: Path,
    *,
    clock: ManualClock | None = None,
    transport: Any = None,
    **settings: Any,
) -> Iterator[Desk]:
    """The services on a copy made by :class:`Snapshots` (at ``url``, CA files in ``tmp``);
    notices go out through ``transport`` when one is given (a :class:`world.mail.FakeTransport`)."""
    clock = clock or ManualClock(START)
    rt = Runtime.open(notice_settings(url, tmp, **settings), clock)
    services = Services(rt)
    if transport is not None:
        services.notices = NoticeService(rt, transport=lambda: transport)
    try:
        yield Desk("sqlite" if url.startswith("sqlite") else "postgresql", services, clock)
    finally:
        rt.close()
