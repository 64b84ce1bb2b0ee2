"""Step 3 of the issuance pipeline: what the intent depends on is read in the intent's own
transaction — the organization's grants (R2) and the active issuing CA — so a change that
commits before the intent does is never ignored, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, update

from certdesk.ca.issuer import Prepared
from certdesk.ca.profile import LeafRequest
from certdesk.core.access import Actor, Role
from certdesk.core.keys import KeyType
from certdesk.errors import CertdeskError
from certdesk.services.pki.issuance import IssueCommand, Issued
from certdesk.services.registry import Services
from certdesk.store import issuers as issuer_store
from certdesk.store import orgs as org_store
from certdesk.store.models import CertificateRow, Issuer
from conftest import OPERATOR, org_actor

GRANT = "host:www.dmv.ca.gov"


@pytest.fixture
def admin(services: Services) -> Actor:
    """A delegated admin of a self-managed organization holding exactly GRANT."""
    services.orgs.create(OPERATOR, "dmv", "Motor Vehicles", self_managed=True, grants=[GRANT])
    return org_actor(services, "dmv", Role.DELEGATED_ADMIN)


def _command(services: Services) -> IssueCommand:
    return IssueCommand("dmv", services.csrs.generate(["www.dmv.ca.gov"], KeyType.EC256).csr_pem)


def _rows(services: Services) -> int:
    with services.rt.reads() as s:
        return s.scalar(select(func.count()).select_from(CertificateRow)) or 0


def _during_prepare(
    services: Services, monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]
) -> None:
    """Run ``action`` inside step 2, after the request passed R1 and before the intent."""
    ca = services.authority.issuing().ca
    original = ca.prepare

    def prepare(request: LeafRequest, *, max_days: int) -> Prepared:
        action()
        return original(request, max_days=max_days)

    monkeypatch.setattr(ca, "prepare", prepare)


def test_a_grant_removed_after_the_request_was_judged_stops_the_issuance(
    services: Services, admin: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    cmd = _command(services)
    _during_prepare(
        services, monkeypatch, lambda: services.orgs.remove_grant(OPERATOR, "dmv", GRANT)
    )
    with pytest.raises(CertdeskError) as err:
        services.issuance.issue(admin, cmd)
    assert err.value.code == "name.not_granted"
    assert _rows(services) == 0


def test_an_issuance_waits_for_a_grant_removal_in_progress_and_is_refused(
    services: Services, admin: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The removal holds the organization's row; the intent transaction waits for it."""
    cmd = _command(services)
    locked, release = threading.Event(), threading.Event()
    find_grant = org_store.find_grant

    def find_grant_then_pause(*args: Any, **kwargs: Any) -> Any:
        locked.set()  # remove_grant has locked the organization (PostgreSQL) or the database
        assert release.wait(30)
        return find_grant(*args, **kwargs)

    monkeypatch.setattr(org_store, "find_grant", find_grant_then_pause)
    outcome: dict[str, Any] = {}

    def issue() -> None:
        try:
            outcome["issued"] = services.issuance.issue(admin, cmd)
        except CertdeskError as exc:
            outcome["refused"] = exc.code

    remover = threading.Thread(target=services.orgs.remove_grant, args=(OPERATOR, "dmv", GRANT))
    remover.start()
    assert locked.wait(30)
    issuer = threading.Thread(target=issue)
    issuer.start()
    issuer.join(0.5)
    blocked = issuer.is_alive()
    release.set()
    remover.join(30)
    issuer.join(30)
    assert blocked, f"the issuance did not wait for the grant removal: {outcome}"
    assert outcome == {"refused": "name.not_granted"}
    assert _rows(services) == 0


def _issuer_of(services: Services, issued: Issued) -> int:
    with services.rt.reads() as s:
        row = s.scalars(select(CertificateRow).where(CertificateRow.serial == issued.serial))
        return row.one().issuer_id


def test_an_intermediate_activated_meanwhile_is_the_one_recorded(
    services: Services, admin: Actor
) -> None:
    first = services.issuance.issue(admin, _command(services))  # this process caches the CA
    with services.rt.sessions.begin() as s:
        current = issuer_store.active_intermediate(s)
        assert current is not None
        # The same key and certificate under a new row: the process cannot tell from its
        # cache that the active intermediate changed, only from the database.
        newer = issuer_store.add_local(
            s,
            slug="replacement",
            name=current.name,
            parent_id=current.parent_id,
            key_type=current.key_type,
            key_file=current.key_file,
            cert_der=current.cert_der,
            not_before=current.not_before,
            not_after=current.not_after,
            now=services.rt.clock(),
        )
        old_id, new_id = current.id, newer.id
    second = services.issuance.issue(admin, _command(services))
    assert (_issuer_of(services, first), _issuer_of(services, second)) == (old_id, new_id)


def test_without_an_active_intermediate_nothing_is_recorded(
    services: Services, admin: Actor
) -> None:
    services.issuance.issue(admin, _command(services))  # this process caches the CA
    with services.rt.sessions.begin() as s:
        s.execute(update(Issuer).where(Issuer.is_root.is_(False)).values(active=False))
    with pytest.raises(CertdeskError) as err:
        services.issuance.issue(admin, _command(services))
    assert err.value.code == "ca.not_initialized"
    assert _rows(services) == 1
