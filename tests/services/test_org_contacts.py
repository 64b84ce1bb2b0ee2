"""Organization contacts (R9, R15): a person or mailbox kept once per organization, named by
submittals, and replaced everywhere it matters by one audited change. On SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest

from certdesk.errors import CertdeskError, Conflict, Forbidden, InvalidInput, NotFound
from certdesk.services.casework.contacts import ContactChange, ContactInput
from certdesk.store import notices as notice_store
from conftest import OPERATOR
from world.desk import CHP, DMV, Desk, desk_fixture, sub
from world.refusals import refused

desk = desk_fixture("org-contacts")


def person(desk: Desk, stem: str, kind: str = "technical") -> ContactInput:
    return ContactInput(kind, stem.title(), f"{desk.unique(stem)}@chp.ca.gov")


def delivered(desk: Desk, *people: ContactInput) -> tuple[str, str]:
    """A delivered chp case whose one submittal names ``people``: (case number, serial)."""
    view = desk.approved(CHP, submittals=(sub(f"{desk.unique('w')}.chp.ca.gov", contacts=people),))
    number = desk.services.fulfilment.fulfil(desk["opal"], view.number).number
    serial = desk.services.window.certificates_of_case(desk["opal"], number).certificates[0].serial
    return number, serial


def recipients_of(desk: Desk, serial: str) -> list[str]:
    with desk.rt.reads() as s:
        cert_id = desk.cert(serial).id
        return [e for _, e in notice_store.submittal_contacts_of_certs(s, [cert_id])[cert_id]]


def test_r9_one_contact_per_address_named_by_many_submittals(desk: Desk) -> None:
    tom = person(desk, "tom")
    first, _ = delivered(desk, tom)
    again = ContactInput("billing", "Thomas", tom.email.upper())
    second = desk.draft("carl", CHP, submittals=(sub(f"{desk.unique('w')}.chp.ca.gov",
                                                     contacts=(again,)),))  # fmt: skip
    on_first = desk.services.cases.show(desk["carl"], first).submittals[0].contacts[0]
    on_second = second.submittals[0].contacts[0]
    assert on_first.id == on_second.id  # the same record, not a copy
    assert (on_first.kind, on_second.kind) == ("technical", "billing")  # each submittal's role
    assert on_second.name == "Tom"  # a submittal does not rename the organization's contact
    view, uses = desk.services.contacts.show(desk["carl"], CHP, tom.email)
    assert not view.org_wide  # only submittals named it: it hears only about those
    assert sorted(u.case_number for u in uses) == sorted([first, second.number])


def test_r9_r15_replace_everywhere_is_one_audited_change(desk: Desk) -> None:
    svc = desk.services
    old, new = person(desk, "olga"), person(desk, "nora")
    svc.contacts.add(desk["carl"], CHP, old)  # the organization's: hears about everything
    svc.contacts.add(desk["carl"], CHP, new)
    in_force, serial = delivered(desk, old)
    draft = desk.draft("carl", CHP, submittals=(sub(f"{desk.unique('w')}.chp.ca.gov",
                                                    contacts=(old,)),))  # fmt: skip
    gone = desk.draft("carl", CHP, submittals=(sub(f"{desk.unique('w')}.chp.ca.gov",
                                                   contacts=(old,)),))  # fmt: skip
    svc.cases.cancel(desk["carl"], gone.number, "not needed")
    assert recipients_of(desk, serial) == [old.email]
    audit_before = len(svc.audit.search(OPERATOR, object_type="contact")[0])

    done = svc.contact_replacing.replace(desk["carl"], CHP, old.email, new.email)

    assert sorted(done.cases) == sorted([in_force, draft.number])
    assert done.certificates == (serial,)
    assert not done.old_removed  # the cancelled case keeps naming who it named then
    assert recipients_of(desk, serial) == [new.email]  # R9: notices now go to the new one
    shown = {c.email: c for c in svc.contacts.list(desk["cara"], CHP)}
    assert shown[new.email].org_wide and not shown[old.email].org_wide
    assert svc.cases.show(desk["carl"], gone.number).submittals[0].contacts[0].email == old.email
    events, _ = svc.audit.search(OPERATOR, object_type="contact")
    assert len(events) == audit_before + 1
    event = events[0]
    assert (event.action, event.actor) == ("contact.replace", "user:carl")
    assert event.summary["before"]["email"] == old.email
    assert event.summary["after"]["email"] == new.email
    assert sorted(event.summary["cases"]) == sorted(done.cases)


def test_r9_replacing_the_last_use_removes_the_old_contact(desk: Desk) -> None:
    old, new = person(desk, "ugo"), person(desk, "vic")
    desk.services.contacts.add(desk["carl"], CHP, new)
    delivered(desk, old)
    done = desk.services.contact_replacing.replace(desk["opal"], CHP, old.email, str(
        desk.services.contacts.show(desk["opal"], CHP, new.email)[0].id))  # fmt: skip
    assert done.old_removed
    refused(NotFound, "contact.unknown", desk.services.contacts.show, desk["carl"], CHP, old.email)


def test_r9_a_contact_in_use_is_replaced_not_removed(desk: Desk) -> None:
    held = person(desk, "hal")
    delivered(desk, held)
    detail = refused(
        Conflict, "contact.in_use", desk.services.contacts.remove, desk["carl"], CHP, held.email,
        state=desk.counts,
    ).detail  # fmt: skip
    assert "replace" in detail


@pytest.mark.parametrize(
    ("who", "org", "old", "new", "exc", "code"),
    [
        pytest.param("carl", CHP, "a", "a", InvalidInput, "contact.same",
                     id="R9/replace-by-itself"),
        pytest.param("carl", CHP, "a", "nobody@chp.ca.gov", NotFound, "contact.unknown",
                     id="R9/replace-by-unknown"),
        pytest.param("carl", CHP, "999999", "b", NotFound, "contact.unknown",
                     id="R9/replace-unknown-id"),
        pytest.param("carl", CHP, "u", "b", Conflict, "contact.unused", id="R9/replace-unused"),
        pytest.param("cara", CHP, "a", "b", Forbidden, "auth.forbidden",
                     id="R9/approver-may-not-replace"),
        pytest.param("aud", CHP, "a", "b", Forbidden, "auth.forbidden",
                     id="R9/auditor-may-not-replace"),
        pytest.param("ana", CHP, "a", "b", NotFound, "org.unknown",
                     id="R2/other-agency-cannot-tell-it-exists"),
        pytest.param("ana", "qzx", "a", "b", NotFound, "org.unknown", id="R2/unknown-agency"),
    ],
)  # fmt: skip
def test_r9_replace_refusals_change_nothing(
    desk: Desk, who: str, org: str, old: str, new: str, exc: type[CertdeskError], code: str
) -> None:
    a, b, unused = person(desk, "amy"), person(desk, "bob"), person(desk, "una")
    delivered(desk, a)
    desk.services.contacts.add(OPERATOR, CHP, b)
    desk.services.contacts.add(OPERATOR, CHP, unused)
    desk.services.contacts.change(OPERATOR, CHP, unused.email, ContactChange(org_wide=False))
    refs = {"a": a.email, "b": b.email, "u": unused.email}
    refused(
        exc,
        code,
        desk.services.contact_replacing.replace,
        desk[who],
        org,
        refs.get(old, old),
        refs.get(new, new),
        state=desk.counts,
    )


def test_r9_an_address_is_kept_once(desk: Desk) -> None:
    one = person(desk, "dee")
    desk.services.contacts.add(desk["carl"], CHP, one)
    twin = ContactInput("billing", "Dee Again", one.email.upper())
    refused(Conflict, "contact.exists", desk.services.contacts.add, desk["carl"], CHP, twin,
            state=desk.counts)  # fmt: skip
    other = person(desk, "eda")
    desk.services.contacts.add(desk["carl"], CHP, other)
    refused(Conflict, "contact.exists", desk.services.contacts.change, desk["carl"], CHP,
            other.email, ContactChange(email=one.email), state=desk.counts)  # fmt: skip
    # Another organization may keep the same address (its own contact).
    desk.services.contacts.add(desk["ana"], DMV, ContactInput("technical", "Dee", one.email))
