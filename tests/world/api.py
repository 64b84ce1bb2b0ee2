"""The API world: a populated certdesk behind one Starlette TestClient with API tokens.

- :func:`build_world` (:class:`World`): three organizations (two self-managed, one managed),
  a token per principal and one certificate per organization, for the API tests in tests/web.
- :func:`case_api` (:class:`CaseApi`): the case desk (:func:`world.desk.open_desk`) behind the
  API, with a token per principal the test names.

Problem documents are checked with :func:`world.refusals.assert_problem`.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from starlette.exceptions import StarletteDeprecationWarning

from certdesk.core.access import Role
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize
from certdesk.store.models import (
    ApiToken,
    AuditRow,
    CertificateRow,
    CrlRow,
    GrantRow,
    Organization,
)
from certdesk.web.app import create_app
from conftest import OPERATOR, ManualClock, migrated_database
from world.desk import Desk, open_desk, settings_for

# Starlette warns that it prefers `httpx2` over the installed `httpx`; the client works the
# same, and `-W error` would otherwise turn the import into a collection error.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

__all__ = ["TestClient"]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def counts(services: Services) -> Counter[str]:
    """What a refused request must not change, read straight from the tables (one query)."""
    tables = {
        "orgs": Organization,
        "grants": GrantRow,
        "tokens": ApiToken,
        "crls": CrlRow,
        "audit": AuditRow,  # R15: every change is an audit event, a refusal none
    }
    totals = [select(func.count()).select_from(m).scalar_subquery() for m in tables.values()]
    with services.rt.reads() as s:
        row = s.execute(select(*totals)).one()
        by_status = s.execute(
            select(CertificateRow.status, func.count()).group_by(CertificateRow.status)
        ).all()
    out: Counter[str] = Counter(dict(zip(tables, row, strict=True)))
    out.update({f"certs.{status}": n for status, n in by_status})
    return +out  # drop zero entries so that deltas compare cleanly


def delta(before: Counter[str], after: Counter[str]) -> dict[str, int]:
    keys = set(before) | set(after)
    return {k: after[k] - before[k] for k in sorted(keys) if after[k] != before[k]}


def revoke_token(services: Services, secret: str) -> None:
    """Mark a token revoked in storage (no service revokes tokens yet)."""
    prefix = secret.split("_", 2)[1]
    with services.rt.sessions.begin() as s:
        s.execute(
            update(ApiToken).where(ApiToken.prefix == prefix).values(revoked_at=services.rt.clock())
        )


# --------------------------------------------------------------------------- a shared world

ORG_A = "alpha"  # self-managed, zone:alpha.ca.gov
ORG_B = "bravo"  # self-managed, zone:bravo.ca.gov
ORG_M = "mgd"  # managed, zone:mgd.ca.gov


@dataclass
class World(Desk):
    """A populated certdesk (a :class:`Desk` without people) behind one TestClient, shared by
    the tests of one module.

    Tests that change it (issue, revoke, add grants) use fresh objects of their own, so the
    standing objects below keep their state for every other test.
    """

    client: TestClient | None = None
    tokens: dict[str, str] = field(default_factory=dict)  # principal -> bearer secret
    certs: dict[str, str] = field(default_factory=dict)  # org code -> serial of a cert

    def status_of(self, serial: str) -> str:
        return self.services.inventory.show(OPERATOR, serial).status

    def counts(self) -> Counter[str]:  # type: ignore[override]
        return counts(self.services)


@contextmanager
def build_world(backend: str, tmp: Path) -> Iterator[World]:
    """Three organizations, a token per principal and one certificate per organization."""
    with migrated_database(backend, tmp, "web") as url:
        clock = ManualClock()
        services = Services(Runtime.open(settings_for(url, tmp), clock))
        try:
            initialize(services, with_token=False)
            orgs = services.orgs
            orgs.create(OPERATOR, ORG_A, "Alpha", self_managed=True, grants=["zone:alpha.ca.gov"])
            orgs.create(OPERATOR, ORG_B, "Bravo", self_managed=True, grants=["zone:bravo.ca.gov"])
            orgs.create(OPERATOR, ORG_M, "Managed", self_managed=False, grants=["zone:mgd.ca.gov"])
            tokens = services.tokens
            secrets = {
                "operator": tokens.create(OPERATOR, role=Role.OPERATOR, org_code=None),
                "auditor": tokens.create(OPERATOR, role=Role.AUDITOR, org_code=None),
                "requester-A": tokens.create(OPERATOR, role=Role.REQUESTER, org_code=ORG_A),
                "delegated_admin-A": tokens.create(
                    OPERATOR, role=Role.DELEGATED_ADMIN, org_code=ORG_A
                ),
                "delegated_admin-M": tokens.create(
                    OPERATOR, role=Role.DELEGATED_ADMIN, org_code=ORG_M
                ),
                "revoked-operator": tokens.create(OPERATOR, role=Role.OPERATOR, org_code=None),
            }
            revoke_token(services, secrets["revoked-operator"].secret)
            with TestClient(create_app(services), raise_server_exceptions=False) as client:
                world = World(backend, services, clock, client=client)
                world.tokens = {k: v.secret for k, v in secrets.items()}
                world.certs = {
                    ORG_A: world.issue(ORG_A, "www.alpha.ca.gov"),
                    ORG_B: world.issue(ORG_B, "www.bravo.ca.gov"),
                    ORG_M: world.issue(ORG_M, "www.mgd.ca.gov"),
                }
                yield world
        finally:
            services.rt.close()


# -- the case desk behind the API ------------------------------------------------------------

TokenSpec = dict[str, tuple[Role, "str | None"]]


@dataclass
class CaseApi:
    """The case desk (:func:`world.desk.open_desk`) behind one TestClient, with an API token per
    principal (tests/web/test_cases_api.py, test_fulfilment_api.py)."""

    desk: Desk
    client: TestClient
    secrets: dict[str, str] = field(default_factory=dict)

    def call(self, who: str, method: str, url: str, body: Any = None, **params: Any) -> Any:
        headers = bearer(self.secrets[who]) if who in self.secrets else {}
        return self.client.request(method, url, json=body, headers=headers, params=params or None)


@contextmanager
def case_api(backend: str, tmp: Path, tokens: TokenSpec) -> Iterator[CaseApi]:
    """A case desk on ``backend`` and a token for every principal of ``tokens``."""
    with open_desk(backend, tmp) as desk:
        secrets = {
            name: desk.services.tokens.create(OPERATOR, role=role, org_code=org).secret
            for name, (role, org) in tokens.items()
        }
        with TestClient(create_app(desk.services), raise_server_exceptions=False) as client:
            yield CaseApi(desk, client, secrets)
