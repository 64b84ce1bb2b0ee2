"""R10 over HTTP: /api/v1/session, /api/v1/enroll and /api/v1/users, end to end.

Flows run on SQLite and PostgreSQL; tables of bad input run on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select

from certdesk.core.access import Role
from certdesk.services.registry import Services
from certdesk.store.models import ApiToken, AuditRow, Enrollment, Notice, User, UserRole
from certdesk.web.app import create_app
from conftest import OPERATOR, ManualClock
from world.api import TestClient, bearer
from world.refusals import assert_problem

API = "/api/v1"
SQLITE = pytest.mark.parametrize("backend", ["sqlite"])  # overrides conftest's backend
PASSWORD = "correct horse battery"
NEW_PASSWORD = "a different long passphrase"


class Api:
    """A client plus the bearer secrets of the principals the tests act as."""

    def __init__(self, client: TestClient, services: Services, clock: ManualClock) -> None:
        self.client = client
        self.services = services
        self.clock = clock
        self.operator = services.tokens.create(OPERATOR, role=Role.OPERATOR, org_code=None).secret
        self.auditor = services.tokens.create(OPERATOR, role=Role.AUDITOR, org_code=None).secret

    def create(self, token: str, **body: Any) -> Any:
        return self.client.post(f"{API}/users", json=body, headers=bearer(token))

    def person(
        self, login: str, *, org: str | None = "dmv", roles: tuple[str, ...] = ("requester",)
    ) -> str:
        """Create an account as the operator, enroll it, and sign in; the session token."""
        made = self.create(
            self.operator, login_id=login, name=login.title(), email=f"{login}@dmv.ca.gov",
            org=org, roles=list(roles),
        )  # fmt: skip
        assert made.status_code == 201, made.text
        token = made.json()["link"].rsplit("/", 1)[1]
        enrolled = self.client.post(f"{API}/enroll", json={"token": token, "password": PASSWORD})
        assert enrolled.status_code == 200, enrolled.text
        return self.login(login)

    def login(self, login: str, password: str = PASSWORD, totp: str | None = None) -> str:
        resp = self.client.post(
            f"{API}/session", json={"login_id": login, "password": password, "totp": totp}
        )
        assert resp.status_code == 201, resp.text
        token: str = resp.json()["token"]
        return token

    def counts(self) -> dict[str, int]:
        with self.services.rt.reads() as s:
            return {
                m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
                for m in (User, UserRole, Enrollment, Notice, AuditRow, ApiToken)
            }


@pytest.fixture
def api(services: Services, clock: ManualClock) -> Iterator[Api]:
    services.orgs.create(OPERATOR, "dmv", "DMV", self_managed=True, grants=["zone:dmv.ca.gov"])
    services.orgs.create(OPERATOR, "cdt", "CDT", self_managed=False, grants=["zone:cdt.ca.gov"])
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield Api(client, services, clock)


def test_enroll_sign_in_totp_and_sign_out(api: Api) -> None:
    c = api.client
    made = api.create(
        api.operator, login_id="JDoe", name="Jane Doe", email="jane@dmv.ca.gov", org="dmv",
        roles=["requester", "approver"],
    )  # fmt: skip
    assert made.status_code == 201
    body = made.json()
    assert body["link"].startswith("http://127.0.0.1:8080/enroll/")
    assert body["user"]["login_id"] == "jdoe"
    assert body["user"]["roles"] == ["approver", "requester"]
    assert body["user"]["enrolled"] is False
    assert "password" not in str(body["user"]).replace("password_", "")

    token = body["link"].rsplit("/", 1)[1]
    enrolled = c.post(f"{API}/enroll", json={"token": token, "password": PASSWORD})
    assert enrolled.status_code == 200 and enrolled.json()["enrolled"] is True
    assert_problem(
        c.post(f"{API}/enroll", json={"token": token, "password": PASSWORD}),
        409, "enrollment.used",
    )  # fmt: skip

    signed = c.post(f"{API}/session", json={"login_id": "jdoe", "password": PASSWORD})
    assert signed.status_code == 201
    session = signed.json()
    assert session["user"]["login_id"] == "jdoe"
    assert session["expires_at"].startswith("2026-11-27T06:00:00")
    me = c.get(f"{API}/users/me", headers=bearer(session["token"]))
    assert me.status_code == 200 and me.json()["org"] == "dmv"

    setup = c.post(f"{API}/users/me/totp", headers=bearer(session["token"]))
    assert setup.status_code == 201
    secret = setup.json()["secret"]
    assert setup.json()["uri"].startswith("otpauth://totp/certdesk:jdoe?")
    assert_problem(
        c.post(f"{API}/users/me/totp/confirm", json={"code": "000000"},
               headers=bearer(session["token"])),
        400, "totp.invalid",
    )  # fmt: skip
    code = pyotp.TOTP(secret).at(api.clock.now)
    confirmed = c.post(
        f"{API}/users/me/totp/confirm", json={"code": code}, headers=bearer(session["token"])
    )
    assert confirmed.status_code == 200 and confirmed.json()["totp_enabled"] is True

    assert_problem(
        c.post(f"{API}/session", json={"login_id": "jdoe", "password": PASSWORD}),
        401, "totp.required",
    )  # fmt: skip
    # RFC 6238 §5.2: the confirming code is spent; the next step's code logs in.
    assert_problem(
        c.post(f"{API}/session", json={"login_id": "jdoe", "password": PASSWORD, "totp": code}),
        401, "totp.invalid",
    )  # fmt: skip
    api.clock.advance(seconds=30)
    with_code = api.login("jdoe", totp=pyotp.TOTP(secret).at(api.clock.now))

    out = c.delete(f"{API}/session", headers=bearer(with_code))
    assert out.status_code == 204
    assert_problem(c.get(f"{API}/users/me", headers=bearer(with_code)), 401, "auth.token")
    assert c.get(f"{API}/users/me", headers=bearer(session["token"])).status_code == 200
    assert_problem(c.delete(f"{API}/session", headers=bearer(api.operator)), 400,
                   "session.not_a_session")  # fmt: skip


def test_expired_password_is_changed_then_signs_in(api: Api) -> None:
    c = api.client
    api.person("jdoe")
    api.clock.advance(days=90)
    refused = assert_problem(
        c.post(f"{API}/session", json={"login_id": "jdoe", "password": PASSWORD}),
        401, "password.expired",
    )  # fmt: skip
    assert "change it" in refused["detail"]
    changed = c.post(
        f"{API}/session/password",
        json={"login_id": "jdoe", "old_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 201, changed.text
    assert c.get(f"{API}/users/me", headers=bearer(changed.json()["token"])).status_code == 200
    api.login("jdoe", NEW_PASSWORD)
    assert_problem(
        c.post(f"{API}/session", json={"login_id": "jdoe", "password": PASSWORD}),
        401, "auth.login",
    )  # fmt: skip


def test_lockout_over_http(api: Api) -> None:
    c = api.client
    api.person("jdoe")
    wrong = {"login_id": "jdoe", "password": "wrong password!"}
    unknown = assert_problem(
        c.post(f"{API}/session", json={"login_id": "nobody", "password": PASSWORD}),
        401, "auth.login",
    )  # fmt: skip
    for _ in range(4):
        body = assert_problem(c.post(f"{API}/session", json=wrong), 401, "auth.login")
        assert body["detail"] == unknown["detail"]  # the same answer for both (R10)
    locked = assert_problem(c.post(f"{API}/session", json=wrong), 401, "account.locked")
    assert locked["locked_until"] == (api.clock.now + timedelta(minutes=15)).isoformat()
    assert_problem(
        c.post(f"{API}/session", json={"login_id": "jdoe", "password": PASSWORD}),
        401, "account.locked",
    )  # fmt: skip
    api.clock.advance(minutes=15)
    api.login("jdoe")


def test_roles_and_disabling_apply_to_open_sessions(api: Api) -> None:
    c = api.client
    session = api.person("jdoe", roles=("requester",))
    assert_problem(c.get(f"{API}/users", headers=bearer(session)), 403, "auth.forbidden")
    changed = c.put(
        f"{API}/users/jdoe/roles",
        json={"roles": ["delegated_admin", "requester"]},
        headers=bearer(api.operator),
    )
    assert changed.status_code == 200 and changed.json()["roles"] == [
        "delegated_admin", "requester",
    ]  # fmt: skip
    listed = c.get(f"{API}/users", headers=bearer(session))
    assert listed.status_code == 200
    assert [u["login_id"] for u in listed.json()] == ["jdoe"]

    disabled = c.post(f"{API}/users/jdoe/disable", headers=bearer(api.operator))
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert_problem(c.get(f"{API}/users/me", headers=bearer(session)), 401, "auth.token")
    assert_problem(
        c.post(f"{API}/session", json={"login_id": "jdoe", "password": PASSWORD}),
        401, "account.disabled",
    )  # fmt: skip
    enabled = c.post(f"{API}/users/jdoe/enable", headers=bearer(api.operator))
    assert enabled.json()["disabled"] is False
    api.login("jdoe")


def test_delegated_admin_over_http(api: Api) -> None:
    c = api.client
    admin = api.person("dmvadmin", roles=("delegated_admin",))
    api.person("cdtuser", org="cdt")
    before = api.counts()
    other = api.create(admin, login_id="x-cdt", name="X", email="x@cdt.ca.gov", org="cdt",
                       roles=["requester"])  # fmt: skip
    assert_problem(other, 404, "org.unknown")
    operator = api.create(admin, login_id="x-ops", name="X", email="x@cdt.ca.gov",
                          roles=["operator"])  # fmt: skip
    assert_problem(operator, 403, "user.role")
    assert_problem(c.get(f"{API}/users/cdtuser", headers=bearer(admin)), 404, "user.unknown")
    assert_problem(c.post(f"{API}/users/cdtuser/reset", headers=bearer(admin)), 404,
                   "user.unknown")  # fmt: skip
    assert_problem(c.post(f"{API}/users/dmvadmin/disable", headers=bearer(admin)), 409,
                   "user.self")  # fmt: skip
    assert api.counts() == before

    made = api.create(admin, login_id="dmvreq", name="R", email="r@dmv.ca.gov", org="dmv",
                      roles=["requester", "approver"])  # fmt: skip
    assert made.status_code == 201
    reset = c.post(f"{API}/users/dmvreq/reset", headers=bearer(admin))
    assert reset.status_code == 200 and "/enroll/" in reset.json()["link"]
    listed = c.get(f"{API}/users", headers=bearer(admin)).json()
    assert [u["login_id"] for u in listed] == ["dmvadmin", "dmvreq"]
    everyone = c.get(f"{API}/users", headers=bearer(api.auditor)).json()
    assert [u["login_id"] for u in everyone] == ["cdtuser", "dmvadmin", "dmvreq"]
    assert_problem(
        api.create(api.auditor, login_id="aud2", name="A", email="a@cdt.ca.gov",
                   roles=["auditor"]),
        403, "auth.forbidden",
    )  # fmt: skip


GOOD = {"login_id": "newbie", "name": "New", "email": "n@dmv.ca.gov", "org": "dmv",
        "roles": ["requester"]}  # fmt: skip


@SQLITE
@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        pytest.param({"login_id": "9x"}, 400, "user.login_id", id="R10/api/bad-login"),
        pytest.param({"email": "nope"}, 400, "user.email", id="api/bad-email"),
        pytest.param({"roles": []}, 422, "request.invalid", id="R10/api/no-roles"),
        pytest.param({"roles": ["root"]}, 422, "request.invalid", id="R10/api/unknown-role"),
        pytest.param({"org": None}, 400, "user.org", id="R10/api/org-role-without-org"),
        pytest.param({"org": "nope"}, 404, "org.unknown", id="api/unknown-org"),
        pytest.param({"roles": ["operator"]}, 400, "user.org", id="R10/api/operator-with-org"),
        pytest.param({"name": ""}, 422, "request.invalid", id="api/empty-name"),
        pytest.param({"login_id": "taken"}, 409, "user.exists", id="R10/api/login-taken"),
    ],
)
def test_bad_user_input_is_a_clear_4xx_and_changes_nothing(
    api: Api, change: dict[str, Any], status: int, code: str
) -> None:
    api.person("taken")
    before = api.counts()
    assert_problem(api.create(api.operator, **{**GOOD, **change}), status, code)
    assert api.counts() == before


@SQLITE
@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        pytest.param("post", "/enroll", {"token": "a" * 64, "password": PASSWORD}, 404,
                     "enrollment.unknown", id="api/enroll-unknown"),
        pytest.param("post", "/enroll", {"token": "x"}, 422, "request.invalid",
                     id="api/enroll-no-password"),
        pytest.param("post", "/session", {"login_id": "taken"}, 422, "request.invalid",
                     id="api/login-no-password"),
        pytest.param("post", "/session", {"login_id": "taken", "password": "x" * 300}, 422,
                     "request.invalid", id="api/login-huge-password"),
        pytest.param("post", "/session/password",
                     {"login_id": "taken", "old_password": PASSWORD, "new_password": "short"},
                     400, "password.too_short", id="R10/api/change-too-short"),
        pytest.param("put", "/users/taken/roles", {"roles": ["root"]}, 422, "request.invalid",
                     id="R10/api/roles-unknown"),
        pytest.param("put", "/users/ghost/roles", {"roles": ["requester"]}, 404, "user.unknown",
                     id="api/roles-unknown-user"),
        pytest.param("post", "/users/ghost/disable", None, 404, "user.unknown",
                     id="api/disable-unknown-user"),
        pytest.param("get", "/users/" + "x" * 65, None, 422, "request.invalid",
                     id="api/show-overlong-login"),
        pytest.param("post", "/users/me/totp", None, 403, "totp.person_only",
                     id="api/totp-with-api-token"),
    ],
)  # fmt: skip
def test_bad_requests_change_nothing(
    api: Api, method: str, path: str, body: Any, status: int, code: str
) -> None:
    api.person("taken")
    before = api.counts()
    resp = api.client.request(method.upper(), API + path, json=body, headers=bearer(api.operator))
    assert_problem(resp, status, code)
    assert api.counts() == before


@SQLITE
def test_openapi_documents_the_account_routes(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    paths = spec["paths"]
    expected = {
        "/api/v1/session": {"post", "delete"},
        "/api/v1/session/password": {"post"},
        "/api/v1/enroll": {"post"},
        "/api/v1/users": {"get", "post"},
        "/api/v1/users/me": {"get"},
        "/api/v1/users/me/totp": {"post"},
        "/api/v1/users/me/totp/confirm": {"post"},
        "/api/v1/users/{login}": {"get"},
        "/api/v1/users/{login}/disable": {"post"},
        "/api/v1/users/{login}/enable": {"post"},
        "/api/v1/users/{login}/reset": {"post"},
        "/api/v1/users/{login}/roles": {"put"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) == methods, path
        for method in methods:
            op = paths[path][method]
            public = path in {"/api/v1/enroll", "/api/v1/session/password"} or (
                path == "/api/v1/session" and method == "post"
            )
            # The three ways to get a token need none; everything else needs one.
            assert bool(op.get("security")) is not public, (path, method)
            if not public:
                refused = api.client.request(
                    method.upper(), path.format(login="jdoe"), json={"roles": ["requester"]}
                )
                assert refused.status_code == 401, (path, method)
    login = paths["/api/v1/session"]["post"]
    assert "account.locked" in login["responses"]["401"]["description"]
    assert "password.expired" in login["responses"]["401"]["description"]
    user = spec["components"]["schemas"]["UserOut"]["properties"]
    assert {"login_id", "roles", "totp_enabled", "password_expires_at"} <= set(user)
    assert not {"password_hash", "totp_secret"} & set(user)
