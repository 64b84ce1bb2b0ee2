"""A populated certdesk for the case tests (services, API and CLI), one per backend and module.

Not a conftest: imported as ``casedesk`` by tests/services/test_cases.py,
tests/web/test_cases_api.py and tests/cli/test_cases_cli.py (``tests/`` is on the path).

People are rows of the ``users`` table with their roles, made here directly, so that case
tests do not depend on how accounts are enrolled (R10 is tested with the accounts service).
Each person acts through an :class:`Actor` with ``user_id`` set, as a login session would.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import func, select

from certdesk.cli import common
from certdesk.cli.main import run
from certdesk.config import Settings
from certdesk.core.access import GLOBAL_ROLES, Actor, Role
from certdesk.services.casework.casefile import CaseView
from certdesk.services.casework.cases import CaseInput
from certdesk.services.casework.contacts import ContactInput
from certdesk.services.casework.submittals import SubmittalInput
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize
from certdesk.store.models import (
    Approval,
    ApprovalPolicy,
    AuditRow,
    Case,
    CaseEvent,
    Comment,
    Contact,
    Submittal,
    User,
    UserRole,
)
from conftest import OPERATOR, ManualClock, scratch_database

DMV = "dmv"  # managed; zone:dmv.ca.gov, host:permits.ca.gov
CHP = "chp"  # managed; zone:chp.ca.gov — "the other organization"
EDD = "edd"  # managed; zone:edd.ca.gov — approval policies are changed here
START = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)  # Thanksgiving, 10:00 Pacific

# login -> (organization, roles); the first role is the primary one.
PEOPLE: dict[str, tuple[str | None, tuple[Role, ...]]] = {
    "ana": (DMV, (Role.REQUESTER,)),
    "abe": (DMV, (Role.APPROVER,)),
    "bea": (DMV, (Role.REQUESTER, Role.APPROVER)),  # may request and approve, not her own
    "dan": (DMV, (Role.DELEGATED_ADMIN,)),
    "carl": (CHP, (Role.REQUESTER,)),
    "cara": (CHP, (Role.APPROVER,)),
    "eve": (EDD, (Role.REQUESTER,)),
    "eli": (EDD, (Role.APPROVER,)),
    "opal": (None, (Role.OPERATOR,)),
    "otto": (None, (Role.OPERATOR,)),
    "aud": (None, (Role.AUDITOR,)),
}


def make_csr(
    names: Sequence[str],
    *,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None,
    der: bool = False,
) -> bytes:
    """A CSR with ``names`` in the SAN, built here (not by the code under test)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.DER if der else serialization.Encoding.PEM)


def contact(kind: str = "technical", who: str = "ana") -> ContactInput:
    return ContactInput(kind, who.title(), f"{who}@dmv.ca.gov", "916-555-0100")


def sub(*names: str, **kw: Any) -> SubmittalInput:
    kw.setdefault("contacts", (contact(),))
    return SubmittalInput(names=names, **kw)


@dataclass
class Desk:
    backend: str
    services: Services
    clock: ManualClock
    people: dict[str, Actor] = field(default_factory=dict)
    _seq: int = 0

    def __getitem__(self, login: str) -> Actor:
        return self.people[login]

    def unique(self, stem: str) -> str:
        self._seq += 1
        return f"{stem}{self._seq}"

    def at(self, when: datetime) -> None:
        self.clock.now = when

    def counts(self) -> Counter[str]:
        """What a refused call must not change, straight from the tables (one query)."""
        tables = {
            "cases": Case,
            "events": CaseEvent,
            "approvals": Approval,
            "comments": Comment,
            "submittals": Submittal,
            "contacts": Contact,
            "policies": ApprovalPolicy,
            "audit": AuditRow,  # R15: every change is an event, a refusal none
        }
        totals = [select(func.count()).select_from(m).scalar_subquery() for m in tables.values()]
        with self.services.rt.reads() as s:
            row = s.execute(select(*totals)).one()
            states = s.execute(select(Case.state, func.count()).group_by(Case.state)).all()
        out: Counter[str] = Counter(dict(zip(tables, row, strict=True)))
        out.update({f"state.{st}": n for st, n in states})
        return out

    def audit_actions(self, object_id: str) -> list[str]:
        """The audited actions on ``object_id`` (a case number, a login ...), oldest first."""
        with self.services.rt.reads() as s:
            rows = s.scalars(
                select(AuditRow.action)
                .where(AuditRow.object_id == object_id)
                .order_by(AuditRow.seq)
            )
            return list(rows)

    def draft(self, actor: Actor | str = "ana", org: str = DMV, **kw: Any) -> CaseView:
        """A draft new-certificate case with one submittal for a fresh name."""
        who = self[actor] if isinstance(actor, str) else actor
        kw.setdefault("submittals", (sub(f"{self.unique('www')}.{org}.ca.gov"),))
        kw.setdefault("title", "A certificate")
        return self.services.cases.open(who, CaseInput(org_code=org, type="new", **kw))

    def pending(self, actor: Actor | str = "ana", org: str = DMV, **kw: Any) -> CaseView:
        view = self.draft(actor, org, **kw)
        return self.services.cases.submit(
            self[actor] if isinstance(actor, str) else actor, view.number
        )

    def approved(self, org: str = DMV, **kw: Any) -> CaseView:
        """Opened by the organization's requester, approved by its approver and cert services."""
        requester, approver = {DMV: ("ana", "abe"), CHP: ("carl", "cara"), EDD: ("eve", "eli")}[org]
        view = self.pending(requester, org, **kw)
        self.services.approvals.approve(self[approver], view.number)
        return self.services.approvals.approve(self["opal"], view.number)


def add_person(services: Services, login: str, org: str | None, roles: Sequence[Role]) -> Actor:
    """A user row with roles, and the actor a login session of that person stands for."""
    org_id = services.orgs.get(OPERATOR, org).id if org else None
    with services.rt.sessions.begin() as s:
        user = User(
            login_id=login,
            name=login.title(),
            email=f"{login}@example.ca.gov",
            org_id=org_id,
            must_change_password=False,
            failed_logins=0,
            totp_enabled=False,
            disabled=False,
            created_at=services.rt.clock(),
        )
        user.roles = [UserRole(role=str(r)) for r in roles]
        s.add(user)
        s.flush()
        user_id = user.id
    primary = roles[0]
    return Actor(
        name=f"user:{login}",
        role=primary,
        org_id=None if primary in GLOBAL_ROLES else org_id,
        user_id=user_id,
        also=frozenset(roles[1:]),
    )


def settings_for(url: str, tmp: Path, **more: Any) -> Settings:
    return Settings(
        data_dir=tmp / "data",
        database_url=url,
        base_url="http://127.0.0.1:8080",
        ca_passphrase="test-passphrase",
        **more,
    )


@contextmanager
def open_desk(backend: str, tmp: Path, **settings: Any) -> Iterator[Desk]:
    """Three managed organizations, their people, and cert services; ``settings`` are
    further :class:`Settings` fields."""
    with scratch_database(backend, tmp, "cases") as url:
        clock = ManualClock(START)
        services = Services(Runtime.open(settings_for(url, tmp, **settings), clock))
        try:
            initialize(services, with_token=False)
            orgs = services.orgs
            orgs.create(
                OPERATOR, DMV, "Motor Vehicles", self_managed=False,
                grants=["zone:dmv.ca.gov", "host:permits.ca.gov"],
            )  # fmt: skip
            orgs.create(
                OPERATOR, CHP, "Highway Patrol", self_managed=False, grants=["zone:chp.ca.gov"]
            )
            orgs.create(OPERATOR, EDD, "Employment", self_managed=False, grants=["zone:edd.ca.gov"])
            desk = Desk(backend, services, clock)
            desk.people = {
                login: add_person(services, login, org, roles)
                for login, (org, roles) in PEOPLE.items()
            }
            yield desk
        finally:
            services.rt.close()


@dataclass
class Result:
    code: int
    out: str
    err: str


def close_cached_services() -> None:
    """Close the CLI's cached services (one per process), so the next command opens anew."""
    if common.services.cache_info().currsize:
        common.services().rt.close()
    common.services.cache_clear()


class CliRunner:
    """The CLI run in this process (``certdesk.cli.main.run``), its output captured."""

    def __init__(self, capsys: pytest.CaptureFixture[str], tmp: Path) -> None:
        self._capsys = capsys
        self.tmp = tmp

    def __call__(self, *args: str | Path) -> Result:
        self._capsys.readouterr()
        code = run([str(a) for a in args])
        captured = self._capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def ok(self, *args: str | Path) -> Result:
        result = self(*args)
        assert result.code == 0, result
        return result

    def json(self, *args: str | Path) -> Any:
        return json.loads(self.ok(*args, "--json").out)

    def failed(self, *args: str | Path, code: int = 1) -> Result:
        """A command that must fail cleanly: exit ``code``, one ``error:`` line, no traceback.

        Exit codes (cli/exits.py): 1 refused, 2 usage error, 3 not found, 4 unavailable.
        """
        result = self(*args)
        assert result.code == code, result
        assert result.err.startswith("error: "), result
        assert "Traceback" not in result.err
        return result


class Cli(CliRunner):
    """The CLI against a desk.

    ``state`` reads what a refused command must leave unchanged (by default the row counts).
    """

    def __init__(
        self,
        desk: Desk,
        capsys: pytest.CaptureFixture[str],
        tmp: Path,
        state: Callable[[Desk], object] | None = None,
    ) -> None:
        super().__init__(capsys, tmp)
        self.desk = desk
        self._state = state or (lambda d: d.counts())

    def fails(self, *args: str | Path, code: int = 1) -> str:
        """Exit ``code``, one ``error:`` line, no traceback, nothing printed, nothing changed."""
        before = self._state(self.desk)
        result = self.failed(*args, code=code)
        assert result.out == "", result
        assert self._state(self.desk) == before
        return result.err

    def write(self, name: str, data: str | bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path
