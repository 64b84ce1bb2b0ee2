"""The dashboard's forecast counted by one aggregate query (issue 16) gives the same weeks as
counting every notAfter in Python did, on SQLite and PostgreSQL — expiries exactly on a week's
bound and on the horizon's end included."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from certdesk.core import forecast
from certdesk.core.access import Actor, Role
from certdesk.services.pki.revocation import Reason
from certdesk.store import certificates as cert_store
from conftest import OPERATOR, org_actor
from world.desk import CHP, DMV, START, Desk, open_desk


@pytest.fixture
def desk(backend: str, tmp_path: Path) -> Iterator[Desk]:
    """A seeded inventory: validities 1-199 days in two organizations, some revoked."""
    with open_desk(backend, tmp_path) as d:
        for k, days in enumerate(range(1, 200, 6)):
            serial = d.issue(DMV if k % 3 else CHP, days=days)
            if k % 7 == 3:
                d.services.revocation.revoke(OPERATOR, serial, Reason.KEY_COMPROMISE)
        yield d


def walked(desk: Desk, actor: Actor, now: datetime, days: int) -> list[forecast.Week]:
    """The reference: every notAfter read and counted in Python (before issue 16)."""
    with desk.rt.reads() as s:
        org_id = None if actor.is_global else actor.org_id
        expiries = cert_store.expiries(s, org_id, now, now + timedelta(days=days))
    return forecast.weekly(expiries, now, days)


def _instants(desk: Desk) -> list[datetime]:
    """START, and instants putting one notAfter exactly on a week's bound or the horizon."""
    with desk.rt.reads() as s:
        ends = sorted(cert_store.expiries(s, None, START, START + timedelta(days=400)))
    edge = ends[len(ends) // 2]
    return [
        START,
        START + timedelta(days=3, hours=5),
        edge - timedelta(days=7),  # exactly one week ahead: week 1, not week 0
        edge - timedelta(days=14),
        edge - timedelta(days=120),  # exactly on the default horizon's end: counted
        edge - timedelta(days=7, microseconds=-1),
        edge,  # expiring now: not counted
    ]


HORIZONS = (1, 7, 8, 120, 400)  # days: shorter than a week, exactly weeks, the default, most


@pytest.mark.parametrize("who", ["operator", DMV, CHP])
def test_r6_forecast_weeks_match_the_python_count(desk: Desk, who: str) -> None:
    actor = OPERATOR if who == "operator" else org_actor(desk.services, who, Role.REQUESTER)
    for now in _instants(desk):
        desk.at(now)
        for days in HORIZONS:
            got = desk.services.inventory.forecast(actor, days=days)
            assert got.weeks == walked(desk, actor, now, days), f"{days} days at {now}"
    assert sum(w.count for w in desk.services.inventory.forecast(OPERATOR, days=400).weeks) > 0
