"""A vendor that refuses an order, forgets certdesk's account or stays silent (issue 12, R16):
the order keeps the vendor's problem document, the case shows it, and cert services get one
notice per order and trouble through the one mail queue — never one per worker pass — which
a real SMTP server (aiosmtpd) receives. Pebble is the vendor, with EAB and a blocklist."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select
from test_vendor_desk import FAST, add_vendor
from vendor_world import Pebble, running_pebble, unique_names

from certdesk.ca.acme.account import deactivate, key_from_pem
from certdesk.ca.acme.backend import AcmeIssuer
from certdesk.ca.acme.session import AcmeSession, Endpoint
from certdesk.core.workflow import State
from certdesk.errors import Unavailable
from certdesk.jobs.worker import Worker
from certdesk.notify.smtp import SmtpTransport, parse_smtp_url
from certdesk.services.pki.issuance import IssueCommand
from certdesk.store import users as user_store
from certdesk.store import vendors as vendor_store
from certdesk.store.models import Notice, VendorOrder
from conftest import OPERATOR
from world.csr import make_csr
from world.desk import DMV, Desk, desk_fixture, sub
from world.mail import SmtpServer, text_of

pytestmark = pytest.mark.timeout(240)

desk = desk_fixture("vendor-trouble")
BLOCKED = "blocked.dmv.ca.gov"


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with running_pebble(
        tmp_path_factory.mktemp("pebble"), always_valid=True, blocklist=(BLOCKED,)
    ) as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def vendor_notices(desk: Desk, order_id: int) -> list[tuple[str, str]]:
    """``(reason, address)`` of every vendor notice queued for the order."""
    with desk.rt.reads() as s:
        rows = s.execute(
            select(Notice.reason, Notice.contact_email).where(
                Notice.subject_type == "vendor", Notice.subject_id == order_id
            )
        )
        return sorted((r, a) for r, a in rows)


def operators(desk: Desk) -> list[str]:
    with desk.rt.reading() as conn:
        return user_store.operator_emails(conn)


def send_mail(desk: Desk, smtp: SmtpServer) -> list[EmailMessage]:
    report = desk.services.mail.send(SmtpTransport(parse_smtp_url(smtp.url)))
    assert not report.errors, report
    return list(smtp.inbox.messages)


def order_of(desk: Desk, case_number: str) -> int:
    (submittal,) = desk.services.cases.show(desk["opal"], case_number).submittals
    with desk.rt.reads() as s:
        found = s.scalar(select(VendorOrder.id).where(VendorOrder.submittal_id == submittal.id))
    assert found is not None
    return int(found)


def test_an_order_the_vendor_refuses_fails_with_its_problem_and_one_notice(
    desk: Desk, pebble: Pebble, smtp: SmtpServer
) -> None:
    vendor = add_vendor(desk, pebble)
    desk.services.orgs.set_issuer(OPERATOR, DMV, desk.services.vendors.issuer_id(vendor), vendor)
    try:
        (name,) = unique_names("www")
        refused_name = name.replace(".dmv.ca.gov", f".{BLOCKED}")
        case = desk.approved(DMV, submittals=(sub(refused_name),))
        desk.services.fulfilment.fulfil(desk["opal"], case.number)
        order_id = order_of(desk, case.number)

        for _ in range(3):  # every pass sees the same failed order; one notice only
            Worker(desk.services, worker_id="vendor-trouble").run_pass()
        shown = desk.services.cases.show(desk["opal"], case.number)
        assert shown.state is State.IN_PROGRESS
        order = shown.submittals[0].order
        assert order is not None and order.state == "failed"
        problem = shown.as_dict()["submittals"][0]["order"]["problem"]
        # The vendor's own problem document (RFC 8555 §6.7), as pebble sent it.
        assert problem["type"].startswith("urn:ietf:params:acme:error:"), problem
        assert "blocked" in problem["detail"].lower() or BLOCKED in problem["detail"], problem
        expected = [("vendor.refused", a) for a in operators(desk)]
        assert expected and vendor_notices(desk, order_id) == expected

        messages = send_mail(desk, smtp)
        assert len(messages) == len(expected)
        mail = messages[0]
        assert "refused" in mail["Subject"] and refused_name in mail["Subject"]
        body = text_of(mail)
        assert case.number in body and problem["detail"] in body
        assert "urn:ietf" not in body  # plain language: the vendor's words, not its codes
        assert send_mail(desk, smtp) == messages  # nothing more was queued
    finally:
        desk.services.orgs.set_issuer(OPERATOR, DMV, None, "builtin")


def test_a_deactivated_account_refuses_the_order_and_cert_services_hear_once(
    desk: Desk, pebble: Pebble, smtp: SmtpServer
) -> None:
    vendor = add_vendor(desk, pebble)
    with desk.rt.reads() as s:
        row = vendor_store.by_slug(s, vendor)
    assert row is not None
    key = key_from_pem(desk.services.secretbox.open(row.account_key_sealed))
    session = AcmeSession(
        Endpoint(pebble.endpoint.directory_url, ca_bundle=str(pebble.ca_bundle)),
        key,
        account_url=row.account_url,
    )
    try:
        deactivate(session)  # RFC 8555 §7.3.6: the vendor refuses this account from now on
    finally:
        session.close()
    code = desk.unique("v")
    desk.services.orgs.create(OPERATOR, code, "Deactivated", self_managed=False, grants=[])
    desk.services.orgs.set_issuer(OPERATOR, code, row.id, vendor)
    result = desk.services.issuance.request(
        OPERATOR,
        IssueCommand(code, make_csr(list(unique_names("gone")))),
        wait=timedelta(seconds=20),
    )
    assert result.state == "failed", result
    assert result.problem is not None and "deactivated" in str(result.problem["detail"])
    for _ in range(2):
        Worker(desk.services, worker_id="vendor-trouble").run_pass()
    assert vendor_notices(desk, result.order_id) == [("vendor.refused", a) for a in operators(desk)]
    (mail, *_) = send_mail(desk, smtp)
    assert "deactivated" in text_of(mail)


def test_a_vendor_silent_for_an_hour_is_reported_once_then_the_order_completes(
    desk: Desk, tmp_path: Path
) -> None:
    with running_pebble(tmp_path, always_valid=True) as own:
        vendor = add_vendor(desk, own)
        desk.services.vendor_backends.tune(FAST)
        code = desk.unique("v")
        desk.services.orgs.create(OPERATOR, code, "Silent", self_managed=False, grants=[])
        desk.services.orgs.set_issuer(
            OPERATOR, code, desk.services.vendors.issuer_id(vendor), vendor
        )
        own.stop()
        placed = desk.services.issuance.request(
            OPERATOR,
            IssueCommand(code, make_csr(list(unique_names("quiet")))),
            wait=None,
        )
        assert placed.state in ("ordering", "pending")
        orders = desk.services.vendor_orders
        orders.run_due()
        assert vendor_notices(desk, placed.order_id) == []  # a short outage is not news
        for _ in range(3):
            desk.at(desk.clock.now + timedelta(hours=1, minutes=1))
            orders.run_due()
            assert orders.status(placed.order_id).vendor_status == "unreachable"
        assert vendor_notices(desk, placed.order_id) == [
            ("vendor.silent", a) for a in operators(desk)
        ]
        own.start()  # back, but with its memory wiped: the account is forgotten
        desk.at(desk.clock.now + timedelta(hours=2))
        orders.run_due()
        assert orders.status(placed.order_id).vendor_status == "account_gone"
        orders.run_due()
        reasons = {r for r, _ in vendor_notices(desk, placed.order_id)}
        assert reasons == {"vendor.silent", "vendor.account"}


def test_a_busy_vendors_retry_after_is_kept_across_passes(
    desk: Desk, pebble: Pebble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 8555 §6.6: a vendor answering ``rateLimited`` with a Retry-After longer than the
    session waits in-process is asked again only then, not at the next back-off step. The
    vendor's answer is stood in for at ``AcmeIssuer.issue`` (pebble never rate-limits)."""
    vendor = add_vendor(desk, pebble)
    code = desk.unique("v")
    desk.services.orgs.create(OPERATOR, code, "Busy", self_managed=False, grants=[])
    desk.services.orgs.set_issuer(OPERATOR, code, desk.services.vendors.issuer_id(vendor), vendor)
    placed = desk.services.issuance.request(
        OPERATOR, IssueCommand(code, make_csr(list(unique_names("busy")))), wait=None
    )

    def busy(_self: AcmeIssuer, _request: object, _journal: object) -> object:
        raise Unavailable(
            "acme.vendor_busy",
            "the vendor is busy (ordering): too many new orders",
            problem={"type": "urn:ietf:params:acme:error:rateLimited", "detail": "slow down"},
            retry_after=datetime.now(UTC) + timedelta(hours=2),
        )

    monkeypatch.setattr(AcmeIssuer, "issue", busy)
    orders = desk.services.vendor_orders
    orders.run_due()
    waiting = orders.status(placed.order_id)
    assert waiting.retry_after is not None and waiting.problem is not None
    assert waiting.problem["type"].endswith("rateLimited")
    assert waiting.retry_after - desk.clock() >= timedelta(hours=1, minutes=59)
    desk.at(desk.clock.now + timedelta(hours=1))
    orders.run_due()
    # The vendor's time has not come: the order was not asked again.
    assert orders.status(placed.order_id).retry_after == waiting.retry_after
    monkeypatch.undo()
    desk.at(desk.clock.now + timedelta(hours=1, minutes=1))
    orders.run_due()
    assert orders.status(placed.order_id).state == "issued"
