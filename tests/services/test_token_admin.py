"""Listing and revoking API tokens: the service, ``/api/v1/tokens`` and ``certdesk token …``.

Cert services list and revoke every token; a delegated administrator only its own
organization's (another organization's token is unknown to it). Login sessions (R10) are not
API tokens: never listed, never revoked this way. Every revocation is audited (R15).
Runs on SQLite and PostgreSQL through conftest's ``services`` fixture.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from certdesk.cli import common
from certdesk.cli.main import run
from certdesk.config import Settings
from certdesk.core.access import Actor, Role
from certdesk.errors import Conflict, Forbidden, NotFound, Unauthorized
from certdesk.services.registry import Services
from certdesk.store.models import ApiToken, AuditRow
from certdesk.web.app import create_app
from conftest import OPERATOR, org_actor

PASSWORD = "correct horse battery staple"


@dataclass
class World:
    services: Services
    admin: Actor  # dmv's delegated administrator, signed in (a login session)
    session: str  # that login session's secret
    dmv: str  # secrets of API tokens: dmv requester, chp requester, a global auditor
    chp: str
    auditor: str

    def state(self) -> tuple[int, int, int]:
        """Live tokens and sessions, and audit events: what a refusal must not change."""
        with self.services.rt.reads() as s:
            live = select(func.count()).select_from(ApiToken).where(ApiToken.revoked_at.is_(None))
            return (
                s.scalar(live.where(ApiToken.user_id.is_(None))) or 0,
                s.scalar(live.where(ApiToken.user_id.is_not(None))) or 0,
                s.scalar(select(func.count()).select_from(AuditRow)) or 0,
            )


def prefix(secret: str) -> str:
    return secret.split("_")[1]


@pytest.fixture
def world(services: Services) -> World:
    orgs = services.orgs
    orgs.create(OPERATOR, "dmv", "DMV", self_managed=True, grants=["zone:dmv.ca.gov"])
    orgs.create(OPERATOR, "chp", "CHP", self_managed=False, grants=["zone:chp.ca.gov"])
    made = services.accounts.create(
        OPERATOR, "dana", name="Dana", email="dana@dmv.ca.gov", org_code="dmv",
        roles=["delegated_admin"],
    )  # fmt: skip
    services.accounts.enroll(made.link.rsplit("/", 1)[1], PASSWORD)
    session = services.logins.login("dana", PASSWORD).token
    tokens = services.tokens
    return World(
        services,
        tokens.authenticate(session),
        session,
        tokens.create(OPERATOR, role=Role.REQUESTER, org_code="dmv", label="deploy").secret,
        tokens.create(OPERATOR, role=Role.REQUESTER, org_code="chp").secret,
        tokens.create(OPERATOR, role=Role.AUDITOR, org_code=None).secret,
    )


def test_service_lists_and_revokes_within_the_callers_view(world: World) -> None:
    tokens = world.services.tokens
    everything = tokens.list(OPERATOR)
    assert {t.prefix for t in everything} == {prefix(world.dmv), prefix(world.chp),
                                              prefix(world.auditor)}  # fmt: skip
    assert prefix(world.session) not in {t.prefix for t in everything}  # not an API token
    assert [t.prefix for t in tokens.list(OPERATOR, "chp")] == [prefix(world.chp)]
    mine = tokens.list(world.admin)
    assert [(t.prefix, t.role, t.org_code, t.label) for t in mine] == [
        (prefix(world.dmv), Role.REQUESTER, "dmv", "deploy")
    ]
    assert all(world.dmv not in repr(t) for t in mine)  # the secret is never kept

    before = world.state()
    with pytest.raises(NotFound):
        tokens.list(world.admin, "chp")
    for hidden in (world.chp, world.auditor, world.session, "cd_000000000000_x"):
        with pytest.raises(NotFound):
            tokens.revoke(world.admin, prefix(hidden))
    with pytest.raises(NotFound):
        tokens.revoke(OPERATOR, prefix(world.session))  # sessions end by signing out
    with pytest.raises(Forbidden):
        tokens.list(org_actor(world.services, "dmv", Role.REQUESTER))
    with pytest.raises(Forbidden):
        tokens.revoke(org_actor(world.services, "dmv", Role.APPROVER), prefix(world.dmv))
    assert world.state() == before
    tokens.authenticate(world.chp)
    tokens.authenticate(world.session)

    revoked = tokens.revoke(world.admin, prefix(world.dmv))
    assert revoked.revoked_at == world.services.rt.clock()
    with pytest.raises(Unauthorized):
        tokens.authenticate(world.dmv)
    assert tokens.list(world.admin)[0].revoked_at is not None  # still listed, as revoked
    events, _ = world.services.audit.search(OPERATOR, action="token.revoke")
    assert [(e.actor, e.object_id, e.summary["org"]) for e in events] == [
        ("user:dana", prefix(world.dmv), "dmv")
    ]
    before = world.state()
    with pytest.raises(Conflict):
        tokens.revoke(OPERATOR, prefix(world.dmv))
    assert world.state() == before


def test_api_lists_without_secrets_and_revokes(world: World) -> None:
    admin = world.services.tokens.create(OPERATOR, role=Role.DELEGATED_ADMIN, org_code="dmv")
    bearer = {"Authorization": f"Bearer {admin.secret}"}
    with TestClient(create_app(world.services)) as client:
        listed = client.get("/api/v1/tokens", headers=bearer)
        assert listed.status_code == 200, listed.text
        assert {t["prefix"] for t in listed.json()} == {admin.prefix, prefix(world.dmv)}
        assert world.dmv not in listed.text and admin.secret not in listed.text
        assert "token" not in listed.json()[0]

        before = world.state()
        assert client.get("/api/v1/tokens?org=chp", headers=bearer).status_code == 404
        gone = client.delete(f"/api/v1/tokens/{prefix(world.chp)}", headers=bearer)
        assert gone.status_code == 404 and gone.json()["code"] == "token.unknown"
        assert world.state() == before

        done = client.delete(f"/api/v1/tokens/{prefix(world.dmv)}", headers=bearer)
        assert done.status_code == 200 and done.json()["revoked_at"], done.text
        victim = {"Authorization": f"Bearer {world.dmv}"}
        assert client.get("/api/v1/certificates", headers=victim).status_code == 401
        again = client.delete(f"/api/v1/tokens/{prefix(world.dmv)}", headers=bearer)
        assert again.status_code == 409


def test_cli_lists_and_revokes(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings: Settings = world.services.rt.settings
    monkeypatch.setenv("CERTDESK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CERTDESK_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CERTDESK_CA_PASSPHRASE", "test-passphrase")
    common.services.cache_clear()
    try:
        capsys.readouterr()
        assert run(["token", "list", "--org", "dmv", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert [(t["prefix"], t["role"], t["revoked_at"]) for t in listed] == [
            (prefix(world.dmv), "requester", None)
        ]
        assert run(["token", "revoke", prefix(world.chp)]) == 0
        assert capsys.readouterr().out == f"{prefix(world.chp)}\trevoked\n"
        with pytest.raises(Unauthorized):
            world.services.tokens.authenticate(world.chp)
        before = world.state()
        assert run(["token", "revoke", prefix(world.session)]) == 3  # not found
        assert capsys.readouterr().err.startswith("error: no API token with prefix")
        assert world.state() == before
        assert run(["token", "list"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 3 and world.chp not in "".join(lines)
        assert [line.split("\t")[4].split()[0] for line in lines].count("revoked") == 1
    finally:
        if common.services.cache_info().currsize:
            common.services().rt.close()
        common.services.cache_clear()
