"""What a requester gives a case, checked on entry (R2, R3, R5, R9): title, description,
requested delivery, the certificate a case is about, delegated set-up, submittals.

Each check raises before anything is written; :class:`~certdesk.services.casework.cases.
CaseService` calls them inside its transactions. What a case of each type may carry is
asked of :mod:`certdesk.core.cases`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy.orm import Session

from certdesk.config import Settings
from certdesk.core.access import Actor
from certdesk.core.calendar import PACIFIC
from certdesk.core.cases import require_delegated, require_may_target
from certdesk.core.certificates import BOOKKEEPING, CertStatus
from certdesk.core.grants import Grant, GrantKind
from certdesk.core.workflow import CaseType
from certdesk.errors import Conflict, InvalidInput, NotFound
from certdesk.services.casework.casefile import iso
from certdesk.services.casework.contacts import ContactInput, name_contacts
from certdesk.services.casework.delegation import AdminInput, DelegatedSetup, check_setup
from certdesk.services.casework.submittals import (
    CheckedSubmittal,
    SubmittalInput,
    check_submittal,
    new_submittal_row,
)
from certdesk.services.visibility import parse_serial
from certdesk.store import cases as case_store
from certdesk.store import certificates as cert_store
from certdesk.store import contacts as contact_store
from certdesk.store import submittals as submittal_store
from certdesk.store.models import Case, CertificateRow, Organization

MAX_TITLE = 200
MAX_TEXT = 20_000


@dataclass(frozen=True)
class CaseEdit:
    """A revision of a draft or rejected case; None leaves a field unchanged."""

    title: str | None = None
    description: str | None = None
    requested_delivery: date | None = None
    clear_requested_delivery: bool = False
    target_serial: str | None = None
    grants: tuple[str, ...] | None = None
    admins: tuple[AdminInput, ...] | None = None


def title_of(text: str) -> str:
    value = " ".join(text.split())
    if not value or len(value) > MAX_TITLE:
        raise InvalidInput("case.title", f"a case needs a title of 1-{MAX_TITLE} characters")
    return value


def description_of(text: str) -> str:
    value = text.strip()
    if len(value) > MAX_TEXT:
        raise InvalidInput("case.description", f"a description is at most {MAX_TEXT} characters")
    return value


def note_of(text: str, what: str, noun: str = "note") -> str:
    value = text.strip()
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"case.{what}", f"a {noun} is at most {MAX_TEXT} characters")
    return value


def check_delivery(wanted: date | None, now: datetime) -> None:
    """R5: a requested delivery date is today or later (Pacific time)."""
    if wanted is not None and wanted < now.astimezone(PACIFIC).date():
        raise InvalidInput("case.delivery_past", f"requested delivery date {wanted} is in the past")


def _held(actor: Actor, org: Organization) -> list[Grant] | None:
    # R2: agency users are bound by their organization's grants; cert services may request
    # any R1 name, as for direct issuance.
    return None if actor.is_global else [Grant(GrantKind(g.kind), g.name) for g in org.grants]


def setup_of(
    settings: Settings,
    actor: Actor,
    org: Organization,
    grants: Sequence[str],
    admins: Sequence[AdminInput],
) -> DelegatedSetup:
    """A set-up's grants and people, checked (services/delegation.py): an agency asks only
    for grants within its organization's; cert services for any R1 grant."""
    return check_setup(
        grants, admins, settings.allowed_suffixes, held=_held(actor, org), org_code=org.code
    )


def target_of(
    s: Session, org: Organization, kind: CaseType, serial: str | None
) -> CertificateRow | None:
    """The organization's certificate a case is about (revoke, delete, change, renewal)."""
    if not serial:
        return None
    row = cert_store.by_serial(s, parse_serial(serial))
    if row is None or row.org_id != org.id or row.status in BOOKKEEPING:
        raise NotFound("cert.unknown", f"{org.code} has no certificate with serial {serial}")
    if kind is CaseType.REVOKE and row.status == CertStatus.REVOKED:
        raise Conflict("cert.revoked", f"certificate {row.serial} is already revoked")
    return row


def submittal_of(
    settings: Settings, org: Organization, actor: Actor, spec: SubmittalInput, now: datetime
) -> CheckedSubmittal:
    return check_submittal(
        spec,
        suffixes=settings.allowed_suffixes,
        grants=_held(actor, org),
        self_managed=org.self_managed,
        now=now,
        max_days=settings.max_validity_days,
        max_names=settings.max_names_per_cert,
    )


def store_submittal(
    s: Session, case: Case, org: Organization, checked: CheckedSubmittal, now: datetime
) -> int:
    """Store a checked submittal with its contacts; its id."""
    people = list(checked.contacts)
    if not people:
        # R9: renewal notices go to the submittal's contacts; a submittal given none names
        # the organization's own contacts (the same records, not copies).
        people = [
            ContactInput(c.kind, c.name, c.email, c.phone)
            for c in contact_store.of_org(s, org.id)
            if c.org_wide
        ]
    submittal_id = submittal_store.add_submittal(s, new_submittal_row(case.id, checked, now))
    name_contacts(s, org.id, submittal_id, people, now)
    return submittal_id


def revised(
    s: Session,
    settings: Settings,
    actor: Actor,
    case: Case,
    org: Organization,
    change: CaseEdit,
) -> tuple[case_store.Revision, dict[str, object], dict[str, object]]:
    """The case's fields after ``change``, and what changed (before and after)."""
    kind = CaseType(case.type)
    to = case_store.revision_of(case)
    before: dict[str, object] = {}
    after: dict[str, object] = {}

    def note(name: str, old: object, new: object) -> None:
        if old != new:
            before[name], after[name] = old, new

    if change.title is not None:
        title = title_of(change.title)
        note("title", to.title, title)
        to = replace(to, title=title)
    if change.description is not None:
        description = description_of(change.description)
        note("description", to.description, description)
        to = replace(to, description=description)
    if change.requested_delivery is not None or change.clear_requested_delivery:
        wanted = None if change.clear_requested_delivery else change.requested_delivery
        note("requested_delivery", iso(to.requested_delivery), iso(wanted))
        to = replace(to, requested_delivery=wanted)
    if change.target_serial is not None:
        require_may_target(kind)
        target = target_of(s, org, kind, change.target_serial)
        assert target is not None
        old = cert_store.by_id(s, to.target_cert_id) if to.target_cert_id else None
        note("target", old.serial if old else None, target.serial)
        to = replace(to, target_cert_id=target.id)
    if change.grants is not None or change.admins is not None:
        require_delegated(kind)
        current = DelegatedSetup.of_case(case)
        setup = setup_of(
            settings,
            actor,
            org,
            change.grants if change.grants is not None else [str(g) for g in current.grants],
            change.admins if change.admins is not None else current.admins,
        )
        note(
            "delegated_admin",
            current.as_payload()["delegated_admin"],
            setup.as_payload()["delegated_admin"],
        )
        to = replace(to, delegated_setup=setup.as_column())
    return to, before, after


def setup_complete(case: Case) -> bool:
    return DelegatedSetup.of_case(case).complete
