"""Accounts (R10) as pure rules: login IDs, e-mail addresses, role sets, password age, lockout.

Nothing here reads a clock, a database or a hash: callers pass the instant they reason about,
so the rules are tested in microseconds and tests travel in time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from certdesk.core.access import GLOBAL_ROLES, ORG_ROLES, Role
from certdesk.core.calendar import PACIFIC
from certdesk.errors import InvalidInput

# R10: a login ID never expires and is never reused, so it is chosen carefully once:
# lower-case, starting with a letter, 3-64 characters of letters, digits, '.', '_' or '-'.
LOGIN_ID = re.compile(r"^[a-z][a-z0-9._-]{2,63}$")

# A practical subset of RFC 5322 addr-spec: a dot-atom local part and a DNS host name with
# at least two labels (A-labels for internationalized domains). No spaces, quotes, comments or
# line breaks, so an address can never inject a header into the mail it is written into.
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,62}$"
)
MAX_EMAIL = 254  # RFC 5321 §4.5.3.1.3 (path) less the angle brackets

# NIST SP 800-63B §5.1.1.2: a minimum length and no composition rules; a generous maximum
# only so that hashing an absurd input cannot be used to tie up the server.
MAX_PASSWORD = 256

# Which of a person's roles names them (the Actor's primary role): the widest authority first.
ROLE_ORDER: tuple[Role, ...] = (
    Role.OPERATOR,
    Role.AUDITOR,
    Role.DELEGATED_ADMIN,
    Role.APPROVER,
    Role.REQUESTER,
)


def normalize_login_id(value: str) -> str:
    """The login ID as stored (lower-case); raises with the rule when it is not acceptable."""
    login = value.lower()
    if not LOGIN_ID.match(login):
        raise InvalidInput(
            "user.login_id",
            f"login ID {value!r} must be 3-64 characters: a letter, then letters, digits,"
            " '.', '_' or '-'",
        )
    return login


def normalize_email(value: str) -> str:
    """The address with its domain in lower case; raises when it is not a plain address."""
    if len(value) > MAX_EMAIL or not _EMAIL.fullmatch(value):
        raise InvalidInput(
            "user.email",
            f"{value[:80]!r} is not an e-mail address of the form name@host.domain",
        )
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalize_name(value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise InvalidInput("user.name", "a user's name must not be empty")
    if len(name) > 200:
        raise InvalidInput("user.name", "a user's name may be at most 200 characters")
    return name


def parse_roles(values: Iterable[str]) -> frozenset[Role]:
    """Role names to roles; an unknown name is refused with the list of known ones."""
    out: set[Role] = set()
    for value in values:
        try:
            out.add(Role(value.strip().lower()))
        except ValueError:
            choices = ", ".join(r.value for r in ROLE_ORDER)
            raise InvalidInput(
                "user.role", f"unknown role {value!r}; use one of {choices}"
            ) from None
    return frozenset(out)


def check_roles(roles: frozenset[Role], *, has_org: bool) -> frozenset[Role]:
    """R10/DESIGN §1: a person holds global roles, or roles in exactly one organization.

    Operators and auditors act across organizations and belong to none; requesters,
    approvers and delegated administrators always belong to one organization.
    """
    if not roles:
        raise InvalidInput("user.roles", "a user needs at least one role")
    global_roles, org_roles = roles & GLOBAL_ROLES, roles & ORG_ROLES
    if global_roles and org_roles:
        raise InvalidInput(
            "user.roles",
            f"{', '.join(sorted(global_roles))} cannot be combined with organization roles"
            f" ({', '.join(sorted(org_roles))}): cert services staff belong to no organization",
        )
    if org_roles and not has_org:
        raise InvalidInput(
            "user.org", f"{', '.join(sorted(org_roles))} accounts need an organization (--org)"
        )
    if global_roles and has_org:
        raise InvalidInput(
            "user.org",
            f"{', '.join(sorted(global_roles))} accounts belong to no organization; omit --org",
        )
    return roles


def ordered_roles(roles: Iterable[Role]) -> tuple[Role, ...]:
    held = set(roles)
    return tuple(r for r in ROLE_ORDER if r in held)


def primary_role(roles: Iterable[Role]) -> Role:
    ordered = ordered_roles(roles)
    if not ordered:
        raise ValueError("a person without roles has no primary role")
    return ordered[0]


def check_new_password(password: str, *, min_length: int, login_id: str) -> None:
    """NIST SP 800-63B §5.1.1.2: length, not the login ID; no composition rules."""
    if len(password) < min_length:
        raise InvalidInput(
            "password.too_short", f"the password must be at least {min_length} characters long"
        )
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(
            "password.too_long", f"the password may be at most {MAX_PASSWORD} characters long"
        )
    if login_id and login_id in password.lower():
        raise InvalidInput("password.contains_login", "the password must not contain the login ID")


def password_expires_at(changed_at: datetime, max_age_days: int) -> datetime:
    return changed_at + timedelta(days=max_age_days)


def password_expired(
    changed_at: datetime | None, now: datetime, *, max_age_days: int, must_change: bool = False
) -> bool:
    """R10: a password expires ``max_age_days`` after it was set (day 90 is already expired)."""
    if must_change or changed_at is None:
        return True
    return now >= password_expires_at(changed_at, max_age_days)


@dataclass(frozen=True)
class Lockout:
    """R10: ``threshold`` failed logins in a row lock an account for ``minutes``.

    Attempts while the account is locked are refused without looking at the password (so a
    locked account is no password oracle) and neither count nor extend the lock. When the lock
    ends the count starts again from zero; a successful login also resets it.
    """

    threshold: int
    minutes: int

    def after_failure(self, failures: int, now: datetime) -> tuple[int, datetime | None]:
        """The failure count to store and, when this failure locks the account, until when."""
        failures += 1
        if failures >= self.threshold:
            return 0, now + timedelta(minutes=self.minutes)
        return failures, None


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and now < locked_until


def describe_instant(instant: datetime) -> str:
    """``10:15 PST (18:15 UTC) on 2026-11-26``: Pacific time for people, UTC to be exact."""
    local = instant.astimezone(PACIFIC)
    utc = instant.astimezone(UTC)
    return f"{local:%H:%M} {local.tzname()} ({utc:%H:%M} UTC) on {local:%Y-%m-%d}"
