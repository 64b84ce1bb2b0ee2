"""Issue 11: fulfilling N submittals takes a bounded number of transactions — the issuance
pipeline's own two per certificate, plus one to claim the case and one to deliver it (and one
more, for all of them, when certdesk generates keys: they are committed before signing, R12).

Counted with a SQLAlchemy ``begin`` listener on the engine, so that every transaction counts:
ORM sessions, Core connections and read-only ones alike. Before this issue the counts were 6
for one submittal, 7 with a generated key and 14 for three. The write transactions are
bounded as above; the case view returned is read after the deliver transaction committed, in
one read-only transaction that takes no write lock (issue 11, part 3).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event

from certdesk.store.db import READ_ONLY
from conftest import BACKENDS
from world.csr import make_csr
from world.desk import DMV, START, Desk, open_desk, sub

PIPELINE = 2  # the intent, then the signed row (services/pki/issuance.py)
VIEW = 1  # the case view, read after the commit


@pytest.fixture(scope="module", params=BACKENDS)
def desk(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Desk]:
    with open_desk(request.param, tmp_path_factory.mktemp("txcount")) as d:
        # The first issuance of a process loads the issuing CA (one read, then cached).
        d.at(START)
        d.services.fulfilment.fulfil(d["opal"], d.approved(DMV).number)
        yield d


@contextmanager
def transactions(engine: Engine) -> Iterator[list[bool]]:
    """Each transaction begun on ``engine`` meanwhile: True for a read-only one."""
    begun: list[bool] = []

    def on_begin(conn: Any) -> None:
        begun.append(bool(conn.get_execution_options().get(READ_ONLY, False)))

    event.listen(engine, "begin", on_begin)
    try:
        yield begun
    finally:
        event.remove(engine, "begin", on_begin)


@pytest.mark.parametrize(
    ("count", "generated"),
    [
        pytest.param(1, False, id="fulfil/1-agency-csr"),
        pytest.param(1, True, id="fulfil/1-generated-key"),
        pytest.param(3, False, id="fulfil/3-agency-csrs"),
        pytest.param(3, True, id="fulfil/3-generated-keys"),
    ],
)
def test_fulfilment_transactions_are_bounded(desk: Desk, count: int, generated: bool) -> None:
    desk.at(START)
    names = [f"{desk.unique('tx')}.dmv.ca.gov" for _ in range(count)]
    view = desk.approved(
        DMV,
        submittals=tuple(sub(n) if generated else sub(csr=make_csr([n])) for n in names),
    )
    with transactions(desk.services.rt.engine) as begun:
        done = desk.services.fulfilment.fulfil(desk["opal"], view.number)
    assert done.state == "delivered"
    assert all(s.certificate_serial for s in done.submittals)
    bound = 1 + PIPELINE * count + 1 + (1 if generated else 0)
    writes, reads = begun.count(False), begun.count(True)
    print(
        f"fulfil {count} submittal(s), generated keys {generated}:"
        f" {writes} write + {reads} read transactions"
    )
    assert writes <= bound, f"{writes} write transactions for {count} submittal(s)"
    assert reads <= VIEW, f"{reads} read transactions for {count} submittal(s)"
