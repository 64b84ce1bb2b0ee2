"""``certdesk contact show|replace``, ``certdesk case attach|attachments|attachment`` and
``certdesk contract add|list|show|update`` (R9, R15): what they print, and bad input exiting
with one clear line and changing nothing. One populated certdesk per backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from certdesk.cli import attachments as attachment_cli
from certdesk.cli import contacts as contact_cli
from certdesk.cli import contracts as contract_cli
from certdesk.services.casework.contacts import ContactInput
from world.cli import Cli
from world.desk import CHP, DMV, START, Desk, desk_fixture, sub

desk = desk_fixture("issue14cli", attachment_max_bytes=4096)


@pytest.fixture
def cli(
    desk: Desk,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Cli]:
    desk.at(START)
    for module in (attachment_cli, contact_cli, contract_cli):
        monkeypatch.setattr(module, "services", lambda: desk.services)
    yield Cli(capsys, tmp_path, desk=desk)
    structlog.reset_defaults()


def test_contact_show_and_replace(cli: Cli) -> None:
    desk = cli.desk
    old = ContactInput("technical", "Olga", f"{desk.unique('olga')}@chp.ca.gov")
    number = desk.draft("carl", CHP, submittals=(sub(f"{desk.unique('w')}.chp.ca.gov",
                                                     contacts=(old,)),)).number  # fmt: skip
    new = cli.json("contact", "add", "--org", CHP, "--kind", "technical", "--name", "Nora",
                   "--email", f"{desk.unique('nora')}@chp.ca.gov")  # fmt: skip
    shown = cli.json("contact", "show", "--org", CHP, old.email)
    assert [u["case"] for u in shown["named_on"]] == [number]
    assert shown["org_wide"] is False
    printed = cli.ok("contact", "replace", "--org", CHP, old.email, str(new["id"])).out
    assert printed.strip() == (
        f"Nora <{new['email']}> replaces Olga <{old.email}> on 1 submittal(s) of 1 case(s)"
        " and 0 certificate(s); the old contact is removed"
    )
    assert [u["case"] for u in cli.json("contact", "show", "--org", CHP, new["email"])[
        "named_on"]] == [number]  # fmt: skip
    events, _ = desk.services.audit.search(desk["opal"], object_type="contact")
    assert (events[0].action, events[0].actor) == ("contact.replace", "cli:operator")


def test_case_attach_list_and_download(cli: Cli) -> None:
    number = cli.desk.draft("ana", DMV).number
    pdf = cli.write("scan.pdf", b"%PDF-1.4\n" + b"1" * 200)
    added = cli.json("case", "attach", number, str(pdf))
    assert (added["filename"], added["content_type"], added["size"]) == (
        "scan.pdf", "application/pdf", 209)  # fmt: skip
    listed = cli.ok("case", "attachments", number).out
    assert listed.startswith(f"{added['id']}\tscan.pdf\tapplication/pdf\t209\tcli:operator\t")
    out = cli.tmp / "back.pdf"
    cli.ok("case", "attachment", number, str(added["id"]), "-o", str(out))
    assert out.read_bytes() == pdf.read_bytes()
    gone = cli.ok("case", "detach", number, str(added["id"])).out
    assert gone.startswith(f"deleted {added['id']}\tscan.pdf\t209\tsha256 ")
    assert cli.ok("case", "attachments", number).out == ""
    # R15: the download and the deletion are events, by the command line's operator.
    assert cli.desk.audit_actions(number)[-3:] == [
        "case.attach", "case.attachment_download", "case.attachment_delete"]  # fmt: skip


def test_case_detach_refused_once_the_case_is_cancelled(cli: Cli) -> None:
    desk = cli.desk
    number = desk.draft("ana", DMV).number
    added = cli.json("case", "attach", number, str(cli.write("a.txt", b"minutes\n")))
    desk.services.cases.cancel(desk["ana"], number, "not needed")
    err = cli.fails("case", "detach", number, str(added["id"]), code=1)
    assert "the case is cancelled: its files stay as they are" in err
    assert len(cli.ok("case", "attachments", number).out.splitlines()) == 1


def test_contract_add_list_show_update(cli: Cli) -> None:
    added = cli.json("contract", "add", "V-CLI-1", "--vendor", "Example CA", "--licences", "50",
                     "--used", "5", "--starts", "2026-01-01", "--ends", "2027-06-30",
                     "--notes", "renewal option")  # fmt: skip
    assert (added["number"], added["licences_used"], added["ends_on"]) == (
        "V-CLI-1", 5, "2027-06-30")  # fmt: skip
    assert "V-CLI-1\tExample CA\t5/50\t2026-01-01\t2027-06-30\t-" in cli.ok("contract", "list").out
    changed = cli.json("contract", "update", "V-CLI-1", "--used", "9", "--ends", "2027-12-31")
    assert (changed["licences_used"], changed["ends_on"]) == (9, "2027-12-31")
    shown = cli.ok("contract", "show", "v-cli-1").out
    assert shown.splitlines() == [
        "V-CLI-1\tExample CA\t9/50\t2026-01-01\t2027-12-31\t-",
        "renewal option",
    ]


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        pytest.param(("case", "attach", "{case}", "{big}"), "at most 4,096 are accepted", 1,
                     id="attach/too-large"),
        pytest.param(("case", "attach", "{case}", "{empty}"), "the file is empty", 1,
                     id="attach/empty"),
        pytest.param(("case", "attach", "{case}", "{missing}"), "cannot read", 1,
                     id="attach/missing-file"),
        pytest.param(("case", "attach", "CS-2026-999999", "{empty}"), "no case", 3,
                     id="attach/unknown-case"),
        pytest.param(("case", "attachment", "{case}", "424242"), "has no attachment 424242", 3,
                     id="attachment/unknown"),
        pytest.param(("case", "detach", "{case}", "424242"), "has no attachment 424242", 3,
                     id="detach/unknown"),
        pytest.param(("contact", "replace", "--org", DMV, "nobody@dmv.ca.gov", "1"),
                     "dmv has no contact 'nobody@dmv.ca.gov'", 3, id="R9/replace-unknown"),
        pytest.param(("contact", "show", "--org", "qzx", "1"),
                     "no organization with code 'qzx'", 3, id="R9/show-unknown-org"),
        pytest.param(("contract", "add", "V-X", "--vendor", "V", "--licences", "1",
                      "--starts", "2027-01-01", "--ends", "2026-01-01"),
                     "cannot end (2026-01-01) before it starts (2027-01-01)", 1,
                     id="contract/dates"),
        pytest.param(("contract", "add", "V-X", "--vendor", "V", "--licences", "1",
                      "--starts", "soon", "--ends", "2026-01-01"), "not a date", 1,
                     id="contract/bad-date"),
        pytest.param(("contract", "add", "V/X", "--vendor", "V", "--licences", "1",
                      "--starts", "2026-01-01", "--ends", "2026-02-01"),
                     "is not a contract number", 1, id="contract/number"),
        pytest.param(("contract", "show", "V-404"), "no vendor contract 'V-404'", 3,
                     id="contract/unknown"),
        pytest.param(("contract", "update", "V-404", "--used", "1"),
                     "no vendor contract 'V-404'", 3, id="contract/update-unknown"),
    ],
)  # fmt: skip
def test_bad_input_exits_with_one_line_and_changes_nothing(
    cli: Cli, args: tuple[str, ...], message: str, code: int
) -> None:
    files = {
        "case": cli.desk.draft("ana", DMV).number,
        "big": cli.write("big.bin", b"x" * 4097),
        "empty": cli.write("empty.txt", b""),
        "missing": cli.tmp / "missing.txt",
    }
    err = cli.fails(*(a.format(**{k: str(v) for k, v in files.items()}) for a in args),
                    code=code)  # fmt: skip
    assert message in err, err
