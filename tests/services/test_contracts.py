"""Vendor contracts of cert services: recorded, changed (audited, R15), seen and changed by
cert services only, licences in use counted from the inventory, and a warning before the end
through the one mail queue — each (contract, address, warning) once, read here from a real
SMTP server. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from certdesk.core.contracts import ContractTerms
from certdesk.errors import CertdeskError, Conflict, Forbidden, InvalidInput, NotFound
from certdesk.notify.smtp import SmtpTransport, parse_smtp_url
from certdesk.services.lifecycle.contracts import ContractChange
from certdesk.services.pki.revocation import Reason
from certdesk.store.models import AcmeIssuerRow, CertificateRow, Issuer
from conftest import OPERATOR
from world.desk import DMV, Desk, open_desk
from world.mail import SmtpServer, text_of
from world.refusals import refused


@pytest.fixture
def desk(backend: str, tmp_path: Path) -> Iterator[Desk]:
    with open_desk(backend, tmp_path) as d:
        yield d


def terms(number: str = "V-2026-01", **kw: object) -> ContractTerms:
    base: dict[str, object] = {
        "vendor": "Example CA",
        "number": number,
        "licences_total": 500,
        "licences_used": 120,
        "starts_on": date(2026, 1, 1),
        "ends_on": date(2027, 3, 31),
        "notes": "Master agreement 17",
    }
    return ContractTerms(**{**base, **kw})  # type: ignore[arg-type]


def test_r15_record_and_change_are_audited(desk: Desk) -> None:
    svc = desk.services.contracts
    added = svc.add(desk["opal"], terms())
    assert (added.licences_used, added.used_from_inventory) == (120, False)
    changed = svc.update(desk["otto"], "v-2026-01", ContractChange(licences_used=130))
    assert changed.licences_used == 130
    assert svc.update(desk["otto"], "V-2026-01", ContractChange(licences_used=130)) == changed
    assert [c.number for c in svc.list(desk["opal"])] == ["V-2026-01"]
    events, _ = desk.services.audit.search(OPERATOR, object_type="contract")
    assert [e.action for e in events] == ["contract.change", "contract.add"]  # no empty change
    assert events[0].summary["before"]["licences_used"] == 120
    assert events[0].summary["after"]["licences_used"] == 130


@pytest.mark.parametrize(
    ("who", "call", "exc", "code"),
    [
        pytest.param("ana", "list", Forbidden, "auth.forbidden", id="agency-requester-refused"),
        pytest.param("dan", "add", Forbidden, "auth.forbidden", id="delegated-admin-refused"),
        pytest.param("aud", "show", Forbidden, "auth.forbidden", id="auditor-refused"),
        pytest.param("opal", "add", Conflict, "contract.exists", id="number-taken"),
        pytest.param("opal", "add-bad-dates", InvalidInput, "contract.dates",
                     id="ends-before-it-starts"),
        pytest.param("opal", "add-unknown-issuer", NotFound, "issuer.unknown",
                     id="unknown-vendor-ca"),
        pytest.param("opal", "show-unknown", NotFound, "contract.unknown", id="unknown-contract"),
        pytest.param("opal", "update-to-taken", Conflict, "contract.exists",
                     id="renumber-to-a-taken-number"),
    ],
)  # fmt: skip
def test_refusals_change_nothing(
    desk: Desk, who: str, call: str, exc: type[CertdeskError], code: str
) -> None:
    svc = desk.services.contracts
    svc.add(OPERATOR, terms())
    svc.add(OPERATOR, terms("V-2026-02"))
    actor = desk[who]
    calls = {
        "list": lambda: svc.list(actor),
        "show": lambda: svc.show(actor, "V-2026-01"),
        "add": lambda: svc.add(actor, terms()),
        "add-bad-dates": lambda: svc.add(actor, terms("V-3", ends_on=date(2025, 1, 1))),
        "add-unknown-issuer": lambda: svc.add(actor, terms("V-3"), "nope"),
        "show-unknown": lambda: svc.show(actor, "V-404"),
        "update-to-taken": lambda: svc.update(
            actor, "V-2026-01", ContractChange(number="v-2026-02")
        ),
    }
    refused(exc, code, calls[call], state=desk.counts)


def test_licences_in_use_are_counted_from_the_inventory(desk: Desk) -> None:
    """With its vendor CA named, a contract's licences in use are that CA's certificates in
    force (test data: a vendor issuer row and certificates attributed to it)."""
    now = desk.clock()
    with desk.rt.sessions.begin() as s:
        vendor = Issuer(slug="examplev", name="Example vendor", backend="acme", is_root=False,
                        active=True, created_at=now)  # fmt: skip
        s.add(vendor)
        s.flush()
        s.add(
            AcmeIssuerRow(issuer_id=vendor.id, directory_url="https://ca.invalid/dir",
                          anchors_pem="", eab_kid="kid", account_url="https://ca.invalid/a/1",
                          account_key_sealed=b"x", solver="none")
        )  # fmt: skip
        vendor_id = vendor.id
    serials = [desk.issue(DMV, days=30) for _ in range(4)]
    # One of them no longer in force: it holds no licence.
    desk.services.revocation.revoke(OPERATOR, serials[3], Reason.SUPERSEDED)
    with desk.rt.sessions.begin() as s:
        s.execute(
            update(CertificateRow)
            .where(CertificateRow.serial.in_(serials))
            .values(issuer_id=vendor_id)
        )
    svc = desk.services.contracts
    view = svc.add(desk["opal"], terms(licences_used=None), "examplev")
    assert (view.licences_used, view.used_from_inventory, view.issuer) == (3, True, "examplev")
    unlinked = svc.update(desk["opal"], view.number, ContractChange(issuer="", licences_used=7))
    assert (unlinked.licences_used, unlinked.used_from_inventory) == (7, False)


@pytest.mark.parametrize(
    ("moment", "warned"),
    [
        pytest.param(datetime(2026, 12, 30, 20, 0, tzinfo=UTC), [], id="91-days-before"),
        pytest.param(datetime(2026, 12, 31, 20, 0, tzinfo=UTC), [90], id="90-days-before"),
    ],
)
def test_the_end_is_announced_once_per_mark_through_the_mail_queue(
    backend: str, tmp_path: Path, moment: datetime, warned: list[int]
) -> None:
    with SmtpServer() as smtp, open_desk(backend, tmp_path, smtp_url=smtp.url) as desk:
        svc = desk.services.contracts
        svc.add(OPERATOR, terms())
        transport = SmtpTransport(parse_smtp_url(smtp.url))
        expected = sorted(desk.services.accounts.get(OPERATOR, login).email
                          for login in ("opal", "otto"))  # fmt: skip
        for at in (moment, moment.replace(hour=23)):  # a second pass, or a second worker
            queued = svc.warn(at)
            assert queued == (len(expected) * len(warned) if at == moment else 0)
        desk.services.mail.send(transport)
        got = sorted(m["To"] for m in smtp.inbox.messages)
        assert got == (expected if warned else [])
        for m in smtp.inbox.messages:
            assert m["Subject"] == "Vendor contract V-2026-01 with Example CA ends in 90 days"
            body = text_of(m)
            assert "120 of 500 licences are in use" in body
            assert "Wednesday, March 31, 2027" in body
            assert "R" + "9" not in body  # no rule numbers in mail


def test_thirty_days_after_ninety_and_a_configured_mailbox(backend: str, tmp_path: Path) -> None:
    team = "certificate.services@cdt.ca.gov"
    with (
        SmtpServer() as smtp,
        open_desk(backend, tmp_path, smtp_url=smtp.url, contract_notice_to=team) as desk,
    ):
        svc = desk.services.contracts
        svc.add(OPERATOR, terms())
        transport = SmtpTransport(parse_smtp_url(smtp.url))
        for day, count in ((date(2026, 12, 31), 1), (date(2027, 3, 1), 1), (date(2027, 3, 2), 0),
                           (date(2027, 4, 1), 0)):  # fmt: skip
            assert svc.warn(datetime(day.year, day.month, day.day, 20, tzinfo=UTC)) == count
        desk.services.mail.send(transport)
        assert [m["To"] for m in smtp.inbox.messages] == [team, team]
        assert [m["Subject"].rsplit(" ", 3)[-3:] for m in smtp.inbox.messages] == [
            ["in", "90", "days"],
            ["in", "30", "days"],
        ]
