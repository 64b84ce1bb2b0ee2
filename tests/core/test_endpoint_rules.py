"""R14/R18 rules in core/endpoints.py: findings and severities, targets, allowed addresses,
attribution of external certificates."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from certdesk.core.endpoints import (
    InventoryMatch,
    Observation,
    Protocol,
    Severity,
    Target,
    attribute,
    check_address,
    exit_code,
    expand_targets,
    judge,
    name_matches,
    parse_target,
)
from certdesk.errors import InvalidInput, PolicyRefusal

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
ALL = frozenset(Protocol)
CLEAN = Observation(
    host="www.dmv.ca.gov",
    port=443,
    sni="www.dmv.ca.gov",
    leaf_sha256="ab" * 32,
    leaf_names=("www.dmv.ca.gov",),
    leaf_ips=(),
    not_before=NOW - timedelta(days=10),
    not_after=NOW + timedelta(days=90),
    chain_length=2,
    chain_error=None,
    negotiated="TLSv1.3",
    offered=frozenset({Protocol.TLS1_2, Protocol.TLS1_3}),
    tested=ALL,
    forward_secret_tls12=True,
    ocsp_stapled=True,
    http=True,
    hsts="max-age=63072000; includeSubDomains",
)
KNOWN = InventoryMatch(known=True, serial="01")
TLS12 = frozenset({Protocol.TLS1_2})


@pytest.mark.parametrize(
    ("change", "match", "code", "severity"),
    [
        pytest.param({"chain_error": "incomplete"}, KNOWN, "chain.untrusted", Severity.CRITICAL,
                     id="R14/incomplete-chain-critical"),
        pytest.param({"sni": "other.dmv.ca.gov"}, KNOWN, "name.mismatch", Severity.CRITICAL,
                     id="R14/name-mismatch-critical"),
        pytest.param({"not_after": NOW - timedelta(seconds=1)}, KNOWN, "cert.expired",
                     Severity.CRITICAL, id="R14/expired-critical"),
        pytest.param({"not_after": NOW + timedelta(days=29)}, KNOWN, "cert.expiring",
                     Severity.WARNING, id="R14/expiring-warning"),
        pytest.param({}, InventoryMatch(known=False), "inventory.unknown", Severity.WARNING,
                     id="R14/not-in-inventory-warning"),
        pytest.param({}, InventoryMatch(known=True, serial="01", renewed_by="02"),
                     "inventory.stale", Severity.WARNING, id="R14/renewed-old-still-served"),
        pytest.param({"offered": frozenset({Protocol.SSL3, Protocol.TLS1_2})}, KNOWN,
                     "protocol.ssl", Severity.CRITICAL, id="R14/ssl3-critical"),
        pytest.param({"offered": frozenset({Protocol.TLS1_0, Protocol.TLS1_2})}, KNOWN,
                     "protocol.tls1_0", Severity.WARNING, id="R14/tls1.0-finding"),
        pytest.param({"offered": frozenset({Protocol.TLS1_1, Protocol.TLS1_2})}, KNOWN,
                     "protocol.tls1_1", Severity.WARNING, id="R14/tls1.1-finding"),
        pytest.param({"forward_secret_tls12": False}, KNOWN, "protocol.no_forward_secrecy",
                     Severity.WARNING, id="R14/tls1.2-without-fs-finding"),
        pytest.param({}, KNOWN, "protocol.tls1_3", Severity.NOTE, id="R14/tls1.3-noted"),
        pytest.param({"offered": frozenset({Protocol.TLS1_2})}, KNOWN, "protocol.no_tls1_3",
                     Severity.NOTE, id="R14/no-tls1.3-noted"),
        pytest.param({"ocsp_stapled": False}, KNOWN, "ocsp.not_stapled", Severity.NOTE,
                     id="R14/no-stapling-noted"),
        pytest.param({"hsts": None}, KNOWN, "hsts.missing", Severity.WARNING,
                     id="R14/http-without-hsts"),
        pytest.param({"hsts": "max-age=300"}, KNOWN, "hsts.short", Severity.NOTE,
                     id="R14/short-hsts-noted"),
    ],
)  # fmt: skip
def test_findings(
    change: dict[str, object], match: InventoryMatch, code: str, severity: Severity
) -> None:
    verdict = judge(replace(CLEAN, **change), match, NOW)  # type: ignore[arg-type]
    found = {f.code: f.severity for f in verdict.findings}
    assert found.get(code) == severity, found
    assert verdict.severity >= severity


def test_clean_endpoint_is_note_only_and_exits_zero() -> None:
    verdict = judge(CLEAN, KNOWN, NOW)
    assert [f.code for f in verdict.findings] == ["protocol.tls1_3"]
    assert exit_code(verdict.severity) == 0
    assert verdict.days_left == 90


@pytest.mark.parametrize(
    ("change", "silent"),
    [
        pytest.param({"http": False, "hsts": None}, "hsts.missing", id="R14/no-http-no-hsts-rule"),
        pytest.param({"offered": frozenset({Protocol.TLS1_3}), "forward_secret_tls12": None},
                     "protocol.no_forward_secrecy", id="R14/tls1.3-only-no-fs-question"),
        pytest.param({"tested": TLS12, "offered": TLS12},
                     "protocol.no_tls1_3", id="R14/untested-version-not-reported"),
    ],
)  # fmt: skip
def test_no_finding_where_the_rule_does_not_apply(change: dict[str, object], silent: str) -> None:
    codes = {f.code for f in judge(replace(CLEAN, **change), KNOWN, NOW).findings}  # type: ignore[arg-type]
    assert silent not in codes


@pytest.mark.parametrize(
    ("severity", "code"),
    [(Severity.OK, 0), (Severity.NOTE, 0), (Severity.WARNING, 5), (Severity.CRITICAL, 6)],
    ids=["exit/ok", "exit/note", "exit/warning", "exit/critical"],
)
def test_exit_codes(severity: Severity, code: int) -> None:
    assert exit_code(severity) == code


@pytest.mark.parametrize(
    ("host", "names", "ips", "ok"),
    [
        ("www.dmv.ca.gov", ("www.dmv.ca.gov",), (), True),
        ("WWW.dmv.ca.gov.", ("www.dmv.ca.gov",), (), True),
        ("a.dmv.ca.gov", ("*.dmv.ca.gov",), (), True),
        ("a.b.dmv.ca.gov", ("*.dmv.ca.gov",), (), False),
        ("dmv.ca.gov", ("*.dmv.ca.gov",), (), False),
        ("127.0.0.1", ("www.dmv.ca.gov",), ("127.0.0.1",), True),
        ("127.0.0.2", ("127.0.0.2",), (), False),
    ],
    ids=["exact", "case-and-dot", "wildcard", "wildcard-one-label", "wildcard-not-base",
         "ip-san", "ip-needs-ip-san"],
)  # fmt: skip
def test_name_matches(host: str, names: tuple[str, ...], ips: tuple[str, ...], ok: bool) -> None:
    assert name_matches(host, names, ips) is ok


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("www.dmv.ca.gov", Target("www.dmv.ca.gov", 443)),
        ("www.dmv.ca.gov:8443", Target("www.dmv.ca.gov", 8443)),
        ("10.0.0.1:25", Target("10.0.0.1", 25)),
        ("[2001:db8::1]:443", Target("2001:db8::1", 443)),
    ],
    ids=["host", "host-port", "ip-port", "v6"],
)
def test_parse_target(text: str, want: Target) -> None:
    assert parse_target(text) == want


@pytest.mark.parametrize(
    "text",
    ["", " x.ca.gov", "https://x.ca.gov/", "x.ca.gov:0", "x.ca.gov:70000", "x.ca.gov:ab",
     "a b", "[::1", "bad_host!"],
    ids=["empty", "space", "url", "port-0", "port-high", "port-text", "inner-space",
         "open-bracket", "bad-char"],
)  # fmt: skip
def test_parse_target_refuses(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_target(text)


def test_expand_targets_ranges_ports_and_dedup() -> None:
    got = expand_targets(["10.0.0.0/30:443,8443", "10.0.0.1:443", "h.dmv.ca.gov"])
    assert [str(t) for t in got] == [
        "10.0.0.1:443", "10.0.0.1:8443", "10.0.0.2:443", "10.0.0.2:8443", "h.dmv.ca.gov:443",
    ]  # fmt: skip
    with pytest.raises(InvalidInput):
        expand_targets(["10.0.0.0/8"])
    with pytest.raises(InvalidInput):
        expand_targets(["10.0.0.0/33"])


@pytest.mark.parametrize(
    ("ip", "allowed", "ok"),
    [
        ("8.8.8.8", (), True),
        ("127.0.0.1", (), False),
        ("10.1.2.3", (), False),
        ("169.254.1.1", (), False),
        ("::1", (), False),
        ("127.0.0.1", ("127.0.0.0/8",), True),
        ("10.1.2.3", ("10.0.0.0/8",), True),
        ("10.1.2.3", ("192.168.0.0/16",), False),
    ],
    ids=["R14/public", "R14/loopback-refused", "R14/private-refused", "R14/link-local-refused",
         "R14/v6-loopback-refused", "R14/loopback-allowed", "R14/private-allowed",
         "R14/other-range-not-allowed"],
)  # fmt: skip
def test_check_address(ip: str, allowed: tuple[str, ...], ok: bool) -> None:
    nets = [ipaddress.ip_network(a) for a in allowed]
    if ok:
        check_address(ipaddress.ip_address(ip), nets)
    else:
        with pytest.raises(PolicyRefusal):
            check_address(ipaddress.ip_address(ip), nets)


GRANTS = [(1, "zone", "dmv.ca.gov"), (2, "host", "permits.ca.gov"), (3, "zone", "chp.ca.gov")]


@pytest.mark.parametrize(
    ("names", "org"),
    [
        (["www.dmv.ca.gov"], 1),
        (["*.apps.dmv.ca.gov", "dmv.ca.gov"], 1),
        (["permits.ca.gov"], 2),
        (["x.permits.ca.gov"], None),
        (["www.dmv.ca.gov", "www.chp.ca.gov"], None),
        (["www.example.com"], None),
        ([], None),
    ],
    ids=["R18/zone", "R18/wildcard-and-base", "R18/host", "R18/host-no-subdomain",
         "R18/two-orgs-unassigned", "R18/no-grant-unassigned", "R18/no-names"],
)  # fmt: skip
def test_attribute(names: list[str], org: int | None) -> None:
    assert attribute(names, GRANTS) == org
