"""R15 on a real database: every change is audited, and tampering with a stored row is found
at that row (edit, delete, reorder), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, text

from certdesk.core.access import Role
from certdesk.core.keys import KeyType
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.pki.revocation import Reason
from certdesk.services.registry import Services
from certdesk.store import audit as audit_store
from conftest import AUDITOR, OPERATOR


@pytest.fixture
def busy(services: Services) -> Services:
    """A log with a handful of different events."""
    services.orgs.create(OPERATOR, "dmv", "DMV", self_managed=True, grants=["zone:dmv.ca.gov"])
    services.orgs.add_grant(OPERATOR, "dmv", "host:permits.ca.gov")
    services.orgs.remove_grant(OPERATOR, "dmv", "host:permits.ca.gov")
    csr = services.csrs.generate(["www.dmv.ca.gov"], KeyType.EC256).csr_pem
    issued = services.issuance.issue(OPERATOR, IssueCommand("dmv", csr))
    services.revocation.revoke(OPERATOR, issued.serial, Reason.SUPERSEDED)
    return services


def test_every_change_is_audited_in_order(busy: Services) -> None:
    events, _ = busy.audit.search(AUDITOR, limit=100)
    actions = [e.action for e in reversed(events)]
    assert actions == [
        "ca.create",
        "ca.create",
        "org.create",
        "grant.add",
        "grant.remove",
        "cert.issue",
        "cert.revoke",
    ]
    assert busy.audit.verify(AUDITOR) == (7, None)


def test_token_secret_never_reaches_the_log(busy: Services) -> None:
    new = busy.tokens.create(OPERATOR, role=Role.AUDITOR, org_code=None)
    events, _ = busy.audit.search(AUDITOR, action="token.create")
    assert events and new.secret not in repr(events)


def _sql(services: Services, statement: str) -> None:
    with services.rt.engine.begin() as conn:
        conn.execute(text(statement))


@pytest.mark.parametrize(
    ("statement", "bad_seq"),
    [
        pytest.param(
            "UPDATE audit_events SET actor = 'mallory' WHERE seq = 4", 4, id="R15/edit-actor"
        ),
        pytest.param(
            'UPDATE audit_events SET summary = \'{"grant": "zone:ca.gov"}\' WHERE seq = 4',
            4,
            id="R15/edit-summary",
        ),
        pytest.param("DELETE FROM audit_events WHERE seq = 3", 4, id="R15/delete-row"),
        pytest.param(
            "UPDATE audit_events SET seq = CASE seq WHEN 5 THEN 6 ELSE 5 END WHERE seq IN (5, 6)",
            5,
            id="R15/reorder",
        ),
        pytest.param("DELETE FROM audit_events WHERE seq = 7", 7, id="R15/delete-last"),
    ],
)
def test_tampering_is_found_at_that_row(busy: Services, statement: str, bad_seq: int) -> None:
    if "CASE seq" in statement:
        # A primary-key swap needs a detour (the unique check is per row).
        _sql(busy, "UPDATE audit_events SET seq = 1000 WHERE seq = 5")
        _sql(busy, "UPDATE audit_events SET seq = 5 WHERE seq = 6")
        _sql(busy, "UPDATE audit_events SET seq = 6 WHERE seq = 1000")
    else:
        _sql(busy, statement)
    _count, broken = busy.audit.verify(AUDITOR)
    assert broken is not None
    assert broken.seq == bad_seq


def _append(services: Services, conn: Connection, n: int) -> None:
    services.audit.record(conn, OPERATOR, "org.create", "organization", f"o{n}")


@pytest.mark.parametrize(
    ("savepoint_rolled_back", "events"),
    [(False, 6), (True, 5)],  # a savepoint's event undone: the next append reads the head again
)
def test_a_batch_locks_the_audit_head_once_and_the_chain_holds(
    services: Services, monkeypatch: pytest.MonkeyPatch, savepoint_rolled_back: bool, events: int
) -> None:
    before, _ = services.audit.verify(AUDITOR)
    locks: list[int] = []
    real = audit_store._C_LOCK_HEAD.execute

    def counted(conn: Connection, params: dict[str, object]) -> object:
        locks.append(1)
        return real(conn, params)

    monkeypatch.setattr(audit_store._C_LOCK_HEAD, "execute", counted)
    with services.rt.transaction() as conn:  # a group-commit batch: one event per certificate
        for n in range(3):
            _append(services, conn, n)
        nested = conn.begin_nested()
        _append(services, conn, 3)
        if savepoint_rolled_back:
            nested.rollback()
        else:
            nested.commit()
        _append(services, conn, 4)
    with services.rt.transaction() as conn:  # a new transaction reads the head afresh
        _append(services, conn, 5)
    assert services.audit.verify(AUDITOR) == (before + events, None)
    # Read: the batch's first append, the savepoint's, the one after it, the new transaction's.
    assert len(locks) == 4
