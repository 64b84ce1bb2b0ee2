"""http-01 answered by certdesk itself (RFC 8555 §8.3, R17): pebble validates for real by
fetching ``/.well-known/acme-challenge/<token>`` from certdesk's app, served by uvicorn on
the port pebble's ``httpPort`` points at. The answers go through the database: the issuer's
publisher and the serving app are two ``Services`` on one database, as the worker and the
web process are in production. Names resolve to 127.0.0.1 through the test bind9.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from vendor_world import (
    Bind9,
    Pebble,
    RecordingJournal,
    issuer_for,
    registered,
    request_for,
    running_bind9,
    running_pebble,
    unique_names,
)

from certdesk.ca.acme.solvers import Http01Solver
from certdesk.ca.issuer import IssuedChain
from certdesk.config import Settings
from certdesk.errors import CertdeskError
from certdesk.services.pki.challenges import ChallengePublisher
from certdesk.services.registry import Services
from certdesk.services.runtime import Runtime
from certdesk.services.setup import initialize
from world.browser import live_server

pytestmark = pytest.mark.timeout(180)


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


@pytest.fixture
def web_and_worker(settings: Settings) -> Iterator[tuple[Services, Services]]:
    """Two processes' worth of services on one database, on the real clock (pebble's)."""
    web = Services(Runtime.open(settings))
    initialize(web, with_token=False)
    worker = Services(Runtime.open(settings))
    try:
        yield web, worker
    finally:
        worker.rt.close()
        web.rt.close()


def test_pebble_validates_http01_against_certdesks_listener(
    pebble: Pebble, web_and_worker: tuple[Services, Services], tmp_path: Path
) -> None:
    web, worker = web_and_worker
    publisher = worker.challenges
    fetched: list[str] = []
    lookup = web.challenges.lookup

    def watched(token: str) -> str | None:
        fetched.append(token)
        return lookup(token)

    web.challenges.lookup = watched  # type: ignore[method-assign]
    names = unique_names("permits", "forms")
    with live_server(web, port=pebble.http_port):
        issuer = issuer_for(
            pebble, registered(pebble), Http01Solver(publisher.publish, publisher.withdraw)
        )
        issued = issuer.issue(request_for(names), RecordingJournal())
    assert isinstance(issued, IssuedChain)
    san = issued.leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(names)
    # pebble fetched one token per name from certdesk's app (more than once each is allowed:
    # pebble may retry), and every answer was withdrawn once the authorizations were final.
    assert len(set(fetched)) == 2
    assert all(web.challenges.lookup(t) is None for t in set(fetched))
    assert web.challenges.purge_expired() == 0


def test_an_answer_expired_before_pebble_asks_fails_validation(
    pebble: Pebble, web_and_worker: tuple[Services, Services]
) -> None:
    """The listener is what pebble validates against: an answer already past its lifetime
    is a 404 there, and the vendor refuses the authorization."""
    web, worker = web_and_worker
    stale = ChallengePublisher(worker.rt, lifetime=timedelta(microseconds=1))
    with live_server(web, port=pebble.http_port):
        issuer = issuer_for(pebble, registered(pebble), Http01Solver(stale.publish, stale.withdraw))
        with pytest.raises(CertdeskError) as refused:
            issuer.issue(request_for(unique_names("stale")), RecordingJournal())
    assert refused.value.code == "acme.authz_failed"
    assert "404" in refused.value.detail
