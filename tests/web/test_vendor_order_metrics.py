"""/metrics counts the orders at vendor CAs by issuer and state (issue 12), read from the
database at scrape time, so any server process answers with the same figures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from certdesk.core.issuers import Backend, OrderState
from certdesk.store.models import Issuer, Organization, VendorOrder
from conftest import BACKENDS
from world.api import ORG_A, World, build_world


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with build_world(request.param, tmp_path_factory.mktemp("orders")) as w:
        yield w


def _orders(world: World) -> dict[tuple[str, str], float]:
    text = world.client.get("/metrics").text
    return {
        (s.labels["issuer"], s.labels["state"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "certdesk_vendor_orders"
        for s in family.samples
    }


def _record(world: World, slug: str, states: list[OrderState]) -> None:
    """Vendor orders as the vendor path writes them (the rows alone; no vendor is asked)."""
    now = world.clock()
    with world.services.rt.sessions.begin() as s:
        vendor = Issuer(
            slug=slug, name=slug, backend=Backend.ACME, is_root=False, active=True, created_at=now
        )
        s.add(vendor)
        s.flush()
        org_id = s.scalars(select(Organization.id).where(Organization.code == ORG_A)).one()
        for state in states:
            s.add(
                VendorOrder(
                    issuer_id=vendor.id,
                    org_id=org_id,
                    names="www.alpha.ca.gov",
                    key_type="ec-p256",
                    platform="virtual",
                    profile="tls-server",
                    csr_der=b"\x30\x00",
                    not_before=now,
                    not_after=now + timedelta(days=90),
                    max_days=200,
                    requested_by="operator",
                    account_url="https://vendor.example/acct/1",
                    state=state,
                    created_at=now,
                    updated_at=now,
                )
            )


def test_orders_are_counted_by_issuer_and_state(world: World) -> None:
    assert _orders(world) == {}  # no vendor: the family is there, without samples
    _record(world, "acmevendor", [OrderState.PENDING, OrderState.PENDING, OrderState.ISSUED])
    _record(world, "othervendor", [OrderState.FAILED])
    assert _orders(world) == {
        ("acmevendor", "pending"): 2,
        ("acmevendor", "issued"): 1,
        ("othervendor", "failed"): 1,
    }
