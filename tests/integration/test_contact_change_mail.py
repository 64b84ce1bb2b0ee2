"""Issue 14 (R9): cert services hears, by mail through the one mail queue, of every change
of an organization's certificate contacts — added, changed, removed, replaced everywhere —
once per change, in plain language, as each person chose for that kind of mail. Against a
real SMTP server (aiosmtpd on loopback), through the worker, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from certdesk.jobs.worker import Worker
from certdesk.services.casework.contacts import ContactChange, ContactInput
from conftest import OPERATOR
from world.desk import Desk, open_desk
from world.mail import SENDER, SmtpServer, html_of, received, text_of

BASE = "https://certdesk.cdt.ca.gov"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def desk(backend: str, tmp_path: Path, smtp: SmtpServer) -> Iterator[Desk]:
    with open_desk(backend, tmp_path, smtp_url=smtp.url, mail_from=SENDER, base_url=BASE) as d:
        yield d


def test_r9_cert_services_hears_of_each_contact_change_once(desk: Desk, smtp: SmtpServer) -> None:
    svc = desk.services
    worker = Worker(svc, worker_id="w1")
    seen = 0

    def step() -> list[tuple[str, str, str]]:
        nonlocal seen
        desk.clock.advance(minutes=5)
        report = worker.run_pass()
        assert not report.errors, report.errors
        new = smtp.inbox.messages[seen:]
        seen = len(smtp.inbox.messages)
        out = []
        for msg in new:
            text = text_of(msg) + html_of(msg) + str(msg["Subject"])
            for leak in ("R9", "R15", "contact.add", "contact.change", "contact.re", "user:"):
                assert leak not in text, f"{leak!r} in a mail: {msg['Subject']}"
            out += [(g.to, g.reason.split("#")[0], text) for g in received([msg])]
        return sorted(out)

    # A person may turn this kind of mail off (it is no safety notice).
    svc.mail_preferences.set(desk["otto"], {"contact_changed": "off"})
    dan = desk["dan"]  # the agency's delegated administrator manages its contacts
    added = svc.contacts.add(
        dan, "dmv", ContactInput("technical", "Tess Tech", "tess@dmv.ca.gov", "916 555 0100")
    )
    (got,) = step()
    assert got[:2] == ("opal@example.ca.gov", "contact.changed")
    assert "added a contact" in got[2] and "Tess Tech" in got[2] and "tess@dmv.ca.gov" in got[2]
    assert f"{BASE}/contacts?org=dmv" in got[2]
    assert step() == []  # once per change

    svc.contacts.change(dan, "dmv", added.id, ContactChange(phone="916 555 0199"))
    (got,) = step()
    assert "changed a contact" in got[2]
    assert "916 555 0100" in got[2] and "916 555 0199" in got[2]  # before and after

    # Cert services' own change is no news to it.
    svc.contacts.add(OPERATOR, "dmv", ContactInput("billing", "Bill Ops", "bill@dmv.ca.gov"))
    assert step() == []
    other = svc.contacts.add(dan, "dmv", ContactInput("technical", "Ray New", "ray@dmv.ca.gov"))
    svc.contact_replacing.replace(dan, "dmv", str(added.id), str(other.id))
    mails = step()
    assert [m[:2] for m in mails] == [("opal@example.ca.gov", "contact.changed")] * 2
    # Two changes in one pass: one message to each person, naming both.
    assert "added a contact" in mails[0][2] and "replaced a contact everywhere" in mails[0][2]
    assert "ray@dmv.ca.gov now takes the place of tess@dmv.ca.gov" in mails[0][2]

    svc.contacts.remove(dan, "dmv", other.id)
    (got,) = step()
    assert "removed a contact" in got[2] and "Ray New" in got[2]
    assert step() == []

    # Nothing reached the person who turned it off; the queue says so.
    assert not [g for g in received(smtp.inbox.messages) if g.to == "otto@example.ca.gov"]
