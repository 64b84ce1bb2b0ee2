"""``certdesk case …``, ``certdesk contact …`` and ``certdesk org approvals`` (R3-R5, R9).

The commands run in this process through ``certdesk.cli.main.run`` against one populated
certdesk per backend (``tests/world/desk.py``), whose clock the tests move. The CLI acts as the
local operator (``cli:operator``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from certdesk.cli import approvals as approvals_cli
from certdesk.cli import cases as case_cli
from certdesk.cli import contacts as contact_cli
from world.cli import Cli
from world.csr import make_csr
from world.desk import CHP, DMV, START, Desk, desk_fixture

desk = desk_fixture("casescli")


@pytest.fixture
def cli(
    desk: Desk,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Cli]:
    desk.at(START)
    for module in (case_cli, contact_cli, approvals_cli):
        monkeypatch.setattr(module, "services", lambda: desk.services)
    yield Cli(capsys, tmp_path, desk=desk)
    structlog.reset_defaults()


FORM = """\
# A SAN certificate for the permits portal
name     = {first}
name     = permits.ca.gov
type     = san
platform = dedicated
software = nginx
version  = 1.26
delivery = 2026-12-23   # requested delivery date
validity = 90
csr      = portal.csr   # relative to this file
contact  = technical:Ana Lee:ana.lee@dmv.ca.gov:916-555-0100
contact  = billing:Accounts Payable:ap@dmv.ca.gov
"""


def test_case_new_from_a_form_file_and_options(cli: Cli) -> None:
    first = f"{cli.desk.unique('portal')}.dmv.ca.gov"
    cli.write("portal.csr", make_csr([first, "permits.ca.gov"]))
    form = cli.write("portal.txt", FORM.format(first=first))
    case = cli.json(
        "case", "new", "--org", DMV, "--title", "Permits portal",
        "--requested-delivery", "2026-12-20", "--submittal-file", form,
        "--name", f"{cli.desk.unique('www')}.dmv.ca.gov", "--key", "ec384",
        "--contact", "administrative:Dee Admin:dee@dmv.ca.gov",
    )  # fmt: skip
    assert case["state"] == "draft" and case["opened_by"] == "cli:operator"
    s1, s2 = case["submittals"]
    assert (s1["names"], s1["cert_type"], s1["platform"], s1["validity_days"]) == (
        [first, "permits.ca.gov"],
        "san",
        "dedicated",
        90,
    )
    assert (s1["server_software"], s1["server_version"], s1["requested_delivery"]) == (
        "nginx",
        "1.26",
        "2026-12-23",
    )
    assert s1["csr"].startswith("-----BEGIN CERTIFICATE REQUEST")
    assert [(c["kind"], c["email"]) for c in s1["contacts"]] == [
        ("technical", "ana.lee@dmv.ca.gov"),
        ("billing", "ap@dmv.ca.gov"),
    ]
    assert (s2["key_type"], s2["contacts"][0]["name"]) == ("ec384", "Dee Admin")

    text = cli.ok("case", "show", case["number"]).out
    assert case["number"] in text and "Permits portal" in text
    assert f"submittal {s1['id']}   san {first}, permits.ca.gov (dedicated, ec256, CSR)" in text
    assert "history       2026-11-26T18:00:00Z cli:operator open ->draft" in text

    submitted = cli.json("case", "submit", case["number"])
    assert submitted["state"] == "pending_approval"
    assert submitted["approval"]["outstanding"] == ["org_approver", "operator"]


def test_approve_reject_comment_cancel_and_list(cli: Cli) -> None:
    desk = cli.desk
    number = desk.pending("ana").number
    desk.services.approvals.approve(desk["abe"], number)
    desk.at(datetime(2026, 12, 4, 20, 0, tzinfo=UTC))  # Friday
    approved = cli.json("case", "approve", number, "--note", "checked the CSR")
    assert approved["state"] == "approved"
    assert (approved["target_date"], approved["due_date"]) == ("2026-12-09", "2026-12-11")
    assert approved["approvals"][-1]["reason"] == "checked the CSR"
    assert "turnaround    approved 2026-12-04T20:00:00Z, target 2026-12-09, due 2026-12-11" in (
        cli.ok("case", "show", number).out
    )

    other = desk.pending("carl", CHP).number
    rejected = cli.json("case", "reject", other, "--reason", "wrong zone")
    assert rejected["state"] == "rejected" and rejected["approvals"][-1]["reason"] == "wrong zone"
    commented = cli.json("case", "comment", other, "--text", "use chp.ca.gov")
    assert commented["comments"][-1] == {
        "id": commented["comments"][-1]["id"],
        "actor": "cli:operator",
        "text": "use chp.ca.gov",
        "at": "2026-12-04T20:00:00Z",
    }
    assert cli.json("case", "cancel", other, "--reason", "withdrawn")["state"] == "cancelled"

    desk.at(datetime(2026, 12, 12, 8, 0, tzinfo=UTC))  # 00:00 Pacific after the due date
    overdue = cli.ok("case", "list", "--overdue").out.splitlines()
    line = next(row for row in overdue if row.startswith(number))
    assert line.split("\t")[1:6] == ["approved", DMV, "new", "due 2026-12-11", "OVERDUE"]
    assert other not in "\n".join(overdue)
    started = cli.json("case", "start", number, "--note", "picked up")
    assert (started["state"], started["overdue"]) == ("in_progress", True)
    page = cli.json("case", "list", "--org", CHP, "--state", "cancelled", "--limit", "1")
    assert [c["number"] for c in page["items"]] == [other]


def test_cli_operator_cannot_approve_its_own_case(cli: Cli) -> None:
    number = cli.ok(
        "case", "new", "--org", DMV, "--title", "Mine", "--name", "mine.dmv.ca.gov", "--submit"
    ).out.strip()  # fmt: skip
    assert "own request" in cli.fails("case", "approve", number)
    cli.desk.services.approvals.approve(cli.desk["abe"], number)
    assert cli.desk.services.approvals.approve(cli.desk["opal"], number).state == "approved"


def test_edit_and_submittals_of_a_draft(cli: Cli) -> None:
    number = cli.ok("case", "new", "--org", DMV, "--title", "Draft").out.strip()
    case = cli.json("case", "add-submittal", number, "--name", "*.apps.dmv.ca.gov")
    (sub,) = case["submittals"]
    assert sub["cert_type"] == "wildcard"
    case = cli.json(
        "case", "edit", number, "--title", "Wildcard", "--requested-delivery", "2027-01-04"
    )
    assert (case["title"], case["requested_delivery"]) == ("Wildcard", "2027-01-04")
    case = cli.json("case", "edit", number, "--requested-delivery", "none")
    assert case["requested_delivery"] is None
    case = cli.json("case", "remove-submittal", number, str(sub["id"]))
    assert case["submittals"] == []
    assert "Security Certificate Submittal" in cli.fails("case", "submit", number)


def test_delegated_admin_setup_case(cli: Cli) -> None:
    case = cli.json(
        "case", "new", "--org", CHP, "--type", "delegated_admin_setup", "--title", "Self-manage",
        "--grant", "zone:apps.chp.ca.gov", "--admin", "Cy Admin:cy@chp.ca.gov:cy.admin",
        "--submit",
    )  # fmt: skip
    assert case["state"] == "pending_approval"
    assert case["delegated_admin"] == {
        "grants": ["zone:apps.chp.ca.gov"],
        "admins": [{"name": "Cy Admin", "email": "cy@chp.ca.gov", "login_id": "cy.admin"}],
    }
    text = cli.ok("case", "show", case["number"]).out
    assert "admin         Cy Admin <cy@chp.ca.gov> (cy.admin)" in text


def test_org_approvals(cli: Cli) -> None:
    shown = cli.ok("org", "approvals", CHP).out
    assert f"{CHP}\tnew\torg_approver,operator (default)" in shown
    set_ = cli.json("org", "approvals", CHP, "--type", "renewal", "--steps", "operator")
    entry = next(p for p in set_["policies"] if p["case_type"] == "renewal")
    assert entry == {"case_type": "renewal", "steps": ["operator"], "default": False}
    none = cli.ok("org", "approvals", CHP, "--type", "renewal", "--steps", "").out
    assert f"{CHP}\trenewal\t(none: approved on submission)" in none
    back = cli.ok("org", "approvals", CHP, "--type", "renewal", "--default").out
    assert f"{CHP}\trenewal\torg_approver,operator (default)" in back
    assert "unknown approval step 'boss'" in cli.fails(
        "org", "approvals", CHP, "--type", "new", "--steps", "boss"
    )
    assert "--type" in cli.fails("org", "approvals", CHP, "--steps", "operator")


def test_contact_commands(cli: Cli) -> None:
    added = cli.json(
        "contact", "add", "--org", CHP, "--kind", "technical", "--name", "Tom Tech",
        "--email", "tom@chp.ca.gov", "--phone", "916-555-0123",
    )  # fmt: skip
    assert (added["kind"], added["email"], added["submittal_id"]) == (
        "technical",
        "tom@chp.ca.gov",
        None,
    )
    listed = cli.ok("contact", "list", "--org", CHP).out
    assert f"{added['id']}\ttechnical\tTom Tech\ttom@chp.ca.gov\t916-555-0123" in listed
    changed = cli.json("contact", "change", "--org", CHP, str(added["id"]), "--name", "Tom T.")
    assert changed["name"] == "Tom T."
    events, _ = cli.desk.services.audit.search(
        cli.desk["opal"], object_type="contact", object_id=str(added["id"])
    )
    assert events[0].summary["before"]["name"] == "Tom Tech"
    assert events[0].summary["after"]["name"] == "Tom T."
    assert cli.json("contact", "remove", "--org", CHP, str(added["id"]))["id"] == added["id"]
    assert "bad" in cli.fails("contact", "add", "--org", CHP, "--kind", "technical",
                              "--name", "X", "--email", "bad")  # fmt: skip


NEW = ("case", "new", "--org", DMV, "--title", "t")


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        pytest.param(("case", "show", "CS-2026-999999"), "no case 'CS-2026-999999'",
                     3, id="unknown-case"),
        pytest.param(("case", "approve", "{draft}"), "cannot approve a case that is draft",
                     1, id="R4/approve-a-draft"),
        pytest.param(("case", "submit", "{draft}"),
                     "needs at least one Security Certificate Submittal",
                     1, id="R3/submit-without-submittal"),
        pytest.param(("case", "reject", "{draft}"), "Missing option '--reason'",
                     2, id="R4/reject-without-reason"),
        pytest.param((*NEW, "--name", "x.dmv.ca.gov", "--csr", "{big}"),
                     "a CSR is at most 65536 bytes", 1, id="R12/oversize-upload"),
        pytest.param((*NEW, "--name", "x.dmv.ca.gov", "--csr", "{text}"),
                     "neither a PEM nor a DER", 1, id="R12/non-csr-upload"),
        pytest.param((*NEW, "--name", "www.example.com"), "R1: ", 1, id="R1/outside-the-suffixes"),
        pytest.param((*NEW, "--submittal-file", "{bad_form}"), "bad.txt:2: expected KEY = VALUE",
                     1, id="R3/bad-form-line"),
        pytest.param((*NEW, "--submittal-file", "{missing}"), "cannot read",
                     1, id="R3/missing-form"),
        pytest.param((*NEW, "--name", "x.dmv.ca.gov", "--contact", "technical:Only"),
                     "KIND:NAME:EMAIL", 1, id="R9/contact-spec"),
        pytest.param((*NEW, "--requested-delivery", "tomorrow"), "not a date (YYYY-MM-DD)",
                     1, id="R5/bad-date"),
        pytest.param((*NEW, "--type", "revoke"), "names the certificate it is about",
                     1, id="R3/revoke-without-certificate"),
        pytest.param((*NEW, "--platform", "dedicated"), "need --name or --csr",
                     1, id="R3/submittal-without-name"),
        pytest.param(("case", "list", "--state", "lost"), "unknown state 'lost'",
                     1, id="bad-state"),
        pytest.param(("contact", "change", "--org", "nowhere", "1"),
                     "no organization with code 'nowhere'", 3, id="R9/unknown-org"),
        # Issue 10, finding 5: refused alike on SQLite and PostgreSQL, before any command runs.
        pytest.param((*NEW, "--name", "x\x00.dmv.ca.gov"),
                     "argument 8: character 2 is a NUL", 2, id="sec/bad-characters/argument-nul"),
        pytest.param((*NEW, "--name", "x\udcff.dmv.ca.gov"),  # a non-UTF-8 byte in argv
                     "argument 8: character 2 is a lone surrogate U+DCFF",
                     2, id="sec/bad-characters/argument-not-utf8"),
        pytest.param((*NEW, "--submittal-file", "{nul_form}"), "nul.txt: character 17 is a NUL",
                     1, id="sec/bad-characters/form-file-nul"),
        # Issue 10, finding 6.
        pytest.param((*NEW, "--submittal-file", "{many_form}"),
                     "101 names were given; a certificate names at most 100",
                     1, id="sec/max-names/case"),
        pytest.param((*NEW, "--name", "x.dmv.ca.gov", "--csr", "{many_csr}"),
                     "101 names were given; a certificate names at most 100",
                     1, id="sec/max-names/case-csr"),
    ],
)  # fmt: skip
def test_bad_input_exits_with_a_clear_message_and_changes_nothing(
    cli: Cli, args: tuple[str, ...], message: str, code: int
) -> None:
    files = {
        "draft": cli.desk.draft("ana", submittals=()).number,
        "big": cli.write("big.csr", b"-----BEGIN CERTIFICATE REQUEST-----\n" + b"A" * 70_000),
        "text": cli.write("notes.csr", "these are my notes, not a CSR\n"),
        "bad_form": cli.write("bad.txt", "name = a.dmv.ca.gov\ncolour = blue\n"),
        "missing": cli.tmp / "missing.txt",
        "nul_form": cli.write("nul.txt", "name = a.dmv.ca.\x00gov\n"),
        "many_form": cli.write(
            "many.txt", "".join(f"name = n{i}.dmv.ca.gov\n" for i in range(101))
        ),
        "many_csr": cli.write("many.csr", make_csr([f"n{i}.dmv.ca.gov" for i in range(101)])),
    }
    err = cli.fails(*(a.format(**files) for a in args), code=code)
    assert message in err, err
