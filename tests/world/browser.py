"""The console in a real browser: a live server on a :mod:`world.desk` desk, headless Chromium
driven by Playwright, people signed in through the real sign-in form.

Used by tests/console/test_console_journeys.py, tests/console/test_console_axe.py and
scripts/screenshots.py. One :class:`Site` per test module (one server, one browser); one
browser context per person, signed in once.

The test thread and the server thread use the same :class:`Services` at the same time: the
services are thread-safe and SQLite runs in WAL mode; the desk's ManualClock is shared, so
moving it moves the server's time too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from certdesk.core.access import Actor, Role
from certdesk.services.casework.contacts import ContactInput
from certdesk.services.casework.submittals import SubmittalInput
from certdesk.services.pki.issuance import Issued, Platform
from certdesk.services.registry import Services
from certdesk.web.app import create_app
from conftest import OPERATOR
from world.console import PASSWORD, set_password
from world.csr import make_csr
from world.desk import CHP, DMV, EDD, Desk, add_person, open_desk
from world.processes import free_port

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_ASSETS = REPO / "node_modules" / "@cagovweb" / "state-template" / "dist"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000

# the desk's organizations are all managed (certificates come through cases, R11); delegated
# administration (direct issuance, R2) needs a self-managed one, with its administrator.
SOS = "sos"
SOS_GRANTS = ["zone:sos.ca.gov", "host:elections.ca.gov"]
SELF_MANAGED_ADMIN = "sal"


# --------------------------------------------------------------------------- the desk


@contextmanager
def browser_desk(tmp: Path) -> Iterator[Desk]:
    """The desk's organizations and people on SQLite (:func:`world.desk.open_desk`) with the
    State Web Template wherever the tests run from, plus the self-managed ``sos`` and its
    delegated administrator ``sal``; every person has the password of
    :data:`world.console.PASSWORD`."""
    assets = TEMPLATE_ASSETS if TEMPLATE_ASSETS.is_dir() else None
    with open_desk("sqlite", tmp, console_assets_dir=assets) as desk:
        desk.services.orgs.create(
            OPERATOR, SOS, "Secretary of State", self_managed=True, grants=SOS_GRANTS
        )
        desk.people[SELF_MANAGED_ADMIN] = add_person(
            desk.services, SELF_MANAGED_ADMIN, SOS, [Role.DELEGATED_ADMIN]
        )
        for login in desk.people:
            set_password(desk, login)
        yield desk


# --------------------------------------------------------------------------- demo data


@dataclass
class Demo:
    """What :func:`populate` made, for tests and screenshots to open."""

    serials: dict[str, str] = field(default_factory=dict)  # name -> serial
    delivered: str = ""  # case number: approved, fulfilled, with comments
    pending: str = ""  # case number: waiting for approvals
    draft: str = ""  # case number: not submitted yet
    contact_id: int = 0  # an organization contact of dmv


def issue(desk: Desk, name: str, *, org: str = DMV, days: int | None = None) -> Issued:
    """A certificate for ``name`` issued by cert services (opal) straight through the service."""
    return desk.issued(org, name, by=desk["opal"], platform=Platform.VIRTUAL, days=days)


def populate(desk: Desk) -> Demo:
    """Certificates that expire over the next months (the dashboard's chart has bars), cases
    in three states (delivered with approvals and comments, pending, draft), costs, an
    organization contact and an API token."""
    demo = Demo()
    hosts = ("www", "api", "portal", "mail", "vpn", "intranet", "kiosk", "status")
    for i, days in enumerate((5, 12, 13, 19, 26, 27, 33, 40, 41, 47, 61, 62, 75, 90, 104, 110)):
        org = (DMV, CHP, EDD)[i % 3]
        name = f"{hosts[i % len(hosts)]}{i // len(hosts) or ''}.{org}.ca.gov"
        demo.serials[name] = issue(desk, name, org=org, days=days).serial

    svc = desk.services
    for org, cents in ((DMV, 36500), (CHP, 29900), (EDD, 41000)):
        svc.costs.set_cost(OPERATOR, org, cents)
    contact = ContactInput("technical", "Ana Alvarez", "ana@dmv.ca.gov", "916-555-0100")
    demo.contact_id = svc.contacts.add(
        OPERATOR,
        DMV,
        ContactInput("administrative", "Sergio Ruiz", "sergio@dmv.ca.gov", "916-555-0199"),
    ).id
    svc.tokens.create(desk["opal"], role=Role.REQUESTER, org_code=DMV, label="dmv deploy script")

    subs = tuple(
        SubmittalInput(names=(name,), csr=make_csr([name]), contacts=(contact,))
        for name in ("shop.dmv.ca.gov", "permits.ca.gov")
    )
    case = desk.draft("ana", title="Online shop and permits", submittals=subs)
    svc.cases.comment(desk["ana"], case.number, "Both sites go live on the 10th.")
    svc.cases.submit(desk["ana"], case.number)
    svc.approvals.approve(desk["abe"], case.number, note="Budget approved.")
    svc.approvals.approve(desk["opal"], case.number)
    svc.cases.comment(desk["opal"], case.number, "Issuing today.")
    svc.fulfilment.fulfil(desk["opal"], case.number)
    demo.delivered = case.number
    demo.pending = desk.pending("ana", title="Renew the kiosk certificate").number
    demo.draft = desk.draft("ana", title="Field office Wi-Fi portal").number
    return demo


# --------------------------------------------------------------------------- the server


@contextmanager
def live_server(services: Services, port: int | None = None) -> Iterator[str]:
    """The app of ``services`` served by uvicorn in a daemon thread (on ``port``, else a free
    one); yields its base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        create_app(services),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="none",  # no websockets here; their import would only warn
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"console-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the console server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless (never a downloaded browser)."""
    with sync_playwright() as p:
        browser = launch(p)
        try:
            yield browser
        finally:
            browser.close()


def launch(p: Playwright) -> Browser:
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


# --------------------------------------------------------------------------- people


def sign_in(page: Page, login: str, password: str = PASSWORD) -> None:
    """Fill and send the real sign-in form (the page must not already be signed in)."""
    page.goto("/login")
    page.fill("#f-login_id", login)
    page.fill("#f-password", password)
    page.get_by_role("button", name="Sign in").click()


def send_csr(page: Page, name: str) -> None:
    """On /issue: paste a fresh CSR for ``name`` and press the issue button."""
    page.fill("#f-csr", make_csr([name]).decode())
    page.get_by_role("button", name="Issue the certificate").click()
    page.wait_for_load_state()


@dataclass
class Site:
    """One live console and one browser; a context per person, signed in on first use."""

    desk: Desk
    url: str
    browser: Browser
    context_options: dict[str, Any] = field(default_factory=dict)
    init_scripts: tuple[Path, ...] = ()  # run in every page of every context, before the page
    _pages: dict[str, Page] = field(default_factory=dict)
    _contexts: list[BrowserContext] = field(default_factory=list)

    def context(self, **options: Any) -> BrowserContext:
        """A fresh browser profile (own cookies) on this site; closed with the site."""
        context = self.browser.new_context(base_url=self.url, **{**self.context_options, **options})
        context.set_default_timeout(TIMEOUT_MS)
        for script in self.init_scripts:
            context.add_init_script(path=script)
        self._contexts.append(context)
        return context

    def anonymous(self) -> Page:
        return self.context().new_page()

    def page_as(self, login: str) -> Page:
        """The page of ``login``'s own browser, signed in through the form once."""
        page = self._pages.get(login)
        if page is None:
            page = self.context().new_page()
            sign_in(page, login)
            page.wait_for_url(f"{self.url}/")
            self._pages[login] = page
        return page

    def forget(self, login: str) -> None:
        """Drop ``login``'s browser (after a test changed their password or session)."""
        page = self._pages.pop(login, None)
        if page is not None:
            page.context.close()

    def actor(self, login: str) -> Actor:
        return self.desk[login]

    def close(self) -> None:
        for context in self._contexts:
            context.close()  # a second close (after forget) does nothing


@contextmanager
def live_site(
    tmp: Path, *, init_scripts: tuple[Path, ...] = (), **context_options: Any
) -> Iterator[Site]:
    """A desk, its live console and a browser, for one test module; ``context_options`` go to
    every browser context (``bypass_csp=True``, ``viewport=...``)."""
    with browser_desk(tmp) as desk, live_server(desk.services) as url, chromium() as browser:
        site = Site(desk, url, browser, context_options, init_scripts)
        try:
            yield site
        finally:
            site.close()


# --------------------------------------------------------------------------- accessibility

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page: Page) -> list[str]:
    """axe-core's WCAG 2.0/2.1 A and AA violations on the page as it is now (axe injected
    when the site's init scripts did not; the context must bypass the console's CSP)."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        """tags => axe.run(document, {runOnly: {type: "tag", values: tags},
                                      resultTypes: ["violations"]})""",
        AXE_TAGS,
    )
    return [
        f"{v['id']}: {v['help']} {[n['target'] for n in v['nodes'][:5]]}"
        for v in result["violations"]
    ]
