"""A vendor order across outages (R16), through certdesk's services and worker job: the
zone's DNS primary down (the order waits at the vendor and is resumed by its URL), pebble
stopped and started again (it forgets every account and order: the issuer is bound again
and the order placed once more) — one certificate in the end, never two orders at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select
from vendor_world import (
    EAB_HMAC,
    EAB_KID,
    FAST_BACKOFF,
    PEBBLE_LINT_TOLERATED,
    TSIG,
    ZONE,
    Bind9,
    Pebble,
    free_port,
    running_pebble,
    unique_names,
)

from certdesk.core.issuers import Solver
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.pki.issued import Ordered
from certdesk.services.pki.vendor_backends import Tuning
from certdesk.services.pki.vendor_settings import SolverSettings
from certdesk.store.models import CertificateRow
from conftest import OPERATOR
from world.csr import make_csr
from world.desk import Desk, desk_fixture

pytestmark = pytest.mark.timeout(240)

desk = desk_fixture("vendor-restart")
FAST = Tuning(
    wait=timedelta(seconds=20), poll_interval=timedelta(milliseconds=50), backoff=FAST_BACKOFF
)


@pytest.fixture
def pebble(tmp_path: Path) -> Iterator[Pebble]:
    (tmp_path / "pebble").mkdir()
    with running_pebble(tmp_path / "pebble", always_valid=True) as p:
        yield p


def _roots(pebble: Pebble) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in pebble.roots())


def _vendor_with_dns01(desk: Desk, pebble: Pebble, dns_port: int) -> tuple[str, str]:
    """A vendor answering dns-01 through a primary on ``dns_port`` (down until started)."""
    desk.services.vendor_backends.tune(FAST)
    name = desk.unique("pebble")
    desk.services.vendors.add(
        OPERATOR,
        name,
        directory_url=pebble.endpoint.directory_url,
        eab_kid=EAB_KID,
        eab_hmac_key=EAB_HMAC,
        ca_bundle_pem=Path(str(pebble.ca_bundle)).read_text(),
        anchors_pem=_roots(pebble),
        lint_tolerate=PEBBLE_LINT_TOLERATED,
        solver=SolverSettings(
            kind=Solver.DNS01,
            dns_server="127.0.0.1",
            dns_port=dns_port,
            zones=(ZONE,),
            tsig_name=TSIG.name,
            tsig_secret=TSIG.secret,
        ),
    )
    code = desk.unique("r")
    desk.services.orgs.create(OPERATOR, code, "Restart agency", self_managed=False, grants=[])
    desk.services.orgs.set_issuer(OPERATOR, code, desk.services.vendors.issuer_id(name), name)
    return name, code


def _placed(desk: Desk, code: str) -> Ordered:
    """An order the vendor has placed but cannot validate yet (the DNS primary is down)."""
    ordered = desk.services.issuance.request(
        OPERATOR, IssueCommand(code, make_csr(list(unique_names("www")))), wait=None
    )
    assert isinstance(ordered, Ordered)
    desk.services.vendor_orders.run_due()
    placed = desk.services.vendor_orders.status(ordered.order_id)
    assert placed.state == "pending" and placed.order_url, placed
    assert placed.problem is not None  # the DNS update's failure, kept for the case
    return placed


def _certificates(desk: Desk, serial: str) -> int:
    with desk.rt.reads() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(CertificateRow)
                .where(CertificateRow.serial == serial)
            )
            or 0
        )


def test_a_pending_order_is_resumed_by_its_url_when_the_dns_comes_back(
    desk: Desk, pebble: Pebble, tmp_path: Path
) -> None:
    port = free_port()
    _, code = _vendor_with_dns01(desk, pebble, port)
    placed = _placed(desk, code)
    named = Bind9(workdir=tmp_path, port=port)
    named.start()
    try:
        desk.at(desk.clock.now + timedelta(hours=2))  # past any retry_after
        run = desk.services.vendor_orders.run_due()
        done = desk.services.vendor_orders.status(placed.order_id)
        assert done.state == "issued", (run, done)
        assert done.order_url == placed.order_url  # the same order, resumed
        assert done.serial and _certificates(desk, done.serial) == 1
    finally:
        named.stop()


def test_an_order_pebble_forgot_is_placed_again_once(
    desk: Desk, pebble: Pebble, tmp_path: Path
) -> None:
    port = free_port()
    vendor, code = _vendor_with_dns01(desk, pebble, port)
    placed = _placed(desk, code)
    orders = desk.services.vendor_orders

    pebble.stop()
    desk.at(desk.clock.now + timedelta(hours=2))
    orders.run_due()
    down = orders.status(placed.order_id)
    assert down.state == "pending" and down.vendor_status == "unreachable"
    assert down.order_url == placed.order_url

    pebble.start()  # its memory wiped: the account and the order are gone
    desk.at(desk.clock.now + timedelta(hours=2))
    orders.run_due()
    gone = orders.status(placed.order_id)
    assert gone.state == "pending" and gone.vendor_status == "account_gone", gone
    assert gone.order_url == placed.order_url

    # Cert services bind the issuer again (the restarted pebble also has new roots).
    desk.services.vendors.rebind(
        OPERATOR, vendor, eab_kid=EAB_KID, eab_hmac_key=EAB_HMAC, anchors_pem=_roots(pebble)
    )
    named = Bind9(workdir=tmp_path, port=port)
    named.start()
    try:
        desk.at(desk.clock.now + timedelta(hours=2))
        orders.run_due()
        done = orders.status(placed.order_id)
        assert done.state == "issued", done
        assert done.order_url and done.order_url != placed.order_url  # placed again, once
        assert done.serial and _certificates(desk, done.serial) == 1
        assert orders.run_due().due == 0
    finally:
        named.stop()
