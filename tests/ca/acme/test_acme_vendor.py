"""The vendor backend against Debian's pebble with EAB required and every validation passing
(``PEBBLE_VA_ALWAYS_VALID=1``): registration, orders, download, checks on arrival,
revocation, key rollover, pending orders and profiles (R16, R17)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cryptography import x509
from vendor_world import (
    EAB_HMAC,
    EAB_KID,
    PEBBLE_VALIDITY,
    TSIG,
    ZONE,
    Pebble,
    RecordingJournal,
    free_port,
    issuer_for,
    registered,
    request_for,
    running_pebble,
    unique_names,
)

from certdesk.ca.acme.account import (
    ExternalAccountBinding,
    key_from_pem,
    new_account_key,
    register,
    rollover,
)
from certdesk.ca.acme.dns01 import NameServer, Rfc2136Solver
from certdesk.ca.acme.session import AcmeSession
from certdesk.ca.acme.solvers import ChallengeResponses, Http01Solver, PreValidated
from certdesk.ca.arrival import ArrivalRefused
from certdesk.ca.issuer import IssuedChain, OrderingIntent, OrderPlaced, Pending
from certdesk.errors import CertdeskError, Conflict, Forbidden, InvalidInput, NotFound

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    # Two roots, so every certificate comes with one alternate chain (RFC 8555 §7.4.2).
    with running_pebble(
        tmp_path_factory.mktemp("pebble"), always_valid=True, PEBBLE_ALTERNATE_ROOTS="1"
    ) as server:
        yield server


def _unserved_http01() -> Http01Solver:
    # With PEBBLE_VA_ALWAYS_VALID pebble never fetches the answer; publishing still happens.
    store = ChallengeResponses()
    return Http01Solver(store.publish, store.withdraw)


@pytest.mark.parametrize(
    ("kid", "hmac_key", "code"),
    [
        pytest.param(EAB_KID, EAB_HMAC[::-1], "acme.eab_refused", id="R17/eab-wrong-hmac"),
        pytest.param("nobody", EAB_HMAC, "acme.eab_refused", id="R17/eab-unknown-kid"),
        pytest.param(EAB_KID, "not base64 !", "acme.eab_key", id="R17/eab-key-unreadable"),
    ],
)
def test_registration_refuses_a_wrong_binding(
    pebble: Pebble, kid: str, hmac_key: str, code: str
) -> None:
    with pytest.raises(CertdeskError) as refused:
        register(pebble.endpoint, ExternalAccountBinding(kid, hmac_key))
    assert refused.value.code == code
    assert isinstance(refused.value, Forbidden | InvalidInput)
    assert EAB_HMAC not in str(refused.value)  # the HMAC key is never echoed


def test_registration_with_eab_returns_the_key_to_seal(pebble: Pebble) -> None:
    account = registered(pebble)
    assert account.url.startswith(pebble.endpoint.directory_url.rsplit("/", 1)[0])
    assert account.status == "valid"
    # The key comes back as PEM; loading it again gives the same account (RFC 8555 §7.3.1).
    again = register(
        pebble.endpoint,
        ExternalAccountBinding(EAB_KID, EAB_HMAC),
        key=key_from_pem(account.key_pem()),
    )
    assert again.url == account.url


def test_order_for_two_names_is_downloaded_checked_and_journaled_first(pebble: Pebble) -> None:
    issuer = issuer_for(pebble, registered(pebble), _unserved_http01())
    request = request_for(unique_names("www", "api"))
    journal = RecordingJournal()
    issued = issuer.issue(request, journal)
    assert isinstance(issued, IssuedChain)
    san = issued.leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(request.names)
    assert issued.leaf.public_key() == request.csr.public_key()
    assert issued.chain and all(c.issuer != c.subject for c in issued.chain)
    assert len(issued.alternates) == 1  # the second root's chain, also verified
    assert issued.fullchain_pem().count(b"BEGIN CERTIFICATE") == 1 + len(issued.chain)
    # Write-ahead: the intent before the first request, the order URL right after it.
    ordering, placed = journal.intents
    assert isinstance(ordering, OrderingIntent) and ordering.names == request.names
    assert isinstance(placed, OrderPlaced) and "/my-order/" in placed.order_url


def test_prevalidated_solver_uses_the_vendors_valid_authorizations(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Pebble reusing every valid authorization stands for a vendor's pre-validated domains.
    with running_pebble(
        tmp_path_factory.mktemp("reuse"), always_valid=True, PEBBLE_AUTHZREUSE="100"
    ) as reuse:
        account = registered(reuse)
        names = unique_names("portal")
        first = issuer_for(reuse, account, _unserved_http01()).issue(
            request_for(names), RecordingJournal()
        )
        assert isinstance(first, IssuedChain)
        again = issuer_for(reuse, account, PreValidated()).issue(
            request_for(names), RecordingJournal()
        )
        assert isinstance(again, IssuedChain)


def test_prevalidated_solver_refuses_a_name_the_vendor_has_not_validated(pebble: Pebble) -> None:
    issuer = issuer_for(pebble, registered(pebble), PreValidated())
    with pytest.raises(Conflict) as refused:
        issuer.issue(request_for(unique_names("new")), RecordingJournal())
    assert refused.value.code == "acme.not_prevalidated"


@pytest.mark.parametrize(
    ("max_days", "anchors", "code"),
    [
        pytest.param(47, None, "vendor.validity", id="R13/vendor-validity-over-maximum"),
        pytest.param(200, "other", "vendor.chain", id="R16/vendor-chain-untrusted"),
    ],
)
def test_a_vendor_certificate_failing_a_check_is_refused(
    pebble: Pebble, max_days: int, anchors: str | None, code: str
) -> None:
    assert PEBBLE_VALIDITY.days > 47
    other = None
    if anchors == "other":
        import trustme
        from cryptography.x509 import load_pem_x509_certificate

        other = (load_pem_x509_certificate(trustme.CA().cert_pem.bytes()),)
    issuer = issuer_for(pebble, registered(pebble), _unserved_http01(), anchors=other)
    with pytest.raises(ArrivalRefused) as refused:
        issuer.issue(request_for(unique_names("long"), max_days=max_days), RecordingJournal())
    assert refused.value.code == code


def test_revocation_reaches_the_vendor(pebble: Pebble) -> None:
    issuer = issuer_for(pebble, registered(pebble), _unserved_http01())
    issued = issuer.issue(request_for(unique_names("gone")), RecordingJournal())
    assert isinstance(issued, IssuedChain)
    assert pebble.cert_status(issued.leaf.serial_number)["Status"] == "Valid"
    issuer.revoke(issued.leaf, x509.ReasonFlags.superseded)
    status = pebble.cert_status(issued.leaf.serial_number)
    assert status["Status"] == "Revoked"
    assert status["Reason"] == 4  # superseded (RFC 5280 §5.3.1)


def test_key_rollover_moves_the_account_to_the_new_key(pebble: Pebble) -> None:
    account = registered(pebble)
    session = AcmeSession(pebble.endpoint, account.key, account_url=account.url)
    new_key = new_account_key()
    rolled = rollover(session, new_key)
    assert rolled.url == account.url
    # The new key orders for the same account; the old key is no longer the account's.
    issued = issuer_for(pebble, rolled, _unserved_http01()).issue(
        request_for(unique_names("rolled")), RecordingJournal()
    )
    assert isinstance(issued, IssuedChain)
    old = issuer_for(pebble, account, _unserved_http01())
    with pytest.raises(CertdeskError):
        old.issue(request_for(unique_names("old")), RecordingJournal())


def unreachable_dns01() -> Rfc2136Solver:
    """dns-01 through a primary that is down: nothing listens on the port."""
    return Rfc2136Solver(zone=ZONE, primary=NameServer("127.0.0.1", free_port()), tsig=TSIG)


def test_a_pending_order_is_resumed_by_url_never_placed_twice(pebble: Pebble) -> None:
    account = registered(pebble)
    request = request_for(unique_names("later", "later2"))
    journal = RecordingJournal()
    # The zone's DNS primary is down: the order exists at the vendor, its authorizations wait.
    first = issuer_for(pebble, account, unreachable_dns01()).issue(request, journal)
    assert isinstance(first, Pending)
    assert first.state == "pending"
    placed = journal.intents[-1]
    assert isinstance(placed, OrderPlaced)
    assert first.handle == {"account_url": account.url, "order_url": placed.order_url}
    # Another process (a new session from the sealed key) resumes the same order.
    again = register(
        pebble.endpoint,
        ExternalAccountBinding(EAB_KID, EAB_HMAC),
        key=key_from_pem(account.key_pem()),
    )
    later = issuer_for(pebble, again, _unserved_http01()).resume(request, first, journal)
    assert isinstance(later, IssuedChain)
    assert [type(i) for i in journal.intents] == [OrderingIntent, OrderPlaced]


def test_a_pending_order_of_another_account_is_not_resumed(pebble: Pebble) -> None:
    request = request_for(unique_names("mine"))
    pending = issuer_for(pebble, registered(pebble), unreachable_dns01()).issue(
        request, RecordingJournal()
    )
    assert isinstance(pending, Pending)
    stranger = issuer_for(pebble, registered(pebble), _unserved_http01())
    with pytest.raises(Conflict) as refused:
        stranger.resume(request, pending, RecordingJournal())
    assert refused.value.code == "acme.not_this_account"


def test_an_unknown_acme_profile_is_refused_before_ordering(pebble: Pebble) -> None:
    issuer = issuer_for(
        pebble, registered(pebble), _unserved_http01(), profiles={"tls-server": "shortlived"}
    )
    assert issuer.profiles() == {}  # pebble 2.4 lists no meta.profiles
    journal = RecordingJournal()
    with pytest.raises(InvalidInput) as refused:
        issuer.issue(request_for(unique_names("prof")), journal)
    assert refused.value.code == "acme.profile_unknown"
    assert [type(i) for i in journal.intents] == [OrderingIntent]  # nothing placed


def test_renewal_information_is_absent_and_replaces_is_left_out(pebble: Pebble) -> None:
    # Pebble 2.4 (Debian 12) predates RFC 9773: no renewalInfo in its directory. The backend
    # then reports no window and orders a renewal without "replaces".
    issuer = issuer_for(pebble, registered(pebble), _unserved_http01())
    first = issuer.issue(request_for(unique_names("ari")), RecordingJournal())
    assert isinstance(first, IssuedChain)
    assert issuer.renewal_info(first.leaf) is None
    names = tuple(
        first.leaf.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.DNSName)
    )
    base = request_for(names)
    renewal = issuer.issue(
        type(base)(
            csr=base.csr,
            names=base.names,
            not_before=base.not_before,
            not_after=base.not_after,
            max_days=base.max_days,
            replaces=first.leaf,
        ),
        RecordingJournal(),
    )
    assert isinstance(renewal, IssuedChain)
    assert renewal.leaf.serial_number != first.leaf.serial_number


def test_an_account_the_vendor_forgot_is_reported_as_gone(pebble: Pebble) -> None:
    account = registered(pebble)
    from certdesk.ca.acme.account import deactivate

    session = AcmeSession(pebble.endpoint, account.key, account_url=account.url)
    deactivate(session)
    with pytest.raises(CertdeskError) as refused:
        issuer_for(pebble, account, _unserved_http01()).issue(
            request_for(unique_names("deact")), RecordingJournal()
        )
    assert isinstance(refused.value, Conflict | NotFound | Forbidden)
    _ = datetime.now(UTC)
