"""R11: switching an existing organization between managed and self-managed service.

Through the service (who may, what is audited, what a refusal leaves), the API
(``PATCH /api/v1/orgs/{code}``) and the CLI (``certdesk org set``), on SQLite and PostgreSQL.
The console's form is tested with the other administration pages
(``tests/console/test_console_admin.py``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.exceptions import StarletteDeprecationWarning

from certdesk.config import Settings
from certdesk.core.access import Role
from certdesk.errors import Forbidden, NotFound
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.registry import Services
from certdesk.store.models import AuditRow
from certdesk.web.app import create_app
from conftest import AUDITOR, OPERATOR, org_actor
from world.cli import Cli, operator_cli
from world.csr import make_csr

with warnings.catch_warnings():  # as in tests/world/api.py
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

API = "/api/v1"


@pytest.fixture
def orgs(services: Services) -> Services:
    """dmv (managed) and chp (self-managed), each with a zone grant."""
    services.orgs.create(OPERATOR, "dmv", "Motor Vehicles", self_managed=False,
                         grants=["zone:dmv.ca.gov"])  # fmt: skip
    services.orgs.create(OPERATOR, "chp", "Highway Patrol", self_managed=True,
                         grants=["zone:chp.ca.gov"])  # fmt: skip
    return services


def service_events(services: Services) -> list[tuple[str, str, str, str]]:
    """(actor, organization, before, after) of every ``org.service`` event, oldest first."""
    events, _ = services.audit.search(OPERATOR, action="org.service")  # newest first
    return [
        (e.actor, e.object_id, e.summary["before"], e.summary["after"])
        for e in sorted(events, key=lambda e: e.seq)
        if e.object_type == "organization"
    ]


def audit_length(services: Services) -> int:
    with services.rt.reads() as s:
        return int(s.scalar(select(func.count()).select_from(AuditRow)) or 0)


def services_of(services: Services) -> dict[str, bool]:
    return {o.code: o.self_managed for o in services.orgs.list_all(OPERATOR)}


# --------------------------------------------------------------------------- the service


def test_operator_switches_both_ways_and_each_change_is_audited(orgs: Services) -> None:
    svc = orgs.orgs
    grants_before = svc.get(OPERATOR, "dmv").grants

    view = svc.set_service(OPERATOR, " DMV ", self_managed=True)
    assert (view.code, view.self_managed) == ("dmv", True)
    assert view.as_dict()["service"] == "self-managed"
    assert svc.get(OPERATOR, "dmv").self_managed

    back = svc.set_service(OPERATOR, "dmv", self_managed=False)
    assert not back.self_managed and back.as_dict()["service"] == "managed"
    assert not svc.get(OPERATOR, "dmv").self_managed
    assert back.grants == grants_before  # grants are not touched (R2)

    # The same notion and summary the delegated-administrator set-up records (R15).
    assert service_events(orgs) == [
        (OPERATOR.name, "dmv", "managed", "self-managed"),
        (OPERATOR.name, "dmv", "self-managed", "managed"),
    ]
    assert orgs.audit.verify(OPERATOR)[1] is None  # the chain holds (R15)


def test_direct_issuance_follows_the_switch(orgs: Services) -> None:
    """R11: a delegated administrator issues directly only while the organization is
    self-managed; the account and its grants outlive a switch to managed."""
    admin = org_actor(orgs, "chp", Role.DELEGATED_ADMIN)

    def issue(name: str) -> str:
        cmd = IssueCommand(org_code="chp", csr=make_csr([name]))
        return orgs.issuance.issue(admin, cmd).serial

    assert issue("www.chp.ca.gov")
    orgs.orgs.set_service(OPERATOR, "chp", self_managed=False)
    with pytest.raises(Forbidden, match="is managed"):
        issue("api.chp.ca.gov")
    orgs.orgs.set_service(OPERATOR, "chp", self_managed=True)
    assert issue("api.chp.ca.gov")


@pytest.mark.parametrize(
    ("code", "self_managed"),
    [
        pytest.param("dmv", False, id="managed-stays-managed"),
        pytest.param("chp", True, id="self-managed-stays-self-managed"),
    ],
)
def test_setting_the_same_service_records_nothing(
    orgs: Services, code: str, self_managed: bool
) -> None:
    before = audit_length(orgs)
    view = orgs.orgs.set_service(OPERATOR, code, self_managed=self_managed)
    assert view == orgs.orgs.get(OPERATOR, code)
    assert view.self_managed is self_managed
    assert audit_length(orgs) == before


@pytest.mark.parametrize(
    ("who", "code", "error", "says"),
    [
        pytest.param(lambda s: AUDITOR, "dmv", Forbidden, "may not org.manage",
                     id="auditor-reads-only"),
        pytest.param(lambda s: org_actor(s, "chp", Role.DELEGATED_ADMIN), "chp", Forbidden,
                     "may not org.manage", id="delegated-admin-of-its-own-org"),
        pytest.param(lambda s: org_actor(s, "dmv", Role.REQUESTER), "dmv", Forbidden,
                     "may not org.manage", id="requester-of-its-own-org"),
        pytest.param(lambda s: org_actor(s, "dmv", Role.APPROVER), "chp", NotFound,
                     "no organization", id="another-agency-is-not-found"),
        pytest.param(lambda s: org_actor(s, "chp", Role.DELEGATED_ADMIN), "dmv", NotFound,
                     "no organization", id="delegated-admin-of-another-agency"),
        pytest.param(lambda s: OPERATOR, "nosuch", NotFound, "no organization",
                     id="unknown-org"),
    ],
)  # fmt: skip
def test_refused_and_nothing_changes(
    orgs: Services, who: Any, code: str, error: type[Exception], says: str
) -> None:
    actor = who(orgs)
    before = (audit_length(orgs), services_of(orgs))
    for self_managed in (True, False):
        with pytest.raises(error, match=says):
            orgs.orgs.set_service(actor, code, self_managed=self_managed)
    assert (audit_length(orgs), services_of(orgs)) == before


# --------------------------------------------------------------------------- the API


@pytest.fixture
def client(orgs: Services) -> Iterator[TestClient]:
    with TestClient(create_app(orgs), raise_server_exceptions=False) as c:
        yield c


def bearer(services: Services, role: Role, org: str | None = None) -> dict[str, str]:
    token = services.tokens.create(OPERATOR, role=role, org_code=org)
    return {"Authorization": f"Bearer {token.secret}"}


def test_api_patch_switches_the_service(orgs: Services, client: TestClient) -> None:
    op = bearer(orgs, Role.OPERATOR)
    resp = client.patch(f"{API}/orgs/DMV", json={"self_managed": True}, headers=op)
    assert resp.status_code == 200, resp.text
    shown = client.get(f"{API}/orgs/dmv", headers=op).json()
    assert (
        resp.json()
        == shown
        == {
            "code": "dmv",
            "name": "Motor Vehicles",
            "service": "self-managed",
            "grants": ["zone:dmv.ca.gov"],
            "issuer": "builtin",
            "grant_issuers": {},
        }
    )
    again = client.patch(f"{API}/orgs/dmv", json={"self_managed": True}, headers=op)
    assert again.status_code == 200 and again.json() == shown
    back = client.patch(f"{API}/orgs/chp", json={"self_managed": False}, headers=op)
    assert back.status_code == 200 and back.json()["service"] == "managed"
    assert services_of(orgs) == {"chp": False, "dmv": True}
    token = f"token:{op['Authorization'].split('_')[1]}"  # cd_<prefix>_<secret>
    assert service_events(orgs) == [  # the no-op in between recorded nothing
        (token, "dmv", "managed", "self-managed"),
        (token, "chp", "self-managed", "managed"),
    ]


@pytest.mark.parametrize("backend", ["sqlite"])  # input tables: one backend is enough
@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="missing"),
        pytest.param({"self_managed": "maybe"}, id="not-a-bool"),
        pytest.param({"self_managed": None}, id="null"),
        pytest.param({"service": "self-managed"}, id="the-read-field"),
        pytest.param({"self_managed": True, "name": "Renamed"}, id="another-field"),
        pytest.param([True], id="not-an-object"),
    ],
)
def test_api_bad_body_is_422_and_changes_nothing(
    orgs: Services, client: TestClient, body: Any
) -> None:
    op = bearer(orgs, Role.OPERATOR)
    before = (audit_length(orgs), services_of(orgs))
    resp = client.patch(f"{API}/orgs/dmv", json=body, headers=op)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["code"] == "request.invalid"
    assert (audit_length(orgs), services_of(orgs)) == before
    assert orgs.orgs.get(OPERATOR, "dmv").name == "Motor Vehicles"


@pytest.mark.parametrize(
    ("role", "org", "code", "status", "problem"),
    [
        pytest.param(Role.AUDITOR, None, "dmv", 403, "auth.forbidden", id="auditor"),
        pytest.param(Role.DELEGATED_ADMIN, "chp", "chp", 403, "auth.forbidden",
                     id="delegated-admin-own-org"),
        pytest.param(Role.REQUESTER, "dmv", "dmv", 403, "auth.forbidden", id="requester-own-org"),
        pytest.param(Role.DELEGATED_ADMIN, "chp", "dmv", 404, "org.unknown",
                     id="another-agency"),
    ],
)  # fmt: skip
def test_api_non_operator_is_refused(
    orgs: Services, client: TestClient, role: Role, org: str | None, code: str, status: int,
    problem: str,
) -> None:  # fmt: skip
    headers = bearer(orgs, role, org)
    before = (audit_length(orgs), services_of(orgs))
    for value in (True, False):
        resp = client.patch(f"{API}/orgs/{code}", json={"self_managed": value}, headers=headers)
        assert resp.status_code == status, resp.text
        assert resp.json()["code"] == problem
    assert (audit_length(orgs), services_of(orgs)) == before


def test_api_patch_needs_a_token(orgs: Services, client: TestClient) -> None:
    resp = client.patch(f"{API}/orgs/dmv", json={"self_managed": True})
    assert resp.status_code == 401
    assert not orgs.orgs.get(OPERATOR, "dmv").self_managed


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def cli(
    orgs: Services,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Cli]:
    """The CLI on the same database as ``orgs``."""
    with operator_cli(
        capsys, tmp_path, monkeypatch,
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        ca_passphrase="test-passphrase",
    ) as cli:  # fmt: skip
        yield cli


def test_cli_sets_both_ways(orgs: Services, cli: Cli) -> None:
    code, out, err = cli("org", "set", "dmv", "--self-managed")
    assert (code, err) == (0, "")
    assert out == "dmv\tMotor Vehicles\tself-managed\tzone:dmv.ca.gov\n"
    assert orgs.orgs.get(OPERATOR, "dmv").self_managed

    code, out, _ = cli("org", "set", "DMV", "--managed", "--json")
    assert code == 0
    assert json.loads(out) == {
        "code": "dmv",
        "name": "Motor Vehicles",
        "service": "managed",
        "grants": ["zone:dmv.ca.gov"],
        "issuer": "builtin",
        "grant_issuers": {},
    }
    assert not orgs.orgs.get(OPERATOR, "dmv").self_managed

    code, out, _ = cli("org", "set", "chp", "--managed")
    assert code == 0 and "\tmanaged\t" in out
    assert [(o, b, a) for _, o, b, a in service_events(orgs)] == [
        ("dmv", "managed", "self-managed"),
        ("dmv", "self-managed", "managed"),
        ("chp", "self-managed", "managed"),
    ]


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    ("args", "says", "code"),
    [
        pytest.param(("dmv",), "exactly one of --self-managed or --managed", 1, id="neither"),
        pytest.param(("dmv", "--managed", "--self-managed"),
                     "exactly one of --self-managed or --managed", 1, id="both"),
        pytest.param(("nosuch", "--self-managed"), "no organization with code 'nosuch'",
                     3, id="unknown-org"),
        pytest.param(("dmv", "--service", "managed"), "No such option: --service",
                     2, id="unknown-option"),
        pytest.param(("--self-managed",), "Missing argument", 2, id="no-code"),
    ],
)  # fmt: skip
def test_cli_bad_use_is_one_line_with_its_exit_code_and_changes_nothing(
    orgs: Services, cli: Cli, args: tuple[str, ...], says: str, code: int
) -> None:
    before = (audit_length(orgs), services_of(orgs))
    exit_code, out, err = cli("org", "set", *args)
    assert exit_code == code and out == ""
    assert err.startswith("error: ") and says in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (audit_length(orgs), services_of(orgs)) == before
