"""Issue 14 in headless Chromium, with axe on every new page state: the work queue carries a
case from the requester's one-at-a-time form to cert services' "ready to fulfil"; the global
search finds a name by its suffix; revocation asks on its own page; a self-managed agency
renews from the certificate's page; the help page opens without signing in; pages show
Pacific times and no rule numbers or raw codes (R19)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import FilePayload, Page, expect

from certdesk.core.wall_clock import pacific_time
from world.browser import AXE, SELF_MANAGED_ADMIN, SOS, Site, issue, live_site
from world.csr import make_csr
from world.desk import DMV

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
RUN_AXE = """tags => axe.run(document, {runOnly: {type: "tag", values: tags},
    resultTypes: ["violations"]})"""
CASE_URL = re.compile(r"/cases/(CS-\d{4}-\d{6})$")
RULE = re.compile(r"\bR\d{1,2}\b")
RAW = re.compile(r"\b(pending_approval|in_progress|name\.not_granted|cert\.revoke)\b")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with live_site(tmp_path_factory.mktemp("worklist"), init_scripts=(AXE,), bypass_csp=True) as s:
        yield s


def accessible(page: Page) -> None:
    """axe finds nothing (WCAG 2.1 A and AA); the page reads as words (R19)."""
    found = page.evaluate(RUN_AXE, TAGS)["violations"]
    assert not found, (page.url, [(v["id"], [n["target"] for n in v["nodes"]]) for v in found])
    text = page.locator("main").inner_text()
    assert not RULE.search(text), RULE.search(text)
    assert not RAW.search(text), RAW.search(text)


def test_a_case_travels_through_the_work_queues(site: Site) -> None:
    ana = site.page_as("ana")
    ana.goto("/cases/new")
    accessible(ana)  # the choice of kind
    ana.get_by_role("link", name="New certificates").click()
    expect(ana.locator("#f-s0_names")).to_be_visible()
    assert ana.locator("#f-s1_names").count() == 0  # one certificate at a time
    ana.fill("#f-title", "Kiosk and shop")
    ana.fill("#f-s0_names", "kiosk.dmv.ca.gov")
    ana.get_by_role("button", name="Add another certificate").click()
    expect(ana.locator("#f-s1_names")).to_be_visible()
    expect(ana.locator("#f-s0_names")).to_have_value("kiosk.dmv.ca.gov")
    # A name of another agency: refused beside its field, the chosen CSR file kept as text.
    ana.fill("#f-s1_names", "shop.chp.ca.gov")
    ana.set_input_files(
        "#f-s0_csr_file",
        files=FilePayload(
            name="kiosk.csr", mimeType="application/pkcs10", buffer=make_csr(["kiosk.dmv.ca.gov"])
        ),
    )
    ana.get_by_role("button", name="Submit for approval").click()
    expect(ana.locator("#f-s1_names-error")).to_contain_text("may not obtain a certificate")
    expect(ana.locator("#f-s1_names")).to_have_attribute("aria-invalid", "true")
    expect(ana.locator("#f-s0_csr_pem")).to_contain_text("BEGIN CERTIFICATE REQUEST")
    accessible(ana)
    ana.fill("#f-s1_names", "shop.dmv.ca.gov")
    ana.get_by_role("button", name="Submit for approval").click()
    ana.wait_for_url(CASE_URL)
    number = CASE_URL.search(ana.url).group(1)  # type: ignore[union-attr]
    view = site.desk.services.cases.show(site.actor("ana"), number)
    assert len(view.submittals) == 2 and view.submittals[0].csr_pem

    ana.goto("/")
    expect(ana.locator("#queue-mine")).to_contain_text(number)
    expect(ana.locator("#queue-mine")).to_contain_text("Waiting for approval")

    abe = site.page_as("abe")
    abe.goto("/")
    accessible(abe)
    abe.locator("#queue-awaiting_approval").get_by_role("link", name=number).click()
    abe.get_by_role("button", name="Approve", exact=True).click()
    expect(abe.locator(".alert-success")).to_contain_text("You approved the case")
    abe.goto("/")
    expect(abe.locator("#queue-awaiting_approval")).to_have_count(0)

    opal = site.page_as("opal")
    opal.goto("/")
    expect(opal.locator("#queue-awaiting_approval")).to_contain_text(number)
    opal.locator("#queue-awaiting_approval").get_by_role("link", name=number).click()
    opal.get_by_role("button", name="Approve", exact=True).click()
    opal.goto("/")
    expect(opal.locator("#queue-ready_to_fulfil")).to_contain_text(number)
    expect(opal.locator("#work-queue")).to_contain_text("Every notice was delivered")
    accessible(opal)


def test_global_search_finds_a_name_by_its_suffix(site: Site) -> None:
    serial = issue(site.desk, f"www.{site.desk.unique('find')}.dmv.ca.gov").serial
    opal = site.page_as("opal")
    opal.goto("/certificates")
    opal.fill("#global-search", "dmv.ca.gov")
    opal.locator("form.global-search").get_by_role("button", name="Search").click()
    expect(opal.locator("#found-certificates")).to_be_visible()
    expect(opal.locator("main")).to_contain_text(serial[:16])
    accessible(opal)
    # The certificate list keeps the filter in its URL and offers it as CSV and JSON.
    opal.goto("/certificates?q=dmv.ca.gov&org=dmv")
    expect(opal.locator("#f-org")).to_have_value(DMV)  # a picker, not free text
    link = opal.get_by_role("link", name="CSV (spreadsheet, Pacific time)")
    assert "q=dmv.ca.gov" in (link.get_attribute("href") or "")
    with opal.expect_download() as got:
        link.click()
    text = Path(got.value.path()).read_text(encoding="utf-8")
    assert serial in text and ("PDT" in text or "PST" in text)


def test_revocation_asks_on_its_own_page(site: Site) -> None:
    cert = issue(site.desk, f"old.{site.desk.unique('rv')}.dmv.ca.gov")
    opal = site.page_as("opal")
    opal.goto(f"/certificates/{cert.serial}")
    expect(opal.locator("#cert-facts")).to_contain_text(pacific_time(cert.not_after))
    opal.get_by_role("link", name=re.compile("Revoke")).click()
    expect(opal.locator("#revoke-consequence")).to_contain_text("cannot be undone")
    accessible(opal)
    opal.get_by_label("The private key was exposed").check()
    opal.get_by_role("button", name="Revoke this certificate now").click()
    expect(opal.locator(".alert-success")).to_contain_text("the private key was exposed")
    assert site.desk.services.inventory.show(site.actor("opal"), cert.serial).status == "revoked"


def test_a_self_managed_agency_renews_from_the_certificate_page(site: Site) -> None:
    name = f"vote{site.desk.unique('n')}.sos.ca.gov"
    old = issue(site.desk, name, org=SOS)
    sal = site.page_as(SELF_MANAGED_ADMIN)
    sal.goto(f"/certificates/{old.serial}")
    sal.get_by_role("link", name=re.compile("^Renew")).click()
    expect(sal.locator("#renewing")).to_contain_text(name)
    accessible(sal)
    sal.fill("#f-csr", make_csr([name]).decode())
    sal.get_by_role("button", name="Issue the renewal").click()
    expect(sal.locator("h1")).to_contain_text("issued")
    found = site.desk.services.inventory.search(site.actor("opal"), text=name).items
    assert [c.renewal_of for c in found if c.serial != old.serial] == [old.serial]


def test_help_opens_without_signing_in(site: Site) -> None:
    page = site.anonymous()
    page.goto("/help")
    expect(page.locator("h1")).to_have_text("Help and service guidelines")
    expect(page.locator("main")).to_contain_text("5:00 pm Pacific time")
    expect(page.locator("main")).to_contain_text("ServiceDesk@state.ca.gov")
    accessible(page)


def test_audit_page_reads_as_who_did_what(site: Site) -> None:
    aud = site.page_as("aud")
    aud.goto("/audit")
    expect(aud.locator("#sign-ins-folded")).to_be_visible()
    assert "signed in as" not in aud.locator("#audit-events").inner_text()
    accessible(aud)
    aud.goto("/audit?kind=Sign-ins")
    expect(aud.locator("#audit-events")).to_contain_text("signed in as")
    accessible(aud)
