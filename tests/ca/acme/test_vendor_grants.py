"""The issuer of a grant (R16, issue 12) against pebble: cert services pin a grant to a
vendor or to the built-in CA (audited, R15); it outranks the organization's issuer and yields
to a submittal's; delegated administrators' direct issuance follows their organization's and
grants' issuers; the certificate list names each certificate's issuer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_vendor_desk import add_vendor
from vendor_world import Pebble, running_pebble

from certdesk.core.access import Role
from certdesk.errors import Forbidden, NotFound
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.pki.issued import Issued
from conftest import OPERATOR
from world.csr import make_csr
from world.desk import Desk, add_person, desk_fixture
from world.refusals import refused

pytestmark = pytest.mark.timeout(180)

desk = desk_fixture("vendor-grants")


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with running_pebble(tmp_path_factory.mktemp("pebble"), always_valid=True) as server:
        yield server


def issued_by(desk: Desk, who: object, org: str, name: str) -> str:
    result = desk.services.issuance.request(who, IssueCommand(org, make_csr([name])))  # type: ignore[arg-type]
    assert isinstance(result, Issued), result
    return result.issuer or "builtin"


def test_a_grants_issuer_outranks_the_organizations(desk: Desk, pebble: Pebble) -> None:
    vendor = add_vendor(desk, pebble)
    code = desk.unique("g")
    # pebble validates every name (always valid); the names need only be R1 names here.
    zone, other = f"{code}.dmv.ca.gov", f"{code}-b.dmv.ca.gov"
    orgs = desk.services.orgs
    orgs.create(
        OPERATOR, code, "Grants", self_managed=True, grants=[f"zone:{zone}", f"zone:{other}"]
    )
    choose = desk.services.vendors.grant_choice

    view = orgs.set_grant_issuer(OPERATOR, code, f"zone:{zone}", choose(OPERATOR, vendor), vendor)
    assert dict(view.grant_issuers) == {f"zone:{zone}": vendor} and view.issuer == "builtin"
    assert issued_by(desk, OPERATOR, code, f"www.{zone}") == vendor
    assert issued_by(desk, OPERATOR, code, f"www.{other}") == "builtin"

    # Delegated administrators issue directly: their grant's issuer, then their organization's.
    admin = add_person(desk.services, desk.unique("da"), code, [Role.DELEGATED_ADMIN])
    assert issued_by(desk, admin, code, f"api.{zone}") == vendor
    orgs.set_issuer(OPERATOR, code, desk.services.vendors.issuer_id(vendor), vendor)
    assert issued_by(desk, admin, code, f"api.{other}") == vendor

    # Pinned to the built-in CA, the grant's certificates leave the vendor organization.
    pinned = orgs.set_grant_issuer(
        OPERATOR, code, f"zone:{other}", choose(OPERATOR, "builtin"), "builtin"
    )
    assert dict(pinned.grant_issuers)[f"zone:{other}"] == "builtin"
    assert issued_by(desk, admin, code, f"app.{other}") == "builtin"
    # "organization" unpins it: the organization's vendor again.
    back = orgs.set_grant_issuer(
        OPERATOR, code, f"zone:{other}", choose(OPERATOR, "organization"), "organization"
    )
    assert f"zone:{other}" not in dict(back.grant_issuers)
    assert issued_by(desk, admin, code, f"db.{other}") == vendor
    assert desk.audit_actions(code).count("grant.issuer") == 3

    # The certificate list names each certificate's issuer.
    listed = desk.services.inventory.search(OPERATOR, org_code=code, limit=50).items
    assert {c.issuer for c in listed} >= {vendor}
    assert any(c.issuer != vendor for c in listed)


def test_only_cert_services_pin_a_grant_and_a_bad_choice_changes_nothing(
    desk: Desk, pebble: Pebble
) -> None:
    vendor = add_vendor(desk, pebble)
    code = desk.unique("g")
    zone = f"{code}.dmv.ca.gov"
    desk.services.orgs.create(OPERATOR, code, "Grants", self_managed=True, grants=[f"zone:{zone}"])
    admin = add_person(desk.services, desk.unique("da"), code, [Role.DELEGATED_ADMIN])
    vendor_id = desk.services.vendors.issuer_id(vendor)
    refused(
        Forbidden, "auth.forbidden",
        desk.services.vendors.grant_choice, admin, vendor, state=desk.counts,
    )  # fmt: skip
    refused(
        Forbidden, "auth.forbidden",
        desk.services.orgs.set_grant_issuer, admin, code, f"zone:{zone}", vendor_id, vendor,
        state=desk.counts,
    )  # fmt: skip
    refused(
        NotFound, "grant.unknown",
        desk.services.orgs.set_grant_issuer, OPERATOR, code, "zone:elsewhere.ca.gov", vendor_id,
        vendor, state=desk.counts,
    )  # fmt: skip
    refused(
        NotFound, "issuer.unknown",
        desk.services.vendors.grant_choice, OPERATOR, "nosuch", state=desk.counts,
    )  # fmt: skip
    assert desk.services.orgs.get(OPERATOR, code).grant_issuers == ()
