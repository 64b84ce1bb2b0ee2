"""R5 performance report (``ReportService.sla``) on SQLite and PostgreSQL, and the same report
through ``GET /api/v1/reports/sla`` and ``certdesk report sla``.

Cases approved on Thanksgiving 2026 (10:00 Pacific) have their target on Wed 12-02 and are
due on Fri 12-04: Fri 11-27 is a California holiday. Each is delivered at a chosen instant by
moving the clock.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from datetime import UTC, date, datetime

import httpx
import pytest
import structlog
from starlette.exceptions import StarletteDeprecationWarning

from certdesk.cli import reports as report_cli
from certdesk.cli.main import run
from certdesk.core.access import Actor, Role
from certdesk.core.sla import SlaCount
from certdesk.errors import Forbidden, InvalidInput, NotFound
from certdesk.services.casework.cases import CaseInput
from certdesk.services.registry import Services
from certdesk.web.app import create_app
from conftest import AUDITOR, OPERATOR, ManualClock
from world.desk import add_person, sub

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

THANKSGIVING = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
DECEMBER = (date(2026, 12, 1), date(2026, 12, 31))


def pacific_noon(day: int) -> datetime:
    return datetime(2026, 12, day, 20, 0, tzinfo=UTC)


class Agencies:
    """DMV and CHP with a requester and an approver each, and cert services (opal)."""

    def __init__(self, services: Services) -> None:
        self.svc = services
        self.people: dict[str, Actor] = {}
        self._n = 0
        for code in ("dmv", "chp"):
            services.orgs.create(
                OPERATOR, code, code.upper(), self_managed=False, grants=[f"zone:{code}.ca.gov"]
            )
            self.people[f"{code}-req"] = add_person(services, f"{code}-req", code, [Role.REQUESTER])
            self.people[f"{code}-apr"] = add_person(services, f"{code}-apr", code, [Role.APPROVER])
        self.people["dmv-adm"] = add_person(services, "dmv-adm", "dmv", [Role.DELEGATED_ADMIN])
        self.people["opal"] = add_person(services, "opal", None, [Role.OPERATOR])

    def approved(self, org: str) -> str:
        self._n += 1
        requester = self.people[f"{org}-req"]
        view = self.svc.cases.open(
            requester,
            CaseInput(
                org_code=org,
                type="new",
                title="A certificate",
                submittals=(sub(f"www{self._n}.{org}.ca.gov"),),
            ),
        )
        self.svc.cases.submit(requester, view.number)
        self.svc.approvals.approve(self.people[f"{org}-apr"], view.number)
        return self.svc.approvals.approve(self.people["opal"], view.number).number

    def deliver(self, clock: ManualClock, number: str, when: datetime) -> None:
        clock.now = when
        self.svc.fulfilment.fulfil(self.people["opal"], number)


@pytest.fixture
def agencies(services: Services, clock: ManualClock) -> Agencies:
    """Five cases approved on Thanksgiving: DMV on target (12-02), DMV within due (12-04,
    16:59 Pacific), DMV late (12-07); CHP late (12-08); one DMV case never delivered."""
    clock.now = THANKSGIVING
    a = Agencies(services)
    numbers = [a.approved(org) for org in ("dmv", "dmv", "dmv", "chp", "dmv")]
    for number, when in zip(
        numbers,
        [
            pacific_noon(2),
            datetime(2026, 12, 5, 0, 59, tzinfo=UTC),  # Fri 12-04 16:59 Pacific: the due day
            pacific_noon(7),
            pacific_noon(8),
        ],
        strict=False,
    ):
        a.deliver(clock, number, when)
    clock.now = pacific_noon(9)
    return a


def test_delivered_cases_are_judged_against_their_dates(agencies: Agencies) -> None:
    report = agencies.svc.reports.sla(AUDITOR, None, *DECEMBER)
    rows = {r.org_code: r.count for r in report.rows}
    # Business days from Thanksgiving: 12-02 is 3, 12-04 is 5, 12-07 is 6, 12-08 is 7.
    assert rows == {
        "dmv": SlaCount(delivered=3, within_target=1, within_due=2, business_days=14),
        "chp": SlaCount(delivered=1, within_target=0, within_due=0, business_days=7),
    }
    assert report.total == SlaCount(delivered=4, within_target=1, within_due=2, business_days=21)
    assert (report.target_business_days, report.due_business_days) == (3, 5)
    data = report.as_dict()
    assert data["total"] == {
        "delivered": 4,
        "within_target": 1,
        "within_target_pct": 25.0,
        "within_due": 2,
        "within_due_pct": 50.0,
        "late": 2,
        "mean_business_days": 5.3,
    }
    assert [r["organization"] for r in data["rows"]] == ["chp", "dmv"]

    # The period counts deliveries by their Pacific day.
    for start, end, delivered, why in [
        (date(2026, 11, 1), date(2026, 11, 30), 0, "before any delivery"),
        (date(2026, 12, 2), date(2026, 12, 2), 1, "one day"),
        # 12-04 16:59 Pacific is 12-05 00:59Z: the Pacific day counts, not the UTC one.
        (date(2026, 12, 4), date(2026, 12, 4), 1, "the Pacific day"),
        (date(2026, 12, 5), date(2026, 12, 8), 2, "later days"),
    ]:
        got = agencies.svc.reports.sla(OPERATOR, None, start, end).total.delivered
        assert got == delivered, why

    # Who may read it: a delegated administrator its own organization only.
    svc, people = agencies.svc, agencies.people
    own = svc.reports.sla(people["dmv-adm"], None, *DECEMBER)
    assert [r.org_code for r in own.rows] == ["dmv"] and own.total.delivered == 3
    assert svc.reports.sla(people["dmv-adm"], "dmv", *DECEMBER).total.delivered == 3
    with pytest.raises(NotFound):
        svc.reports.sla(people["dmv-adm"], "chp", *DECEMBER)  # another agency's: not found
    with pytest.raises(Forbidden):
        svc.reports.sla(people["dmv-req"], None, *DECEMBER)
    with pytest.raises(NotFound):
        svc.reports.sla(OPERATOR, "nosuch", *DECEMBER)


@pytest.mark.parametrize(
    ("start", "end", "says"),
    [
        pytest.param(date(2026, 12, 31), date(2026, 12, 1), "before it starts", id="bad/end-first"),
        pytest.param(date(2000, 1, 1), date(2026, 12, 1), "at most", id="bad/too-long"),
    ],
)
def test_a_bad_period_is_refused(services: Services, start: date, end: date, says: str) -> None:
    with pytest.raises(InvalidInput, match=says) as refused:
        services.reports.sla(OPERATOR, None, start, end)
    assert refused.value.code == "report.period"


# The API and the CLI only translate: once, on SQLite, is enough for them.
@pytest.mark.parametrize("backend", ["sqlite"])
def test_api_and_cli_give_the_same_report(
    agencies: Agencies, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    svc = agencies.svc
    expected = svc.reports.sla(OPERATOR, None, *DECEMBER)
    auditor = svc.tokens.create(OPERATOR, role=Role.AUDITOR, org_code=None).secret
    requester = svc.tokens.create(OPERATOR, role=Role.REQUESTER, org_code="dmv").secret
    with TestClient(create_app(svc)) as client:

        def get(secret: str, **params: str) -> httpx.Response:
            headers = {"Authorization": f"Bearer {secret}"}
            return client.get("/api/v1/reports/sla", params=params, headers=headers)

        resp = get(auditor, start="2026-12-01", end="2026-12-31")
        assert resp.status_code == 200, resp.text
        assert resp.json() == json.loads(json.dumps(expected.as_dict()))
        same = get(auditor, **{"from": "2026-12-01", "to": "2026-12-31", "format": "csv"})
        assert same.text == expected.as_csv()
        assert "attachment" in same.headers["content-disposition"]
        # By default the year to date (the clock is at 2026-12-09).
        assert get(auditor).json()["from"] == "2026-01-01"
        assert get(auditor).json()["to"] == "2026-12-09"
        for params, status, code in [
            ({"start": "2026-12-31", "end": "2026-12-01"}, 400, "report.period"),
            ({"start": "2026-12-01", "from": "2026-12-02"}, 400, "report.period"),
            ({"org": "chp"}, 200, None),
        ]:
            got = get(auditor, **params)
            assert got.status_code == status, got.text
            if code:
                assert got.json()["code"] == code
        assert get(requester).status_code == 403

    monkeypatch.setattr(report_cli, "services", lambda: svc)
    logging = structlog.get_config()
    try:
        capsys.readouterr()
        assert run(["report", "sla", "--from", "2026-12-01", "--to", "2026-12-31", "--csv"]) == 0
        out = capsys.readouterr().out
        assert out == expected.as_csv()
        assert list(csv.reader(io.StringIO(out)))[-1] == [
            "TOTAL", "", "4", "1", "25.0", "2", "50.0", "2", "5.3"
        ]  # fmt: skip
        assert run(["report", "sla", "--start", "2026-12-01", "--end", "2026-12-31", "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(expected.as_dict()))
        assert run(["report", "sla", "--org", "dmv"]) == 0
        text = capsys.readouterr().out
        assert "turnaround 2026-01-01 to 2026-12-09" in text
        assert "dmv\t3\t1 (33.3%)\t2 (66.7%)\t1\t4.7" in text
        assert run(["report", "sla", "--from", "2026-13-01"]) == 1
        assert "not a date" in capsys.readouterr().err
    finally:
        structlog.configure(**logging)
