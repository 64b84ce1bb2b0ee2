"""A vendor issuer's solvers from its stored settings (``acme_issuers.solver_config``): the
JSON parsed into typed settings with each bad field named, the round trip, and the solver
chosen for each name (R17: http-01, dns-01 or none, per issuer and per zone)."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest

from certdesk.ca.acme.dns01 import NameServer, Rfc2136Solver
from certdesk.ca.acme.solver_config import (
    Dns01Config,
    Http01Config,
    OutsideZones,
    SolverConfig,
    build_solvers,
    parse_solver_config,
    solvers_for,
)
from certdesk.ca.acme.solvers import ChallengeTask, Http01Solver, PreValidated
from certdesk.core.issuers import Solver as Kind
from certdesk.errors import Conflict, InvalidInput

SECRET = base64.b64encode(b"a test TSIG secret of 32 bytes!!").decode()
DNS01: dict[str, Any] = {
    "server": "192.0.2.53",
    "port": 5353,
    "tsig_name": "certdesk-update",
    "tsig_algorithm": "hmac-sha256",
    "zones": ["dmv.ca.gov", "apps.chp.ca.gov"],
    "authoritative": ["192.0.2.53", "192.0.2.54:53", "[2001:db8::53]:5300"],
    "propagation_timeout": 30,
}
TOKEN = "t" * 43


def with_dns(**changes: Any) -> dict[str, Any]:
    dns = copy.deepcopy(DNS01)
    for key, value in changes.items():
        if value is ...:
            dns.pop(key)
        else:
            dns[key] = value
    return {"dns01": dns}


class Published:
    def __init__(self) -> None:
        self.answers: dict[str, str] = {}

    def publish(self, token: str, key_authorization: str) -> None:
        self.answers[token] = key_authorization

    def withdraw(self, token: str) -> None:
        self.answers.pop(token, None)


# --- parsing --------------------------------------------------------------------------------


def test_a_full_dns01_config_is_typed() -> None:
    config = parse_solver_config(Kind.DNS01, with_dns())
    assert config == SolverConfig(
        dns01=Dns01Config(
            server="192.0.2.53",
            port=5353,
            tsig_name="certdesk-update.",
            tsig_algorithm="hmac-sha256",
            zones=("dmv.ca.gov", "apps.chp.ca.gov"),
            authoritative=(
                NameServer("192.0.2.53", 5353),  # no port: the primary's
                NameServer("192.0.2.54", 53),
                NameServer("2001:db8::53", 5300),
            ),
            propagation_timeout=30.0,
        )
    )


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        pytest.param(Kind.NONE, None, SolverConfig(), id="R17/config-none-null"),
        pytest.param(Kind.NONE, {}, SolverConfig(), id="R17/config-none-empty"),
        pytest.param(
            Kind.HTTP01, None, SolverConfig(http01=Http01Config()), id="R17/config-http-served"
        ),
        pytest.param(
            Kind.HTTP01,
            {"http01": {"webroot": "/var/www/html"}},
            SolverConfig(http01=Http01Config(Path("/var/www/html"))),
            id="R17/config-http-webroot",
        ),
        pytest.param(
            Kind.HTTP01,
            {"http01": None},
            SolverConfig(http01=Http01Config()),
            id="R17/config-http-null",
        ),
        pytest.param(
            Kind.DNS01,
            {"dns01": {"server": " 127.0.0.1 ", "tsig_name": "K.", "zones": ["DMV.ca.gov."]}},
            SolverConfig(
                dns01=Dns01Config(server="127.0.0.1", tsig_name="k.", zones=("dmv.ca.gov",))
            ),
            id="R17/config-dns-defaults-normalized",
        ),
    ],
)
def test_valid_configs(kind: Kind, data: dict[str, Any] | None, expected: SolverConfig) -> None:
    assert parse_solver_config(kind, data) == expected


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        pytest.param(Kind.DNS01, None, "dns01", id="R17/config-dns-missing"),
        pytest.param(Kind.NONE, {"dns": {}}, "dns", id="R17/config-unknown-top"),
        pytest.param(Kind.NONE, {"http01": {}}, "http01", id="R17/config-http-on-none"),
        pytest.param(Kind.DNS01, {**with_dns(), "http01": {}}, "http01", id="R17/config-http-dns"),
        pytest.param(Kind.DNS01, {"dns01": []}, "dns01", id="R17/config-dns-not-object"),
        pytest.param(Kind.DNS01, with_dns(server=...), "dns01.server", id="R17/config-no-server"),
        pytest.param(
            Kind.DNS01, with_dns(server="ns1.dmv.ca.gov"), "dns01.server", id="R17/config-name"
        ),
        pytest.param(Kind.DNS01, with_dns(server=53), "dns01.server", id="R17/config-server-int"),
        pytest.param(Kind.DNS01, with_dns(port=0), "dns01.port", id="R17/config-port-zero"),
        pytest.param(Kind.DNS01, with_dns(port=70000), "dns01.port", id="R17/config-port-big"),
        pytest.param(Kind.DNS01, with_dns(port="53"), "dns01.port", id="R17/config-port-text"),
        pytest.param(Kind.DNS01, with_dns(port=True), "dns01.port", id="R17/config-port-bool"),
        pytest.param(
            Kind.DNS01, with_dns(tsig_name=...), "dns01.tsig_name", id="R17/config-no-key-name"
        ),
        pytest.param(
            Kind.DNS01, with_dns(tsig_name="a b"), "dns01.tsig_name", id="R17/config-key-name"
        ),
        pytest.param(
            Kind.DNS01,
            with_dns(tsig_algorithm="hmac-md5"),
            "dns01.tsig_algorithm",
            id="R17/config-md5",
        ),
        pytest.param(Kind.DNS01, with_dns(zones=[]), "dns01.zones", id="R17/config-no-zones"),
        pytest.param(
            Kind.DNS01, with_dns(zones="dmv.ca.gov"), "dns01.zones", id="R17/config-zones-text"
        ),
        pytest.param(
            Kind.DNS01, with_dns(zones=["*.dmv.ca.gov"]), "dns01.zones.0", id="R17/config-wild"
        ),
        pytest.param(Kind.DNS01, with_dns(zones=["gov"]), "dns01.zones.0", id="R17/config-tld"),
        pytest.param(
            Kind.DNS01,
            with_dns(zones=["dmv.ca.gov", "DMV.ca.gov"]),
            "dns01.zones.1",
            id="R17/config-zone-twice",
        ),
        pytest.param(
            Kind.DNS01,
            with_dns(authoritative="192.0.2.1"),
            "dns01.authoritative",
            id="R17/config-auth-text",
        ),
        pytest.param(
            Kind.DNS01,
            with_dns(authoritative=["192.0.2.1", "ns2.example"]),
            "dns01.authoritative.1",
            id="R17/config-auth-name",
        ),
        pytest.param(
            Kind.DNS01,
            with_dns(authoritative=["192.0.2.1:99999"]),
            "dns01.authoritative.0",
            id="R17/config-auth-port",
        ),
        pytest.param(
            Kind.DNS01,
            with_dns(authoritative=["192.0.2.1:x"]),
            "dns01.authoritative.0",
            id="R17/config-auth-port-text",
        ),
        pytest.param(
            Kind.DNS01,
            with_dns(authoritative=["192.0.2.1:53", "192.0.2.1"], port=53),
            "dns01.authoritative",
            id="R17/config-auth-twice",
        ),
        pytest.param(
            Kind.DNS01,
            with_dns(propagation_timeout=0),
            "dns01.propagation_timeout",
            id="R17/config-timeout-zero",
        ),
        pytest.param(
            Kind.DNS01,
            with_dns(propagation_timeout=float("nan")),
            "dns01.propagation_timeout",
            id="R17/config-timeout-nan",
        ),
        pytest.param(
            Kind.DNS01,
            with_dns(propagation_timeout=86400),
            "dns01.propagation_timeout",
            id="R17/config-timeout-day",
        ),
        pytest.param(Kind.DNS01, with_dns(ttl=60), "dns01.ttl", id="R17/config-unknown-dns-field"),
        pytest.param(
            Kind.HTTP01,
            {"http01": {"webroot": "var/www"}},
            "http01.webroot",
            id="R17/config-webroot-relative",
        ),
        pytest.param(
            Kind.HTTP01,
            {"http01": {"webroot": "/var/www/../etc"}},
            "http01.webroot",
            id="R17/config-webroot-dotdot",
        ),
        pytest.param(
            Kind.HTTP01,
            {"http01": {"root": "/var/www"}},
            "http01.root",
            id="R17/config-webroot-misspelt",
        ),
    ],
)
def test_bad_configs_name_the_field(kind: Kind, data: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_solver_config(kind, data)
    assert refused.value.code == "solver.config"
    assert refused.value.extra["field"] == field
    assert refused.value.detail.startswith(f"solver_config.{field}: ")


def test_a_config_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_solver_config(Kind.NONE, ["dns01"])  # type: ignore[arg-type]
    assert refused.value.code == "solver.config"


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        pytest.param(Kind.DNS01, with_dns(), id="R17/roundtrip-dns"),
        pytest.param(Kind.HTTP01, None, id="R17/roundtrip-http-served"),
        pytest.param(
            Kind.HTTP01, {**with_dns(), "http01": {"webroot": "/srv/www"}}, id="R17/roundtrip-both"
        ),
        pytest.param(Kind.NONE, with_dns(), id="R17/roundtrip-none-with-zones"),
        pytest.param(Kind.NONE, None, id="R17/roundtrip-none"),
    ],
)
def test_to_dict_is_parses_inverse(kind: Kind, data: dict[str, Any] | None) -> None:
    config = parse_solver_config(kind, data)
    stored = config.to_dict()
    assert parse_solver_config(kind, stored) == config
    assert parse_solver_config(kind, stored).to_dict() == stored


# --- building -------------------------------------------------------------------------------


def task(name: str, *, wildcard: bool = False) -> ChallengeTask:
    return ChallengeTask(name, wildcard, "http-01", TOKEN, f"{TOKEN}.thumb")


@pytest.mark.parametrize(
    ("kind", "data", "name", "solver"),
    [
        pytest.param(Kind.NONE, None, "www.dmv.ca.gov", PreValidated, id="R17/by-zone-none"),
        pytest.param(
            Kind.NONE, with_dns(), "www.dmv.ca.gov", Rfc2136Solver, id="R17/by-zone-none-dns"
        ),
        pytest.param(Kind.NONE, with_dns(), "www.edd.ca.gov", PreValidated, id="R17/none-else"),
        pytest.param(Kind.DNS01, with_dns(), "a.b.dmv.ca.gov", Rfc2136Solver, id="R17/dns-deep"),
        pytest.param(
            Kind.DNS01, with_dns(), "apps.chp.ca.gov", Rfc2136Solver, id="R17/dns-zone-apex"
        ),
        pytest.param(Kind.DNS01, with_dns(), "www.chp.ca.gov", OutsideZones, id="R17/dns-outside"),
        pytest.param(Kind.HTTP01, None, "www.dmv.ca.gov", Http01Solver, id="R17/http-default"),
        pytest.param(
            Kind.HTTP01, with_dns(), "www.dmv.ca.gov", Rfc2136Solver, id="R17/http-dns-zone"
        ),
        pytest.param(Kind.HTTP01, with_dns(), "www.edd.ca.gov", Http01Solver, id="R17/http-else"),
    ],
)
def test_each_name_gets_its_zones_solver(
    kind: Kind, data: dict[str, Any] | None, name: str, solver: type
) -> None:
    published = Published()
    solvers = solvers_for(kind, data, SECRET, published.publish, published.withdraw)
    assert type(solvers.for_name(name)) is solver


def test_dns01_solvers_carry_the_stored_settings() -> None:
    solvers = solvers_for(Kind.DNS01, with_dns(), SECRET, None, None)
    dmv = solvers.for_name("www.dmv.ca.gov")
    assert isinstance(dmv, Rfc2136Solver)
    assert dmv.zone.to_text() == "dmv.ca.gov."
    assert dmv.primary == NameServer("192.0.2.53", 5353)
    assert dmv.key_name.to_text() == "certdesk-update."
    assert dmv.authoritative[1] == NameServer("192.0.2.54", 53)
    assert dmv.propagation_timeout == 30.0
    assert solvers.for_name("x.apps.chp.ca.gov") is not dmv  # one solver per zone


def test_http01_answers_go_to_the_given_publisher() -> None:
    published = Published()
    solvers = solvers_for(Kind.HTTP01, None, None, published.publish, published.withdraw)
    solvers.for_name("www.dmv.ca.gov").present([task("www.dmv.ca.gov")])
    assert published.answers == {TOKEN: f"{TOKEN}.thumb"}


def test_http01_into_a_webroot(tmp_path: Path) -> None:
    data = {"http01": {"webroot": str(tmp_path)}}
    solvers = solvers_for(Kind.HTTP01, data, None, None, None)
    solvers.for_name("www.dmv.ca.gov").present([task("www.dmv.ca.gov")])
    assert (tmp_path / ".well-known/acme-challenge" / TOKEN).read_text() == f"{TOKEN}.thumb"


def test_a_name_outside_every_dns01_zone_is_a_clear_refusal() -> None:
    solvers = solvers_for(Kind.DNS01, with_dns(), SECRET, None, None)
    with pytest.raises(Conflict) as refused:
        solvers.for_name("www.edd.ca.gov").present([task("www.edd.ca.gov")])
    assert refused.value.code == "acme.no_solver"
    assert "www.edd.ca.gov" in refused.value.detail and "dmv.ca.gov" in refused.value.detail


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(None, id="R17/secret-missing"),
        pytest.param("", id="R17/secret-empty"),
        pytest.param("not base64!", id="R17/secret-not-base64"),
    ],
)
def test_dns01_needs_a_base64_tsig_secret(secret: str | None) -> None:
    with pytest.raises(InvalidInput) as refused:
        solvers_for(Kind.DNS01, with_dns(), secret, None, None)
    assert refused.value.code == "solver.secret"
    assert SECRET not in refused.value.detail


def test_http01_served_by_certdesk_needs_a_publisher() -> None:
    with pytest.raises(Conflict) as refused:
        solvers_for(Kind.HTTP01, None, None, None, None)
    assert refused.value.code == "solver.no_http_publisher"


def test_build_solvers_from_typed_settings() -> None:
    config = parse_solver_config(Kind.HTTP01, None)
    published = Published()
    solvers = build_solvers(Kind.HTTP01, config, None, published.publish, published.withdraw)
    assert isinstance(solvers.default, Http01Solver)
