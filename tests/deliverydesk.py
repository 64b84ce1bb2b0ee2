"""Helpers for the fulfilment tests (services, API, CLI) on top of ``tests/casedesk.py``.

Not a conftest: imported as ``deliverydesk`` (``tests/`` is on the path).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from casedesk import DMV, Desk, add_person, sub
from certdesk.core.access import Actor, Role
from certdesk.services.casework.casefile import CaseView
from certdesk.services.casework.delegation import AdminInput
from certdesk.services.casework.submittals import SubmittalInput
from certdesk.services.casework.window import Delivery
from certdesk.store.models import (
    CertificateRow,
    DataKey,
    GrantRow,
    Notice,
    Organization,
    Submittal,
    User,
)
from conftest import OPERATOR


def snapshot(desk: Desk) -> tuple[Any, ...]:
    """Everything a refused fulfilment, window action or set-up must leave as it was."""
    with desk.services.rt.reads() as s:
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
    from certdesk.services.casework.cases import CaseInput

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
    from certdesk.services.casework.cases import CaseInput

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


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())
