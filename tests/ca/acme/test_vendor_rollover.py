"""Key rollover of a vendor account (RFC 8555 §7.3.5, issue 12) against pebble: the new key
is sealed and stored before the vendor switches, the next order works with it, the old key is
refused by the vendor, an interrupted rollover is finished once, and it is audited (R15)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_vendor_desk import FAST, add_vendor, org_through
from vendor_world import Pebble, running_pebble, unique_names

from certdesk.ca.acme.account import key_from_pem, key_to_pem, new_account_key, rollover
from certdesk.ca.acme.session import AcmeSession, Endpoint
from certdesk.errors import CertdeskError, Unavailable
from certdesk.services.pki.issuance import IssueCommand
from certdesk.services.pki.issued import Issued
from certdesk.store import vendors as vendor_store
from certdesk.store.vendors import VendorIssuer
from conftest import OPERATOR
from world.csr import make_csr
from world.desk import Desk, desk_fixture

pytestmark = pytest.mark.timeout(180)

desk = desk_fixture("vendor-rollover")


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with running_pebble(tmp_path_factory.mktemp("pebble"), always_valid=True) as server:
        yield server


def stored(desk: Desk, name: str) -> VendorIssuer:
    with desk.rt.reads() as s:
        found = vendor_store.by_slug(s, name)
    assert found is not None
    return found


def session_with(pebble: Pebble, desk: Desk, sealed: bytes, account_url: str) -> AcmeSession:
    key = key_from_pem(desk.services.secretbox.open(sealed))
    endpoint = Endpoint(pebble.endpoint.directory_url, ca_bundle=str(pebble.ca_bundle))
    return AcmeSession(endpoint, key, account_url=account_url)


def vendor_knows(pebble: Pebble, desk: Desk, sealed: bytes, account_url: str) -> bool:
    session = session_with(pebble, desk, sealed, account_url)
    try:
        session.post_as_get(account_url, "checking the key")
        return True
    except Unavailable:
        raise
    except CertdeskError:
        return False
    finally:
        session.close()


def issue(desk: Desk, org: str) -> Issued:
    result = desk.services.issuance.request(
        OPERATOR, IssueCommand(org, make_csr(list(unique_names("k"))))
    )
    assert isinstance(result, Issued), result
    return result


def test_rollover_moves_the_account_to_a_new_sealed_key(desk: Desk, pebble: Pebble) -> None:
    vendor = add_vendor(desk, pebble)
    org = org_through(desk, vendor)
    issue(desk, org)
    before = stored(desk, vendor)

    view = desk.services.vendors.rollover(OPERATOR, vendor)
    after = stored(desk, vendor)
    assert view.account_url == before.account_url  # the same account, a new key
    assert after.account_key_sealed != before.account_key_sealed
    assert after.next_account_key_sealed is None
    # The old key is refused by the vendor; the new one is its account's key.
    assert not vendor_knows(pebble, desk, before.account_key_sealed, before.account_url)
    assert vendor_knows(pebble, desk, after.account_key_sealed, after.account_url)
    # The next order goes through with the new key (the cached backend was rebuilt).
    desk.services.vendor_backends.tune(FAST)
    assert issue(desk, org).issuer == vendor
    assert "issuer.rollover" in desk.audit_actions(vendor)
    old_pem = desk.services.secretbox.open(before.account_key_sealed)
    assert old_pem.decode() not in str(desk.audit_actions(vendor))


def test_an_interrupted_rollover_is_finished_by_the_next_one(desk: Desk, pebble: Pebble) -> None:
    """A crash after the vendor switched but before the swap: both keys are stored; the next
    rollover finds the vendor knows the new one and makes it the account key, once."""
    vendor = add_vendor(desk, pebble)
    org = org_through(desk, vendor)
    before = stored(desk, vendor)
    new_key = new_account_key()
    sealed_next = desk.services.secretbox.seal(key_to_pem(new_key))
    with desk.rt.sessions.begin() as s:
        assert vendor_store.begin_rollover(
            s, before.id, current=before.account_key_sealed, sealed_next=sealed_next
        )
    session = session_with(pebble, desk, before.account_key_sealed, before.account_url)
    try:
        rollover(session, new_key)  # the vendor switched; certdesk "crashed" here
    finally:
        session.close()

    desk.services.vendors.rollover(OPERATOR, vendor)
    after = stored(desk, vendor)
    assert after.account_key_sealed == sealed_next and after.next_account_key_sealed is None
    desk.services.vendor_backends.tune(FAST)
    assert issue(desk, org).issuer == vendor
