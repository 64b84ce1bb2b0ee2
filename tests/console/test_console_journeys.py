"""The console's journeys in headless Chromium: real clicks, form fills, file uploads and
downloads against a live server, checked both on the page and in the services.

- R3/R4/R8: a requester opens a case with two submittals (CSR files), the agency's approver
  and cert services approve, cert services issues and delivers, the requester downloads the
  chains and they verify.
- R2: a delegated administrator issues for a granted name and is refused another name, with
  the rule shown; nothing is issued.
- R10: an expired password forces a change at sign-in; five wrong passwords lock the account;
  signing out ends the session on the server.
- Another agency's certificate is a 404 page.
- The session cookie is HttpOnly and SameSite=Lax; pages carry a strict CSP.
- The API docs (/docs, /redoc) render and work from this server alone, under their CSP.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import FilePayload, Page, expect

from conftest import OPERATOR
from world.browser import SELF_MANAGED_ADMIN, SOS, Site, issue, live_site, sign_in
from world.console import PASSWORD
from world.csr import make_csr
from world.desk import CHP, DMV

CASE_URL = re.compile(r"/cases/(CS-\d{4}-\d{6})$")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with live_site(tmp_path_factory.mktemp("journeys")) as site:
        yield site


def csr_with_key(name: str) -> tuple[bytes, bytes]:
    """A CSR for ``name`` and the public key it carries (DER), to find in the certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return make_csr([name], key=key), public


def csr_file(filename: str, csr: bytes) -> FilePayload:
    """A file for an ``<input type=file>``, as if chosen from disk."""
    return FilePayload(name=filename, mimeType="application/pkcs10", buffer=csr)


def verify_chain(pem: bytes, name: str, public_key: bytes) -> x509.Certificate:
    """The leaf is signed by the intermediate that follows it, for ``name`` and the CSR's key."""
    chain = x509.load_pem_x509_certificates(pem)
    assert len(chain) >= 2, f"a chain is the leaf and its issuing CA, got {len(chain)} PEM(s)"
    leaf, intermediate = chain[0], chain[1]
    leaf.verify_directly_issued_by(intermediate)  # issuer name = subject, and the signature
    assert leaf.issuer == intermediate.subject
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [name]
    assert (
        leaf.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == public_key
    )
    constraints = intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    return leaf


def flash(page: Page) -> str:
    return page.locator(".alert-success").inner_text()


def press(page: Page, button: str, says: str) -> None:
    """Click a form's button and wait for the page it leads to, with its flash message."""
    page.get_by_role("button", name=button, exact=True).click()
    expect(page.locator(".alert-success")).to_contain_text(says)


def state_of(site: Site, number: str) -> str:
    return site.desk.services.cases.show(site.actor("opal"), number).state


# -- R3, R4, R8: a case from the request to the verified chain ---------------------------------


def test_case_journey_from_request_to_verified_chain(site: Site, tmp_path: Path) -> None:
    names = ("shop.dmv.ca.gov", "permits.ca.gov")  # a zone grant and a host grant (R2)
    csrs = [csr_with_key(n) for n in names]

    # 1. The requester opens the case: two submittals, each a CSR file, and submits it.
    ana = site.page_as("ana")
    ana.goto("/cases/new?type=new&submittals=2")
    ana.fill("#f-title", "Shop and permits portals")
    for i, (name, (csr, _)) in enumerate(zip(names, csrs, strict=True)):
        ana.set_input_files(f"#f-s{i}_csr_file", files=csr_file(f"{name}.csr", csr))
        ana.fill(f"#f-s{i}_contact_name", "Ana Alvarez")
        ana.fill(f"#f-s{i}_contact_email", "ana@dmv.ca.gov")
    ana.get_by_role("button", name="Submit for approval").click()
    ana.wait_for_url(CASE_URL)
    number = CASE_URL.search(ana.url).group(1)  # type: ignore[union-attr]
    assert "submitted" in flash(ana)
    view = site.desk.services.cases.show(site.actor("ana"), number)
    assert view.state == "pending_approval"
    assert sorted(tuple(s.names) for s in view.submittals) == sorted((n,) for n in names)

    # 2. The agency's approver approves (R4) ...
    abe = site.page_as("abe")
    abe.goto(f"/cases/{number}")
    press(abe, "Approve", "You approved the case")
    assert state_of(site, number) == "pending_approval"  # cert services has not yet

    # 3. ... and so does cert services, who starts the work, issues and delivers.
    opal = site.page_as("opal")
    opal.goto(f"/cases/{number}")
    press(opal, "Approve", "You approved the case")
    assert state_of(site, number) == "approved"
    press(opal, "Start work", "in progress")
    assert state_of(site, number) == "in_progress"
    press(opal, "Issue and deliver", "delivered")
    delivered = site.desk.services.cases.show(site.actor("opal"), number)
    assert delivered.state == "delivered"
    serials = {s.names[0]: s.certificate_serial for s in delivered.submittals}
    assert all(serials.values()), serials

    # 4. The requester downloads each chain from the case page, and it verifies.
    ana.goto(f"/cases/{number}")
    expect(ana.locator("#delivered")).to_be_visible()
    for name, (_, public_key) in zip(names, csrs, strict=True):
        serial = serials[name]
        with ana.expect_download() as download:
            ana.get_by_role("link", name=f"Full chain of {serial} (PEM)").click()
        pem = Path(download.value.path()).read_bytes()
        leaf = verify_chain(pem, name, public_key)
        assert format(leaf.serial_number, "x") == serial

    # ... and from the certificate's own page.
    ana.goto(f"/certificates/{serials[names[0]]}")
    with ana.expect_download() as download:
        ana.get_by_role("link", name="Full chain (PEM)").click()
    verify_chain(Path(download.value.path()).read_bytes(), names[0], csrs[0][1])


# -- R2: direct issuance by a delegated administrator -----------------------------------------


def issued_count(site: Site) -> int:
    return len(site.desk.services.inventory.search(OPERATOR, org_code=SOS, limit=500).items)


def test_delegated_admin_issues_a_granted_name(site: Site) -> None:
    csr, public_key = csr_with_key("vote.sos.ca.gov")
    before = issued_count(site)
    sal = site.page_as(SELF_MANAGED_ADMIN)
    sal.goto("/issue")
    sal.fill("#f-csr", csr.decode())
    sal.get_by_role("button", name="Issue the certificate").click()
    expect(sal.locator("h1")).to_have_text("Certificate issued")
    assert issued_count(site) == before + 1
    with sal.expect_download() as download:
        sal.get_by_role("link", name="Full chain (PEM)").click()
    verify_chain(Path(download.value.path()).read_bytes(), "vote.sos.ca.gov", public_key)


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        pytest.param("www.dmv.ca.gov", "name.not_granted", id="R2/another-agency-zone"),
        pytest.param("vote.sos.ca.gov.example.com", "name.lookalike", id="R1/look-alike"),
    ],
)
def test_delegated_admin_is_refused_other_names(site: Site, name: str, rule: str) -> None:
    before = issued_count(site)
    sal = site.page_as(SELF_MANAGED_ADMIN)
    sal.goto("/issue")
    sal.set_input_files("#f-csr_file", files=csr_file("req.csr", make_csr([name])))
    with sal.expect_response(lambda r: r.request.method == "POST") as posted:
        sal.get_by_role("button", name="Issue the certificate").click()
    assert posted.value.status == 400
    error = sal.locator("#form-error")
    expect(error).to_have_attribute("data-code", rule)  # for machines; people read words
    expect(error).to_contain_text(name)
    assert "(R" not in error.inner_text()
    expect(sal.locator("h1")).to_have_text("Issue a certificate")
    assert issued_count(site) == before  # nothing issued


# -- R10: passwords and sessions -----------------------------------------------------------------


def test_expired_password_forces_a_change(site: Site) -> None:
    desk = site.desk
    new = "a brand new passphrase 2027"
    back = desk.clock.now
    desk.clock.advance(days=desk.services.rt.settings.password_max_age_days + 1)
    try:
        page = site.anonymous()
        sign_in(page, "eli")
        page.wait_for_url(re.compile(r"/password\?"))
        expect(page.locator("[role=status]").first).to_contain_text("expired")
        expect(page.locator("#f-login_id")).to_have_value("eli")
        page.fill("#f-old_password", PASSWORD)
        page.fill("#f-new_password", new)
        page.fill("#f-confirm_password", new)
        page.get_by_role("button", name="Change password and sign in").click()
        page.wait_for_url(f"{site.url}/")
        expect(page.locator("h1")).to_have_text("Dashboard")
        assert "password is changed" in flash(page)
        me = desk.services.accounts.get(OPERATOR, "eli")
        assert me.password_changed_at == desk.clock.now
        desk.services.logins.login("eli", new)  # the new password works (raises otherwise)
    finally:
        desk.clock.now = back


def test_five_wrong_passwords_lock_the_account(site: Site) -> None:
    page = site.anonymous()
    threshold = site.desk.services.rt.settings.lockout_threshold
    assert threshold == 5
    for attempt in range(1, threshold + 1):
        sign_in(page, "eve", "not the password")
        error = page.locator("#form-error")
        if attempt < threshold:
            expect(error).to_contain_text("wrong password")
    expect(page.locator("#form-error")).to_contain_text("locked until")
    assert site.desk.services.accounts.get(OPERATOR, "eve").locked_until is not None

    sign_in(page, "eve")  # the right password, while locked
    expect(page.locator("#form-error")).to_contain_text("locked until")
    assert page.url.startswith(f"{site.url}/login")
    assert "certdesk_session" not in {c["name"] for c in page.context.cookies()}


def test_sign_out_ends_the_session_on_the_server(site: Site) -> None:
    page = site.page_as("otto")
    session = next(c for c in page.context.cookies() if c["name"] == "certdesk_session")
    assert site.desk.services.tokens.console_session(session["value"], timedelta(minutes=30))
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login$"))
    assert "signed out" in flash(page)
    assert "certdesk_session" not in {c["name"] for c in page.context.cookies()}
    page.goto("/")
    assert page.url.startswith(f"{site.url}/login")

    # The old cookie, replayed by another browser, no longer opens anything.
    other = site.context()
    other.add_cookies([{"name": session["name"], "value": session["value"], "url": site.url}])
    replay = other.new_page()
    replay.goto("/cases")
    assert replay.url.startswith(f"{site.url}/login")
    site.forget("otto")


def test_session_cookie_is_httponly_and_lax_and_pages_carry_a_csp(site: Site) -> None:
    page = site.page_as("opal")
    cookies = {c["name"]: c for c in page.context.cookies()}
    for name in ("certdesk_session", "certdesk_csrf"):
        assert cookies[name]["httpOnly"], name
        assert cookies[name]["sameSite"] == "Lax", name
        assert cookies[name]["expires"] == -1, f"{name} is a browser-session cookie"
    response = page.goto("/")
    assert response is not None
    csp = response.headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"


# -- another agency's certificate ----------------------------------------------------------------


def test_another_agencys_certificate_is_not_found(site: Site) -> None:
    theirs = issue(site.desk, "radio.chp.ca.gov", org=CHP)
    ours = issue(site.desk, "desk.dmv.ca.gov", org=DMV)
    ana = site.page_as("ana")

    response = ana.goto(f"/certificates/{ours.serial}")  # control: her own agency's opens
    assert response is not None and response.status == 200
    expect(ana.locator("main")).to_contain_text("desk.dmv.ca.gov")

    for path in (f"/certificates/{theirs.serial}", f"/certificates/{theirs.serial}/download"):
        response = ana.goto(path + "?format=chain" if path.endswith("download") else path)
        assert response is not None and response.status == 404, path
        expect(ana.locator("h1")).to_have_text("Not found")
        assert "radio.chp.ca.gov" not in ana.content()

    carl = site.page_as("carl")  # ... and the other agency does see it
    response = carl.goto(f"/certificates/{theirs.serial}")
    assert response is not None and response.status == 200
    expect(carl.locator("main")).to_contain_text("radio.chp.ca.gov")


def test_case_of_another_agency_is_not_found(site: Site) -> None:
    theirs = site.desk.draft("carl", org=CHP)
    ana = site.page_as("ana")
    response = ana.goto(f"/cases/{theirs.number}")
    assert response is not None and response.status == 404
    expect(ana.locator("h1")).to_have_text("Not found")


# -- the API docs, served by certdesk itself (web/apidocs.py) ------------------------------------


@pytest.mark.parametrize(
    ("path", "title", "stopped"),
    [
        pytest.param("/docs", ".swagger-ui .info .title", (), id="apidocs/swagger-ui"),
        # ReDoc's sidebar always shows Redocly's logo from their CDN; the page's CSP stops it.
        pytest.param(
            "/redoc", "h1", ("https://cdn.redoc.ly/redoc/logo-mini.svg",), id="apidocs/redoc"
        ),
    ],
)
def test_api_docs_work_in_a_browser_without_leaving_the_site(
    site: Site, path: str, title: str, stopped: tuple[str, ...]
) -> None:
    page = site.anonymous()
    fetched: list[str] = []
    refused: list[str] = []
    page.on("requestfinished", lambda r: fetched.append(r.url))
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(path)
    # The viewer ran (its script and the page's inline start-up script were allowed) and
    # rendered the OpenAPI document it fetched from this server (ReDoc lays out the whole
    # document before its first heading: seconds on two loaded cores).
    expect(page.locator(title).first).to_contain_text("certdesk", timeout=20_000)
    assert [u for u in fetched if not u.startswith((site.url, "blob:", "data:"))] == []
    assert [t for t in refused if not any(url in t for url in stopped)] == []


def test_swagger_ui_try_it_out_calls_the_api(site: Site) -> None:
    page = site.anonymous()
    page.goto("/docs")
    operation = page.locator("#operations-health-healthz")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    answer = operation.locator(".live-responses-table .response-col_description pre").first
    expect(answer).to_contain_text('"status": "ok"')
