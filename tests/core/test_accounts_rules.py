"""R10 account rules, pure: login IDs, e-mail addresses, role sets, password age, lockout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from certdesk.core.access import Role
from certdesk.core.accounts import (
    Lockout,
    check_new_password,
    check_roles,
    describe_instant,
    is_locked,
    normalize_email,
    normalize_login_id,
    parse_roles,
    password_expired,
    primary_role,
)
from certdesk.errors import InvalidInput

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        pytest.param("jdoe", "jdoe", id="R10/login/plain"),
        pytest.param("JDoe", "jdoe", id="R10/login/lower-cased"),
        pytest.param("j.doe_2-x", "j.doe_2-x", id="R10/login/dot-underscore-dash"),
        pytest.param("abc", "abc", id="R10/login/shortest"),
        pytest.param("a" * 64, "a" * 64, id="R10/login/longest"),
    ],
)
def test_login_id_accepted(given: str, stored: str) -> None:
    assert normalize_login_id(given) == stored


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("ab", id="R10/login/too-short"),
        pytest.param("a" * 65, id="R10/login/too-long"),
        pytest.param("1abc", id="R10/login/starts-with-digit"),
        pytest.param(".abc", id="R10/login/starts-with-dot"),
        pytest.param(" jdoe", id="R10/login/leading-space"),
        pytest.param("j doe", id="R10/login/inner-space"),
        pytest.param("jdoe@dmv", id="R10/login/at-sign"),
        pytest.param("jdöe", id="R10/login/non-ascii"),
        pytest.param("", id="R10/login/empty"),
    ],
)
def test_login_id_refused(given: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_login_id(given)
    assert err.value.code == "user.login_id"
    assert "3-64 characters" in err.value.detail


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        pytest.param("jane.doe@dmv.ca.gov", "jane.doe@dmv.ca.gov", id="email/plain"),
        pytest.param("Jane@DMV.CA.GOV", "Jane@dmv.ca.gov", id="email/domain-lower-cased"),
        pytest.param("a+tag@x-y.example.org", "a+tag@x-y.example.org", id="email/plus-tag"),
    ],
)
def test_email_accepted(given: str, stored: str) -> None:
    assert normalize_email(given) == stored


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("jane", id="email/no-at"),
        pytest.param("jane@localhost", id="email/single-label-host"),
        pytest.param("jane doe@dmv.ca.gov", id="email/space"),
        pytest.param("jane@dmv.ca.gov\r\nBcc: x@evil.example", id="email/header-injection"),
        pytest.param("jane@dmv.ca.gov\n", id="email/trailing-newline"),
        pytest.param("jane@@dmv.ca.gov", id="email/two-ats"),
        pytest.param("jane.@dmv.ca.gov", id="email/dot-before-at"),
        pytest.param("jane@-dmv.ca.gov", id="email/label-starts-with-dash"),
        pytest.param("j" * 250 + "@dmv.ca.gov", id="email/too-long"),
    ],
)
def test_email_refused(given: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_email(given)
    assert err.value.code == "user.email"


@pytest.mark.parametrize(
    ("roles", "has_org"),
    [
        pytest.param({"requester"}, True, id="R10/roles/requester"),
        pytest.param({"requester", "approver"}, True, id="R10/roles/requester+approver"),
        pytest.param({"delegated_admin", "approver"}, True, id="R10/roles/da+approver"),
        pytest.param({"operator"}, False, id="R10/roles/operator"),
        pytest.param({"auditor"}, False, id="R10/roles/auditor"),
    ],
)
def test_role_sets_accepted(roles: set[str], has_org: bool) -> None:
    assert check_roles(parse_roles(roles), has_org=has_org) == {Role(r) for r in roles}


@pytest.mark.parametrize(
    ("roles", "has_org", "code"),
    [
        pytest.param(set(), True, "user.roles", id="R10/roles/none"),
        pytest.param({"requester"}, False, "user.org", id="R10/roles/org-role-without-org"),
        pytest.param({"operator"}, True, "user.org", id="R10/roles/operator-with-org"),
        pytest.param({"operator", "requester"}, True, "user.roles", id="R10/roles/mixed"),
        pytest.param({"superuser"}, False, "user.role", id="R10/roles/unknown"),
    ],
)
def test_role_sets_refused(roles: set[str], has_org: bool, code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_roles(parse_roles(roles), has_org=has_org)
    assert err.value.code == code


def test_primary_role_is_the_widest() -> None:
    assert primary_role({Role.REQUESTER, Role.APPROVER}) == Role.APPROVER
    assert primary_role({Role.REQUESTER, Role.DELEGATED_ADMIN}) == Role.DELEGATED_ADMIN
    assert primary_role({Role.AUDITOR, Role.OPERATOR}) == Role.OPERATOR


@pytest.mark.parametrize(
    ("password", "code"),
    [
        pytest.param("short", "password.too_short", id="R10/password/too-short"),
        pytest.param("x" * 257, "password.too_long", id="R10/password/too-long"),
        pytest.param("my-jdoe-password", "password.contains_login", id="R10/password/has-login"),
    ],
)
def test_new_password_refused(password: str, code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_new_password(password, min_length=12, login_id="jdoe")
    assert err.value.code == code


def test_new_password_needs_no_composition_rules() -> None:
    check_new_password("correct horse battery staple", min_length=12, login_id="jdoe")


@pytest.mark.parametrize(
    ("age", "expired"),
    [
        pytest.param(timedelta(0), False, id="R10/expiry/day-0"),
        pytest.param(timedelta(days=89, hours=23, minutes=59), False, id="R10/expiry/day-89"),
        pytest.param(timedelta(days=90), True, id="R10/expiry/day-90"),
        pytest.param(timedelta(days=400), True, id="R10/expiry/day-400"),
    ],
)
def test_password_expiry(age: timedelta, expired: bool) -> None:
    assert password_expired(T0, T0 + age, max_age_days=90) is expired


def test_password_without_date_or_flagged_is_expired() -> None:
    assert password_expired(None, T0, max_age_days=90)
    assert password_expired(T0, T0, max_age_days=90, must_change=True)


def test_lockout_counts_then_locks_and_restarts() -> None:
    lock = Lockout(threshold=5, minutes=15)
    failures = 0
    for expected in (1, 2, 3, 4):
        failures, until = lock.after_failure(failures, T0)
        assert (failures, until) == (expected, None)
    failures, until = lock.after_failure(failures, T0)
    assert failures == 0  # the count restarts when the lock ends
    assert until == T0 + timedelta(minutes=15)
    assert is_locked(until, T0 + timedelta(minutes=14, seconds=59))
    assert not is_locked(until, T0 + timedelta(minutes=15))
    assert not is_locked(None, T0)


def test_instants_are_described_in_pacific_and_utc() -> None:
    assert describe_instant(T0) == "10:00 PST (18:00 UTC) on 2026-11-26"
    summer = datetime(2026, 7, 1, 18, 0, tzinfo=UTC)
    assert describe_instant(summer) == "11:00 PDT (18:00 UTC) on 2026-07-01"
