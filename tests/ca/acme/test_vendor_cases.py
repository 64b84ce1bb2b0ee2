"""A case fulfilled through a vendor CA (issue 12): the same case, approvals, delivery and R8
window as with the built-in CA, with certificates that pebble (the vendor) signs.

Fulfilment records one order per submittal and leaves the case "ordering at VENDOR"; the
worker places and follows the orders, then delivers the case once every certificate is in.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from cryptography import x509
from sqlalchemy import func, select
from test_vendor_desk import add_vendor
from vendor_world import Pebble, running_pebble, unique_names

from certdesk.ca.acme.backend import AcmeIssuer
from certdesk.ca.issuer import RenewalWindow
from certdesk.core.workflow import State
from certdesk.errors import Conflict, Forbidden, NotFound
from certdesk.jobs.worker import Worker
from certdesk.store.models import VendorOrder
from conftest import OPERATOR
from world.desk import DMV, Desk, certificates, desk_fixture, sub
from world.refusals import refused

pytestmark = pytest.mark.timeout(240)

desk = desk_fixture("vendor-cases")


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with running_pebble(tmp_path_factory.mktemp("pebble"), always_valid=True) as server:
        yield server


def _orders(desk: Desk) -> int:
    with desk.rt.reads() as s:
        return int(s.scalar(select(func.count()).select_from(VendorOrder)) or 0)


def test_a_case_with_two_submittals_is_fulfilled_through_the_vendor(
    desk: Desk, pebble: Pebble
) -> None:
    vendor = add_vendor(desk, pebble)
    issuer_id = desk.services.vendors.issuer_id(vendor)
    desk.services.orgs.set_issuer(OPERATOR, DMV, issuer_id, vendor)
    try:
        first, second = unique_names("www", "api"), unique_names("portal")
        case = desk.approved(DMV, submittals=(sub(*first), sub(*second)))
        before = _orders(desk)

        # Fulfilment orders, it does not wait: the case shows the orders, still in progress.
        waiting = desk.services.fulfilment.fulfil(desk["opal"], case.number)
        assert waiting.state is State.IN_PROGRESS and waiting.delivered_at is None
        assert [s.order.state for s in waiting.submittals if s.order] == ["ordering"] * 2
        assert {s.order.issuer for s in waiting.submittals if s.order} == {vendor}
        assert all(s.certificate_serial is None for s in waiting.submittals)
        assert "case.order" in desk.audit_actions(case.number)
        shown = waiting.as_dict()["submittals"][0]["order"]
        assert shown["issuer"] == vendor and shown["state"] == "ordering"

        # Asking again before the vendor answered places no second order.
        again = desk.services.fulfilment.fulfil(desk["opal"], case.number)
        assert again.state is State.IN_PROGRESS and _orders(desk) == before + 2

        # One worker pass: the orders are placed and issued, then the case is delivered.
        report = Worker(desk.services, worker_id="vendor-cases").run_pass()
        assert report.vendor_orders_issued == 2, report.errors
        assert report.vendor_cases_delivered == 1, report.errors
        delivered = desk.services.cases.show(desk["opal"], case.number)
        assert delivered.state is State.DELIVERED and delivered.window_ends_at is not None
        assert [s.order.state for s in delivered.submittals if s.order] == ["issued"] * 2
        serials = [s.certificate_serial for s in delivered.submittals]
        assert all(serials) and len(set(serials)) == 2
        for serial, names in zip(serials, (first, second), strict=True):
            assert serial is not None
            view = desk.services.inventory.show(OPERATOR, serial)
            assert view.issuer == vendor and sorted(view.names) == sorted(names)
            row = desk.cert(serial)
            assert row.chain_pem and row.cost_cents is not None  # managed: R11 cost recorded
            assert pebble.cert_status(int(serial, 16))["Status"] == "Valid"
        # The delivery carries the vendor's chain, not the built-in CA's.
        for item in certificates(desk, case.number).certificates:
            chain_pem = desk.cert(item.serial).chain_pem
            assert chain_pem and item.fullchain_pem.endswith(chain_pem)
        assert _orders(desk) == before + 2  # one order per submittal, ever
        # Another pass finds nothing more to deliver.
        assert (
            Worker(desk.services, worker_id="vendor-cases").run_pass().vendor_cases_delivered == 0
        )
    finally:
        desk.services.orgs.set_issuer(OPERATOR, DMV, None, "builtin")


def test_a_renewal_case_of_a_vendor_certificate_is_ordered_from_the_vendor(
    desk: Desk, pebble: Pebble
) -> None:
    vendor = add_vendor(desk, pebble)
    desk.services.orgs.set_issuer(OPERATOR, DMV, desk.services.vendors.issuer_id(vendor), vendor)
    try:
        names = unique_names("renew")
        case = desk.approved(DMV, submittals=(sub(*names),))
        desk.services.fulfilment.fulfil(desk["opal"], case.number)
        Worker(desk.services, worker_id="vendor-renewals").run_pass()
        old = desk.services.cases.show(desk["opal"], case.number).submittals[0].certificate_serial
        assert old is not None

        # R6: the renewal case is the same case work; its certificate comes from the vendor.
        renewal = desk.services.fulfilment.open_renewal(desk["ana"], old)
        desk.services.cases.submit(desk["ana"], renewal.number)
        desk.services.approvals.approve(desk["abe"], renewal.number)
        desk.services.approvals.approve(desk["opal"], renewal.number)
        waiting = desk.services.fulfilment.fulfil(desk["opal"], renewal.number)
        assert waiting.state is State.IN_PROGRESS
        report = Worker(desk.services, worker_id="vendor-renewals").run_pass()
        assert report.vendor_cases_delivered == 1, report.errors
        new = certificates(desk, renewal.number).certificates[0]
        assert new.renewal_of == old and new.serial != old
        assert desk.services.inventory.show(OPERATOR, new.serial).issuer == vendor
        assert pebble.cert_status(int(new.serial, 16))["Status"] == "Valid"
    finally:
        desk.services.orgs.set_issuer(OPERATOR, DMV, None, "builtin")


def test_the_vendors_renewal_window_opens_the_renewal_early(
    desk: Desk, pebble: Pebble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 9773 (issue 12): when the vendor moves its suggested window earlier (a mass
    revocation ahead), the worker opens the renewal case then, not at the R6 point.

    Pebble 2.4 offers no renewalInfo (tests/ca/acme/test_acme_vendor.py), so the vendor's
    answer is stood in for at the backend's renewal_info, the one call that would ask it."""
    vendor = add_vendor(desk, pebble)
    desk.services.orgs.set_issuer(OPERATOR, DMV, desk.services.vendors.issuer_id(vendor), vendor)
    try:
        case = desk.approved(DMV, submittals=(sub(*unique_names("ari")),))
        desk.services.fulfilment.fulfil(desk["opal"], case.number)
        Worker(desk.services, worker_id="vendor-ari").run_pass()
        serial = desk.services.cases.show(desk["opal"], case.number).submittals[0]
        assert serial.certificate_serial is not None
        # The vendor's clock is the wall clock: move the desk's to just after the issuance.
        desk.at(desk.cert(serial.certificate_serial).not_before + timedelta(hours=2))
        before = desk.services.renewals.show(OPERATOR, serial.certificate_serial)
        assert before.plan.opens_at > desk.clock() and before.renewal_case is None

        now = desk.clock()
        asked: list[int] = []

        def window(_self: AcmeIssuer, certificate: x509.Certificate) -> RenewalWindow:
            asked.append(certificate.serial_number)
            return RenewalWindow(
                start=now - timedelta(hours=1),
                end=now + timedelta(days=2),
                retry_after=now + timedelta(hours=6),
            )

        monkeypatch.setattr(AcmeIssuer, "renewal_info", window)
        report = Worker(desk.services, worker_id="vendor-ari").run_pass()
        assert report.renewal_info_checked >= 1 and report.renewals_opened >= 1, report.errors
        assert int(serial.certificate_serial, 16) in asked
        after = desk.services.renewals.show(OPERATOR, serial.certificate_serial)
        assert after.plan.basis == "vendor" and after.renewal_case is not None
        # Asked again only when the vendor said (Retry-After): the next pass does not ask.
        asked.clear()
        Worker(desk.services, worker_id="vendor-ari").run_pass()
        assert int(serial.certificate_serial, 16) not in asked
    finally:
        desk.services.orgs.set_issuer(OPERATOR, DMV, None, "builtin")


def test_cert_services_choose_a_vendor_for_one_submittal(desk: Desk, pebble: Pebble) -> None:
    """R16: the organization stays on the built-in CA; one submittal goes to the vendor."""
    vendor = add_vendor(desk, pebble)
    chosen = desk.services.vendors.choose(OPERATOR, vendor)
    case = desk.approved(DMV, submittals=(sub(*unique_names("own")), sub(*unique_names("pub"))))
    own, public = (s.id for s in case.submittals)
    refused(
        NotFound, "submittal.unknown",
        desk.services.fulfilment.choose_issuer, desk["opal"], case.number, 999_999, chosen,
        state=desk.counts,
    )  # fmt: skip
    refused(
        Forbidden, "auth.forbidden",
        desk.services.fulfilment.choose_issuer, desk["ana"], case.number, public, chosen,
        state=desk.counts,
    )  # fmt: skip
    desk.services.fulfilment.choose_issuer(desk["opal"], case.number, public, chosen)
    assert "submittal.issuer" in desk.audit_actions(case.number)
    waiting = desk.services.fulfilment.fulfil(desk["opal"], case.number)
    by_id = {s.id: s for s in waiting.submittals}
    assert by_id[own].certificate_serial is not None and by_id[own].order is None
    assert by_id[public].certificate_serial is None and by_id[public].order is not None
    # An ordered submittal keeps its issuer.
    refused(
        Conflict, "submittal.ordered",
        desk.services.fulfilment.choose_issuer, desk["opal"], case.number, public, None,
        state=desk.counts,
    )  # fmt: skip
    report = Worker(desk.services, worker_id="vendor-choice").run_pass()
    assert report.vendor_cases_delivered == 1, report.errors
    done = {s.id: s for s in desk.services.cases.show(desk["opal"], case.number).submittals}
    own_serial, public_serial = done[own].certificate_serial, done[public].certificate_serial
    assert own_serial and public_serial
    assert desk.services.inventory.show(OPERATOR, public_serial).issuer == vendor
    assert desk.services.inventory.show(OPERATOR, own_serial).issuer != vendor
