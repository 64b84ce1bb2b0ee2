"""Where certdesk starts reading a CT log (R18): at its current signed tree head (the
default of the command line, API and console: a real log holds billions of entries), at
entry 0, or at an entry number — without reading the entries skipped, yet every entry read
afterwards proven against the log's signed heads. Against the loopback log the tests build
(tests/world/ctlog.py), as an RFC 6962 log (an audit path) and as a static-CT log (hash
tiles, levels 0 and 1), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from certdesk.errors import InvalidInput, Unavailable
from certdesk.services.setup import LOCAL_OPERATOR as OPERATOR
from certdesk.store.models import CtFinding, CtLog
from world.ctlog import Authority, Served, TestLog, serving
from world.desk import Desk, desk_fixture
from world.refusals import refused

desk = desk_fixture("ct-start")

SIZE = 300  # past one full tile: the head's range needs a level-1 hash tile
KINDS = [pytest.param(False, id="rfc6962"), pytest.param(True, id="static-ct")]


@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority()


@pytest.fixture
def served(ca: Authority) -> Iterator[Served]:
    log = TestLog()
    old = ca.certificate("www.dmv.ca.gov")  # entries 0 and 290 name a state name
    other = ca.certificate("www.example.com")
    for i in range(SIZE):
        log.add_certificate(old if i in (0, 290) else other, ca.cert)
    log.publish()
    with serving(log) as s:
        yield s


def saved(desk: Desk, name: str) -> tuple[int, int, int, str]:
    with desk.rt.reads() as s:
        row = s.scalars(select(CtLog).where(CtLog.name == name)).one()
        return row.first_entry, row.position, row.verified_size, row.last_error


def found_at(desk: Desk, name: str) -> list[int]:
    with desk.rt.reads() as s:
        q = select(CtFinding.entry_index).join(CtLog).where(CtLog.name == name)
        return sorted(s.scalars(q))


def add(desk: Desk, served: Served, tiled: bool, start: str | int) -> str:
    name = desk.unique("start")
    view = desk.services.ct_logs.add(
        OPERATOR, name, served.url, served.log.public_pem, tiled=tiled, start=start
    )
    assert view.first_entry == saved(desk, name)[0]
    return name


@pytest.mark.parametrize("tiled", KINDS)
def test_r18_a_log_followed_from_its_head_reads_only_what_is_logged_afterwards(
    desk: Desk, served: Served, ca: Authority, tiled: bool
) -> None:
    name = add(desk, served, tiled, "head")
    # The range of 300 entries is proven against the head at once; no entry was read.
    assert saved(desk, name) == (SIZE, SIZE, SIZE, "")
    assert not any("get-entries" in r or "tile/data" in r for r in served.log.requests)
    (quiet,) = desk.services.ct_watch.run(OPERATOR, only=name).logs
    assert (quiet.read, quiet.findings, quiet.error) == (0, 0, "")
    served.log.add_certificate(ca.certificate(f"{desk.unique('new')}.dmv.ca.gov"), ca.cert)
    for _ in range(19):
        served.log.add_certificate(ca.certificate("www.example.com"), ca.cert)
    served.log.publish()
    (one,) = desk.services.ct_watch.run(OPERATOR, only=name).logs
    assert (one.read, one.findings, one.error) == (20, 1, "")
    assert saved(desk, name) == (SIZE, SIZE + 20, SIZE + 20, "")  # proven against the new head
    assert found_at(desk, name) == [SIZE]
    events, _ = desk.services.audit.search(OPERATOR, object_type="ct_log", object_id=name)
    assert events[0].summary["first_entry"] == SIZE


@pytest.mark.parametrize("tiled", KINDS)
@pytest.mark.parametrize("start", [0, 1, 255, 256, 287, SIZE])
def test_r18_a_log_followed_from_an_entry_reads_from_there_and_proves_it(
    desk: Desk, served: Served, tiled: bool, start: int
) -> None:
    name = add(desk, served, tiled, str(start))
    assert saved(desk, name)[:2] == (start, start)
    (one,) = desk.services.ct_watch.run(OPERATOR, only=name).logs
    assert (one.read, one.error) == (SIZE - start, "")
    # The entries read hash, with the range of those skipped, to the log's signed root.
    assert saved(desk, name) == (start, SIZE, SIZE, "")
    # Entry 0's certificate is the same as 290's: one finding, wherever it was first seen.
    assert found_at(desk, name) == ([0] if start == 0 else [290] if start <= 290 else [])


@pytest.mark.parametrize("tiled", KINDS)
@pytest.mark.parametrize(
    ("start", "code"),
    [
        pytest.param(str(SIZE + 1), "ct.start_beyond_head", id="R18/beyond-the-head"),
        pytest.param("later", "ct.bad_start", id="R18/not-a-start"),
        pytest.param("-1", "ct.bad_start", id="R18/negative"),
    ],
)
def test_r18_a_start_the_log_cannot_give_is_refused(
    desk: Desk, served: Served, tiled: bool, start: str, code: str
) -> None:
    def logs() -> list[str]:
        return [v.name for v in desk.services.ct_logs.list(OPERATOR)]

    refused(
        InvalidInput, code,
        lambda: desk.services.ct_logs.add(
            OPERATOR, "refused", served.url, served.log.public_pem, tiled=tiled, start=start
        ),
        state=logs,
    )  # fmt: skip


@pytest.mark.parametrize("tiled", KINDS)
def test_r18_a_head_start_needs_a_log_that_answers_and_signs(
    desk: Desk, served: Served, tiled: bool
) -> None:
    add_ = desk.services.ct_logs.add
    key = served.log.public_pem
    served.log.forge_signature = True
    with pytest.raises(InvalidInput) as err:
        add_(OPERATOR, "forged", served.url, key, tiled=tiled, start="head")
    assert err.value.code == "ct.bad_signature"
    with pytest.raises(Unavailable) as gone:
        add_(OPERATOR, "gone", "http://127.0.0.1:9", key, tiled=tiled, start="head")
    assert gone.value.code == "ct.unreachable"
    assert {"forged", "gone"}.isdisjoint(v.name for v in desk.services.ct_logs.list(OPERATOR))
