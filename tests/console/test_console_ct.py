"""The Certificate Transparency page (issue 15, part 3; R18) as a browser uses it (forms,
CSRF, no JavaScript): cert services follow a log and see every finding and the logs; an
agency sees only its own organization's findings and not the logs; a refused form changes
nothing and says why in plain words."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from certdesk.store.models import AuditRow, CtLog
from conftest import OPERATOR
from world.console import Browsers, browsers, console_desk, text_of
from world.ctlog import Authority, Served, TestLog, serving
from world.desk import Desk, desk_fixture

desk = desk_fixture("console-ct", backend="sqlite", opener=console_desk)


@pytest.fixture(scope="module")
def browser(desk: Desk) -> Iterator[Browsers]:
    with browsers(desk) as of:
        yield of


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving(TestLog()) as s:
        ca = Authority(name="Stranger CA")
        s.log.add_certificate(ca.certificate("login.dmv.ca.gov"), ca.cert)
        s.log.add_certificate(ca.certificate("radio.chp.ca.gov"), ca.cert)
        s.log.publish()
        yield s


def state(desk: Desk) -> tuple[int, int]:
    with desk.services.rt.reads() as s:
        return (
            s.scalar(select(func.count()).select_from(CtLog)) or 0,
            s.scalar(select(func.count()).select_from(AuditRow)) or 0,
        )


def test_r18_operator_follows_a_log_and_agencies_see_their_own(
    desk: Desk, browser: Browsers, served: Served
) -> None:
    opal = browser("opal")
    page = opal.get("/ct")
    assert (
        page.status_code == 200
        and '<a href="/ct"' in page.text
        and "No log is followed" in page.text
    )
    added = opal.follow(
        opal.post(
            "/ct/logs",
            {
                "name": "loop",
                "url": served.url,
                "public_key": served.log.public_pem.decode(),
                "start": "first",
            },
        )
    )
    assert "certdesk follows log loop now" in text_of(added)
    desk.services.ct_watch.run(OPERATOR)
    everything = text_of(opal.get("/ct"))
    assert "unknown issuer for login.dmv.ca.gov" in everything
    assert "unknown issuer for radio.chp.ca.gov" in everything
    assert "Stranger CA" in everything and "2 of 2" in everything
    ana = text_of(browser("ana").get("/ct"))  # dmv
    assert "unknown issuer for login.dmv.ca.gov" in ana
    assert "radio.chp.ca.gov" not in ana and "Logs followed" not in ana
    assert "Follow a log" not in ana
    carl = text_of(browser("carl").get("/ct"))  # chp
    assert "radio.chp.ca.gov" in carl and "login.dmv.ca.gov" not in carl


@pytest.mark.parametrize(
    ("who", "data", "status", "says"),
    [
        pytest.param("opal", {"url": "ftp://x/y"}, 400, "not an http(s) URL", id="R18/bad-url"),
        pytest.param("opal", {"public_key": "junk"}, 400, "not a PEM", id="R18/bad-key"),
        pytest.param(
            "opal",
            {"start": "entry", "entry": "soon"},
            400,
            "Start reading at the head, at 0 or at an entry number.",
            id="R18/start-not-a-number",
        ),
        pytest.param(
            "opal",
            {"start": "entry", "entry": "3"},
            400,
            "The log does not hold that many entries yet.",
            id="R18/start-beyond",
        ),
        pytest.param("ana", {}, 403, "may not", id="R18/agency-may-not-add"),
        pytest.param("aud", {}, 403, "may not", id="R18/auditor-may-not-add"),
    ],
)
def test_r18_refused_log_forms_change_nothing(
    desk: Desk, browser: Browsers, served: Served, who: str, data: dict[str, str], status: int,
    says: str,
) -> None:  # fmt: skip
    form = {"name": "refused", "url": served.url, "public_key": served.log.public_pem.decode()}
    visitor = browser(who)  # signed in (an audited event) before the state is read
    before = state(desk)
    resp = visitor.post("/ct/logs", {**form, **data})
    assert resp.status_code == status and says in text_of(resp)
    assert state(desk) == before


@pytest.mark.parametrize(
    ("data", "says", "first"),
    [
        pytest.param({}, "reads it from entry 2.", 2, id="R18/default-the-head"),
        pytest.param({"start": "first"}, "reads it from its first entry.", 0, id="R18/first"),
        pytest.param({"start": "entry", "entry": "1"}, "reads it from entry 1.", 1,
                     id="R18/an-entry"),
    ],
)  # fmt: skip
def test_r18_the_form_chooses_where_reading_starts(
    desk: Desk, browser: Browsers, served: Served, data: dict[str, str], says: str, first: int
) -> None:
    opal = browser("opal")
    page = opal.get("/ct")
    assert 'name="start" value="head" checked' in page.text  # the default choice
    assert "current signed tree head" in text_of(page)
    name = desk.unique("form")
    form = {"name": name, "url": served.url, "public_key": served.log.public_pem.decode()}
    added = opal.follow(opal.post("/ct/logs", {**form, **data}))
    assert f"certdesk follows log {name} now; the worker {says}" in text_of(added)
    with desk.services.rt.reads() as s:
        row = s.scalars(select(CtLog).where(CtLog.name == name)).one()
    assert (row.first_entry, row.position) == (first, first)
