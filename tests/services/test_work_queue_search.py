"""The work queue (R4, R5, R16), substring search (issue 14) and exports with the list's
filter, on SQLite and PostgreSQL; another agency's objects are never found or exported."""

from __future__ import annotations

import csv
import io
import json

import pytest

from certdesk.core.exports import ExportFormat
from certdesk.errors import Forbidden, InvalidInput
from certdesk.services.casework.case_search import CaseFilter
from certdesk.services.exports import AuditFilter, CertFilter
from conftest import OPERATOR
from world.desk import CHP, DMV, Desk, desk_fixture, sub
from world.refusals import refused

desk = desk_fixture("queue")


# --- search --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        pytest.param("{u}.dmv.ca.gov", True, id="suffix"),
        pytest.param("WWW.{u}", True, id="prefix-any-case"),
        pytest.param("{u}.dmv.ca.gov.", True, id="trailing-dot"),
        pytest.param("{u}.chp.ca.gov", False, id="another-zone"),
        pytest.param("100%_{u}", False, id="like-wildcards-are-text"),
    ],
)
def test_certificates_are_found_by_any_part_of_a_name(desk: Desk, text: str, found: bool) -> None:
    u = desk.unique("srch")
    issued = desk.issued(DMV, f"www.{u}.dmv.ca.gov")
    page = desk.services.inventory.search(OPERATOR, text=text.format(u=u))
    assert (issued.serial in [c.serial for c in page.items]) is found


def test_certificates_are_found_by_a_part_of_the_serial(desk: Desk) -> None:
    issued = desk.issued(DMV)
    part = issued.serial[4:14]
    assert [c.serial for c in desk.services.inventory.search(OPERATOR, text=part).items] == [
        issued.serial
    ]
    colons = ":".join(issued.serial[i : i + 2] for i in range(0, 12, 2))  # as browsers show
    assert issued.serial in [
        c.serial for c in desk.services.inventory.search(OPERATOR, text=colons).items
    ]


def test_r2_search_never_finds_another_agencys_certificate(desk: Desk) -> None:
    u = desk.unique("mine")
    desk.issued(DMV, f"www.{u}.dmv.ca.gov")
    assert desk.services.inventory.search(desk["carl"], text=u).items == []
    assert [c.org_code for c in desk.services.inventory.search(desk["ana"], text=u).items] == [DMV]


def test_cases_are_found_by_number_title_or_name(desk: Desk) -> None:
    u = desk.unique("case")
    view = desk.draft("ana", title=f"Portal {u} launch", submittals=(sub(f"api.{u}.dmv.ca.gov"),))
    svc = desk.services

    def numbers(who: str, text: str) -> list[str]:
        return [c.number for c in svc.cases.search(desk[who], CaseFilter(text=text)).items]

    assert numbers("ana", f"portal {u}") == [view.number]  # the title, any case
    assert numbers("ana", f"{u}.dmv.ca.gov") == [view.number]  # a name's suffix
    assert view.number in numbers("ana", view.number[-6:])  # the number's digits
    assert numbers("carl", u) == []  # R2: another agency's case is never found


def test_search_text_is_bounded(desk: Desk) -> None:
    refused(
        InvalidInput,
        "search.too_long",
        lambda: desk.services.inventory.search(OPERATOR, text="a" * 300),
        state=desk.counts,
    )


# --- the work queue -------------------------------------------------------------------------------


def test_r4_the_queue_shows_each_person_their_work(desk: Desk) -> None:
    svc = desk.services
    pending = desk.pending("ana", title="Needs abe")
    queue = svc.work_queue.of(desk["abe"])  # dmv's approver
    assert pending.number in [c.number for c in queue.awaiting_approval or []]
    assert queue.ready_to_fulfil is None and queue.failed_notices is None  # not abe's work
    # ana opened it: not hers to approve (bea holds both roles; R4), but it is one of her cases.
    ana = svc.work_queue.of(desk["ana"])
    assert ana.awaiting_approval is None and pending.number in [c.number for c in ana.mine or []]

    def awaiting(who: str) -> list[str]:
        return [c.number for c in svc.work_queue.of(desk[who]).awaiting_approval or []]

    # Both approvals are outstanding: each approver sees it, until they have decided.
    assert pending.number in awaiting("opal")
    svc.approvals.approve(desk["abe"], pending.number)
    assert pending.number not in awaiting("abe") and pending.number in awaiting("opal")
    svc.approvals.approve(desk["opal"], pending.number)
    opal = svc.work_queue.of(desk["opal"])
    assert pending.number in [c.number for c in opal.ready_to_fulfil or []]
    assert opal.mine is None and opal.overdue is not None and opal.ordering is not None
    # Another agency's approver never sees dmv's cases.
    assert pending.number not in awaiting("cara")
    assert set(svc.work_queue.of(desk["opal"]).as_dict()) == {
        "awaiting_approval",
        "ready_to_fulfil",
        "overdue",
        "ordering",
        "failed_notices",
    }


# --- exports -------------------------------------------------------------------------------------


def test_exports_follow_the_filter_and_the_reader(desk: Desk) -> None:
    u = desk.unique("exp")
    mine = desk.issued(DMV, f"www.{u}.dmv.ca.gov")
    theirs = desk.issued(CHP, f"www.{u}.chp.ca.gov")
    exports = desk.services.exports
    every = exports.certificates(OPERATOR, CertFilter(text=u), ExportFormat.CSV)
    assert every.media_type.startswith("text/csv") and every.filename == "certificates.csv"
    rows = list(csv.DictReader(io.StringIO(every.body)))
    assert {r["Serial"] for r in rows} == {mine.serial, theirs.serial}
    assert all(r["Expires (Pacific)"].endswith(("PST", "PDT")) for r in rows)
    assert {r["Status"] for r in rows} == {"Valid"}
    # JSON keeps the API's shape: UTC and raw states.
    data = json.loads(exports.certificates(OPERATOR, CertFilter(text=u), ExportFormat.JSON).body)
    assert {i["status"] for i in data["items"]} == {"active"}
    assert all(i["not_after"].endswith("Z") for i in data["items"])
    # R2: an agency exports only what it may see.
    own = exports.certificates(desk["ana"], CertFilter(text=u), ExportFormat.CSV)
    assert [r["Serial"] for r in csv.DictReader(io.StringIO(own.body))] == [mine.serial]
    cases = exports.cases(desk["carl"], CaseFilter(org_code=CHP), ExportFormat.CSV)
    assert all(r["Organization"] == CHP for r in csv.DictReader(io.StringIO(cases.body)))


def test_r15_audit_export_in_words_for_auditors_only(desk: Desk) -> None:
    view = desk.pending("ana", title="Audited")
    exports = desk.services.exports
    got = exports.audit(desk["aud"], AuditFilter(object_id=view.number), ExportFormat.CSV)
    rows = list(csv.DictReader(io.StringIO(got.body)))
    assert [r["What"] for r in rows][-1] == f"opened case {view.number}"
    assert rows[0]["Who"] == "ana" and rows[0]["Time (Pacific)"].endswith(("PST", "PDT"))
    refused(
        Forbidden,
        "auth.forbidden",
        lambda: exports.audit(desk["ana"], AuditFilter(), ExportFormat.CSV),
        state=desk.counts,
    )
    refused(
        InvalidInput,
        "audit.kind",
        lambda: exports.audit(desk["aud"], AuditFilter(kind="Gossip"), ExportFormat.JSON),
        state=desk.counts,
    )
