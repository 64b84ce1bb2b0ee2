"""Accessibility (WCAG 2.1 AA): axe-core finds no violation on any console page.

Every page is opened in headless Chromium by someone who may see it, in the state worth
checking (a form with its error shown, the one-time TOTP set-up, a delivered case with its
approvals and comments), with the State Web Template's stylesheets loaded, so that colour
contrast is judged on what people see. axe is injected into every page before it loads
(a Playwright init script: the same as ``page.add_script_tag`` of ``axe.min.js``, without a
second round trip per page); these browser contexts bypass the console's CSP, which forbids
foreign script. Nothing else does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Page

from conftest import OPERATOR
from world.browser import AXE, SELF_MANAGED_ADMIN, Demo, Site, live_site, populate, send_csr

# No skip when axe-core is missing: `make test` installs it (`make assets`), and an
# accessibility check that silently does not run is worse than a failing one.
assert AXE.is_file(), f"{AXE} is missing: run `make assets` (npm install)"

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# resultTypes: only violations are collected in detail (passes are not), which is faster.
RUN_AXE = """tags => axe.run(document, {
    runOnly: {type: "tag", values: tags},
    resultTypes: ["violations"],
})"""


@dataclass
class World:
    site: Site
    demo: Demo
    values: dict[str, str]  # what page paths are filled in with
    anonymous: Page  # a browser where nobody signs in


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with live_site(tmp_path_factory.mktemp("axe"), init_scripts=(AXE,), bypass_csp=True) as site:
        demo = populate(site.desk)
        link = site.desk.services.accounts.create(
            OPERATOR, "nina", name="Nina Newcomer", email="nina@dmv.ca.gov",
            org_code="dmv", roles=["requester"],
        )  # fmt: skip
        values = {
            "enroll": link.link.rsplit("/", 1)[1],
            "serial": demo.serials["www.dmv.ca.gov"],
            "delivered": demo.delivered,
            "pending": demo.pending,
            "draft": demo.draft,
            "contact": str(demo.contact_id),
        }
        yield World(site, demo, values, site.anonymous())


def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.0/2.1 A and AA violations on the page as it is now."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(RUN_AXE, TAGS)
    return list(result["violations"])


def described(found: list[dict[str, Any]]) -> str:
    lines = []
    for v in found:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} — {v['helpUrl']}")
        for node in v["nodes"][:8]:
            lines.append(
                f"    {node['target']}: {node.get('failureSummary', '').splitlines()[-1:]}"
            )
    return "\n".join(lines)


# -- page states that take a click or a form ---------------------------------------------------


def totp_setup(page: Page) -> None:
    page.get_by_role("button", name="Set up an authenticator").click()
    page.wait_for_selector("img.qr")


def login_refused(page: Page) -> None:
    page.fill("#f-login_id", "nobody")
    page.fill("#f-password", "not the password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#form-error")


def password_refused(page: Page) -> None:
    page.fill("#f-login_id", "ana")
    page.fill("#f-old_password", "wrong password")
    page.fill("#f-new_password", "short")
    page.fill("#f-confirm_password", "short")
    page.get_by_role("button", name="Change password and sign in").click()
    page.wait_for_selector("#form-error")


def issue_refused(page: Page) -> None:
    send_csr(page, "www.dmv.ca.gov")  # not granted to sos (R2)
    page.wait_for_selector("#form-error")


def issue_done(page: Page) -> None:
    send_csr(page, "polls.sos.ca.gov")
    page.wait_for_selector("text=Certificate issued")


def new_case_refused(page: Page) -> None:
    page.fill("#f-title", "A name with an underscore")
    page.fill("#f-s0_names", "bad_name.dmv.ca.gov")  # R1
    page.get_by_role("button", name="Submit for approval").click()
    page.wait_for_selector("#form-error")


def token_created(page: Page) -> None:
    page.select_option("#f-role", "requester")
    page.select_option("#f-org_code", "dmv")
    page.fill("#f-label", "axe check")
    page.get_by_role("button", name="Create token").click()
    page.wait_for_load_state()


def eab_created(page: Page) -> None:
    page.fill("#f-days", "5")
    page.get_by_role("button", name="Create key").click()
    page.wait_for_load_state()
    assert page.locator("#new-key").is_visible()


def person_added(page: Page) -> None:
    page.fill("#f-login_id", "nora")
    page.fill("#f-name", "Nora Newhire")
    page.fill("#f-email", "nora@dmv.ca.gov")
    page.select_option("#f-org_code", "dmv")
    page.check("#f-role-requester")
    page.get_by_role("button", name="Add person").click()
    page.wait_for_load_state()


def mail_saved(page: Page) -> None:
    page.select_option("#f-mode-submitted", "digest")
    page.get_by_role("button", name="Save mail settings").click()
    page.wait_for_load_state()


def webhook_added(page: Page) -> None:
    page.fill("#f-url", "https://bridge.example/hook")
    page.check("#ev-1")
    page.get_by_role("button", name="Add webhook").click()
    page.wait_for_selector("#new-webhook")


def webhook_log(page: Page) -> None:
    webhook_added(page)
    page.get_by_role("link", name="Delivery log of webhook").first.click()
    page.wait_for_selector("h1:has-text('Deliveries of webhook')")


@dataclass(frozen=True)
class Visit:
    path: str  # filled in from World.values
    who: str | None = None  # None: nobody signed in
    then: Callable[[Page], None] | None = None
    status: int = 200
    width: int | None = None  # a narrow screen (a phone) instead of the desktop viewport


def visit(id: str, path: str, who: str | None = None, **kw: Any) -> Any:
    return pytest.param(Visit(path, who, **kw), id=id)


DAN = SELF_MANAGED_ADMIN  # the delegated administrator of a self-managed agency

PAGES = [
    # signing in (R10)
    visit("login", "/login"),
    visit("login/refused", "/login", then=login_refused, status=401),
    visit("password", "/password"),
    visit("password/expired", "/password?expired=1&login_id=ana"),
    visit("password/refused", "/password", then=password_refused, status=400),
    visit("enroll", "/enroll/{enroll}"),
    visit("account", "/account", "opal"),
    visit("account/totp-setup", "/account", "opal", then=totp_setup),
    # mail settings and webhooks (issue 14)
    visit("account/mail", "/account/mail", "ana"),
    visit("account/mail-saved", "/account/mail", "ana", then=mail_saved, status=303),
    visit("webhooks", "/webhooks", "opal"),
    visit("webhooks/added", "/webhooks", DAN, then=webhook_added),
    visit("webhooks/log", "/webhooks", "opal", then=webhook_log),
    # the dashboard, with bars in the chart
    visit("dashboard", "/", "opal"),
    visit("dashboard/approver", "/", "abe"),
    # certificates and direct issuance (R2)
    visit("certificates", "/certificates", "opal"),
    visit("certificates/detail", "/certificates/{serial}", "opal"),
    visit("certificates/detail-agency", "/certificates/{serial}", "ana"),
    visit("issue", "/issue", DAN),
    visit("issue/refused", "/issue", DAN, then=issue_refused, status=400),
    visit("issue/done", "/issue", DAN, then=issue_done),
    visit("issue/managed-agency", "/issue", "dan"),
    visit("issue/operator", "/issue", "opal"),
    visit("issue/check", "/issue/check?names=www.sos.ca.gov+www.dmv.ca.gov+bad_name.ca.gov", DAN),
    # cases (R3, R4, R8)
    visit("cases", "/cases", "opal"),
    visit("cases/new", "/cases/new", "ana"),
    visit("cases/new-kind", "/cases/new?type=new", "ana"),
    visit("cases/new-question", "/cases/new?type=question", "ana"),
    visit("cases/new-refused", "/cases/new?type=new", "ana", then=new_case_refused, status=400),
    visit("cases/revoke-choose", "/cases/{delivered}/revoke", "ana"),
    visit("cases/reissue-choose", "/cases/{delivered}/reissue", "ana"),
    # issue 14: search, confirmation pages, help, the work queue of each role
    visit("search", "/search?q=dmv.ca.gov", "opal"),
    visit("search/agency", "/search?q=dmv", "ana"),
    visit("certificates/revoke", "/certificates/{serial}/revoke", "opal"),
    visit("help", "/help"),
    visit("help/signed-in", "/help", "ana"),
    visit("dashboard/requester", "/", "ana"),
    visit("dashboard/self-managed", "/", DAN),
    visit("audit/sign-ins", "/audit?kind=Sign-ins", "opal"),
    visit("cases/delivered", "/cases/{delivered}", "opal"),
    visit("cases/delivered-requester", "/cases/{delivered}", "ana"),
    visit("cases/pending-approver", "/cases/{pending}", "abe"),
    visit("cases/draft-requester", "/cases/{draft}", "ana"),
    # external certificates (R18)
    visit("external", "/external", "opal"),
    visit("external/agency", "/external", "ana"),
    # administration
    visit("orgs", "/orgs", "opal"),
    visit("orgs/detail", "/orgs/dmv", "opal"),
    visit("users", "/users", "opal"),
    visit("users/detail", "/users/ana", "opal"),
    visit("users/agency-admin", "/users", DAN),
    visit("users/added", "/users", "opal", then=person_added),
    visit("tokens", "/tokens", "opal"),
    visit("tokens/created", "/tokens", "opal", then=token_created),
    visit("acme", "/acme", "opal"),
    visit("acme/agency-admin", "/acme", DAN),
    visit("acme/key-created", "/acme", DAN, then=eab_created),
    visit("contacts", "/contacts", "ana"),
    visit("ct", "/ct", "opal"),
    visit("ct/agency", "/ct", "ana"),
    visit("contacts/detail", "/contacts/dmv/{contact}", "ana"),
    visit("contracts", "/contracts", "opal"),
    # reports and audit
    visit("reports", "/reports", "opal"),
    visit("audit", "/audit", "opal"),
    # errors
    visit("error/404", "/certificates/0000dead", "ana", status=404),
    visit("error/no-such-page", "/no/such/page", "opal", status=404),
    visit("error/forbidden", "/audit", "ana", status=403),
    # a phone's width: no navigation drawer (it needs script), wide tables scroll in place
    visit("narrow/dashboard", "/", "opal", width=390),
    visit("narrow/cases", "/cases", "opal", width=390),
    visit("narrow/case-delivered", "/cases/{delivered}", "ana", width=390),
]


@pytest.mark.parametrize("visit", PAGES)
def test_no_axe_violations(world: World, visit: Visit) -> None:
    site = world.site
    page = site.page_as(visit.who) if visit.who else world.anonymous
    wide = page.viewport_size
    if visit.width is not None:
        page.set_viewport_size({"width": visit.width, "height": 844})
    try:
        check(page, visit, world.values)
    finally:
        if wide is not None:
            page.set_viewport_size(wide)


def check(page: Page, visit: Visit, values: dict[str, str]) -> None:
    response = page.goto(visit.path.format(**values))
    assert response is not None
    if visit.then is not None:
        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            visit.then(page)
        response = posted.value
    assert response.status == visit.status, page.content()[:2000]
    assert page.locator("h1").count() == 1, "one <h1> per page"
    found = violations(page)
    assert not found, f"{page.url}\n{described(found)}"
    if visit.width is not None:  # the page itself is no wider than the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= visit.width
