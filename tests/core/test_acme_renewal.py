"""The ACME renewal rules in the core (RFC 9773, R6, R13, R17): the certID, the suggested
window, profiles and SC-081's validation-reuse limit. Microsecond tests, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from certdesk.core.acme_profiles import dv_reuse_days, profile_days
from certdesk.core.acme_renewal import NOW_WINDOW, CertId, parse_cert_id, suggested_window
from certdesk.core.calendar import BusinessCalendar
from certdesk.core.lifecycle import LifecyclePolicy
from certdesk.errors import InvalidInput

CAL = BusinessCalendar()
POLICY = LifecyclePolicy()
T0 = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("aki", "serial", "text"),
    [
        # RFC 9773 §4.1's example: keyIdentifier 69:88:5B:…:C8:D4, serial 00:87:65:43:21
        # (the leading zero byte keeps it positive).
        pytest.param(
            bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4"),
            0x87654321,
            "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
            id="rfc9773/4.1-example",
        ),
        pytest.param(b"\x01", 1, "AQ.AQ", id="rfc9773/small-serial"),
        pytest.param(b"\x01", 0x7F, "AQ.fw", id="rfc9773/no-sign-byte-below-0x80"),
        pytest.param(b"\x01", 0x80, "AQ.AIA", id="rfc9773/sign-byte-at-0x80"),
    ],
)
def test_cert_id_round_trips(aki: bytes, serial: int, text: str) -> None:
    assert str(CertId(aki, serial)) == text
    assert parse_cert_id(text) == CertId(aki, serial)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="rfc9773/empty"),
        pytest.param("AQ", id="rfc9773/no-dot"),
        pytest.param("AQ.AQ.AQ", id="rfc9773/two-dots"),
        pytest.param("AQ==.AQ", id="rfc9773/padding"),
        pytest.param("A+.AQ", id="rfc9773/not-base64url"),
        pytest.param(".AQ", id="rfc9773/empty-key-identifier"),
        pytest.param("AQ.AAE", id="rfc9773/redundant-zero-byte"),
        pytest.param("AQ.gA", id="rfc9773/negative-serial"),
        pytest.param("AQ.AA", id="rfc9773/zero-serial"),
        pytest.param("AQ." + "AQ" * 30, id="rfc9773/serial-over-20-bytes"),
    ],
)
def test_cert_id_refusals(text: str) -> None:
    with pytest.raises(ValueError):
        parse_cert_id(text)


def test_r6_window_of_a_199_day_certificate() -> None:
    not_after = T0 + timedelta(days=199)
    w = suggested_window(T0, not_after, T0, CAL, POLICY)
    assert w.reason == "r6"
    # Opens at two thirds of the validity (the lifetime point binds before the turnaround) …
    assert abs(w.start - (T0 + (not_after - T0) * 2 / 3)) < timedelta(seconds=1)
    # … and closes on the last business day that keeps the 7-day margin.
    assert w.start < w.end <= not_after - timedelta(days=7)


def test_r6_window_of_a_short_lived_certificate_is_not_at_issuance() -> None:
    not_after = T0 + timedelta(days=7)
    w = suggested_window(T0, not_after, T0, CAL, POLICY)
    assert T0 < w.start < w.end < not_after
    assert w.end - w.start == (not_after - w.start) / 2


@pytest.mark.parametrize(
    ("revoked", "replace", "reason"),
    [
        pytest.param(True, False, "revoked", id="rfc9773/revoked-is-now"),
        pytest.param(False, True, "replace-requested", id="rfc9773/replace-requested-is-now"),
        pytest.param(True, True, "revoked", id="rfc9773/revoked-wins"),
    ],
)
def test_now_windows(revoked: bool, replace: bool, reason: str) -> None:
    now = T0 + timedelta(days=3)
    w = suggested_window(
        T0, T0 + timedelta(days=199), now, CAL, POLICY, revoked=revoked, replace_requested=replace
    )
    assert (w.start, w.end, w.reason) == (now - NOW_WINDOW, now, reason)


@pytest.mark.parametrize(
    ("at", "days"),
    [
        pytest.param(datetime(2026, 3, 14, tzinfo=UTC), 398, id="sc081/before-2026-03-15"),
        pytest.param(datetime(2026, 3, 15, tzinfo=UTC), 200, id="sc081/from-2026-03-15"),
        pytest.param(datetime(2027, 3, 15, tzinfo=UTC), 100, id="sc081/from-2027-03-15"),
        pytest.param(datetime(2029, 3, 15, tzinfo=UTC), 10, id="sc081/from-2029-03-15"),
    ],
)
def test_sc081_validation_reuse_limit(at: datetime, days: int) -> None:
    assert dv_reuse_days(at) == days


@pytest.mark.parametrize(
    ("profile", "days"),
    [
        pytest.param(None, None, id="profiles/none-is-default"),
        pytest.param("default", None, id="profiles/default-is-r13"),
        pytest.param("shortlived", 7, id="profiles/shortlived"),
    ],
)
def test_profile_days(profile: str | None, days: int | None) -> None:
    assert profile_days(profile, 7) == days


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        profile_days("forever", 7)
    assert exc.value.code == "acme.invalid_profile"
