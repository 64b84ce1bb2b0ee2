"""The console under test, without a browser: a :class:`world.desk.Desk` whose people have
passwords, and a :class:`Visitor` that signs in and posts forms the way a browser does
(cookies, the CSRF token of the page, no JavaScript).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from certdesk.services.people.passwords import hash_password
from certdesk.store import users as user_store
from certdesk.web.app import create_app
from certdesk.web.console.guard import ConsoleCookies
from world.desk import Desk, open_desk

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
# An API token's secret, as a page shows it once.
SECRET = re.compile(r"cd_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def set_password(desk: Desk, login: str, password: str = PASSWORD) -> None:
    """Give ``login`` a current password (as enrollment would), straight in the table."""
    with desk.services.rt.sessions.begin() as s:
        user = user_store.by_login(s, login)
        assert user is not None, login
        user.password_hash = hash_password(password)
        user.password_changed_at = desk.services.rt.clock()
        user.must_change_password = False


@contextmanager
def console_desk(backend: str, tmp: Path) -> Iterator[Desk]:
    """The desk's organizations and people (ana, abe, bea, dan, carl, cara, eve, eli, opal,
    otto, aud), every one with the password :data:`PASSWORD`."""
    with open_desk(backend, tmp) as desk:
        for login in desk.people:
            set_password(desk, login)
        yield desk


class Visitor:
    """One browser: its own cookie jar, signed in as one person (or nobody)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self._token: str | None = None
        self._token_session: str | None = None  # the session cookie the token was drawn for
        https = str(client.base_url).startswith("https://")
        self.cookie_names = ConsoleCookies(secure=https)

    @property
    def session(self) -> str | None:
        """This browser's session cookie, if it holds one."""
        return self.client.cookies.get(self.cookie_names.session)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        response = self.client.get(path, follow_redirects=False, **kw)
        found = (
            CSRF.search(response.text)
            if "text/html" in response.headers.get("content-type", "")
            else None
        )
        if found:
            self._token = found.group(1)
            self._token_session = self.session
        return response

    def csrf(self) -> str:
        """The CSRF token of this browser's pages: fetched from the sign-in form once, and
        again whenever the session changed (tokens are bound to the session)."""
        if self._token is None or self._token_session != self.session:
            self.get("/login")
        assert self._token is not None
        return self._token

    def post(
        self,
        path: str,
        data: Mapping[str, Any] | None = None,
        *,
        files: Mapping[str, Any] | None = None,
        csrf: bool = True,
    ) -> httpx.Response:
        """Submit a form as the page would, with its CSRF token unless ``csrf=False``."""
        body = dict(data or {})
        if csrf:
            body["csrf_token"] = self.csrf()
        return self.client.post(path, data=body, files=files, follow_redirects=False)

    def follow(self, response: httpx.Response) -> httpx.Response:
        """The page a 303 after a form leads to."""
        assert response.status_code == 303, (response.status_code, response.text[:500])
        return self.get(response.headers["location"])

    def sign_in(self, login: str, password: str = PASSWORD) -> httpx.Response:
        response = self.post("/login", {"login_id": login, "password": password})
        assert response.status_code == 303, (response.status_code, response.text[:800])
        return response


@contextmanager
def visitor(desk: Desk, login: str | None = None) -> Iterator[Visitor]:
    """A fresh browser on the console of ``desk``; signed in as ``login`` if given."""
    with TestClient(create_app(desk.services), base_url="http://127.0.0.1:8080") as client:
        v = Visitor(client)
        if login:
            v.sign_in(login)
        yield v


Browsers = Callable[[str], Visitor]


@contextmanager
def browsers(desk: Desk) -> Iterator[Browsers]:
    """One signed-in browser per person, made on first use and shared until the end (signing
    in is slow on purpose: argon2id), all on one app. Tests that move the clock past the idle
    limit sign in with a fresh :func:`visitor` instead."""
    app = create_app(desk.services)
    with ExitStack() as stack:
        signed_in: dict[str, Visitor] = {}

        def of(login: str) -> Visitor:
            if login not in signed_in:
                client = stack.enter_context(TestClient(app, base_url="http://127.0.0.1:8080"))
                signed_in[login] = Visitor(client)
                signed_in[login].sign_in(login)
            return signed_in[login]

        yield of


def code_of(response: httpx.Response) -> str | None:
    """The error code a page carries for machines (``data-code``), never shown to people."""
    found = re.search(r'data-code="([^"]+)"', response.text)
    return found.group(1) if found else None


def text_of(response: httpx.Response) -> str:
    """The page's visible text, roughly: tags removed, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.text).split())


_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?-----END [A-Z0-9 ]+-----", re.S)


def rule_numbers(text: str) -> list[str]:
    """The rule numbers (R1, R12 …) a page's words show; R19: there should be none. A PEM
    block the page echoes back (a refused form keeps its CSR) is base64, where "+R4/" is no
    rule number, and is left out."""
    return re.findall(r"\bR\d{1,2}\b", _PEM.sub("", text))
