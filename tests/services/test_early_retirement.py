"""Issue 14 (R8, R14): an in-window reissue's overlap ends early once the replacement is
verified installed — the worker's endpoint checks saw every name serve the new certificate
and none the old — revoking the old certificate once, audited with why."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from certdesk.core.certificates import replacement_installed
from certdesk.services.casework.window import Reissue
from certdesk.services.lifecycle.retirements import INSTALLED
from certdesk.store import endpoints as endpoint_store
from certdesk.store.models import AuditRow, CertificateRow
from world.desk import START, Desk, certificates, delivered, desk_fixture, sub

desk = desk_fixture("retire")


@pytest.fixture(autouse=True)
def _start(desk: Desk) -> None:
    desk.at(START)


def fingerprint(desk: Desk, serial: str) -> str:
    with desk.services.rt.reads() as s:
        row = s.scalars(select(CertificateRow).where(CertificateRow.serial == serial)).one()
        assert row.fingerprint_sha256
        return row.fingerprint_sha256


def status(desk: Desk, serial: str) -> tuple[str, object]:
    with desk.services.rt.reads() as s:
        row = s.scalars(select(CertificateRow).where(CertificateRow.serial == serial)).one()
        return row.status, row.retire_at


def seen(desk: Desk, host: str, served: str | None, *, port: int = 443) -> None:
    """One recorded endpoint check of ``host`` (as the worker's ``verify`` job records it)."""
    with desk.services.rt.sessions.begin() as s:
        endpoint_store.add_check(
            s,
            {
                "host": host,
                "port": port,
                "sni": host,
                "checked_at": desk.clock.now,
                "certificate_id": None,
                "external_id": None,
                "served_sha256": served,
                "severity": "ok" if served else "unreachable",
                "findings": [],
                "error": None if served else "connection refused",
            },
        )


def reissued(desk: Desk) -> tuple[str, str, str, str]:
    """A delivered two-name certificate reissued in its window: (www, api, old, new)."""
    www, api = (f"{desk.unique(n)}.dmv.ca.gov" for n in ("www", "api"))
    view = delivered(desk, sub(www, api))
    old = view.submittals[0].certificate_serial
    assert old is not None
    desk.services.window.reissue(desk["ana"], view.number, Reissue(view.submittals[0].id))
    new = certificates(desk, view.number).certificates[-1].serial
    assert new != old and status(desk, old)[0] == "active"
    return www, api, old, new


# What the endpoint checks saw after the reissue, and whether the overlap ends now.
STEPS = {
    "nothing-checked": ([], False),
    "one-name-only": ([("www", "new")], False),
    "one-still-old": ([("www", "new"), ("api", "old")], False),
    "one-unreachable": ([("www", "new"), ("api", None)], False),
    "other-port-still-old": ([("www", "new"), ("api", "new"), ("www:8443", "old")], False),
    "all-new": ([("www", "new"), ("api", "new")], True),
    "moved-on-after-old": ([("www", "old"), ("api", "new"), ("www", "new")], True),
}


@pytest.mark.parametrize("step", list(STEPS), ids=[f"R8-R14/{k}" for k in STEPS])
def test_overlap_ends_once_the_replacement_is_verified_installed(desk: Desk, step: str) -> None:
    checks, ends = STEPS[step]
    www, api, old, new = reissued(desk)
    prints = {"old": fingerprint(desk, old), "new": fingerprint(desk, new), None: None}
    for where, what in checks:
        host, _, port = where.partition(":")
        seen(desk, {"www": www, "api": api}[host], prints[what], port=int(port or 443))
    svc = desk.services
    before = status(desk, old)[1]
    assert before is not None and before > desk.clock.now  # the overlap is still ahead
    svc.retirements.retire_due(desk.clock.now)
    svc.retirements.retire_due(desk.clock.now)  # a second pass (or worker) changes nothing
    if not ends:
        assert status(desk, old) == ("active", before)
        assert "cert.revoke" not in desk.audit_actions(old)
        return
    assert status(desk, old) == ("revoked", None)
    assert desk.audit_actions(old).count("cert.revoke") == 1
    with svc.rt.reads() as s:
        summary = json.loads(
            s.scalars(
                select(AuditRow.summary).where(
                    AuditRow.object_id == old, AuditRow.action == "cert.revoke"
                )
            ).one()
        )
    assert summary["reason"] == "superseded" and summary["because"] == INSTALLED
    assert status(desk, new)[0] == "active"


def test_checks_before_the_reissue_do_not_count(desk: Desk) -> None:
    """A check recorded before the replacement was issued says nothing about it."""
    www, api, old, new = reissued(desk)
    desk.at(START - timedelta(hours=1))
    for host in (www, api):
        seen(desk, host, fingerprint(desk, new))
    desk.at(START)
    desk.services.retirements.retire_due(desk.clock.now)
    assert status(desk, old)[0] == "active"


RULE = {
    "wildcard-only": (["*.a.gov"], {"*.a.gov": ["N"]}, False),
    "no-new-fingerprint": (["a.gov"], {"a.gov": ["N"]}, None),
    "served-new": (["a.gov", "*.a.gov"], {"a.gov": ["N"]}, True),
    "old-on-other-name": (["a.gov"], {"a.gov": ["N"], "b.a.gov": ["O"]}, False),
}


@pytest.mark.parametrize("case", list(RULE), ids=[f"R8-R14/{k}" for k in RULE])
def test_replacement_installed_rule(case: str) -> None:
    names, served, expected = RULE[case]
    new = None if expected is None else "N"
    assert replacement_installed("O", new, names, served) is bool(expected)
