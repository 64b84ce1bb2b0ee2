"""The desk: a populated certdesk on one backend that tests work on through its services, and
the fixture family around it.

- :func:`open_desk` opens three managed organizations (dmv, chp, edd) and their people on
  SQLite or PostgreSQL; :func:`desk_fixture` makes the usual module-scoped, per-backend fixture
  of it. :func:`world.notices.open_notice_desk`, :func:`world.console.console_desk`,
  :func:`world.browser.browser_desk` and :func:`world.api.case_api` build on the same desk.
- :class:`Desk` opens, submits and approves cases, issues certificates, attaches contacts and
  reads back what tests compare (row counts, audit actions).
- Fulfilment helpers (agencies of one test, set-up cases, delivered cases) and
  :func:`snapshot`, what a refused fulfilment, window action or set-up must leave as it was.

People are rows of the ``users`` table with their roles, made here directly, so that case
tests do not depend on how accounts are enrolled (R10 is tested with the accounts service).
Each person acts through an :class:`Actor` with ``user_id`` set, as a login session would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import func, select

from certdesk.config import Settings
from certdesk.core.access import GLOBAL_ROLES, Actor, Role
from certdesk.services.casework.casefile import CaseView
from certdesk.services.casework.cases import CaseInput
from certdesk.services.casework.contacts import ContactInput
from certdesk.services.casework.delegation import AdminInput
from certdesk.services.casework.submittals import SubmittalInput
from certdesk.services.casework.window import Delivery
from certdesk.services.pki.issuance import IssueCommand, Issued
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize
from certdesk.store.models import (
    AcmeIssuerRow,
    Approval,
    ApprovalPolicy,
    AuditRow,
    Case,
    CaseAttachment,
    CaseEvent,
    CertificateRow,
    Comment,
    Contact,
    DataKey,
    GrantRow,
    Issuer,
    Notice,
    Organization,
    Submittal,
    SubmittalContact,
    User,
    UserRole,
    VendorContract,
    VendorOrder,
)
from conftest import BACKENDS, OPERATOR, ManualClock, migrated_database
from world.csr import make_csr

DMV = "dmv"  # managed; zone:dmv.ca.gov, host:permits.ca.gov
CHP = "chp"  # managed; zone:chp.ca.gov — "the other organization"
EDD = "edd"  # managed; zone:edd.ca.gov — approval policies are changed here
START = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)  # Thanksgiving, 10:00 Pacific

# code -> (name, grants); all managed (certificates come through cases, R11).
ORGS: dict[str, tuple[str, tuple[str, ...]]] = {
    DMV: ("Motor Vehicles", ("zone:dmv.ca.gov", "host:permits.ca.gov")),
    CHP: ("Highway Patrol", ("zone:chp.ca.gov",)),
    EDD: ("Employment", ("zone:edd.ca.gov",)),
}

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


def contact(kind: str = "technical", who: str = "ana") -> ContactInput:
    return ContactInput(kind, who.title(), f"{who}@dmv.ca.gov", "916-555-0100")


def sub(*names: str, **kw: Any) -> SubmittalInput:
    """A submittal for ``names`` with one technical contact unless ``contacts`` are given."""
    kw.setdefault("contacts", (contact(),))
    return SubmittalInput(names=names, **kw)


@dataclass
class Desk:
    """certdesk's services on one backend, their clock, and the people who act on them."""

    backend: str
    services: Services
    clock: ManualClock
    people: dict[str, Actor] = field(default_factory=dict)
    _seq: int = 0

    @property
    def rt(self) -> Runtime:
        return self.services.rt

    def __getitem__(self, login: str) -> Actor:
        return self.people[login]

    def unique(self, stem: str) -> str:
        self._seq += 1
        return f"{stem}{self._seq}"

    def at(self, when: datetime) -> None:
        self.clock.now = when

    # --- what tests compare

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
            "issuers": Issuer,  # R16: vendor CAs and their orders
            "acme_issuers": AcmeIssuerRow,
            "vendor_orders": VendorOrder,
            "submittal_contacts": SubmittalContact,  # R9: who a submittal names
            "attachments": CaseAttachment,
            "contracts": VendorContract,
        }
        totals = [select(func.count()).select_from(m).scalar_subquery() for m in tables.values()]
        with self.rt.reads() as s:
            row = s.execute(select(*totals)).one()
            states = s.execute(select(Case.state, func.count()).group_by(Case.state)).all()
        out: Counter[str] = Counter(dict(zip(tables, row, strict=True)))
        out.update({f"state.{st}": n for st, n in states})
        return out

    def audit_actions(self, object_id: str) -> list[str]:
        """The audited actions on ``object_id`` (a case number, a login ...), oldest first."""
        with self.rt.reads() as s:
            rows = s.scalars(
                select(AuditRow.action)
                .where(AuditRow.object_id == object_id)
                .order_by(AuditRow.seq)
            )
            return list(rows)

    def snapshot(self) -> tuple[Any, ...]:
        """:func:`snapshot`: what a refused fulfilment, window action or set-up must leave."""
        return snapshot(self)

    def notices(self) -> list[Notice]:
        with self.rt.reads() as s:
            return list(s.scalars(select(Notice).order_by(Notice.id)))

    def cert(self, serial: str) -> CertificateRow:
        with self.rt.reads() as s:
            row = s.scalars(select(CertificateRow).where(CertificateRow.serial == serial)).one()
            return row

    # --- cases

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

    # --- certificates

    def issued(
        self, org: str, *names: str, by: Actor = OPERATOR, key: Any = None, **command: Any
    ) -> Issued:
        """A certificate through the real pipeline (policy, profile, lint, intent, sign, store),
        valid from the clock's now; a fresh name of ``org`` unless ``names`` are given.
        ``command`` are further :class:`IssueCommand` fields (``days``, ``platform`` ...)."""
        wanted = names or (f"{self.unique('www')}.{org}.ca.gov",)
        cmd = IssueCommand(org_code=org, csr=make_csr(wanted, key=key), **command)
        return self.services.issuance.issue(by, cmd)

    def issue(self, org: str, *names: str, **kw: Any) -> str:
        """:meth:`issued`, the serial."""
        return self.issued(org, *names, **kw).serial

    def org_contact(self, org: str, name: str, email: str) -> None:
        self.services.contacts.add(OPERATOR, org, ContactInput("technical", name, email))

    def attach(self, serials: Sequence[str], contacts: Sequence[tuple[str, str]]) -> None:
        """Test data: a delivered case whose one submittal got each certificate, with
        ``contacts`` ((name, email), stored as given, even when invalid) on each submittal.
        (The case workflow itself is exercised through the case services elsewhere.)"""
        now = self.clock()
        with self.rt.sessions.begin() as s:
            for serial in serials:
                cert = s.scalars(
                    select(CertificateRow).where(CertificateRow.serial == serial)
                ).one()
                self._seq += 1
                case = Case(
                    number=f"CS-{now.year}-9{self._seq:08d}",
                    org_id=cert.org_id,
                    type="new",
                    state="closed",
                    title="test data: a certificate with contacts",
                    description="",
                    opened_by="test",
                    expedite=False,
                    approval_steps="",
                    approval_round=1,
                    created_at=now,
                    updated_at=now,
                )
                s.add(case)
                s.flush()
                row = Submittal(
                    case_id=case.id,
                    names=cert.names,
                    cert_type="single",
                    platform="virtual",
                    key_type="ec256",
                    service_option="managed",
                    certificate_id=cert.id,
                    created_at=now,
                )
                s.add(row)
                s.flush()
                named: set[int] = set()
                for name, email in contacts:
                    found = s.scalars(
                        select(Contact).where(
                            Contact.org_id == cert.org_id, Contact.address == email.lower()
                        )
                    ).one_or_none()
                    if found is None:
                        found = Contact(
                            org_id=cert.org_id,
                            kind="technical",
                            name=name,
                            email=email,
                            address=email.lower(),
                            phone="",
                            org_wide=False,
                            created_at=now,
                            updated_at=now,
                        )
                        s.add(found)
                        s.flush()
                    if found.id in named:
                        continue
                    named.add(found.id)
                    s.add(
                        SubmittalContact(submittal_id=row.id, contact_id=found.id, kind="technical")
                    )


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
    """The settings of a test installation at ``url`` with its files under ``tmp/data``;
    ``more`` are further (or other) :class:`Settings` fields."""
    base: dict[str, Any] = {
        "data_dir": tmp / "data",
        "database_url": url,
        "base_url": "http://127.0.0.1:8080",
        "ca_passphrase": "test-passphrase",
    }
    return Settings(**{**base, **more})


def add_orgs(services: Services, orgs: dict[str, tuple[str, tuple[str, ...]]]) -> None:
    """Managed organizations ``code -> (name, grants)``, made by cert services."""
    for code, (name, grants) in orgs.items():
        services.orgs.create(OPERATOR, code, name, self_managed=False, grants=list(grants))


@contextmanager
def open_desk(
    backend: str, tmp: Path, *, clock: ManualClock | None = None, **settings: Any
) -> Iterator[Desk]:
    """Three managed organizations (:data:`ORGS`), their people (:data:`PEOPLE`) and cert
    services, at :data:`START`; ``settings`` are further :class:`Settings` fields."""
    with migrated_database(backend, tmp, "cases") as url:
        clock = clock or ManualClock(START)
        services = Services(Runtime.open(settings_for(url, tmp, **settings), clock))
        try:
            initialize(services, with_token=False)
            add_orgs(services, ORGS)
            desk = Desk(backend, services, clock)
            desk.people = {
                login: add_person(services, login, org, roles)
                for login, (org, roles) in PEOPLE.items()
            }
            yield desk
        finally:
            services.rt.close()


def desk_fixture(
    tag: str,
    *,
    backend: str | None = None,
    opener: Callable[..., AbstractContextManager[Desk]] = open_desk,
    name: str = "desk",
    **settings: Any,
) -> Any:
    """The module-scoped fixture ``desk`` of a test module, opened by ``opener`` (the case
    desk, or :func:`world.console.console_desk` ...) once per backend, or only on ``backend``
    (then the test ids carry no backend). Tests work on cases and organizations of their own.
    Use as ``desk = desk_fixture("fulfil")``."""
    if backend is not None:

        @pytest.fixture(scope="module", name=name)
        def one(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
            with opener(backend, tmp_path_factory.mktemp(tag), **settings) as d:
                yield d

        return one

    @pytest.fixture(scope="module", params=BACKENDS, name=name)
    def each(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Desk]:
        with opener(request.param, tmp_path_factory.mktemp(tag), **settings) as d:
            yield d

    return each


# --------------------------------------------------------------------------- fulfilment


def snapshot(desk: Desk) -> tuple[Any, ...]:
    """Everything a refused fulfilment, window action or set-up must leave as it was."""
    with desk.rt.reads() as s:
        certs = Counter(
            dict(
                s.execute(
                    select(CertificateRow.status, func.count()).group_by(CertificateRow.status)
                ).all()
            )
        )
        subs = s.execute(
            select(
                Submittal.id,
                Submittal.names,
                Submittal.certificate_id,
                Submittal.key_downloaded_at,
            ).order_by(Submittal.id)
        ).all()
        keys = s.execute(
            select(DataKey.submittal_id, DataKey.sealed_key).order_by(DataKey.submittal_id)
        ).all()
        grants = s.scalar(select(func.count()).select_from(GrantRow))
        users = s.scalar(select(func.count()).select_from(User))
        mails = s.scalar(select(func.count()).select_from(Notice))
        managed = s.execute(select(Organization.code, Organization.self_managed)).all()
    return (
        desk.counts(),
        certs,
        tuple(subs),
        tuple(keys),
        grants,
        users,
        mails,
        tuple(sorted(managed)),
    )


@dataclass
class Agency:
    """An organization made for one test, with its people."""

    code: str
    requester: Actor
    approver: Actor
    admin: Actor


def add_agency(
    desk: Desk, stem: str, *, self_managed: bool = False, rate: int | None = None
) -> Agency:
    code = desk.unique(stem)
    svc = desk.services
    svc.orgs.create(
        OPERATOR, code, f"Agency {code}", self_managed=self_managed, grants=[f"zone:{code}.ca.gov"]
    )
    if rate is not None:
        svc.costs.set_cost(OPERATOR, code, rate)
    return Agency(
        code,
        add_person(svc, f"{code}-req", code, (Role.REQUESTER,)),
        add_person(svc, f"{code}-apr", code, (Role.APPROVER,)),
        add_person(svc, f"{code}-adm", code, (Role.DELEGATED_ADMIN,)),
    )


def setup_case(
    desk: Desk, agency: Agency, admins: Sequence[AdminInput], grants: Sequence[str] = ()
) -> str:
    """A delegated-administrator set-up case of ``agency``, submitted and approved by the
    agency (cert services' approval is the test's); by default for its zone and apps under it."""
    svc = desk.services
    view = svc.cases.open(
        agency.requester,
        CaseInput(
            agency.code,
            "delegated_admin_setup",
            "Delegated administration",
            grants=tuple(
                grants or (f"zone:{agency.code}.ca.gov", f"zone:apps.{agency.code}.ca.gov")
            ),
            admins=tuple(admins),
        ),
    )
    svc.cases.submit(agency.requester, view.number)
    svc.approvals.approve(agency.approver, view.number)
    return view.number


def approved_case(
    desk: Desk,
    org: str,
    requester: Actor,
    approver: Actor,
    submittals: Sequence[SubmittalInput],
    **kw: Any,
) -> CaseView:
    svc = desk.services
    kw.setdefault("title", "Certificates")
    kw.setdefault("type", "new")
    view = svc.cases.open(requester, CaseInput(org_code=org, submittals=tuple(submittals), **kw))
    svc.cases.submit(requester, view.number)
    svc.approvals.approve(approver, view.number)
    return svc.approvals.approve(desk["opal"], view.number)


def delivered(desk: Desk, *submittals: SubmittalInput, org: str = DMV) -> CaseView:
    """A case of ``org`` (DMV, CHP or EDD) approved by all and fulfilled by cert services."""
    subs = submittals or (sub(f"{desk.unique('www')}.{org}.ca.gov"),)
    view = desk.approved(org, submittals=subs)
    return desk.services.fulfilment.fulfil(desk["opal"], view.number)


def certificates(desk: Desk, number: str) -> Delivery:
    return desk.services.window.certificates_of_case(OPERATOR, number)


def leaf(delivery: Delivery, index: int) -> x509.Certificate:
    return x509.load_pem_x509_certificates(delivery.certificates[index].fullchain_pem.encode())[0]
