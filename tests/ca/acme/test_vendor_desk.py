"""Vendor CAs through certdesk's services (R16), against pebble with EAB required and
``PEBBLE_VA_ALWAYS_VALID=1``, on SQLite and PostgreSQL: the vendor added with its binding,
the organization pointed at it, certificates ordered, stored and resumed by the worker."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from prometheus_client import generate_latest
from sqlalchemy import func, select
from vendor_world import (
    EAB_HMAC,
    EAB_KID,
    FAST_BACKOFF,
    PEBBLE_LINT_TOLERATED,
    Pebble,
    running_pebble,
    unique_names,
)

from certdesk.core.issuers import OrderState, Solver
from certdesk.errors import Conflict, Forbidden, InvalidInput, NotFound
from certdesk.jobs.worker import Worker
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.pki.issued import Issued, Ordered
from certdesk.services.pki.revocation import Reason
from certdesk.services.pki.vendor_backends import Tuning
from certdesk.services.pki.vendor_settings import SolverSettings
from certdesk.store.models import AuditRow, CertificateRow, VendorOrder
from conftest import OPERATOR
from world.csr import make_csr
from world.desk import DMV, Desk, desk_fixture, sub
from world.refusals import refused

pytestmark = pytest.mark.timeout(180)

desk = desk_fixture("vendor")
FAST = Tuning(
    wait=timedelta(seconds=30), poll_interval=timedelta(milliseconds=50), backoff=FAST_BACKOFF
)


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with running_pebble(tmp_path_factory.mktemp("pebble"), always_valid=True) as server:
        yield server


def roots_pem(pebble: Pebble) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in pebble.roots())


def add_vendor(desk: Desk, pebble: Pebble, **kw: object) -> str:
    name = desk.unique("pebble")
    desk.services.vendor_backends.tune(FAST)
    options: dict[str, object] = {
        "directory_url": pebble.endpoint.directory_url,
        "eab_kid": EAB_KID,
        "eab_hmac_key": EAB_HMAC,
        "ca_bundle_pem": Path(str(pebble.ca_bundle)).read_text(),
        "anchors_pem": roots_pem(pebble),
        # Pebble never fetches the answer (always valid); the in-process route publishes it.
        "solver": SolverSettings(kind=Solver.HTTP01),
        # A lab CA's two known findings (vendor_world); any other still refuses.
        "lint_tolerate": PEBBLE_LINT_TOLERATED,
        **kw,
    }
    desk.services.vendors.add(OPERATOR, name, **options)  # type: ignore[arg-type]
    return name


def org_through(desk: Desk, vendor: str) -> str:
    code = desk.unique("v")
    desk.services.orgs.create(OPERATOR, code, "Vendor agency", self_managed=False, grants=[])
    desk.services.orgs.set_issuer(OPERATOR, code, desk.services.vendors.issuer_id(vendor), vendor)
    return code


def all_text(desk: Desk) -> str:
    """Every audit event and vendor row, as text (to look for a secret)."""
    with desk.rt.reads() as s:
        audit = [str(r.summary) for r in s.scalars(select(AuditRow))]
    with desk.rt.reading() as conn:
        rows = [str(tuple(r)) for r in conn.execute(select(VendorOrder.__table__))]
        rows += [str(tuple(r)) for r in conn.exec_driver_sql("SELECT * FROM acme_issuers")]
    return "\n".join(audit + rows)


def test_issuer_add_registers_with_eab_and_keeps_no_hmac_key(desk: Desk, pebble: Pebble) -> None:
    name = add_vendor(desk, pebble)
    view = desk.services.vendors.show(OPERATOR, name)
    assert view.active and view.backend == "acme" and view.eab_kid == EAB_KID
    assert view.account_url.startswith(f"https://127.0.0.1:{pebble.port}/")
    assert view.solver == "http-01" and view.custom_ca_bundle
    assert name in [v.name for v in desk.services.vendors.list(OPERATOR)]
    assert "issuer.add" in desk.audit_actions(name)
    assert EAB_HMAC not in all_text(desk) and EAB_HMAC not in str(view.as_dict())


@pytest.mark.parametrize(
    ("kid", "hmac_key", "exc", "code"),
    [
        pytest.param(EAB_KID, EAB_HMAC[::-1], Forbidden, "acme.eab_refused", id="R17/wrong-hmac"),
        pytest.param("nobody", EAB_HMAC, Forbidden, "acme.eab_refused", id="R17/unknown-kid"),
        pytest.param(EAB_KID, "", InvalidInput, "issuer.eab", id="R17/no-hmac"),
    ],
)
def test_a_wrong_binding_is_refused_and_nothing_is_stored(
    desk: Desk, pebble: Pebble, kid: str, hmac_key: str, exc: type[Exception], code: str
) -> None:
    err = refused(
        exc,  # type: ignore[arg-type]
        code,
        lambda: add_vendor(desk, pebble, eab_kid=kid, eab_hmac_key=hmac_key),
        state=desk.counts,
    )
    assert EAB_HMAC not in str(err)


@pytest.mark.parametrize(
    ("tolerate", "refuses"),
    [
        pytest.param(frozenset(), True, id="R16/lint-strict-refuses-the-lab-ca"),
        pytest.param(frozenset({"lint.policies"}), True, id="R16/lint-one-finding-left"),
        pytest.param(PEBBLE_LINT_TOLERATED, False, id="R16/lint-lab-findings-tolerated"),
    ],
)
def test_a_vendor_certificate_failing_the_lint_is_refused_and_the_order_says_why(
    desk: Desk, pebble: Pebble, tolerate: frozenset[str], refuses: bool
) -> None:
    vendor = add_vendor(desk, pebble, lint_tolerate=tolerate)
    assert desk.services.vendors.show(OPERATOR, vendor).lint_tolerate == tuple(sorted(tolerate))
    org = org_through(desk, vendor)
    cmd = IssueCommand(org, make_csr(list(unique_names("lint"))))
    if not refuses:
        assert isinstance(desk.services.issuance.issue(OPERATOR, cmd), Issued)
        return
    before = desk.counts()
    err = refused(Conflict, "vendor.refused", desk.services.issuance.issue, OPERATOR, cmd)
    assert "lint.ec_key_encipherment" in str(err)
    after = desk.counts()
    assert after["certificates"] == before["certificates"]  # nothing stored, nothing delivered
    with desk.rt.reads() as s:
        order = s.scalars(select(VendorOrder).order_by(VendorOrder.id.desc())).first()
    assert order is not None and order.state is OrderState.FAILED
    assert order.problem is not None and "lint" in str(order.problem)


def test_an_unknown_lint_finding_is_refused_before_the_vendor_is_asked(desk: Desk) -> None:
    refused(
        InvalidInput,
        "issuer.lint_tolerate",
        lambda: desk.services.vendors.add(
            OPERATOR,
            "lintless",
            directory_url="https://127.0.0.1:9/dir",  # never reached
            eab_kid=EAB_KID,
            eab_hmac_key=EAB_HMAC,
            anchors_pem=trustme.CA().cert_pem.bytes().decode(),
            lint_tolerate=("lint.nosuch",),
        ),
        state=desk.counts,
    )


def test_a_certificate_through_the_vendor_is_stored_active_with_its_chain(
    desk: Desk, pebble: Pebble
) -> None:
    vendor = add_vendor(desk, pebble)
    org = org_through(desk, vendor)
    names = unique_names("www", "api")
    issued = desk.services.issuance.issue(OPERATOR, IssueCommand(org, make_csr(list(names))))
    assert isinstance(issued, Issued) and issued.issuer == vendor
    assert sorted(issued.names) == sorted(names)
    row = desk.cert(issued.serial)
    assert row.status == "active" and row.chain_pem and row.der
    assert x509.load_der_x509_certificate(row.der) == issued.certificate
    assert row.tbs_sha256 and row.fingerprint_sha256
    view = desk.services.inventory.show(OPERATOR, issued.serial)
    assert view.as_dict()["issuer"] == vendor
    # Pebble's own record of the certificate (its management port).
    assert pebble.cert_status(issued.certificate.serial_number)["Status"] == "Valid"
    with desk.rt.reads() as s:
        order = s.scalars(select(VendorOrder).where(VendorOrder.certificate_id == row.id)).one()
    assert order.state is OrderState.ISSUED and order.order_url
    assert desk.audit_actions(issued.serial) == ["cert.issue"]
    metrics = generate_latest(desk.rt.metrics.registry).decode()
    assert f'certdesk_vendor_orders{{issuer="{vendor}",state="issued"}} 1.0' in metrics


def test_no_wait_records_the_order_and_the_worker_completes_it(desk: Desk, pebble: Pebble) -> None:
    org = org_through(desk, add_vendor(desk, pebble))
    names = unique_names("later")
    ordered = desk.services.issuance.request(
        OPERATOR, IssueCommand(org, make_csr(list(names))), wait=None
    )
    assert isinstance(ordered, Ordered)
    assert ordered.state == "ordering" and ordered.order_url is None
    run = desk.services.vendor_orders.run_due()
    assert run.issued >= 1, run
    done = desk.services.vendor_orders.status(ordered.order_id)
    assert done.state == "issued" and done.serial and done.order_url
    assert desk.cert(done.serial).status == "active"
    # Nothing left to drive for this order.
    again = desk.services.vendor_orders.run_due()
    assert again.issued == 0


def test_two_workers_never_drive_the_same_order(desk: Desk, pebble: Pebble) -> None:
    org = org_through(desk, add_vendor(desk, pebble))
    ordered = desk.services.issuance.request(
        OPERATOR, IssueCommand(org, make_csr(list(unique_names("race")))), wait=None
    )
    assert isinstance(ordered, Ordered)
    start = threading.Barrier(2)
    results: list[object] = []

    def worker() -> None:
        start.wait()
        results.append(desk.services.vendor_orders.drive(ordered.order_id))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    issued = [r for r in results if isinstance(r, Issued)]
    assert len(issued) == 1, results
    with desk.rt.reads() as s:
        certs = s.scalar(
            select(func.count())
            .select_from(VendorOrder)
            .where(VendorOrder.id == ordered.order_id, VendorOrder.certificate_id.is_not(None))
        )
    assert certs == 1
    assert desk.services.vendor_orders.status(ordered.order_id).state == "issued"


def test_a_disabled_vendor_takes_no_new_orders(desk: Desk, pebble: Pebble) -> None:
    vendor = add_vendor(desk, pebble)
    org = org_through(desk, vendor)
    assert desk.services.vendors.disable(OPERATOR, vendor).active is False
    refused(
        Conflict,
        "issuer.disabled",
        desk.services.issuance.issue,
        OPERATOR,
        IssueCommand(org, make_csr(list(unique_names("off")))),
        state=desk.counts,
    )
    refused(Conflict, "issuer.disabled", desk.services.vendors.issuer_id, vendor)
    refused(NotFound, "issuer.unknown", desk.services.vendors.show, OPERATOR, "nosuch")


def test_only_cert_services_manage_vendors(desk: Desk, pebble: Pebble) -> None:
    refused(
        Forbidden,
        "auth.forbidden",
        lambda: desk.services.vendors.add(
            desk["dan"],
            "mine",
            directory_url=pebble.endpoint.directory_url,
            eab_kid=EAB_KID,
            eab_hmac_key=EAB_HMAC,
        ),
        state=desk.counts,
    )


def test_a_delegated_admin_issues_through_the_organizations_vendor(
    desk: Desk, pebble: Pebble
) -> None:
    vendor = add_vendor(desk, pebble)
    desk.services.orgs.set_service(OPERATOR, DMV, self_managed=True)
    try:
        desk.services.orgs.set_issuer(
            OPERATOR, DMV, desk.services.vendors.issuer_id(vendor), vendor
        )
        issued = desk.services.issuance.issue(
            desk["dan"], IssueCommand(DMV, make_csr(list(unique_names("da"))))
        )
        assert issued.issuer == vendor
        # Only cert services choose another issuer for one certificate.
        refused(
            Forbidden,
            "issuer.choice",
            desk.services.issuance.issue,
            desk["dan"],
            IssueCommand(DMV, make_csr(list(unique_names("db"))), issuer_id=1),
            state=desk.counts,
        )
    finally:
        desk.services.orgs.set_issuer(OPERATOR, DMV, None, "builtin")
        desk.services.orgs.set_service(OPERATOR, DMV, self_managed=False)
    with desk.rt.reads() as s:
        assert s.scalar(select(func.count()).select_from(CertificateRow)) > 0


def test_the_worker_pass_completes_an_order_start_up_recovery_leaves_alone(
    desk: Desk, pebble: Pebble
) -> None:
    org = org_through(desk, add_vendor(desk, pebble))
    ordered = desk.services.issuance.request(
        OPERATOR, IssueCommand(org, make_csr(list(unique_names("job")))), wait=None
    )
    assert isinstance(ordered, Ordered)
    # Start-up recovery voids signing intents of dead processes; an order is not one.
    desk.services.issuance.recover(all_dead=True)
    assert desk.services.vendor_orders.status(ordered.order_id).state == "ordering"
    report = Worker(desk.services, worker_id="vendor-test").run_pass()
    assert report.vendor_orders_issued >= 1, report.errors
    done = desk.services.vendor_orders.status(ordered.order_id)
    assert done.state == "issued" and done.serial
    assert desk.cert(done.serial).status == "active"


def test_revoking_a_vendor_certificate_reaches_the_vendor(desk: Desk, pebble: Pebble) -> None:
    org = org_through(desk, add_vendor(desk, pebble))
    issued = desk.services.issuance.issue(
        OPERATOR, IssueCommand(org, make_csr(list(unique_names("gone"))))
    )
    view = desk.services.revocation.revoke(OPERATOR, issued.serial, Reason.KEY_COMPROMISE)
    assert view.status == "revoked"
    assert pebble.cert_status(issued.certificate.serial_number)["Status"] == "Revoked"
    assert desk.audit_actions(issued.serial) == ["cert.issue", "cert.revoke"]


def test_one_order_per_submittal_ever(desk: Desk, pebble: Pebble) -> None:
    vendor = add_vendor(desk, pebble)
    submittal = desk.draft(submittals=(sub(f"{desk.unique('once')}.dmv.ca.gov"),)).submittals[0]
    csr = make_csr(list(submittal.names))
    cmd = IssueCommand(
        DMV, csr, issuer_id=desk.services.vendors.issuer_id(vendor), submittal_id=submittal.id
    )
    first = desk.services.issuance.issue(OPERATOR, cmd)
    # Asked again (a retry after a crash, a second click): the same certificate, no order.
    again = desk.services.issuance.issue(OPERATOR, cmd)
    assert again.serial == first.serial and again.issuer == vendor
    with desk.rt.reads() as s:
        orders = s.scalar(
            select(func.count())
            .select_from(VendorOrder)
            .where(VendorOrder.submittal_id == submittal.id)
        )
    assert orders == 1
