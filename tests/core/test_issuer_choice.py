"""R16: which issuer signs a certificate — the submittal's, else the grants', else the
organization's, else the built-in CA (None)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from certdesk.core.grants import Grant
from certdesk.core.issuers import OrderState, choose_issuer, trouble_to_report
from certdesk.errors import Conflict

VENDOR, OTHER, ORG = 7, 8, 9
ZONE = Grant.parse("zone:dmv.ca.gov")
APPS = Grant.parse("zone:apps.dmv.ca.gov")
HOST = Grant.parse("host:permits.ca.gov")


@pytest.mark.parametrize(
    ("names", "submittal", "grants", "org", "expected"),
    [
        pytest.param(["www.dmv.ca.gov"], None, [], None, None, id="R16/builtin-by-default"),
        pytest.param(["www.dmv.ca.gov"], None, [(ZONE, None)], ORG, ORG, id="R16/org"),
        pytest.param(["www.dmv.ca.gov"], VENDOR, [(ZONE, OTHER)], ORG, VENDOR, id="R16/submittal"),
        pytest.param(["www.dmv.ca.gov"], None, [(ZONE, VENDOR)], ORG, VENDOR, id="R16/grant"),
        pytest.param(
            ["*.apps.dmv.ca.gov"],
            None,
            [(ZONE, VENDOR), (APPS, OTHER)],
            None,
            OTHER,
            id="R16/narrowest-grant-wildcard",
        ),
        pytest.param(
            ["a.dmv.ca.gov", "permits.ca.gov"],
            None,
            [(ZONE, VENDOR), (HOST, VENDOR)],
            None,
            VENDOR,
            id="R16/grants-agree",
        ),
        pytest.param(
            ["a.dmv.ca.gov", "permits.ca.gov"],
            None,
            [(ZONE, VENDOR), (HOST, None)],
            VENDOR,
            VENDOR,
            id="R16/grant-without-issuer-is-the-orgs",
        ),
        pytest.param(
            ["x.ca.gov"], None, [(ZONE, VENDOR)], None, None, id="R16/ungranted-name-operator"
        ),
    ],
)
def test_choose_issuer(
    names: list[str],
    submittal: int | None,
    grants: list[tuple[Grant, int | None]],
    org: int | None,
    expected: int | None,
) -> None:
    assert choose_issuer(names, submittal=submittal, grants=grants, organization=org) == expected


@pytest.mark.parametrize(
    ("grants", "org"),
    [
        pytest.param([(ZONE, VENDOR), (HOST, OTHER)], None, id="R16/deny-two-vendors"),
        pytest.param([(ZONE, VENDOR), (HOST, None)], None, id="R16/deny-vendor-and-builtin"),
    ],
)
def test_choose_issuer_refuses_a_split(
    grants: list[tuple[Grant, int | None]], org: int | None
) -> None:
    with pytest.raises(Conflict) as err:
        choose_issuer(
            ["a.dmv.ca.gov", "permits.ca.gov"], submittal=None, grants=grants, organization=org
        )
    assert err.value.code == "issuer.ambiguous"


@pytest.mark.parametrize(
    ("state", "vendor_status", "open_for", "expected"),
    [
        pytest.param(OrderState.FAILED, None, timedelta(0), "vendor.refused", id="R16/refused"),
        pytest.param(
            OrderState.PENDING,
            "account_gone",
            timedelta(0),
            "vendor.account",
            id="R16/account-forgotten",
        ),
        pytest.param(
            OrderState.PENDING,
            "unreachable",
            timedelta(minutes=59),
            None,
            id="R16/short-outage-passes",
        ),
        pytest.param(
            OrderState.PENDING,
            "unreachable",
            timedelta(hours=1),
            "vendor.silent",
            id="R16/silent-for-an-hour",
        ),
        pytest.param(
            OrderState.ORDERING,
            "unreachable",
            timedelta(hours=3),
            "vendor.silent",
            id="R16/never-placed-silent",
        ),
        pytest.param(
            OrderState.PENDING, "processing", timedelta(days=2), None, id="R16/slow-but-answering"
        ),
        pytest.param(OrderState.ISSUED, "valid", timedelta(days=2), None, id="R16/issued"),
    ],
)
def test_which_vendor_trouble_cert_services_hear_of(
    state: OrderState, vendor_status: str | None, open_for: timedelta, expected: str | None
) -> None:
    assert trouble_to_report(state, vendor_status, open_for) == expected
