"""/api/v1/exports/*, /api/v1/work-queue and the ``q`` search of the lists (issue 14): CSV
for people (Pacific time), JSON in the API's UTC shape; an agency's token exports only its
own; bad input is a problem document."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest

from certdesk.core.access import Role
from world.api import CaseApi, case_api
from world.desk import CHP, DMV

API = "/api/v1"
TOKENS = {
    "operator": (Role.OPERATOR, None),
    "auditor": (Role.AUDITOR, None),
    "requester-own": (Role.REQUESTER, DMV),
    "approver-own": (Role.APPROVER, DMV),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaseApi]:
    with case_api("sqlite", tmp_path_factory.mktemp("exports"), TOKENS) as world:
        yield world


def test_q_finds_by_suffix_and_exports_follow_it(world: CaseApi) -> None:
    u = world.desk.unique("api")
    mine = world.desk.issued(DMV, f"www.{u}.dmv.ca.gov").serial
    theirs = world.desk.issued(CHP, f"www.{u}.chp.ca.gov").serial
    listed = world.call("operator", "GET", f"{API}/certificates", q=f"{u}.dmv.ca.gov").json()
    assert [c["serial"] for c in listed["items"]] == [mine]
    got = world.call("operator", "GET", f"{API}/exports/certificates", q=u, format="csv")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert 'filename="certificates.csv"' in got.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert {r["Serial"] for r in rows} == {mine, theirs}
    assert all(r["Expires (Pacific)"][-3:] in ("PST", "PDT") for r in rows)
    as_json = world.call("requester-own", "GET", f"{API}/exports/certificates", q=u, format="json")
    items = as_json.json()["items"]
    assert [i["serial"] for i in items] == [mine] and items[0]["not_after"].endswith("Z")


def test_case_and_audit_exports(world: CaseApi) -> None:
    view = world.desk.pending("ana", title=f"Exported {world.desk.unique('t')}")
    cases = world.call("requester-own", "GET", f"{API}/exports/cases", q=view.number)
    assert [r["Case"] for r in csv.DictReader(io.StringIO(cases.text))] == [view.number]
    assert [c["number"] for c in world.call(
        "operator", "GET", f"{API}/cases", q=view.summary.title.lower()
    ).json()["items"]] == [view.number]  # fmt: skip
    audit = world.call("auditor", "GET", f"{API}/exports/audit", object_id=view.number)
    whats = [r["What"] for r in csv.DictReader(io.StringIO(audit.text))]
    assert f"submitted case {view.number}" in whats
    assert world.call("requester-own", "GET", f"{API}/exports/audit").status_code == 403
    bad = world.call("auditor", "GET", f"{API}/exports/audit", kind="Gossip")
    assert bad.status_code == 400 and bad.json()["code"] == "audit.kind"
    assert world.call("auditor", "GET", f"{API}/exports/cases", format="xls").status_code == 422


def test_work_queue_of_the_caller(world: CaseApi) -> None:
    view = world.desk.pending("ana", title="Queued")
    approver = world.call("approver-own", "GET", f"{API}/work-queue").json()
    assert view.number in [c["number"] for c in approver["awaiting_approval"]]
    assert "ready_to_fulfil" not in approver
    operator = world.call("operator", "GET", f"{API}/work-queue", limit=100).json()
    assert set(operator) >= {"awaiting_approval", "ready_to_fulfil", "overdue", "failed_notices"}
    assert world.call("nobody", "GET", f"{API}/work-queue").status_code == 401
