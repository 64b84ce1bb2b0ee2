"""Mail preferences and webhooks over HTTP (issue 14): /api/v1/users/…/mail-preferences and
/api/v1/webhooks, with who may do what, and bad input refused without changes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from certdesk.core.access import Role
from certdesk.services.registry import Services
from certdesk.store.models import AuditRow, MailPreference, Webhook
from certdesk.web.app import create_app
from conftest import OPERATOR
from world.api import TestClient, bearer
from world.refusals import assert_problem

API = "/api/v1"
PASSWORD = "correct horse battery"


class Api:
    def __init__(self, client: TestClient, services: Services) -> None:
        self.client = client
        self.services = services
        tokens = services.tokens
        self.operator = tokens.create(OPERATOR, role=Role.OPERATOR, org_code=None).secret
        self.auditor = tokens.create(OPERATOR, role=Role.AUDITOR, org_code=None).secret
        self.dmv_admin = tokens.create(OPERATOR, role=Role.DELEGATED_ADMIN, org_code="dmv").secret
        self.cdt_admin = tokens.create(OPERATOR, role=Role.DELEGATED_ADMIN, org_code="cdt").secret
        self.requester = tokens.create(OPERATOR, role=Role.REQUESTER, org_code="dmv").secret

    def call(self, token: str, method: str, url: str, body: Any = None) -> Any:
        return self.client.request(method, f"{API}{url}", json=body, headers=bearer(token))

    def person(self, login: str, org: str = "dmv", role: str = "approver") -> str:
        made = self.call(
            self.operator, "POST", "/users",
            {"login_id": login, "name": login.title(), "email": f"{login}@{org}.ca.gov",
             "org": org, "roles": [role]},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        token = made.json()["link"].rsplit("/", 1)[1]
        enrolled = self.client.post(f"{API}/enroll", json={"token": token, "password": PASSWORD})
        assert enrolled.status_code == 200, enrolled.text
        session = self.client.post(f"{API}/session", json={"login_id": login, "password": PASSWORD})
        assert session.status_code == 201, session.text
        return str(session.json()["token"])

    def counts(self) -> dict[str, int]:
        with self.services.rt.reads() as s:
            return {
                m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
                for m in (MailPreference, Webhook, AuditRow)
            }


@pytest.fixture
def api(services: Services) -> Iterator[Api]:
    services.orgs.create(OPERATOR, "dmv", "DMV", self_managed=True, grants=["zone:dmv.ca.gov"])
    services.orgs.create(OPERATOR, "cdt", "CDT", self_managed=False, grants=["zone:cdt.ca.gov"])
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield Api(client, services)


def test_own_mail_preferences(api: Api) -> None:
    me = api.person("jdoe")
    got = api.call(me, "GET", "/users/me/mail-preferences")
    assert got.status_code == 200
    assert {p["kind"]: p["mode"] for p in got.json()}["waiting"] == "immediate"
    put = api.call(me, "PUT", "/users/me/mail-preferences", {"choices": {"waiting": "digest"}})
    assert put.status_code == 200, put.text
    assert {p["kind"]: p["mode"] for p in put.json()}["waiting"] == "digest"
    # The operator and the organization's administrator see it; another agency's cannot tell.
    seen = api.call(api.operator, "GET", "/users/jdoe/mail-preferences").json()
    assert {p["kind"]: p["mode"] for p in seen}["waiting"] == "digest"
    assert api.call(api.dmv_admin, "GET", "/users/jdoe/mail-preferences").status_code == 200
    assert_problem(api.call(api.cdt_admin, "GET", "/users/jdoe/mail-preferences"), 404,
                   "user.unknown")  # fmt: skip
    # A token is nobody: it has no mail settings of its own.
    assert_problem(api.call(api.operator, "GET", "/users/me/mail-preferences"), 403,
                   "user.person_only")  # fmt: skip


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param({"choices": {"expiry": "off"}}, 400, "prefs.safety", id="safety-off"),
        pytest.param(
            {"choices": {"waiting": "off", "password_expiry": "off"}},
            400,
            "prefs.safety",
            id="all-or-nothing",
        ),
        pytest.param({"choices": {"nope": "off"}}, 422, "request.invalid", id="unknown-kind"),
        pytest.param({"choices": {}}, 422, "request.invalid", id="empty"),
    ],
)
def test_mail_preference_refusals(api: Api, body: Any, status: int, code: str) -> None:
    me = api.person("jdoe")
    before = api.counts()
    assert_problem(api.call(me, "PUT", "/users/me/mail-preferences", body), status, code)
    assert api.counts() == before


def test_webhooks_by_role(api: Api) -> None:
    made = api.call(
        api.dmv_admin, "POST", "/webhooks",
        {"url": "https://dmv.example/hook", "events": ["case.delivered"], "label": "Teams"},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    hook = made.json()["webhook"]
    assert hook["org"] == "dmv" and hook["events"] == ["case.delivered"]
    assert len(made.json()["secret"]) >= 40
    # cert services' webhook hears of every organization
    every = api.call(api.operator, "POST", "/webhooks", {"url": "https://cdt.example/all"})
    assert every.status_code == 201 and every.json()["webhook"]["org"] is None
    listed = api.call(api.dmv_admin, "GET", "/webhooks").json()
    assert [w["id"] for w in listed] == [hook["id"]]
    assert "secret" not in listed[0]
    assert len(api.call(api.auditor, "GET", "/webhooks").json()) == 2
    assert api.call(api.cdt_admin, "GET", "/webhooks").json() == []
    # others cannot see, log or remove it; a requester may not manage webhooks
    assert_problem(api.call(api.cdt_admin, "DELETE", f"/webhooks/{hook['id']}"), 404,
                   "webhook.unknown")  # fmt: skip
    assert_problem(api.call(api.requester, "POST", "/webhooks", {"url": "https://x.example/"}),
                   403, "auth.forbidden")  # fmt: skip
    loopback = {"url": "http://127.0.0.1:5432/"}  # this host's services are not an agency's
    assert_problem(api.call(api.dmv_admin, "POST", "/webhooks", loopback), 400, "webhook.url")
    elsewhere = {"url": "https://x.example/", "org": "cdt"}
    assert_problem(api.call(api.dmv_admin, "POST", "/webhooks", elsewhere), 404, "org.unknown")
    log = api.call(api.dmv_admin, "GET", f"/webhooks/{hook['id']}/deliveries")
    assert log.status_code == 200 and log.json() == []
    gone = api.call(api.dmv_admin, "DELETE", f"/webhooks/{hook['id']}")
    assert gone.status_code == 200
    assert api.call(api.dmv_admin, "GET", "/webhooks").json() == []


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param({"url": "http://dmv.example/hook"}, 400, "webhook.url", id="plain-http"),
        pytest.param({"url": "not a url"}, 400, "webhook.url", id="garbage"),
        pytest.param(
            {"url": "https://a.example/", "events": ["nope"]},
            422,
            "request.invalid",
            id="unknown-event",
        ),
        pytest.param({"url": ""}, 422, "request.invalid", id="empty"),
    ],
)
def test_webhook_refusals(api: Api, body: Any, status: int, code: str) -> None:
    before = api.counts()
    assert_problem(api.call(api.operator, "POST", "/webhooks", body), status, code)
    assert api.counts() == before
