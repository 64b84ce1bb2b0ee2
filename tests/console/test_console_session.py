"""The console's locks (R10, CSRF, headers) through a browser-like client: cookies and forms.

Sign-in, password expiry, lockout, idle timeout, enrollment and TOTP are the same services
the API uses; these tests check what the console adds on top: the cookie, the CSRF token on
every form, the security headers, redirects that never leave the site, and that a secret is
shown once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from certdesk.services.pki.issuance import IssueCommand
from certdesk.web.app import create_app
from certdesk.web.console.guard import CSP, CSRF_COOKIE, SESSION_COOKIE
from conftest import OPERATOR
from world.console import PASSWORD, SECRET, Visitor, console_desk, set_password, text_of, visitor
from world.csr import make_csr
from world.desk import Desk, desk_fixture

desk = desk_fixture("console-session", backend="sqlite", opener=console_desk)


@pytest.fixture
def clean_clock(desk: Desk) -> Iterator[None]:
    start = desk.clock.now
    yield
    desk.clock.now = start


def audit_actions(desk: Desk, login: str) -> list[str]:
    events, _ = desk.services.audit.search(OPERATOR, object_type="user", object_id=login)
    return [e.action for e in events]


def session_cookie(v: Visitor) -> str | None:
    return v.client.cookies.get(SESSION_COOKIE)


# -- sign-in and the session cookie -------------------------------------------------------


def test_r10_sign_in_sets_an_httponly_samesite_session_cookie(desk: Desk) -> None:
    with visitor(desk) as v:
        response = v.sign_in("ana")
        cookie = next(
            h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)
        )
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Secure" not in cookie  # BASE_URL is plain http here
        assert "Max-Age" not in cookie and "expires" not in cookie.lower()  # a browser session
        page = v.get("/")
        assert page.status_code == 200
        assert "Dashboard" in text_of(page) and "ana" in text_of(page)


def test_r10_pages_need_a_session_and_come_back_after_sign_in(desk: Desk) -> None:
    with visitor(desk) as v:
        response = v.get("/account?tab=totp")
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=%2Faccount%3Ftab%3Dtotp"
        form = v.get(response.headers["location"])
        assert 'name="next" value="/account?tab=totp"' in form.text
        back = v.post(
            "/login", {"login_id": "ana", "password": PASSWORD, "next": "/account?tab=totp"}
        )
        assert back.headers["location"] == "/account?tab=totp"


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("//evil.example/x", id="open-redirect/protocol-relative"),
        pytest.param("https://evil.example/", id="open-redirect/absolute"),
        pytest.param("/\\evil.example", id="open-redirect/backslash"),
    ],
)
def test_after_sign_in_never_leaves_the_site(desk: Desk, target: str) -> None:
    with visitor(desk) as v:
        response = v.post("/login", {"login_id": "ana", "password": PASSWORD, "next": target})
        assert response.headers["location"] == "/"


def test_r10_wrong_password_is_one_answer_and_no_session(desk: Desk) -> None:
    with visitor(desk) as v:
        for login in ("ana", "nobody"):
            response = v.post("/login", {"login_id": login, "password": "wrong password!"})
            assert response.status_code == 401
            assert "unknown login ID or wrong password" in text_of(response)
            assert session_cookie(v) is None


def test_r10_sign_out_ends_the_session_server_side(desk: Desk) -> None:
    with visitor(desk, "ana") as v:
        secret = session_cookie(v)
        assert secret is not None
        response = v.post("/logout")
        assert response.headers["location"] == "/login"
        # The old cookie, replayed, is dead: the session was revoked, not just forgotten.
        v.client.cookies.set(SESSION_COOKIE, secret)
        assert v.get("/").status_code == 303
        assert "session.end" in audit_actions(desk, "ana")


def test_r10_idle_timeout_ends_the_session(desk: Desk, clean_clock: None) -> None:
    idle = desk.services.rt.settings.console_idle_minutes
    with visitor(desk, "abe") as v:
        desk.clock.advance(minutes=idle - 1)
        assert v.get("/").status_code == 200  # activity: the idle clock starts again
        desk.clock.advance(minutes=idle - 1)
        assert v.get("/").status_code == 200
        desk.clock.advance(minutes=idle + 1)
        response = v.get("/")
        assert response.status_code == 303
        assert "why=session.idle" in response.headers["location"]
        assert "without activity" in text_of(v.get(response.headers["location"]))
        assert "session.idle" in audit_actions(desk, "abe")
        desk.clock.advance(minutes=-(idle + 1))  # even back in time, the session stays ended
        assert v.get("/").status_code == 303


def test_r10_api_tokens_are_no_console_sessions(desk: Desk) -> None:
    new = desk.services.tokens.create(OPERATOR, role=desk["opal"].role, org_code=None)
    with visitor(desk) as v:
        v.client.cookies.set(SESSION_COOKIE, new.secret)
        assert v.get("/").status_code == 303


def test_r10_expired_password_forces_a_change(desk: Desk, clean_clock: None) -> None:
    desk.clock.advance(days=desk.services.rt.settings.password_max_age_days + 1)
    with visitor(desk) as v:
        response = v.post("/login", {"login_id": "eve", "password": PASSWORD})
        assert response.headers["location"].startswith("/password?expired=1&login_id=eve")
        assert session_cookie(v) is None
        form = v.follow(response)
        assert "Your password has expired" in text_of(form)
        new = "a brand new passphrase 2026"
        mismatch = v.post(
            "/password",
            {
                "login_id": "eve",
                "old_password": PASSWORD,
                "new_password": new,
                "confirm_password": new + "x",
            },
        )
        assert mismatch.status_code == 400 and "password.mismatch" in mismatch.text
        changed = v.post(
            "/password",
            {
                "login_id": "eve",
                "old_password": PASSWORD,
                "new_password": new,
                "confirm_password": new,
            },
        )
        assert changed.headers["location"] == "/"
        assert v.get("/").status_code == 200
    set_password(desk, "eve")  # put eve back for the other tests


def test_r10_five_bad_passwords_lock_the_account(desk: Desk, clean_clock: None) -> None:
    threshold = desk.services.rt.settings.lockout_threshold
    with visitor(desk) as v:
        for _ in range(threshold - 1):
            assert v.post("/login", {"login_id": "eli", "password": "not it at all"}).status_code
        locked = v.post("/login", {"login_id": "eli", "password": "not it at all"})
        assert locked.status_code == 401 and "account is locked until" in text_of(locked)
        right = v.post("/login", {"login_id": "eli", "password": PASSWORD})
        assert right.status_code == 401 and "locked" in text_of(right)
        desk.clock.advance(minutes=desk.services.rt.settings.lockout_minutes + 1)
        assert v.post("/login", {"login_id": "eli", "password": PASSWORD}).status_code == 303


# -- CSRF -----------------------------------------------------------------------------------


def test_csrf_a_form_post_without_the_token_is_refused_and_changes_nothing(desk: Desk) -> None:
    with visitor(desk, "bea") as v:
        before = audit_actions(desk, "bea")
        refused = v.post("/account/totp", csrf=False)
        assert refused.status_code == 403 and "csrf.refused" in refused.text
        forged = v.client.post(
            "/account/totp", data={"csrf_token": "0" * 64}, follow_redirects=False
        )
        assert forged.status_code == 403
        assert audit_actions(desk, "bea") == before  # no totp.setup
        assert v.post("/logout", csrf=False).status_code == 403
        assert v.get("/").status_code == 200  # still signed in


def test_csrf_the_token_is_bound_to_this_browser(desk: Desk) -> None:
    with visitor(desk) as mallory, visitor(desk) as victim:
        token = mallory.csrf()
        victim.get("/login")
        response = victim.client.post(
            "/login",
            data={"login_id": "ana", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 403  # another browser's token is worthless here


# -- headers -------------------------------------------------------------------------------


def test_security_headers_on_console_pages(desk: Desk) -> None:
    with visitor(desk, "ana") as v:
        page = v.get("/")
        assert page.headers["content-security-policy"] == CSP
        assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        css = v.get("/static/certdesk/certdesk.css")
        assert css.status_code == 200 and "no-store" not in css.headers.get("cache-control", "")
        api = v.get("/api/v1/certificates")
        assert api.status_code == 401 and "content-security-policy" not in api.headers


def test_the_sign_in_form_shows_only_its_own_sentences(desk: Desk) -> None:
    with visitor(desk) as v:
        page = v.get("/login?why=Your+account+was+hacked%2C+call+555-0100")
        assert page.status_code == 200 and "hacked" not in page.text  # no text from the URL


def test_unknown_console_page_is_an_html_404(desk: Desk) -> None:
    with visitor(desk, "ana") as v:
        page = v.get("/no/such/page")
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "Not found" in text_of(page)


# -- enrollment and TOTP ---------------------------------------------------------------------


def test_r10_enrollment_link_chooses_the_password_once(desk: Desk) -> None:
    link = desk.services.accounts.create(
        OPERATOR, "newbie", name="New Bie", email="newbie@dmv.ca.gov", org_code="dmv",
        roles=["requester"],
    )  # fmt: skip
    path = link.link.removeprefix(desk.services.rt.settings.base_url)
    assert path.startswith("/enroll/")
    with visitor(desk) as v:
        assert "Choose your password" in text_of(v.get(path))
        short = v.post(path, {"password": "short", "confirm_password": "short"})
        assert short.status_code == 400 and "password" in short.text
        chosen = "a passphrase chosen today"
        done = v.post(path, {"password": chosen, "confirm_password": chosen})
        assert done.headers["location"] == "/login?login_id=newbie"
        again = v.post(path, {"password": chosen + "2", "confirm_password": chosen + "2"})
        assert again.status_code in (400, 404, 409)  # used links are gone
        v.sign_in("newbie", chosen)
        assert v.get("/").status_code == 200


def test_r10_totp_set_up_shows_the_secret_once_then_asks_for_codes(desk: Desk) -> None:
    with visitor(desk, "cara") as v:
        shown = v.post("/account/totp")
        assert shown.status_code == 200
        secret = shown.text.split('class="secret">')[1].split("<")[0]
        assert len(secret) == 32 and 'src="data:image/svg+xml' in shown.text
        account = v.get("/account")
        assert secret not in account.text  # never rendered again
        wrong = v.post("/account/totp/confirm", {"code": "000000"})
        assert wrong.status_code == 400 and "totp.invalid" in wrong.text
        on = v.post("/account/totp/confirm", {"code": pyotp.TOTP(secret).at(desk.clock.now)})
        assert on.status_code == 303
        assert "Authenticator (TOTP) on" in text_of(v.get("/account"))
    with visitor(desk) as v:
        ask = v.post("/login", {"login_id": "cara", "password": PASSWORD})
        assert ask.status_code == 401 and 'id="f-totp"' in ask.text
        assert 'inputmode="numeric"' in ask.text  # an attribute, not escaped text
        desk.clock.advance(seconds=60)  # a fresh time step: codes are single-use
        try:
            code = pyotp.TOTP(secret).at(desk.clock.now)
            ok = v.post("/login", {"login_id": "cara", "password": PASSWORD, "totp": code})
            assert ok.status_code == 303
        finally:
            desk.clock.advance(seconds=-60)


# -- the dashboard ---------------------------------------------------------------------------


def test_r6_dashboard_counts_what_expires_in_the_next_120_days(desk: Desk) -> None:
    for days in (10, 12, 40):
        desk.services.issuance.issue(
            OPERATOR,
            IssueCommand(org_code="edd", csr=make_csr([f"d{days}.edd.ca.gov"]), days=days),
        )
    with visitor(desk, "eve") as v:
        page = v.get("/")
        table = page.text.split('id="forecast-table"')[1].split("</table>")[0]
        counts = [int(c) for c in re.findall(r'class="num">(\d+)<', table)]
        assert len(counts) == 18 and counts[1] == 2 and counts[5] == 1 and sum(counts) == 3
        assert "d10.edd.ca.gov" in page.text and "<svg" in page.text
    with visitor(desk, "ana") as v:  # dmv sees none of edd's
        assert "d10.edd.ca.gov" not in v.get("/").text


def https_app(desk: Desk) -> FastAPI:
    """The console of ``desk`` as it runs behind ``BASE_URL=https://…``."""
    rt = desk.services.rt
    plain = rt.settings
    rt.settings = plain.model_copy(update={"base_url": "https://certs.cdt.ca.gov"})
    try:
        return create_app(desk.services)
    finally:
        rt.settings = plain


def test_r10_behind_https_the_cookies_are_secure_host_only_and_hsts_is_sent(desk: Desk) -> None:
    with TestClient(https_app(desk), base_url="https://certs.cdt.ca.gov") as client:
        v = Visitor(client)
        form = v.get("/login")
        response = v.sign_in("abe")
        cookies = form.headers.get_list("set-cookie") + response.headers.get_list("set-cookie")
        names = {h.split("=", 1)[0] for h in cookies}
        assert {"__Host-certdesk_csrf", "__Host-certdesk_session"} <= names
        # __Host- (RFC 6265bis §4.1.3.2): Secure, Path=/ and no Domain, or browsers drop it.
        for header in cookies:
            attributes = [a.strip().lower() for a in header.split(";")[1:]]
            assert header.startswith("__Host-"), header
            assert "secure" in attributes and "path=/" in attributes, header
            assert not any(a.startswith("domain") for a in attributes), header
        assert "HttpOnly" in next(h for h in cookies if h.startswith("__Host-certdesk_session"))
        assert client.cookies.get(SESSION_COOKIE) is None  # no unprefixed twin
        assert v.get("/").headers["strict-transport-security"] == "max-age=31536000"
        # The flash cookie too: a neighbouring host must not put words on this site's pages.
        out = v.post("/logout")
        assert out.status_code == 303
        assert any(
            h.startswith("__Host-certdesk_flash=") for h in out.headers.get_list("set-cookie")
        )
        assert "signed out" in text_of(v.follow(out))
        assert v.post("/tokens", {"role": "requester"}).status_code == 403  # no session now


def test_csrf_an_anonymous_pair_planted_beside_a_session_authorises_nothing(desk: Desk) -> None:
    """Issue 10 finding 3: the token/cookie pair of an anonymous sign-in form, planted beside
    a victim's session cookie (a neighbouring host can set cookies on http), used to
    authorise POST /tokens."""
    with visitor(desk) as mallory, visitor(desk, "dan") as victim:
        mallory.get("/login")
        planted_cookie = mallory.client.cookies.get(CSRF_COOKIE)
        planted_token = mallory.csrf()
        assert planted_cookie is not None
        before = {t.prefix for t in desk.services.tokens.list(OPERATOR)}

        victim.client.cookies.set(CSRF_COOKIE, planted_cookie)
        forged = victim.client.post(
            "/tokens",
            data={"role": "requester", "label": "planted", "csrf_token": planted_token},
            follow_redirects=False,
        )
        assert forged.status_code == 403 and "csrf.refused" in forged.text
        assert not SECRET.search(forged.text)
        assert {t.prefix for t in desk.services.tokens.list(OPERATOR)} == before

        # The victim's own page, drawn for this session, still works (the planted cookie
        # changes nothing), and its token is no pre-session token either.
        own = victim.csrf()
        assert own != planted_token
        made = victim.post("/tokens", {"role": "requester", "label": "legitimate"})
        assert made.status_code == 200 and SECRET.search(made.text)
        labels = [t.label for t in desk.services.tokens.list(OPERATOR)]
        assert "legitimate" in labels and "planted" not in labels


def test_csrf_a_token_is_worth_nothing_beside_another_session(desk: Desk) -> None:
    with visitor(desk, "dan") as first, visitor(desk, "dan") as second:
        stolen = first.csrf()
        before = {t.prefix for t in desk.services.tokens.list(OPERATOR)}
        refused = second.client.post(
            "/tokens", data={"role": "requester", "csrf_token": stolen}, follow_redirects=False
        )
        assert refused.status_code == 403
        assert {t.prefix for t in desk.services.tokens.list(OPERATOR)} == before


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/tokens", id="csrf/pre-session-token/session-form"),
        pytest.param("/logout", id="csrf/pre-session-token/sign-out"),
        pytest.param("/account/totp", id="csrf/pre-session-token/account"),
    ],
)
def test_csrf_a_pre_session_token_opens_only_the_sign_in_forms(desk: Desk, path: str) -> None:
    with visitor(desk) as v:
        assert v.post(path, {"role": "requester"}).status_code == 403
        # The same token is good on the sign-in form (a wrong password is a 401, not a 403).
        assert v.post("/login", {"login_id": "dan", "password": "wrong"}).status_code == 401
