"""dns-01 (RFC 8555 §8.4) end to end, and where the VA may connect.

certdesk's VA asks a real ``named`` (bind9, on loopback, CERTDESK_ACME_VA_DNS_SERVER) for the
TXT records that the client publishes with TSIG-signed dynamic updates (RFC 2136), as a
client's DNS hook would: a wildcard and its base name in one certificate (a wildcard can only
be proved in the DNS, §7.1.3), CNAME following, a wrong record. Then the address rules of the
VA (services/acme/validation.py): loopback, private, link-local and other special-purpose
addresses are refused unless CERTDESK_ACME_VA_ALLOW_RANGES names them.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from acme import challenges, client, messages
from cryptography import x509

from ca.acme.vendor_world import ZONE, Bind9, running_bind9
from certdesk.config import Settings
from certdesk.core.acme_states import ChallengeType, key_authorization
from certdesk.services.acme.dns01 import txt_values
from certdesk.services.acme.http01 import Http01
from certdesk.services.acme.validation import Targets, ValidationFailed, ValidationTask
from conftest import BACKENDS, OPERATOR
from world.acme import NS, AcmeWorld, Responder, acme_world, poll_ready
from world.csr import make_csr

DNS_ORG = "dmv"  # self-managed, zone:dmv.ca.gov (the zone bind9 serves)
# A zone the same bind9 serves, outside DNS_ORG's: where a CNAME may delegate the record.
DELEGATION = "acme-delegation.test"


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bind9]:
    with running_bind9(tmp_path_factory.mktemp("named"), extra_zones=(DELEGATION,)) as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, named: Bind9
) -> Iterator[AcmeWorld]:
    with acme_world(
        request.param,
        tmp_path_factory.mktemp("acme-dns"),
        acme_va_dns_server=f"127.0.0.1:{named.port}",
    ) as w:
        w.services.orgs.create(
            OPERATOR, DNS_ORG, "Motor Vehicles", self_managed=True, grants=[f"zone:{ZONE}"]
        )
        yield w


def update(named: Bind9, *changes: tuple[str, str, str], zone: str = ZONE) -> None:
    named.update(*changes, zone=zone)


def answer_dns01(
    named: Bind9, acme: client.ClientV2, order: messages.OrderResource, *, publish: bool = True
) -> None:
    """Publish every authorization's TXT record (both values where a wildcard and its base
    share ``_acme-challenge.NAME``), then tell the server each challenge is ready."""
    chosen = []
    records = []
    for authz in order.authorizations:
        chall = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.DNS01))
        response, validation = chall.response_and_validation(acme.net.key)
        records.append((f"_acme-challenge.{authz.body.identifier.value}", "TXT", validation))
        chosen.append((chall, response))
    if publish:
        update(named, *records)
    for chall, response in chosen:
        acme.answer_challenge(chall, response)


def test_8_4_wildcard_and_base_name_through_dns01(world: AcmeWorld, named: Bind9) -> None:
    acme = world.registered(DNS_ORG)
    base = f"w{secrets.token_hex(3)}.{ZONE}"
    order = acme.new_order(make_csr([f"*.{base}", base]))
    assert len(order.authorizations) == 2
    answer_dns01(named, acme, order)
    order = poll_ready(acme, order)
    assert order.body.status == messages.STATUS_READY, order.body
    order = acme.finalize_order(order, datetime.now() + timedelta(seconds=30))
    leaf = x509.load_pem_x509_certificates(order.fullchain_pem.encode())[0]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == sorted([f"*.{base}", base])
    view = world.services.inventory.show(OPERATOR, format(leaf.serial_number, "x"))
    assert view.org_code == DNS_ORG and view.status == "active"


def test_8_4_cname_is_followed(world: AcmeWorld, named: Bind9) -> None:
    acme = world.registered(DNS_ORG)
    tag = secrets.token_hex(3)
    name, target = f"cn{tag}.{ZONE}", f"delegated-{tag}.{ZONE}"
    order = acme.new_order(make_csr([name]))
    authz = order.authorizations[0]
    chall = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.DNS01))
    response, validation = chall.response_and_validation(acme.net.key)
    update(
        named,
        (f"_acme-challenge.{name}", "CNAME", f"{target}."),
        (target, "TXT", validation),
    )
    acme.answer_challenge(chall, response)
    assert poll_ready(acme, order).body.status == messages.STATUS_READY


def test_8_4_cname_out_of_the_zone_is_followed(world: AcmeWorld, named: Bind9) -> None:
    """The zone's authoritative server answers a CNAME that leaves its zone with the CNAME
    alone (it does not recurse): the VA asks again for the chain's end (two hops here)."""
    acme = world.registered(DNS_ORG)
    tag = secrets.token_hex(3)
    name = f"out{tag}.{ZONE}"
    hop, end = f"hop-{tag}.{DELEGATION}", f"end-{tag}.{DELEGATION}"
    order = acme.new_order(make_csr([name]))
    chall = next(
        c for c in order.authorizations[0].body.challenges if isinstance(c.chall, challenges.DNS01)
    )
    response, validation = chall.response_and_validation(acme.net.key)
    update(named, (f"_acme-challenge.{name}", "CNAME", f"{hop}."))
    update(named, (hop, "CNAME", f"{end}."), (end, "TXT", validation), zone=DELEGATION)
    acme.answer_challenge(chall, response)
    assert poll_ready(acme, order).body.status == messages.STATUS_READY


def test_8_4_cname_loop_fails_as_dns(named: Bind9) -> None:
    tag = secrets.token_hex(3)
    a, b = f"loop-a-{tag}.{DELEGATION}", f"loop-b-{tag}.{DELEGATION}"
    update(named, (a, "CNAME", f"{b}."), (b, "CNAME", f"{a}."), zone=DELEGATION)
    with pytest.raises(ValidationFailed) as exc:
        txt_values(targets(dns_server=f"127.0.0.1:{named.port}").resolver, a)
    assert exc.value.acme_type == "dns"


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(None, id="8.4/no-txt-record-is-dns"),
        pytest.param("bm90IHRoZSBkaWdlc3Q", id="8.4/wrong-txt-value-is-incorrectResponse"),
    ],
)
def test_8_4_missing_or_wrong_record_fails(
    world: AcmeWorld, named: Bind9, record: str | None
) -> None:
    acme = world.registered(DNS_ORG)
    name = f"bad{secrets.token_hex(3)}.{ZONE}"
    order = acme.new_order(make_csr([name]))
    if record is not None:
        update(named, (f"_acme-challenge.{name}", "TXT", record))
    answer_dns01(named, acme, order, publish=False)
    order = poll_ready(acme, order)
    assert order.body.status == messages.STATUS_INVALID
    authz = acme.poll(order.authorizations[0])[0]
    failed = next(c for c in authz.body.challenges if c.chall.typ == "dns-01")
    expected = "dns" if record is None else "incorrectResponse"
    assert failed.error.typ == NS + expected


# --- where the VA may connect -----------------------------------------------------------------


def targets(allow: tuple[str, ...] = (), dns_server: str = "") -> Targets:
    return Targets(
        Settings(acme_va_allow_ranges=allow, acme_va_dns_server=dns_server, ca_passphrase="x")
    )


@pytest.mark.parametrize(
    ("address", "allow", "allowed"),
    [
        pytest.param("8.8.8.8", (), True, id="va/public-ipv4-allowed"),
        pytest.param("2001:4860:4860::8888", (), True, id="va/public-ipv6-allowed"),
        pytest.param("127.0.0.1", (), False, id="va/loopback-refused"),
        pytest.param("::1", (), False, id="va/ipv6-loopback-refused"),
        pytest.param("10.1.2.3", (), False, id="va/rfc1918-10-refused"),
        pytest.param("172.16.0.9", (), False, id="va/rfc1918-172-refused"),
        pytest.param("192.168.1.1", (), False, id="va/rfc1918-192-refused"),
        pytest.param("169.254.169.254", (), False, id="va/link-local-metadata-refused"),
        pytest.param("fe80::1", (), False, id="va/ipv6-link-local-refused"),
        pytest.param("fd00::1", (), False, id="va/ipv6-unique-local-refused"),
        pytest.param("100.64.0.1", (), False, id="va/shared-cgnat-refused"),
        pytest.param("0.0.0.0", (), False, id="va/unspecified-refused"),
        pytest.param("224.0.0.1", (), False, id="va/multicast-refused"),
        pytest.param("192.0.2.7", (), False, id="va/documentation-refused"),
        pytest.param("10.1.2.3", ("10.0.0.0/8",), True, id="va/allow-range-admits-its-own"),
        pytest.param("192.168.1.1", ("10.0.0.0/8",), False, id="va/allow-range-admits-no-other"),
        pytest.param("127.0.0.1", ("127.0.0.0/8",), True, id="va/allow-range-loopback-lab"),
        pytest.param("fd00::1", ("fd00::/8",), True, id="va/allow-range-ipv6"),
    ],
)
def test_va_address_ranges(address: str, allow: tuple[str, ...], allowed: bool) -> None:
    assert targets(allow).allowed(ipaddress.ip_address(address)) is allowed
    if allowed:
        assert str(targets(allow).address(address)) == address
    else:
        with pytest.raises(ValidationFailed) as exc:
            targets(allow).address(address)
        assert exc.value.acme_type == "connection"


@pytest.mark.parametrize(
    ("allow", "outcome"),
    [
        pytest.param((), "connection", id="va/name-resolving-to-loopback-refused"),
        pytest.param(("127.0.0.0/8",), None, id="va/allow-ranges-lets-a-lab-validate"),
    ],
)
def test_http01_through_dns_obeys_the_ranges(
    named: Bind9, tmp_path: Path, allow: tuple[str, ...], outcome: str | None
) -> None:
    """http-01 with no forced address: the name is resolved through bind9 (every name of
    the zone is 127.0.0.1) and the connection is made only if the address is allowed."""
    responder = Responder()
    try:
        token = "tok-" + "a" * 39
        key_auth = key_authorization(token, "thumb")
        responder.answers[token] = key_auth
        task = ValidationTask(1, ChallengeType.HTTP01, f"www.{ZONE}", token, key_auth)
        va = Http01(targets(allow, f"127.0.0.1:{named.port}"), responder.port)
        if outcome is None:
            va.validate(task)
        else:
            with pytest.raises(ValidationFailed) as exc:
                va.validate(task)
            assert exc.value.acme_type == outcome
    finally:
        responder.close()
