"""Real validation by pebble: dns-01 through a Debian bind9 that certdesk updates by RFC 2136
with TSIG (pebble resolves through that bind9), and http-01 against a loopback listener
serving what the solver published (R17)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest
from vendor_world import (
    TSIG,
    ZONE,
    Bind9,
    Pebble,
    RecordingJournal,
    challenge_listener,
    issuer_for,
    registered,
    request_for,
    running_bind9,
    running_pebble,
    unique_names,
)

from certdesk.ca.acme.dns01 import Rfc2136Solver, TsigKey, find_authoritative
from certdesk.ca.acme.solver_config import solvers_for
from certdesk.ca.acme.solvers import (
    ByZone,
    ChallengeResponses,
    ChallengeTask,
    Http01Solver,
    WebrootPublisher,
)
from certdesk.ca.issuer import IssuedChain
from certdesk.core.issuers import Solver as SolverKind
from certdesk.errors import CertdeskError, Conflict, InvalidInput

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bind9]:
    with running_bind9(tmp_path_factory.mktemp("bind9")) as server:
        yield server


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory, named: Bind9) -> Iterator[Pebble]:
    with running_pebble(
        tmp_path_factory.mktemp("pebble"), always_valid=False, dns_port=named.port
    ) as server:
        yield server


def dns01(named: Bind9, tsig: TsigKey = TSIG) -> Rfc2136Solver:
    return Rfc2136Solver(
        zone=ZONE,
        primary=named.server,
        tsig=tsig,
        authoritative=find_authoritative(ZONE, named.server, timeout=10),
        propagation_timeout=10,
    )


def txt_at(named: Bind9, owner: str) -> list[str]:
    reply = dns.query.udp(
        dns.message.make_query(owner, dns.rdatatype.TXT), "127.0.0.1", port=named.port, timeout=3
    )
    return [b"".join(r.strings).decode() for rrset in reply.answer for r in rrset]


def test_the_zones_authoritative_servers_are_found_through_its_ns_records(named: Bind9) -> None:
    assert find_authoritative(ZONE, named.server, timeout=10) == [named.server]


def test_dns01_through_bind9_for_a_name_and_its_wildcard(named: Bind9, pebble: Pebble) -> None:
    (host,) = unique_names("intranet")
    names = (host, f"*.{host}")
    issuer = issuer_for(pebble, registered(pebble), dns01(named))
    issued = issuer.issue(request_for(names), RecordingJournal())
    assert isinstance(issued, IssuedChain)
    # Both authorizations share one owner name; cleanup removed exactly what was added.
    assert txt_at(named, f"_acme-challenge.{host}.") == []


def test_dns01_update_with_a_wrong_tsig_key_is_refused(named: Bind9, pebble: Pebble) -> None:
    wrong = TsigKey(TSIG.name, "d3JvbmcgdHNpZyBrZXkgZm9yIHRoZSB0ZXN0IQ==")
    issuer = issuer_for(pebble, registered(pebble), dns01(named, wrong))
    with pytest.raises(Conflict) as refused:
        issuer.issue(request_for(unique_names("tsig")), RecordingJournal())
    assert refused.value.code == "dns01.update_refused"
    assert "TSIG" in refused.value.detail


def test_dns01_refuses_a_name_outside_its_zone(named: Bind9) -> None:
    task = ChallengeTask("www.dot.ca.gov", False, "dns-01", "t" * 43, "t" * 43 + ".x")
    with pytest.raises(InvalidInput) as refused:
        dns01(named).present([task])
    assert refused.value.code == "dns01.outside_zone"


def test_http01_from_a_webroot_served_on_loopback(
    named: Bind9, pebble: Pebble, tmp_path: Path
) -> None:
    webroot = WebrootPublisher(tmp_path / "www")

    def from_webroot(token: str) -> str | None:
        path = webroot.directory / token
        return path.read_text() if path.is_file() else None

    names = unique_names("permits", "forms")
    with challenge_listener(pebble.http_port, from_webroot) as asked:
        issuer = issuer_for(
            pebble, registered(pebble), Http01Solver(webroot.publish, webroot.withdraw)
        )
        issued = issuer.issue(request_for(names), RecordingJournal())
    assert isinstance(issued, IssuedChain)
    assert len(set(asked)) == 2  # pebble fetched one token per name
    assert list(webroot.directory.iterdir()) == []  # withdrawn after validation


def test_http01_unanswered_is_a_clear_refusal(named: Bind9, pebble: Pebble) -> None:
    with challenge_listener(pebble.http_port, lambda token: None):
        store = ChallengeResponses()  # published, but the listener does not serve it
        issuer = issuer_for(pebble, registered(pebble), Http01Solver(store.publish, store.withdraw))
        with pytest.raises(CertdeskError) as refused:
            issuer.issue(request_for(unique_names("unserved")), RecordingJournal())
    assert refused.value.code == "acme.authz_failed"
    assert "problem" in refused.value.extra


def test_solvers_are_chosen_per_zone(named: Bind9, pebble: Pebble) -> None:
    store = ChallengeResponses()
    http = Http01Solver(store.publish, store.withdraw)
    solvers = ByZone(default=http, zones={ZONE: dns01(named)})
    assert solvers.for_name(f"a.b.{ZONE}") is solvers.zones[ZONE]
    assert solvers.for_name("www.dot.ca.gov") is http
    issued = issuer_for(pebble, registered(pebble), solvers).issue(
        request_for(unique_names("zoned")), RecordingJournal()
    )
    assert isinstance(issued, IssuedChain)


def test_solvers_from_stored_settings_get_a_certificate(named: Bind9, pebble: Pebble) -> None:
    """What the issuer registry does with an issuer row: kind, JSON settings, TSIG secret."""
    stored = {
        "dns01": {
            "server": "127.0.0.1",
            "port": named.port,
            "tsig_name": TSIG.name,
            "tsig_algorithm": TSIG.algorithm,
            "zones": [ZONE],
            "authoritative": [f"127.0.0.1:{named.port}"],
            "propagation_timeout": 10,
        }
    }
    solvers = solvers_for(SolverKind.DNS01, stored, TSIG.secret, None, None)
    (host,) = unique_names("stored")
    issued = issuer_for(pebble, registered(pebble), solvers).issue(
        request_for((host, f"*.{host}")), RecordingJournal()
    )
    assert isinstance(issued, IssuedChain)
    assert txt_at(named, f"_acme-challenge.{host}.") == []
