"""Issue 10 finding 8: a delegated-administrator set-up case discloses nothing.

A requester could draft a set-up naming another agency's zone and an existing login ID, and
its approval then told whether the login existed. Now (services/delegation.py):

- an agency asks only for grants within its organization's own; anything else is refused at
  drafting with one answer, decided by the organization's own grants alone, so a zone another
  agency holds reads exactly like a zone nobody holds;
- drafting never looks a login ID up, and applying the approved set-up either creates the
  administrator or refuses with one note that names neither the ID nor its holder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from sqlalchemy import select

from certdesk.core.access import Actor
from certdesk.errors import PolicyRefusal
from certdesk.services.casework.casefile import CaseView
from certdesk.services.casework.cases import CaseEdit, CaseInput
from certdesk.services.casework.delegation import AdminInput
from certdesk.store.models import AuditRow
from conftest import OPERATOR
from world.desk import CHP, DMV, Desk, add_agency, desk_fixture, setup_case, snapshot

desk = desk_fixture("setup-disclosure")


def draft(
    desk: Desk, who: Actor | str, grants: Sequence[str], admins: Sequence[AdminInput] = ()
) -> CaseView:
    actor = desk[who] if isinstance(who, str) else who
    return desk.services.cases.open(
        actor,
        CaseInput(
            DMV, "delegated_admin_setup", "Self-manage", grants=tuple(grants), admins=tuple(admins)
        ),
    )


def outside(desk: Desk, who: str, grant: str) -> str:
    """The refusal of a draft asking for ``grant``, with ``grant`` replaced by ``<grant>``;
    nothing may change."""
    before = desk.counts()
    with pytest.raises(PolicyRefusal) as info:
        draft(desk, who, [grant])
    assert (info.value.code, info.value.rule) == ("grant.outside", "R2")
    assert desk.counts() == before
    return info.value.detail.replace(grant, "<grant>")


# dmv holds zone:dmv.ca.gov and host:permits.ca.gov; chp holds zone:chp.ca.gov.
OUTSIDE = [
    pytest.param("ana", "zone:chp.ca.gov", id="sec/setup-case/other-agency-zone"),
    pytest.param("ana", "zone:apps.chp.ca.gov", id="sec/setup-case/inside-other-agency-zone"),
    pytest.param("ana", "host:www.chp.ca.gov", id="sec/setup-case/host-of-other-agency"),
    pytest.param("ana", "zone:nobody.ca.gov", id="sec/setup-case/nobodys-zone"),
    pytest.param("ana", "zone:permits.ca.gov", id="sec/setup-case/zone-over-own-host"),
    pytest.param("ana", "host:www.permits.ca.gov", id="sec/setup-case/below-own-host"),
    pytest.param("ana", "zone:dmv2.ca.gov", id="sec/setup-case/look-alike-of-own-zone"),
    pytest.param("dan", "zone:chp.ca.gov", id="sec/setup-case/delegated-admin-other-zone"),
]


@pytest.mark.parametrize(("who", "grant"), OUTSIDE)
def test_setup_case_grant_outside_the_organization_is_refused_at_drafting(
    desk: Desk, who: str, grant: str
) -> None:
    detail = outside(desk, who, grant)
    # The answer names the grant asked for and dmv's own grants (which dmv may read), no more.
    assert detail == (
        "grant <grant> is not within the grants of dmv (zone:dmv.ca.gov, host:permits.ca.gov);"
        " an agency's set-up asks only for names inside those, and cert services grants new ones"
    )


def test_setup_case_another_agencys_zone_reads_like_nobodys(desk: Desk) -> None:
    """No oracle: held elsewhere and held by nobody are the same refusal, byte for byte."""
    held = [outside(desk, "ana", g) for g in ("zone:chp.ca.gov", "zone:apps.chp.ca.gov")]
    free = [outside(desk, "ana", g) for g in ("zone:qzx.ca.gov", "zone:apps.qzx.ca.gov")]
    assert len(set(held + free)) == 1


@pytest.mark.parametrize(
    ("who", "grant"),
    [
        pytest.param("ana", "zone:dmv.ca.gov", id="sec/setup-case/own-zone"),
        pytest.param("ana", "zone:apps.dmv.ca.gov", id="sec/setup-case/inside-own-zone"),
        pytest.param("ana", "host:www.dmv.ca.gov", id="sec/setup-case/host-in-own-zone"),
        pytest.param("ana", "host:permits.ca.gov", id="sec/setup-case/own-host"),
        pytest.param("dan", "zone:apps.dmv.ca.gov", id="sec/setup-case/delegated-admin-own"),
        pytest.param("opal", "zone:chp.ca.gov", id="sec/setup-case/cert-services-any-grant"),
    ],
)
def test_setup_case_grant_within_the_organization_drafts(desk: Desk, who: str, grant: str) -> None:
    view = draft(desk, who, [grant])
    assert view.delegated_setup["grants"] == [grant]


def test_setup_case_edit_to_another_agencys_zone_is_refused(desk: Desk) -> None:
    view = draft(desk, "ana", ["zone:apps.dmv.ca.gov"])
    before = desk.counts()
    with pytest.raises(PolicyRefusal) as info:
        desk.services.cases.edit(
            desk["ana"], view.number, CaseEdit(grants=("zone:apps.dmv.ca.gov", "zone:chp.ca.gov"))
        )
    assert info.value.code == "grant.outside" and "chp" not in info.value.detail.replace(
        "zone:chp.ca.gov", ""
    )
    assert desk.counts() == before
    shown = desk.services.cases.show(desk["ana"], view.number)
    assert shown.delegated_setup["grants"] == ["zone:apps.dmv.ca.gov"]


def _shape(view: CaseView, login: str) -> str:
    """What a case view shows, with its number and the login ID asked for taken out."""
    text = repr((view.state, view.delegated_setup, view.history, view.comments))
    return text.replace(view.number, "<number>").replace(login, "<login>")


def test_setup_case_existing_login_drafts_exactly_like_a_free_one(desk: Desk) -> None:
    """sec/setup-case/existing-login-at-drafting: drafting never looks login IDs up."""
    shapes = []
    for login in ("carl", "opal", "zed.free"):  # chp's requester, cert services, nobody
        admin = AdminInput("New Admin", "new.admin@dmv.ca.gov", login)
        view = draft(desk, "ana", ["zone:apps.dmv.ca.gov"], [admin])
        view = desk.services.cases.submit(desk["ana"], view.number)
        shapes.append(_shape(view, login))
    assert len(set(shapes)) == 1, shapes


def test_setup_case_taken_login_is_refused_with_one_note_naming_nothing(desk: Desk) -> None:
    """sec/setup-case/taken-login-after-approval: whoever holds a login ID (another agency,
    cert services, a colleague with another address), the approved set-up is refused with the
    same note, which names neither the ID nor why; the reason is in the audit log only."""
    svc = desk.services
    notes = []
    for holder in ("carl", "opal", "own-colleague"):
        agency = add_agency(desk, "sd")
        login = f"{agency.code}-req" if holder == "own-colleague" else holder
        admin = AdminInput("New Admin", f"new@{agency.code}.ca.gov", login)
        number = setup_case(desk, agency, [admin])
        before = snapshot(desk)
        view = svc.approvals.approve(desk["opal"], number)
        assert view.state == "approved"
        assert snapshot(desk)[3:] == before[3:]  # no grant, account, mail or flag
        note = view.comments[-1]["text"]
        assert login not in note and "belongs" not in note and "exist" not in note
        notes.append(re.sub(agency.code, "<org>", note))
        with svc.rt.reads() as s:
            event = s.scalars(
                select(AuditRow)
                .where(AuditRow.object_id == number, AuditRow.action == "case.comment")
                .order_by(AuditRow.seq.desc())
            ).first()
        assert event is not None and login in event.summary
    assert len(set(notes)) == 1

    free = add_agency(desk, "sd")
    login = f"{free.code}-boss"
    number = setup_case(desk, free, [AdminInput("Bo Boss", f"bo@{free.code}.ca.gov", login)])
    assert svc.approvals.approve(desk["opal"], number).state == "closed"
    assert svc.accounts.get(OPERATOR, login).org == free.code


def test_setup_case_for_another_agency_is_unknown(desk: Desk) -> None:
    """sec/setup-case/other-agency-org: a set-up for chp from dmv answers like an unknown org."""
    cases = desk.services.cases
    answers = []
    for code in (CHP, "qzx"):
        with pytest.raises(Exception) as info:
            cases.open(
                desk["ana"],
                CaseInput(code, "delegated_admin_setup", "x", grants=("zone:apps.dmv.ca.gov",)),
            )
        err = info.value
        answers.append(
            (type(err).__name__, getattr(err, "code", ""), str(err).replace(code, "<org>"))
        )
    assert answers[0] == answers[1] and answers[0][1] == "org.unknown"
