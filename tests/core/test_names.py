"""Tests for certdesk.core.names: R1 (allowed names) and R2 (grants).

Every case is a table row whose id cites the rule it exercises. Denials assert the rule and
the stable code, so a test fails if a different rule (or a different check) fires.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certdesk.core.grants import Grant, GrantKind, Verdict, judge, require_allowed
from certdesk.core.names import (
    DEFAULT_SUFFIXES,
    MAX_NAMES_PER_CERT,
    check_name,
    check_name_count,
    normalize,
)
from certdesk.errors import CertdeskError, InvalidInput, PolicyRefusal

# An IDN label whose A-label is exactly 63 characters ("xn--" + 59), and one that is 64.
IDN_LABEL_63 = "ü" + "a" * 55
IDN_LABEL_64 = "ü" + "a" * 56
IDN_ALABEL_63 = "xn--" + IDN_LABEL_63.encode("punycode").decode("ascii")

# Codes that normalize() itself raises: for these a verdict has normalized=None.
SYNTAX_CODES = {
    "name.empty",
    "name.whitespace",
    "name.url",
    "name.path",
    "name.port",
    "name.ip",
    "name.trailing_dot",
    "name.too_long",
    "name.empty_label",
    "name.wildcard_partial",
    "name.wildcard_position",
    "name.underscore",
    "name.bad_char",
    "name.label_hyphen",
    "name.label_too_long",
    "name.reserved_hyphens",
    "name.bad_punycode",
    "name.idna_invalid",
}
SUFFIX_CODES = {
    "name.outside_suffixes",
    "name.lookalike",
    "name.bare_suffix",
    "name.wildcard_on_suffix",
}


def name_of_length(total: int, suffix: str = "ca.gov") -> str:
    """A valid name of exactly ``total`` characters ending in ``suffix``."""
    head = total - len(suffix)  # room for the labels, each with its trailing dot
    labels: list[str] = []
    while head > 0:
        # Each label takes its length plus one dot; keep every label 1..63 long.
        size = min(63, head - 1) if head - 1 > 0 else 1
        if head - (size + 1) == 1:
            size -= 1  # never leave a remainder that would need an empty label
        labels.append("a" * size)
        head -= size + 1
    name = ".".join([*labels, suffix])
    assert len(name) == total
    return name


# --------------------------------------------------------------------------- R1 allow

R1_ALLOW = [
    pytest.param("www.dmv.ca.gov", "www.dmv.ca.gov", id="R1/allow/plain"),
    pytest.param("a.ca.gov", "a.ca.gov", id="R1/allow/one-char-label"),
    pytest.param("311.ca.gov", "311.ca.gov", id="R1/allow/digits-label"),
    pytest.param("my-app.ca.gov", "my-app.ca.gov", id="R1/allow/interior-hyphen"),
    pytest.param("a--b.ca.gov", "a--b.ca.gov", id="R1/allow/double-hyphen-not-at-3-4"),
    pytest.param("WWW.DMV.CA.GOV", "www.dmv.ca.gov", id="R1/allow/case-fold-upper"),
    pytest.param("Permits.CA.gov", "permits.ca.gov", id="R1/allow/case-fold-mixed"),
    pytest.param("x.california.gov", "x.california.gov", id="R1/allow/suffix-california-gov"),
    pytest.param("x.cahwnet.gov", "x.cahwnet.gov", id="R1/allow/suffix-cahwnet-gov"),
    pytest.param("x.state.ca.us", "x.state.ca.us", id="R1/allow/suffix-state-ca-us"),
    pytest.param("bücher.ca.gov", "xn--bcher-kva.ca.gov", id="R1/allow/idn-to-alabel"),
    pytest.param("BÜCHER.ca.gov", "xn--bcher-kva.ca.gov", id="R1/allow/idn-case-fold"),
    pytest.param("bu\u0308cher.ca.gov", "xn--bcher-kva.ca.gov", id="R1/allow/idn-nfd-to-nfc"),
    pytest.param("xn--bcher-kva.ca.gov", "xn--bcher-kva.ca.gov", id="R1/allow/alabel-given"),
    pytest.param("XN--BCHER-KVA.CA.GOV", "xn--bcher-kva.ca.gov", id="R1/allow/alabel-upper"),
    pytest.param("*.dmv.ca.gov", "*.dmv.ca.gov", id="R1/allow/wildcard-left-most"),
    pytest.param("*.apps.dmv.ca.gov", "*.apps.dmv.ca.gov", id="R1/allow/wildcard-two-deep"),
    pytest.param("*.Bücher.ca.gov", "*.xn--bcher-kva.ca.gov", id="R1/allow/wildcard-on-idn"),
    pytest.param("a" * 63 + ".ca.gov", "a" * 63 + ".ca.gov", id="R1/allow/label-63"),
    pytest.param(IDN_LABEL_63 + ".ca.gov", IDN_ALABEL_63 + ".ca.gov", id="R1/allow/idn-alabel-63"),
    pytest.param(name_of_length(253), name_of_length(253), id="R1/allow/name-253"),
]


@pytest.mark.parametrize(("name", "expected"), R1_ALLOW)
def test_r1_allow(name: str, expected: str) -> None:
    assert check_name(name) == expected
    verdict = judge(name)
    assert verdict.allowed, verdict.line()
    assert (verdict.rule, verdict.code, verdict.normalized) == ("R1", "name.allowed", expected)
    assert verdict.reason.startswith("suffix ")


# --------------------------------------------------------------------------- R1 deny

R1_DENY = [
    # Whole-name shape: things pasted from a browser or a config file.
    pytest.param("", "name.empty", id="R1/deny/empty"),
    pytest.param(" www.dmv.ca.gov", "name.whitespace", id="R1/deny/leading-space"),
    pytest.param("www.dmv.ca.gov ", "name.whitespace", id="R1/deny/trailing-space"),
    pytest.param("www.dmv.ca.gov\n", "name.whitespace", id="R1/deny/trailing-newline"),
    pytest.param("www.dmv .ca.gov", "name.whitespace", id="R1/deny/inner-space"),
    pytest.param("www\u00a0dmv.ca.gov", "name.whitespace", id="R1/deny/nbsp"),
    pytest.param("https://www.dmv.ca.gov", "name.url", id="R1/deny/url-https"),
    pytest.param("http://www.dmv.ca.gov/login", "name.url", id="R1/deny/url-with-path"),
    pytest.param("HTTPS://WWW.DMV.CA.GOV", "name.url", id="R1/deny/url-upper"),
    pytest.param("www.dmv.ca.gov/login", "name.path", id="R1/deny/path"),
    pytest.param("www.dmv.ca.gov?x=1", "name.path", id="R1/deny/query"),
    pytest.param("www.dmv.ca.gov#top", "name.path", id="R1/deny/fragment"),
    pytest.param("www\\dmv.ca.gov", "name.path", id="R1/deny/backslash"),
    pytest.param("www.dmv.ca.gov:443", "name.port", id="R1/deny/port"),
    pytest.param("www.dmv.ca.gov:", "name.port", id="R1/deny/empty-port"),
    pytest.param("a:b.ca.gov", "name.bad_char", id="R1/deny/colon-in-label"),
    pytest.param("192.0.2.1", "name.ip", id="R1/deny/ipv4"),
    pytest.param("2001:db8::1", "name.ip", id="R1/deny/ipv6"),
    pytest.param("[2001:db8::1]", "name.ip", id="R1/deny/ipv6-bracketed"),
    pytest.param("[::1]:443", "name.ip", id="R1/deny/ipv6-with-port"),
    pytest.param("::ffff:192.0.2.1", "name.ip", id="R1/deny/ipv4-mapped-ipv6"),
    pytest.param("www.dmv.ca.gov.", "name.trailing_dot", id="R1/deny/trailing-dot"),
    pytest.param("ca.gov.", "name.trailing_dot", id="R1/deny/trailing-dot-on-suffix"),
    pytest.param(".", "name.trailing_dot", id="R1/deny/only-dot"),
    pytest.param(name_of_length(254), "name.too_long", id="R1/deny/name-254"),
    pytest.param("a." * 1000 + "ca.gov", "name.too_long", id="R1/deny/huge-input"),
    pytest.param(
        ".".join([IDN_LABEL_63] * 4) + ".ca.gov", "name.too_long", id="R1/deny/too-long-as-alabel"
    ),
    # One label.
    pytest.param("a..ca.gov", "name.empty_label", id="R1/deny/empty-label"),
    pytest.param(".dmv.ca.gov", "name.empty_label", id="R1/deny/leading-dot"),
    pytest.param("f*o.ca.gov", "name.wildcard_partial", id="R1/deny/wildcard-inside-label"),
    pytest.param("*foo.dmv.ca.gov", "name.wildcard_partial", id="R1/deny/wildcard-prefix"),
    pytest.param("**.dmv.ca.gov", "name.wildcard_partial", id="R1/deny/double-star"),
    pytest.param("a.*.dmv.ca.gov", "name.wildcard_position", id="R1/deny/wildcard-not-left"),
    pytest.param("*.*.dmv.ca.gov", "name.wildcard_position", id="R1/deny/two-wildcards"),
    pytest.param("a_b.ca.gov", "name.underscore", id="R1/deny/underscore-in-label"),
    pytest.param("_acme-challenge.dmv.ca.gov", "name.underscore", id="R1/deny/underscore-lead"),
    pytest.param("a!b.ca.gov", "name.bad_char", id="R1/deny/bang"),
    pytest.param("user@dmv.ca.gov", "name.bad_char", id="R1/deny/at-sign"),
    pytest.param("a\x00b.ca.gov", "name.bad_char", id="R1/deny/nul-byte"),
    pytest.param("bü@cher.ca.gov", "name.bad_char", id="R1/deny/ascii-symbol-in-idn"),
    pytest.param("-a.ca.gov", "name.label_hyphen", id="R1/deny/leading-hyphen"),
    pytest.param("a-.ca.gov", "name.label_hyphen", id="R1/deny/trailing-hyphen"),
    pytest.param("-bücher.ca.gov", "name.label_hyphen", id="R1/deny/hyphen-on-idn"),
    pytest.param("a" * 64 + ".ca.gov", "name.label_too_long", id="R1/deny/label-64"),
    pytest.param(IDN_LABEL_64 + ".ca.gov", "name.label_too_long", id="R1/deny/idn-alabel-64"),
    pytest.param("ab--c.ca.gov", "name.reserved_hyphens", id="R1/deny/hyphens-3-4"),
    pytest.param("zz--x.dmv.ca.gov", "name.reserved_hyphens", id="R1/deny/fake-ace-prefix"),
    pytest.param("üb--x.ca.gov", "name.reserved_hyphens", id="R1/deny/idn-hyphens-3-4"),
    pytest.param("xn--zz.ca.gov", "name.bad_punycode", id="R1/deny/bad-punycode"),
    pytest.param("xn--0.ca.gov", "name.bad_punycode", id="R1/deny/punycode-garbage"),
    pytest.param("xn---bcher-kva.ca.gov", "name.bad_punycode", id="R1/deny/punycode-no-trip"),
    pytest.param("xn--a.ca.gov", "name.bad_punycode", id="R1/deny/punycode-disallowed-cp"),
    pytest.param("\uff58.ca.gov", "name.idna_invalid", id="R1/deny/idn-fullwidth"),
    pytest.param("x\u3002ca.gov", "name.idna_invalid", id="R1/deny/idn-ideographic-dot"),
    pytest.param("\u2603.ca.gov", "name.idna_invalid", id="R1/deny/idn-symbol"),
    pytest.param("\u0301a.ca.gov", "name.idna_invalid", id="R1/deny/idn-leading-combiner"),
    # Suffixes: proper subdomain, on label boundaries, no wildcard on the suffix itself.
    pytest.param("example.com", "name.outside_suffixes", id="R1/deny/outside-suffixes"),
    pytest.param("localhost", "name.outside_suffixes", id="R1/deny/single-label"),
    pytest.param("*", "name.outside_suffixes", id="R1/deny/bare-wildcard"),
    pytest.param("evilca.gov", "name.lookalike", id="R1/deny/lookalike-no-label-boundary"),
    pytest.param("dmv-ca.gov", "name.lookalike", id="R1/deny/lookalike-hyphen"),
    pytest.param("ca-gov.net", "name.outside_suffixes", id="R1/deny/outside-similar-text"),
    pytest.param("ca.gov.example.com", "name.lookalike", id="R1/deny/lookalike-suffix-inside"),
    pytest.param("dmv.ca.gov.evil.net", "name.lookalike", id="R1/deny/lookalike-deep"),
    pytest.param("ca.gov", "name.bare_suffix", id="R1/deny/bare-suffix"),
    pytest.param("STATE.CA.US", "name.bare_suffix", id="R1/deny/bare-suffix-upper"),
    pytest.param("*.ca.gov", "name.wildcard_on_suffix", id="R1/deny/wildcard-on-suffix"),
    pytest.param("*.state.ca.us", "name.wildcard_on_suffix", id="R1/deny/wildcard-on-suffix-2"),
]


@pytest.mark.parametrize(("name", "code"), R1_DENY)
def test_r1_deny(name: str, code: str) -> None:
    verdict = judge(name)
    assert not verdict.allowed
    assert (verdict.rule, verdict.code) == ("R1", code), verdict.reason
    assert verdict.reason
    # normalized is None exactly when normalize() itself refused the name.
    assert (verdict.normalized is None) == (code in SYNTAX_CODES)
    assert code in SYNTAX_CODES | SUFFIX_CODES
    with pytest.raises(PolicyRefusal) as caught:
        check_name(name)
    assert (caught.value.rule, caught.value.code) == ("R1", code)
    assert "R1" in caught.value.detail
    assert caught.value.extra["name"] == name


def test_r1_every_refusal_code_is_exercised() -> None:
    """Each R1 code in the table above is distinct and the table reaches all of them."""
    seen = {param.values[1] for param in R1_DENY}
    assert seen == SYNTAX_CODES | SUFFIX_CODES


def test_r1_trailing_dot_is_not_stripped() -> None:
    with pytest.raises(PolicyRefusal) as caught:
        normalize("www.dmv.ca.gov.")
    assert caught.value.code == "name.trailing_dot"


# --------------------------------------------------------------------------- R1 custom suffixes

CUSTOM = ("example.org", "Agency.Test")

R1_CUSTOM = [
    pytest.param("www.example.org", True, "name.allowed", id="R1/allow/custom-suffix"),
    pytest.param("www.agency.test", True, "name.allowed", id="R1/allow/custom-suffix-cased"),
    pytest.param("www.dmv.ca.gov", False, "name.outside_suffixes", id="R1/deny/default-gone"),
    pytest.param("badexample.org", False, "name.lookalike", id="R1/deny/custom-lookalike"),
    pytest.param("example.org", False, "name.bare_suffix", id="R1/deny/custom-bare-suffix"),
    pytest.param("*.example.org", False, "name.wildcard_on_suffix", id="R1/deny/custom-wild"),
]


@pytest.mark.parametrize(("name", "allowed", "code"), R1_CUSTOM)
def test_r1_custom_suffixes(name: str, allowed: bool, code: str) -> None:
    verdict = judge(name, suffixes=CUSTOM)
    assert (verdict.allowed, verdict.rule, verdict.code) == (allowed, "R1", code)


def test_r1_nested_suffixes_use_longest_and_refuse_each_bare() -> None:
    suffixes = ("ca.gov", "dmv.ca.gov")
    assert judge("www.dmv.ca.gov", suffixes).reason == "suffix dmv.ca.gov"
    assert judge("dmv.ca.gov", suffixes).code == "name.bare_suffix"
    assert judge("*.dmv.ca.gov", suffixes).code == "name.wildcard_on_suffix"


@pytest.mark.parametrize(
    "suffixes",
    [
        pytest.param(("*.ca.gov",), id="config/deny/wildcard-suffix"),
        pytest.param(("ca.gov.",), id="config/deny/trailing-dot-suffix"),
    ],
)
def test_bad_suffix_configuration_is_an_invalid_input(suffixes: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput) as caught:
        judge("www.dmv.ca.gov", suffixes)
    assert caught.value.code == "config.suffix_invalid"
    assert not isinstance(caught.value, PolicyRefusal)


# --------------------------------------------------------------------------- R2 grants

DMV = Grant.parse("zone:dmv.ca.gov")
PERMITS = Grant.parse("host:permits.ca.gov")
BUCHER = Grant.parse("zone:bücher.ca.gov")
WWW_DMV = Grant.parse("host:www.dmv.ca.gov")
APPS_DMV = Grant.parse("zone:apps.dmv.ca.gov")

R2_CASES = [
    # (name, grants, allowed, rule, code, reason-or-None)
    pytest.param("dmv.ca.gov", [DMV], True, "R2", "name.allowed", "zone dmv.ca.gov",
                 id="R2/allow/zone-covers-itself"),
    pytest.param("www.dmv.ca.gov", [DMV], True, "R2", "name.allowed", "zone dmv.ca.gov",
                 id="R2/allow/zone-child"),
    pytest.param("a.b.c.dmv.ca.gov", [DMV], True, "R2", "name.allowed", "zone dmv.ca.gov",
                 id="R2/allow/zone-deep-child"),
    pytest.param("*.dmv.ca.gov", [DMV], True, "R2", "name.allowed", "zone dmv.ca.gov",
                 id="R2/allow/zone-wildcard-one-deep"),
    pytest.param("*.apps.dmv.ca.gov", [DMV], True, "R2", "name.allowed", "zone dmv.ca.gov",
                 id="R2/allow/zone-wildcard-two-deep"),
    pytest.param("WWW.DMV.CA.GOV", [DMV], True, "R2", "name.allowed", "zone dmv.ca.gov",
                 id="R2/allow/zone-case-folded"),
    pytest.param("www.bücher.ca.gov", [BUCHER], True, "R2", "name.allowed",
                 "zone xn--bcher-kva.ca.gov", id="R2/allow/zone-idn"),
    pytest.param("dmv2.ca.gov", [DMV], False, "R2", "name.not_granted", None,
                 id="R2/deny/sibling-zone-dmv2"),
    pytest.param("www.dmv2.ca.gov", [DMV], False, "R2", "name.not_granted", None,
                 id="R2/deny/sibling-zone-child"),
    pytest.param("xdmv.ca.gov", [DMV], False, "R2", "name.not_granted", None,
                 id="R2/deny/zone-suffix-not-on-label-boundary"),
    pytest.param("www.edd.ca.gov", [DMV], False, "R2", "name.not_granted", None,
                 id="R2/deny/different-zone"),
    pytest.param("*.ca.gov", [DMV], False, "R1", "name.wildcard_on_suffix", None,
                 id="R2/deny/parent-wildcard-is-r1-first"),
    pytest.param("ca.gov", [DMV], False, "R1", "name.bare_suffix", None,
                 id="R2/deny/parent-suffix-is-r1-first"),
    pytest.param("_x.dmv.ca.gov", [DMV], False, "R1", "name.underscore", None,
                 id="R2/deny/r1-checked-before-grants"),
    pytest.param("permits.ca.gov", [PERMITS], True, "R2", "name.allowed", "host permits.ca.gov",
                 id="R2/allow/host-covers-itself"),
    pytest.param("PERMITS.ca.gov", [PERMITS], True, "R2", "name.allowed", "host permits.ca.gov",
                 id="R2/allow/host-case-folded"),
    pytest.param("*.permits.ca.gov", [PERMITS], False, "R2", "name.not_granted", None,
                 id="R2/deny/host-not-wildcard"),
    pytest.param("www.permits.ca.gov", [PERMITS], False, "R2", "name.not_granted", None,
                 id="R2/deny/host-not-subdomain"),
    pytest.param("permit.ca.gov", [PERMITS], False, "R2", "name.not_granted", None,
                 id="R2/deny/host-not-sibling"),
    pytest.param("www.dmv.ca.gov", [], False, "R2", "name.not_granted", None,
                 id="R2/deny/empty-grants"),
    pytest.param("www.dmv.ca.gov", None, True, "R1", "name.allowed", "suffix ca.gov",
                 id="R2/allow/operator-scope"),
    pytest.param("www.anything.cahwnet.gov", None, True, "R1", "name.allowed",
                 "suffix cahwnet.gov", id="R2/allow/operator-scope-other-suffix"),
    pytest.param("*.ca.gov", None, False, "R1", "name.wildcard_on_suffix", None,
                 id="R2/deny/operator-scope-still-r1"),
    pytest.param("www.dmv.ca.gov", [DMV, WWW_DMV], True, "R2", "name.allowed",
                 "host www.dmv.ca.gov", id="R2/allow/most-specific-host-cited"),
    pytest.param("x.apps.dmv.ca.gov", [DMV, APPS_DMV], True, "R2", "name.allowed",
                 "zone apps.dmv.ca.gov", id="R2/allow/most-specific-zone-cited"),
    pytest.param("permits.ca.gov", [DMV, PERMITS], True, "R2", "name.allowed",
                 "host permits.ca.gov", id="R2/allow/second-grant-matches"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "grants", "allowed", "rule", "code", "reason"), R2_CASES)
def test_r2_grants(
    name: str,
    grants: list[Grant] | None,
    allowed: bool,
    rule: str,
    code: str,
    reason: str | None,
) -> None:
    verdict = judge(name, grants=grants)
    assert (verdict.allowed, verdict.rule, verdict.code) == (allowed, rule, code), verdict.line()
    if reason is not None:
        assert verdict.reason == reason
    if allowed and rule == "R2":
        assert verdict.grant is not None
        assert verdict.grant.label == reason
        assert verdict.normalized is not None and verdict.grant.covers(verdict.normalized)
    else:
        assert verdict.grant is None


@pytest.mark.parametrize(
    ("name", "grants", "needle"),
    [
        pytest.param("x.ca.gov", [], "holds no grants", id="R2/deny/reason-no-grants"),
        pytest.param(
            "*.permits.ca.gov", [PERMITS], "covers only permits.ca.gov", id="R2/deny/reason-host"
        ),
        pytest.param("dmv2.ca.gov", [DMV], "zone dmv.ca.gov", id="R2/deny/reason-lists-grants"),
    ],
)
def test_r2_deny_reason_says_why(name: str, grants: list[Grant], needle: str) -> None:
    assert needle in judge(name, grants=grants).reason


@pytest.mark.parametrize(
    ("grant", "name", "covered"),
    [
        pytest.param(DMV, "dmv.ca.gov", True, id="R2/covers/zone-itself"),
        pytest.param(DMV, "*.x.y.dmv.ca.gov", True, id="R2/covers/zone-wildcard-three-deep"),
        pytest.param(DMV, "dmv2.ca.gov", False, id="R2/covers/zone-not-sibling"),
        pytest.param(DMV, "ca.gov", False, id="R2/covers/zone-not-parent"),
        pytest.param(PERMITS, "permits.ca.gov", True, id="R2/covers/host-itself"),
        pytest.param(PERMITS, "*.permits.ca.gov", False, id="R2/covers/host-not-wildcard"),
        pytest.param(PERMITS, "a.permits.ca.gov", False, id="R2/covers/host-not-subdomain"),
    ],
)
def test_r2_covers(grant: Grant, name: str, covered: bool) -> None:
    assert grant.covers(name) is covered


@pytest.mark.parametrize(
    ("grant", "held", "inside"),
    [
        pytest.param(DMV, DMV, True, id="R2/within/zone-itself"),
        pytest.param(APPS_DMV, DMV, True, id="R2/within/zone-in-zone"),
        pytest.param(WWW_DMV, DMV, True, id="R2/within/host-in-zone"),
        pytest.param(PERMITS, PERMITS, True, id="R2/within/host-itself"),
        pytest.param(DMV, APPS_DMV, False, id="R2/within/zone-not-in-subzone"),
        pytest.param(Grant.parse("zone:permits.ca.gov"), PERMITS, False,
                     id="R2/within/zone-never-in-host"),
        pytest.param(Grant.parse("host:a.permits.ca.gov"), PERMITS, False,
                     id="R2/within/host-not-below-host"),
        pytest.param(Grant.parse("zone:dmv2.ca.gov"), DMV, False, id="R2/within/not-sibling"),
    ],
)  # fmt: skip
def test_r2_within(grant: Grant, held: Grant, inside: bool) -> None:
    """What an agency's set-up case may ask for (issue 10, finding 8)."""
    assert grant.within(held) is inside


# --------------------------------------------------------------------------- Grant.parse

GRANT_OK = [
    pytest.param("zone:dmv.ca.gov", GrantKind.ZONE, "dmv.ca.gov", id="R2/grant/zone"),
    pytest.param("host:permits.ca.gov", GrantKind.HOST, "permits.ca.gov", id="R2/grant/host"),
    pytest.param("host:Permits.CA.gov", GrantKind.HOST, "permits.ca.gov", id="R2/grant/cased"),
    pytest.param("zone:bücher.ca.gov", GrantKind.ZONE, "xn--bcher-kva.ca.gov", id="R2/grant/idn"),
    pytest.param("zone:a.b.state.ca.us", GrantKind.ZONE, "a.b.state.ca.us", id="R2/grant/deep"),
]


@pytest.mark.parametrize(("text", "kind", "name"), GRANT_OK)
def test_grant_parse(text: str, kind: GrantKind, name: str) -> None:
    grant = Grant.parse(text)
    assert (grant.kind, grant.name) == (kind, name)
    assert str(grant) == f"{kind}:{name}"
    assert Grant.parse(str(grant)) == grant


GRANT_INVALID = [
    pytest.param("dmv.ca.gov", id="R2/grant-invalid/no-kind"),
    pytest.param("", id="R2/grant-invalid/empty"),
    pytest.param("domain:dmv.ca.gov", id="R2/grant-invalid/unknown-kind"),
    pytest.param("ZONE:dmv.ca.gov", id="R2/grant-invalid/kind-is-lower-case"),
    pytest.param(" zone:dmv.ca.gov", id="R2/grant-invalid/space-before-kind"),
]


@pytest.mark.parametrize("text", GRANT_INVALID)
def test_grant_parse_invalid_syntax(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Grant.parse(text)
    assert caught.value.code == "grant.invalid"
    assert not isinstance(caught.value, PolicyRefusal)


GRANT_REFUSED = [
    pytest.param("zone:ca.gov", "R1", "name.bare_suffix", id="R1/grant/bare-suffix"),
    pytest.param("host:state.ca.us", "R1", "name.bare_suffix", id="R1/grant/bare-suffix-host"),
    pytest.param("zone:dmv.ca.gov.", "R1", "name.trailing_dot", id="R1/grant/trailing-dot"),
    pytest.param("host:evilca.gov", "R1", "name.lookalike", id="R1/grant/lookalike"),
    pytest.param("zone:example.com", "R1", "name.outside_suffixes", id="R1/grant/outside"),
    pytest.param("zone:", "R1", "name.empty", id="R1/grant/empty-name"),
    pytest.param("zone: dmv.ca.gov", "R1", "name.whitespace", id="R1/grant/space-in-name"),
    pytest.param("zone:xn--zz.ca.gov", "R1", "name.bad_punycode", id="R1/grant/bad-punycode"),
    pytest.param("zone:*.dmv.ca.gov", "R2", "grant.wildcard", id="R2/grant/wildcard-zone"),
    pytest.param("host:*.dmv.ca.gov", "R2", "grant.wildcard", id="R2/grant/wildcard-host"),
    pytest.param("zone:*.ca.gov", "R2", "grant.wildcard", id="R2/grant/wildcard-on-suffix"),
]


@pytest.mark.parametrize(("text", "rule", "code"), GRANT_REFUSED)
def test_grant_parse_refused(text: str, rule: str, code: str) -> None:
    with pytest.raises(PolicyRefusal) as caught:
        Grant.parse(text)
    assert (caught.value.rule, caught.value.code) == (rule, code)


def test_grant_parse_uses_the_configured_suffixes() -> None:
    assert Grant.parse("zone:x.example.org", CUSTOM).name == "x.example.org"
    with pytest.raises(PolicyRefusal) as caught:
        Grant.parse("zone:dmv.ca.gov", CUSTOM)
    assert caught.value.code == "name.outside_suffixes"


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        pytest.param("zone", "DMV.ca.gov", id="R2/grant-direct/not-normalized"),
        pytest.param("zone", "bücher.ca.gov", id="R2/grant-direct/not-alabel"),
        pytest.param("area", "dmv.ca.gov", id="R2/grant-direct/bad-kind"),
        pytest.param("zone", "dmv.ca.gov.", id="R2/grant-direct/trailing-dot"),
    ],
)
def test_grant_constructor_refuses_unnormalized(kind: str, name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Grant(kind, name)  # type: ignore[arg-type]
    assert caught.value.code == "grant.invalid"


def test_grant_constructor_coerces_kind_from_storage() -> None:
    grant = Grant("host", "permits.ca.gov")  # type: ignore[arg-type]
    assert grant.kind is GrantKind.HOST
    assert grant == PERMITS


# --------------------------------------------------------------------------- Verdict output


def test_verdict_line_and_dict() -> None:
    allow = judge("WWW.dmv.ca.gov", grants=[DMV])
    assert allow.line() == "allow WWW.dmv.ca.gov (zone dmv.ca.gov)"
    assert allow.as_dict() == {
        "name": "WWW.dmv.ca.gov",
        "allowed": True,
        "rule": "R2",
        "reason": "zone dmv.ca.gov",
        "normalized": "www.dmv.ca.gov",
        "code": "name.allowed",
    }
    deny = judge("a_b.ca.gov")
    assert deny.line() == f"deny a_b.ca.gov: R1: {deny.reason}"
    assert deny.as_dict()["normalized"] is None
    assert judge("x.ca.gov").line() == "allow x.ca.gov (suffix ca.gov)"


def test_verdict_line_quotes_names_that_would_print_misleadingly() -> None:
    assert judge(" x.ca.gov").line().startswith("deny ' x.ca.gov': R1: ")
    assert judge("").line().startswith("deny '': R1: ")


def test_verdict_is_frozen() -> None:
    verdict = judge("x.ca.gov")
    assert isinstance(verdict, Verdict)
    with pytest.raises(AttributeError):
        verdict.allowed = False  # type: ignore[misc]


# --------------------------------------------------------------------------- require_allowed


def test_require_allowed_dedupes_and_keeps_order() -> None:
    names = ["b.dmv.ca.gov", "A.dmv.ca.gov", "a.dmv.ca.gov", "bücher.dmv.ca.gov",
             "xn--bcher-kva.dmv.ca.gov", "B.DMV.CA.GOV"]  # fmt: skip
    assert require_allowed(names, grants=[DMV], max_names=MAX_NAMES_PER_CERT) == [
        "b.dmv.ca.gov",
        "a.dmv.ca.gov",
        "xn--bcher-kva.dmv.ca.gov",
    ]


def test_require_allowed_raises_first_denial_with_every_verdict() -> None:
    names = ["www.dmv.ca.gov", "www.edd.ca.gov", "x_y.dmv.ca.gov"]
    with pytest.raises(PolicyRefusal) as caught:
        require_allowed(names, grants=[DMV], max_names=MAX_NAMES_PER_CERT)
    err = caught.value
    assert (err.rule, err.code) == ("R2", "name.not_granted")
    assert "www.edd.ca.gov" in err.detail and "1 more refused" in err.detail
    verdicts = err.extra["verdicts"]
    assert [v["name"] for v in verdicts] == names
    assert [v["allowed"] for v in verdicts] == [True, False, False]
    assert [v["code"] for v in verdicts] == ["name.allowed", "name.not_granted", "name.underscore"]


def test_require_allowed_operator_scope_reports_r1() -> None:
    with pytest.raises(PolicyRefusal) as caught:
        require_allowed(["*.ca.gov", "www.dmv.ca.gov"], max_names=MAX_NAMES_PER_CERT)
    assert (caught.value.rule, caught.value.code) == ("R1", "name.wildcard_on_suffix")
    assert len(caught.value.extra["verdicts"]) == 2


def test_require_allowed_empty_grants_refuses_everything() -> None:
    with pytest.raises(PolicyRefusal) as caught:
        require_allowed(["www.dmv.ca.gov"], grants=[], max_names=MAX_NAMES_PER_CERT)
    assert (caught.value.rule, caught.value.code) == ("R2", "name.not_granted")


def test_require_allowed_needs_a_name() -> None:
    with pytest.raises(InvalidInput) as caught:
        require_allowed([], max_names=MAX_NAMES_PER_CERT)
    assert caught.value.code == "name.none"
    assert not isinstance(caught.value, PolicyRefusal)


def test_require_allowed_refuses_a_bare_string() -> None:
    with pytest.raises(TypeError):
        require_allowed("www.dmv.ca.gov", max_names=MAX_NAMES_PER_CERT)


# --------------------------------------------------------------------------- properties

_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?", fullmatch=True).filter(
    lambda label: label[2:4] != "--"
)


def _random_case(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(ch.upper() if flip else ch for ch, flip in zip(text, flips, strict=True))


@st.composite
def allowed_names(draw: st.DrawFn) -> str:
    labels = draw(st.lists(_LABEL, min_size=1, max_size=4))
    wildcard = draw(st.booleans())
    suffix = draw(st.sampled_from(DEFAULT_SUFFIXES))
    name = ".".join([*labels, suffix])
    if wildcard:
        name = "*." + name
    return _random_case(draw, name)


@settings(database=None, deadline=None)
@given(allowed_names())
def test_property_normalize_is_idempotent_on_allowed_names(name: str) -> None:
    normalized = check_name(name)
    assert normalized == name.lower()
    assert normalize(normalized) == normalized
    assert check_name(normalized) == normalized


@settings(database=None, deadline=None)
@given(st.text(max_size=40), st.sampled_from([DMV, PERMITS, BUCHER]))
def test_property_judge_never_raises_and_grants_bound_the_name(text: str, grant: Grant) -> None:
    for name in (text, text + ".dmv.ca.gov", "*." + text + ".dmv.ca.gov"):
        verdict = judge(name, grants=[grant])
        assert verdict.rule in {"R1", "R2"}
        if verdict.allowed:
            # R2: an allowed name is the granted name or below it on a label boundary, and
            # a host grant allows exactly one name.
            assert verdict.normalized is not None
            assert verdict.normalized.isascii()
            assert normalize(verdict.normalized) == verdict.normalized
            if grant.kind is GrantKind.HOST:
                assert verdict.normalized == grant.name
            else:
                assert verdict.normalized == grant.name or verdict.normalized.endswith(
                    "." + grant.name
                )
        else:
            assert verdict.code != "name.allowed"
            assert verdict.reason


# --------------------------------------------------------------------------- R1: name count


@pytest.mark.parametrize(
    ("names", "limit", "refused"),
    [
        pytest.param(["a.dmv.ca.gov"] * 3, 1, False, id="R1/max-names/duplicates-count-once"),
        pytest.param([f"n{i}.dmv.ca.gov" for i in range(3)], 3, False, id="R1/max-names/at-limit"),
        pytest.param([f"n{i}.dmv.ca.gov" for i in range(4)], 3, True, id="R1/max-names/over"),
        pytest.param(
            [f"n{i}.dmv.ca.gov" for i in range(1000)], 100, True, id="R1/max-names/thousand"
        ),
    ],
)
def test_name_count(names: list[str], limit: int, refused: bool) -> None:
    if not refused:
        check_name_count(names, limit)
        assert require_allowed(names, grants=[DMV], max_names=limit)
        return
    for call in (check_name_count, lambda n, m: require_allowed(n, max_names=m)):
        with pytest.raises(PolicyRefusal) as info:
            call(names, limit)
        assert (info.value.code, info.value.rule) == ("name.too_many", "R1")
        assert info.value.extra == {"rule": "R1", "count": len(set(names)), "limit": limit}
        assert f"at most {limit}" in info.value.detail


def test_name_count_is_checked_before_any_name_is_judged() -> None:
    # A bad name among too many: the count is the refusal (no thousand verdicts built).
    with pytest.raises(PolicyRefusal) as info:
        require_allowed(["bad_name.ca.gov", "a.ca.gov", "b.ca.gov"], max_names=2)
    assert info.value.code == "name.too_many"


# --------------------------------------------------------------------------- robustness

# Any text, with the characters that break encoders and parsers (NUL, lone surrogates) and
# the pieces the rules look at made frequent (hypothesis rarely draws them on its own).
PIECES = ["\x00", "\ud800", "\udfff", ".", "xn--", "*", "-", ":", "ü", "ca.gov", "[", "]"]
ANY_TEXT = st.lists(
    st.characters(exclude_categories=()) | st.sampled_from(PIECES), max_size=40
).map("".join)


@settings(database=None, deadline=None, max_examples=300)
@given(ANY_TEXT)
def test_property_name_rules_raise_only_certdesk_errors(text: str) -> None:
    """Issue 10: whatever text arrives, the name rules answer or raise a certdesk error."""
    calls = (
        normalize,
        check_name,
        lambda t: judge(t, grants=[DMV]),
        lambda t: require_allowed([t, t + ".dmv.ca.gov"], grants=[DMV], max_names=5),
        Grant.parse,
        lambda t: Grant.parse("zone:" + t),
    )
    for call in calls:
        try:
            call(text)
        except CertdeskError:
            pass
