"""R15 on a real database: every change is audited, and tampering with a stored row is found
at that row (edit, delete, reorder), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from certdesk.core.access import Role
from certdesk.core.keys import KeyType
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.pki.revocation import Reason
from certdesk.services.registry import Services
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
