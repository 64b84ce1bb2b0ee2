"""Browser journeys (headless Chromium, axe on every new page state): a requester attaches a
file to a case and downloads it, another agency cannot reach it (R2); an agency replaces a
contact everywhere (R9); cert services record a vendor contract, which agencies never see."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from certdesk.services.casework.contacts import ContactInput
from world.browser import AXE, Site, axe_violations, live_site
from world.desk import DMV, sub

PDF = b"%PDF-1.4\n% minutes of the kick-off\n" + b"0" * 64


@dataclass
class World:
    site: Site
    draft: str  # dmv's case
    old: int  # a dmv contact named on the draft
    new: int  # the dmv contact who takes over


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with live_site(
        tmp_path_factory.mktemp("issue14"), init_scripts=(AXE,), bypass_csp=True
    ) as site:
        desk, svc = site.desk, site.desk.services
        old = ContactInput("technical", "Olga Leaving", "olga@dmv.ca.gov")
        draft = desk.draft("ana", DMV, submittals=(sub("shop.dmv.ca.gov", contacts=(old,)),))
        new = svc.contacts.add(desk["ana"], DMV, ContactInput("technical", "Nora New",
                                                               "nora@dmv.ca.gov"))  # fmt: skip
        old_id = svc.contacts.show(desk["ana"], DMV, old.email)[0].id
        yield World(site, draft.number, old_id, new.id)


def test_a_party_attaches_and_downloads_another_agency_cannot(world: World) -> None:
    page = world.site.page_as("ana")
    page.goto(f"/cases/{world.draft}")
    assert axe_violations(page) == []  # the empty attachments section and its form
    page.set_input_files(
        "#f-attachment",
        files=[{"name": "kick-off minutes.pdf", "mimeType": "text/html", "buffer": PDF}],
    )
    page.get_by_role("button", name="Attach the file").click()
    page.wait_for_selector("#case-attachments")
    row = page.locator("#case-attachments tbody tr").first
    assert "application/pdf" in row.inner_text()  # recognised, not what the browser claimed
    assert axe_violations(page) == []
    with page.expect_download() as info:
        page.get_by_role("link", name="kick-off minutes.pdf").click()
    download = info.value
    assert download.suggested_filename == "kick-off minutes.pdf"
    with open(download.path(), "rb") as f:
        assert f.read() == PDF
    assert world.site.desk.audit_actions(world.draft)[-1] == "case.attachment_download"
    held = world.site.desk.services.attachments.list(world.site.desk["ana"], world.draft)[0]
    outsider = world.site.page_as("carl")
    for url in (f"/cases/{world.draft}/attachments/{held.id}", f"/cases/{world.draft}"):
        answer = outsider.goto(url)
        assert answer is not None and answer.status == 404
        assert "kick-off" not in outsider.content()


def test_an_oversize_file_is_refused_in_plain_words_and_a_file_is_deleted(world: World) -> None:
    desk = world.site.desk
    limit = desk.services.attachments.limits.max_bytes
    number = desk.draft("ana", DMV).number
    page = world.site.page_as("ana")
    page.goto(f"/cases/{number}")
    page.set_input_files(
        "#f-attachment",
        files=[{"name": "huge.bin", "mimeType": "application/octet-stream",
                "buffer": b"x" * (limit + 1)}],
    )  # fmt: skip
    with page.expect_response(f"**/cases/{number}/attachments") as answered:
        page.get_by_role("button", name="Attach the file").click()
    assert answered.value.status == 413
    error = page.locator("#form-error")
    assert "The file is larger than cases accept." in error.inner_text()
    assert f"at most {limit:,} are accepted" in error.inner_text()
    assert "attachment.too_large" not in page.locator("main").inner_text()  # R19: no codes
    assert axe_violations(page) == []
    assert desk.services.attachments.list(desk["ana"], number) == []
    # A file the organization attached: its requester deletes it; the approver sees no button.
    held = desk.services.attachments.attach(desk["abe"], number, "draft notes.txt", b"notes\n")
    approver = world.site.page_as("abe")
    approver.goto(f"/cases/{number}")
    assert approver.get_by_role("button", name="Delete draft notes.txt").count() == 0
    page.goto(f"/cases/{number}")
    page.get_by_role("button", name="Delete draft notes.txt").click()
    page.wait_for_url(f"**/cases/{number}#attachments")
    assert "draft notes.txt is deleted." in page.content()
    assert page.locator("#case-attachments").count() == 0
    assert axe_violations(page) == []
    assert desk.audit_actions(number)[-1] == "case.attachment_delete"
    assert desk.services.attachments.list(desk["ana"], number) == []
    del held


def test_an_agency_replaces_a_contact_everywhere(world: World) -> None:
    page = world.site.page_as("ana")
    page.goto(f"/contacts/{DMV}/{world.old}")
    assert world.draft in page.locator("#contact-uses").inner_text()
    assert axe_violations(page) == []
    page.select_option("#f-new", str(world.new))
    page.get_by_role("button", name="Replace everywhere").click()
    page.wait_for_url(f"**/contacts?org={DMV}")
    assert "Nora New replaces Olga Leaving on 1 case(s)" in page.content()
    assert axe_violations(page) == []
    page.goto(f"/contacts/{DMV}/{world.new}")
    assert world.draft in page.locator("#contact-uses").inner_text()
    case = world.site.desk.services.cases.show(world.site.desk["ana"], world.draft)
    assert [c.email for c in case.submittals[0].contacts] == ["nora@dmv.ca.gov"]


def test_cert_services_record_a_vendor_contract(world: World) -> None:
    page = world.site.page_as("opal")
    page.goto("/contracts")
    assert page.get_by_role("link", name="Contracts").count() >= 1
    assert axe_violations(page) == []
    page.fill("#f-vendor", "Example CA Inc.")
    page.fill("#f-number", "V-2026-07")
    page.fill("#f-licences_total", "250")
    page.fill("#f-licences_used", "40")
    page.fill("#f-starts_on", "2026-07-01")
    page.fill("#f-ends_on", "2026-06-30")  # before it starts
    page.get_by_role("button", name="Record the contract").click()
    page.wait_for_selector("#form-error")
    assert "cannot end" in page.locator("#form-error").inner_text()
    assert page.input_value("#f-vendor") == "Example CA Inc."  # the form comes back filled
    assert axe_violations(page) == []
    page.fill("#f-ends_on", "2027-06-30")
    page.get_by_role("button", name="Record the contract").click()
    page.wait_for_selector("text=Contract V-2026-07 is recorded.")
    assert "40 of 250" in page.content()
    assert axe_violations(page) == []
    agency = world.site.page_as("carl")
    agency.goto("/")
    assert agency.locator("#navigation a[href='/contracts']").count() == 0
    answer = agency.goto("/contracts")
    assert answer is not None and answer.status == 403
