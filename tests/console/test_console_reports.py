"""The reports page (usage and cost R11, turnaround R5, overdue cases) with its CSV downloads,
and the audit log page with the hash-chain verification (R15), through a browser-like client.

The scenario: three DMV/CHP cases approved on Thanksgiving 2026 (target Wed 12-02, due Fri
12-04, because Fri 11-27 is a California holiday) and delivered on chosen days by moving the
desk's clock — DMV on Tue 12-01 (on target), CHP on Thu 12-03 (after target, within due),
DMV on Tue 12-08 (late) — and a fourth DMV case approved then and never delivered (overdue).
The pages are read on 2026-12-08.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import httpx
import pytest
import structlog
from sqlalchemy import text

from certdesk.cli import reports as report_cli
from certdesk.cli.main import run
from certdesk.core.audit_text import describe, who
from certdesk.services.reporting.reports import dollars
from conftest import AUDITOR, OPERATOR
from world.console import Browsers, browsers, console_desk
from world.console import text_of as raw_text
from world.desk import CHP, DMV, START, Desk

NOW = datetime(2026, 12, 8, 20, 0, tzinfo=UTC)  # Tuesday, 12:00 Pacific
DECEMBER = {"start": "2026-12-01", "end": "2026-12-31"}


@dataclass(frozen=True)
class Scenario:
    desk: Desk
    on_time: str  # DMV, delivered 12-01
    within_due: str  # CHP, delivered 12-03
    late: str  # DMV, delivered 12-08
    overdue: str  # DMV, approved, never delivered


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    with console_desk("sqlite", tmp_path_factory.mktemp("console-reports")) as desk:
        desk.at(START)
        for org in (DMV, CHP):
            desk.services.costs.set_cost(OPERATOR, org, 36500)  # $365 a certificate-year
        on_time, late, overdue = (desk.approved(DMV).number for _ in range(3))
        within_due = desk.approved(CHP).number
        fulfil = desk.services.fulfilment.fulfil
        for number, when in [
            (on_time, datetime(2026, 12, 1, 18, 0, tzinfo=UTC)),
            (within_due, datetime(2026, 12, 3, 18, 0, tzinfo=UTC)),
            (late, datetime(2026, 12, 8, 17, 0, tzinfo=UTC)),
        ]:
            desk.at(when)
            fulfil(desk["opal"], number)
        desk.at(NOW)
        yield Scenario(desk, on_time, within_due, late, overdue)


@pytest.fixture(scope="module")
def browser(world: Scenario) -> Iterator[Browsers]:
    with browsers(world.desk) as of:
        yield of


@pytest.fixture(autouse=True)
def _now(world: Scenario) -> None:
    world.desk.at(NOW)


def text_of(resp: httpx.Response) -> str:
    """The page's visible text, entities decoded."""
    return html.unescape(raw_text(resp))


def table(page: str, table_id: str) -> list[list[str]]:
    """The cells' visible text of every row of the table with ``table_id``."""
    found = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert found, f"no table {table_id}"
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", found.group(0), re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        rows.append([html.unescape(" ".join(re.sub(r"<[^>]+>", " ", c).split())) for c in cells])
    return rows


def section(page: str, heading_id: str) -> str:
    """The HTML from the ``<h2 id=heading_id>`` to the next ``<h2``."""
    found = re.search(rf'<h2 id="{heading_id}">.*?(?=<h2|</main>)', page, re.S)
    assert found, heading_id
    return found.group(0)


def cli_out(
    world: Scenario, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> str:
    monkeypatch.setattr(report_cli, "services", lambda: world.desk.services)
    capsys.readouterr()
    # The CLI points structlog at this test's captured stderr; later tests must not log there.
    logging = structlog.get_config()
    try:
        code = run(list(args))
    finally:
        structlog.configure(**logging)
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


# --- usage and cost (R11) ------------------------------------------------------------------


def test_usage_table_shows_what_the_service_reports(world: Scenario, browser: Browsers) -> None:
    resp = browser("aud").get("/reports?start=2026-01-01&end=2026-12-31")
    assert resp.status_code == 200, resp.text
    report = world.desk.services.reports.usage(AUDITOR, None, date(2026, 1, 1), date(2026, 12, 31))
    rows = table(resp.text, "usage-table")
    body = {r[0].split()[0]: r[1:] for r in rows[1:-1]}
    assert body == {
        r.org_code: [
            "managed",
            str(r.certificates),
            str(r.dedicated),
            str(r.virtual),
            dollars(r.cost_cents),
        ]
        for r in report.rows
    }
    total = report.total
    assert rows[-1] == [
        "Total",
        str(total.certificates),
        str(total.dedicated),
        str(total.virtual),
        dollars(total.cost_cents),
    ]
    # Three certificates were delivered, with a managed cost: the numbers are not all zero.
    assert total.certificates == 3 and body["dmv"][1] == "2" and total.cost_cents > 0
    # The chart: an SVG image with a name and a description, one bar per organization.
    chart = re.search(r'<svg class="chart" role="img".*?</svg>', resp.text, re.S)
    assert chart and "<title id=" in chart.group(0) and "<desc id=" in chart.group(0)
    assert chart.group(0).count('<rect class="bar"') == len(report.rows)
    assert "style=" not in resp.text and "<script" not in resp.text


def test_default_period_is_the_year_to_date(browser: Browsers) -> None:
    page = text_of(browser("opal").get("/reports"))
    assert "Usage and cost, 2026-01-01 to 2026-12-08" in page
    assert "Turnaround, 2026-01-01 to 2026-12-08" in page


@pytest.mark.parametrize(
    "query",
    [
        pytest.param({"start": "2026-01-01", "end": "2026-12-31"}, id="R11/csv-all"),
        pytest.param(
            {"start": "2026-12-01", "end": "2026-12-02", "org": DMV}, id="R11/csv-one-org"
        ),
    ],
)
def test_usage_csv_is_the_cli_csv(
    world: Scenario,
    browser: Browsers,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    query: dict[str, str],
) -> None:
    resp = browser("aud").client.get("/reports/usage.csv", params=query)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["content-disposition"] == (
        f'attachment; filename="usage-{query["start"]}-{query["end"]}.csv"'
    )
    args = ["report", "usage", "--from", query["start"], "--to", query["end"], "--csv"]
    if "org" in query:
        args += ["--org", query["org"]]
    assert resp.text == cli_out(world, monkeypatch, capsys, *args)
    parsed = list(csv.DictReader(io.StringIO(resp.text)))
    assert parsed[-1]["organization"] == "TOTAL"
    expected = "1" if "org" in query else "3"  # 12-01 and 12-02: only the on-time one
    assert parsed[-1]["certificates"] == expected


# --- turnaround (R5) ---------------------------------------------------------------------


def test_sla_counts_within_target_and_due(world: Scenario, browser: Browsers) -> None:
    resp = browser("opal").get("/reports?start=2026-12-01&end=2026-12-31")
    assert resp.status_code == 200, resp.text
    rows = table(resp.text, "sla-table")
    header, *body, total = rows
    assert header[:3] == ["Organization", "Delivered", "Within target"]
    by_org = {r[0].split()[0]: r[1:] for r in body}
    # delivered, within target, %, within due, %, late, mean business days
    assert by_org[DMV] == ["2", "1", "50.0%", "1", "50.0%", "1", "4.5"]  # 2 and 7 days
    assert by_org[CHP] == ["1", "0", "0.0%", "1", "100.0%", "0", "4.0"]
    assert by_org["edd"] == ["0", "0", "—", "0", "—", "0", "—"]
    assert total == ["Total", "3", "1", "33.3%", "2", "66.7%", "1", "4.3"]
    sla = world.desk.services.reports.sla(AUDITOR, None, date(2026, 12, 1), date(2026, 12, 31))
    assert (sla.total.delivered, sla.total.within_target, sla.total.within_due) == (3, 1, 2)


def test_sla_period_counts_deliveries_in_it(browser: Browsers) -> None:
    rows = table(browser("opal").get("/reports?start=2026-12-02&end=2026-12-07").text, "sla-table")
    assert rows[-1][:2] == ["Total", "1"]  # only CHP's, on 12-03


def test_sla_csv_is_the_cli_csv(
    world: Scenario,
    browser: Browsers,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    resp = browser("aud").client.get("/reports/sla.csv", params=DECEMBER)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-disposition"].startswith('attachment; filename="sla-2026-12-01')
    out = cli_out(
        world,
        monkeypatch,
        capsys,
        "report",
        "sla",
        "--start",
        "2026-12-01",
        "--end",
        "2026-12-31",
        "--csv",
    )
    assert resp.text == out
    lines = list(csv.reader(io.StringIO(resp.text)))
    assert lines[-1] == ["TOTAL", "", "3", "1", "33.3", "2", "66.7", "1", "4.3"]


def test_overdue_list_shows_the_overdue_case(world: Scenario, browser: Browsers) -> None:
    page = browser("opal").get("/reports").text
    overdue = section(page, "overdue")
    assert world.overdue in overdue and "overdue" in text_of_html(overdue)
    for delivered in (world.on_time, world.within_due, world.late):
        assert delivered not in overdue


def text_of_html(fragment: str) -> str:
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", fragment).split()))


def test_delegated_admin_sees_only_its_organization(world: Scenario, browser: Browsers) -> None:
    dan = browser("dan")
    resp = dan.get("/reports", params=DECEMBER)
    assert resp.status_code == 200, resp.text
    assert [r[0].split()[0] for r in table(resp.text, "sla-table")[1:-1]] == [DMV]
    assert world.overdue in section(resp.text, "overdue")
    # Another agency's organization is not found, on the page and the download alike.
    before = world.desk.counts()
    for path in ("/reports", "/reports/usage.csv", "/reports/sla.csv"):
        other = dan.get(path, params={**DECEMBER, "org": CHP})
        assert other.status_code == 404, (path, other.text[:300])
    assert "no organization with code 'chp'" in text_of(dan.get("/reports", params={"org": CHP}))
    assert world.desk.counts() == before


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        pytest.param({"start": "2026-13-01"}, 400, "'2026-13-01' is not a date", id="bad/month-13"),
        pytest.param({"end": "yesterday"}, 400, "'yesterday' is not a date", id="bad/end-word"),
        pytest.param(
            {"start": "2026-12-31", "end": "2026-12-01"},
            400,
            "before it starts",
            id="bad/end-first",
        ),
        pytest.param(
            {"start": "2000-01-01", "end": "2026-12-01"}, 400, "at most", id="bad/too-long"
        ),
        pytest.param({"org": "nosuch"}, 404, "no organization with code 'nosuch'", id="bad/org"),
    ],
)
def test_bad_period_is_refused_by_name(
    world: Scenario, browser: Browsers, query: dict[str, str], status: int, says: str
) -> None:
    opal = browser("opal")  # signing in (the first time) is audited: count after it
    before = world.desk.counts()
    resp = opal.get("/reports", params=query)
    assert resp.status_code == status, resp.text[:500]
    assert says in text_of(resp)
    assert 'id="sla-table"' not in resp.text  # no report shown for a refused period
    assert opal.get("/reports/usage.csv", params=query).status_code == status
    assert opal.get("/reports/sla.csv", params=query).status_code == status
    assert world.desk.counts() == before


# --- audit log (R15) ---------------------------------------------------------------------


def test_audit_lists_events_newest_first(world: Scenario, browser: Browsers) -> None:
    resp = browser("aud").get("/audit")
    assert resp.status_code == 200, resp.text
    rows = table(resp.text, "audit-events")[1:]
    seqs = [int(r[0]) for r in rows]
    # Sign-ins and sign-outs are folded away unless asked for.
    events, _ = world.desk.services.audit.search(AUDITOR, limit=50, fold_sign_ins=True)
    assert seqs == [e.seq for e in events] and seqs == sorted(seqs, reverse=True)
    assert "signed in as" not in resp.text
    every = table(browser("aud").get("/audit?sign_ins=1").text, "audit-events")[1:]
    assert any(r[3].startswith("signed in as aud") for r in every)
    newest = events[0]
    # Who did what to which object, in words (R19): no raw actor or action code.
    assert rows[0][2] == who(newest.actor)
    assert rows[0][3].startswith(describe(newest.action, newest.object_type, newest.object_id))
    assert newest.action not in rows[0][3]
    assert "Verify the chain" in resp.text


def test_audit_filters_and_pages(world: Scenario, browser: Browsers) -> None:
    aud = browser("aud")
    rows = table(aud.get("/audit?action=case.fulfil").text, "audit-events")[1:]
    assert [r[3].split(" (history)")[0] for r in rows] == [
        f"delivered case {n}" for n in (world.late, world.within_due, world.on_time)
    ]
    # A day (Pacific): only what happened on 12-08, the late delivery and its certificate.
    day = table(aud.get("/audit?start=2026-12-08&end=2026-12-08").text, "audit-events")[1:]
    assert day and all(r[1].startswith("8 Dec 2026,") and r[1].endswith("PST") for r in day)
    assert world.late in " ".join(r[3] for r in day)
    # The object's history link filters by the object.
    history = table(aud.get(f"/audit?type=case&object={world.late}").text, "audit-events")[1:]
    assert all(world.late in r[3] for r in history) and len(history) >= 4
    # Keyset pages: two at a time, the next page strictly older, the filters kept.
    first = aud.get("/audit?type=case&limit=2")
    next_url = re.search(r'href="(/audit\?[^"]+)" rel="next"', first.text)
    assert next_url
    second = aud.get(next_url.group(1).replace("&amp;", "&"))
    one = [int(r[0]) for r in table(first.text, "audit-events")[1:]]
    two = [int(r[0]) for r in table(second.text, "audit-events")[1:]]
    assert len(one) == len(two) == 2 and max(two) < min(one)
    assert all(" case CS-" in r[3] for r in table(second.text, "audit-events")[1:])


@pytest.mark.parametrize(
    ("query", "says"),
    [
        pytest.param("start=2026-13-01", "'2026-13-01' is not a date", id="bad/audit-month-13"),
        pytest.param(
            "start=2026-12-08&end=2026-12-01", "before it starts", id="bad/audit-end-first"
        ),
        pytest.param("cursor=abc", "page of results", id="bad/audit-cursor"),
    ],
)
def test_audit_bad_filter_is_named(browser: Browsers, query: str, says: str) -> None:
    resp = browser("aud").get("/audit?" + query)
    assert resp.status_code == 400 and says in text_of(resp)
    assert 'id="audit-events"' not in resp.text


def _sql(world: Scenario, statement: str, **params: object) -> None:
    with world.desk.services.rt.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_verify_shows_intact_then_the_tampered_event(world: Scenario, browser: Browsers) -> None:
    aud = browser("aud")
    count, broken = world.desk.services.audit.verify(AUDITOR)
    assert broken is None
    resp = aud.post("/audit/verify", {"action": "case.fulfil"})
    assert resp.status_code == 200, resp.text
    assert f"Verified: {count} events, chain intact." in text_of(resp)
    # The list the auditor was filtering stays filtered.
    assert {r[3].split(" case ")[0] for r in table(resp.text, "audit-events")[1:]} == {"delivered"}

    events, _ = world.desk.services.audit.search(AUDITOR, action="case.fulfil")
    victim = events[-1]
    _sql(world, "UPDATE audit_events SET actor = 'mallory' WHERE seq = :seq", seq=victim.seq)
    try:
        resp = aud.post("/audit/verify", {})
        assert resp.status_code == 200
        page = text_of(resp)
        assert f"Chain broken at event #{victim.seq}: its content does not match its hash" in page
        assert f'href="/audit?cursor={victim.seq + 1}"' in resp.text
        assert 'class="audit-broken"' in resp.text
    finally:
        _sql(
            world,
            "UPDATE audit_events SET actor = :actor WHERE seq = :seq",
            actor=victim.actor,
            seq=victim.seq,
        )
    assert world.desk.services.audit.verify(AUDITOR) == (count, None)
    assert "chain intact" in text_of(aud.post("/audit/verify", {}))


def test_verify_needs_the_csrf_token(browser: Browsers) -> None:
    resp = browser("aud").post("/audit/verify", {}, csrf=False)
    assert resp.status_code == 403 and "chain intact" not in resp.text


# --- who may see them --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/reports", id="R11/requester-reports"),
        pytest.param("GET", "/reports/usage.csv", id="R11/requester-usage-csv"),
        pytest.param("GET", "/reports/sla.csv", id="R5/requester-sla-csv"),
        pytest.param("GET", "/audit", id="R15/requester-audit"),
        pytest.param("POST", "/audit/verify", id="R15/requester-verify"),
    ],
)
def test_requester_may_not_read_reports_or_audit(
    world: Scenario, browser: Browsers, method: str, path: str
) -> None:
    ana = browser("ana")
    resp = ana.get(path) if method == "GET" else ana.post(path, {})
    assert resp.status_code == 403, resp.text[:300]
    assert "text/html" in resp.headers["content-type"]
    assert "may not" in text_of(resp)
    assert world.overdue not in resp.text and "chain intact" not in resp.text


def test_delegated_admin_may_not_read_the_audit_log(browser: Browsers) -> None:
    assert browser("dan").get("/audit").status_code == 403
    nav = browser("dan").get("/reports").text
    assert 'href="/reports"' in nav and 'href="/audit"' not in nav
