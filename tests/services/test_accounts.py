"""R10 accounts through the services, on SQLite and PostgreSQL, with an injected clock.

Enrollment links, argon2id hashes, password expiry, lockout, TOTP, sessions that follow the
person's current state, who may manage whom, and an audit log that never holds a secret.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from sqlalchemy import func, select

from certdesk.config import Settings
from certdesk.core.access import Action, Actor, Role
from certdesk.errors import CertdeskError, Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from certdesk.services.people import passwords
from certdesk.services.people.account_mail import LINK_MARK, opened
from certdesk.services.people.logins import LoginSession
from certdesk.services.registry import Services
from certdesk.services.secretbox import KEY_FILE
from certdesk.store.models import (
    ApiToken,
    AuditRow,
    Enrollment,
    Notice,
    User,
    UserRole,
)
from conftest import AUDITOR, OPERATOR, ManualClock, org_actor
from world.refusals import refused

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a different long passphrase"
TRAINING = "https://training.cdt.ca.gov/certdesk"
BASE = "https://certdesk.cdt.ca.gov"
# Flows run on SQLite and PostgreSQL; tables whose rows differ only in input run on SQLite.
SQLITE = pytest.mark.parametrize("backend", ["sqlite"])  # overrides conftest's backend


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Overrides conftest's: a public base URL and a training link (R10)."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        base_url=BASE,
        ca_passphrase="test-passphrase",
        training_url=TRAINING,
    )


@pytest.fixture
def desk(services: Services) -> Services:
    """Two organizations: dmv (self-managed) and cdt (managed)."""
    services.orgs.create(OPERATOR, "dmv", "DMV", self_managed=True, grants=["zone:dmv.ca.gov"])
    services.orgs.create(OPERATOR, "cdt", "CDT", self_managed=False, grants=["zone:cdt.ca.gov"])
    return services


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


def add_user(
    svc: Services,
    login: str,
    *,
    org: str | None = "dmv",
    roles: tuple[str, ...] = ("requester",),
    password: str | None = PASSWORD,
    by: Actor = OPERATOR,
) -> str:
    """Create (and, with a password, enroll) an account; returns the enrollment link."""
    new = svc.accounts.create(
        by, login, name=f"{login.title()} Person", email=f"{login}@example.ca.gov",
        org_code=org, roles=roles,
    )  # fmt: skip
    if password is not None:
        svc.accounts.enroll(token_of(new.link), password)
    return new.link


def signed_in(svc: Services, login: str, password: str = PASSWORD) -> tuple[LoginSession, Actor]:
    session = svc.logins.login(login, password)
    return session, svc.tokens.authenticate(session.token)


def snapshot(svc: Services) -> dict[str, int]:
    """Row counts a refused request must leave as they were."""
    models = {
        "users": User,
        "roles": UserRole,
        "links": Enrollment,
        "mail": Notice,
        "audit": AuditRow,
        "tokens": ApiToken,
    }
    with svc.rt.reads() as s:
        out = {k: s.scalar(select(func.count()).select_from(m)) or 0 for k, m in models.items()}
        out["live_tokens"] = (
            s.scalar(
                select(func.count()).select_from(ApiToken).where(ApiToken.revoked_at.is_(None))
            )
            or 0
        )
    return out


def stored_user(svc: Services, login: str) -> User:
    with svc.rt.reads() as s:
        return s.scalars(select(User).where(User.login_id == login)).one()


def audit_actions(svc: Services, login: str) -> list[str]:
    with svc.rt.reads() as s:
        return list(
            s.scalars(
                select(AuditRow.action)
                .where(AuditRow.object_type == "user", AuditRow.object_id == login)
                .order_by(AuditRow.seq)
            )
        )


# --------------------------------------------------------------------------- enrollment


def test_create_shows_the_link_once_and_mails_it_with_the_training_link(desk: Services) -> None:
    new = desk.accounts.create(
        OPERATOR, "JDoe", name=" Jane  Doe ", email="Jane.Doe@DMV.CA.GOV", org_code="DMV",
        roles=["requester", "approver"],
    )  # fmt: skip
    assert new.link.startswith(f"{BASE}/enroll/")
    token = token_of(new.link)
    assert re.fullmatch(r"[0-9a-f]{64}", token)  # 256 bits, hex
    assert new.expires_at == desk.rt.clock() + timedelta(hours=72)
    user = new.user
    assert (user.login_id, user.name, user.email, user.org) == (
        "jdoe", "Jane Doe", "Jane.Doe@dmv.ca.gov", "dmv",
    )  # fmt: skip
    assert user.roles == (Role.APPROVER, Role.REQUESTER)
    assert not user.enrolled and not user.disabled and user.password_expires_at is None

    with desk.rt.reads() as s:
        (link,) = s.scalars(select(Enrollment)).all()
        (mail,) = s.scalars(select(Notice)).all()
    # Only the SHA-256 of the token is stored (R10: the link is a credential until used).
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert link.purpose == "enroll" and link.used_at is None
    assert mail.contact_email == "Jane.Doe@dmv.ca.gov"
    assert mail.status == "pending" and mail.attempts == 0
    token = new.link.rsplit("/", 1)[1]
    assert mail.subject_type == "account" and mail.sealed_link
    # Sec finding 1: a reader of the database finds the link's token sealed, not usable.
    assert token not in mail.sealed_link
    assert desk.secretbox.open(mail.sealed_link.encode()).decode() == token
    for stored in (mail.body_text, mail.body_html):
        assert token not in stored and LINK_MARK in stored
        body = opened(stored, mail.sealed_link, desk.secretbox)
        assert new.link in body
        assert TRAINING in body
        assert "jdoe" in body
    assert "password" in mail.subject.lower()


def test_enrollment_link_is_single_use(desk: Services) -> None:
    link = add_user(desk, "jdoe", password=None)
    token = token_of(link)
    desk.accounts.enroll(token, PASSWORD)
    assert stored_user(desk, "jdoe").password_hash is not None
    before = snapshot(desk)
    err = refused(Conflict, "enrollment.used", lambda: desk.accounts.enroll(token, NEW_PASSWORD))
    assert "already been used" in err.detail
    assert snapshot(desk) == before
    desk.logins.login("jdoe", PASSWORD)  # the first password stands


@SQLITE
@pytest.mark.parametrize(
    ("hours", "works"),
    [
        pytest.param(71.99, True, id="R10/link/just-before-expiry"),
        pytest.param(72, False, id="R10/link/at-expiry"),
        pytest.param(500, False, id="R10/link/long-after"),
    ],
)
def test_enrollment_link_expires(
    desk: Services, clock: ManualClock, hours: float, works: bool
) -> None:
    token = token_of(add_user(desk, "jdoe", password=None))
    clock.advance(hours=hours)
    if works:
        assert desk.accounts.enroll(token, PASSWORD).enrolled
        return
    before = snapshot(desk)
    err = refused(Conflict, "enrollment.expired", lambda: desk.accounts.enroll(token, PASSWORD))
    assert "expired at" in err.detail
    assert snapshot(desk) == before
    assert stored_user(desk, "jdoe").password_hash is None


@SQLITE
@pytest.mark.parametrize(
    "token",
    [
        pytest.param("a" * 64, id="link/unknown"),
        pytest.param("", id="link/empty"),
        pytest.param("../../etc/passwd", id="link/garbage"),
    ],
)
def test_unknown_link_is_refused(desk: Services, token: str) -> None:
    add_user(desk, "jdoe", password=None)
    before = snapshot(desk)
    refused(NotFound, "enrollment.unknown", lambda: desk.accounts.enroll(token, PASSWORD))
    assert snapshot(desk) == before


def test_enrollment_with_a_bad_password_changes_nothing(desk: Services) -> None:
    token = token_of(add_user(desk, "jdoe", password=None))
    before = snapshot(desk)
    refused(InvalidInput, "password.too_short", lambda: desk.accounts.enroll(token, "short"))
    refused(
        InvalidInput, "password.contains_login",
        lambda: desk.accounts.enroll(token, "jdoe-likes-long-passwords"),
    )  # fmt: skip
    assert snapshot(desk) == before
    assert desk.accounts.enroll(token, PASSWORD).enrolled  # the link still works


def test_reset_keeps_the_old_password_until_the_new_link_is_used(
    desk: Services, clock: ManualClock
) -> None:
    add_user(desk, "jdoe")
    old_session, _ = signed_in(desk, "jdoe")
    first = desk.accounts.reset(OPERATOR, "jdoe")
    second = desk.accounts.reset(OPERATOR, "jdoe")
    desk.logins.login("jdoe", PASSWORD)  # still works: a reset by mistake locks nobody out
    # Only the newest link works.
    refused(
        Conflict,
        "enrollment.used",
        lambda: desk.accounts.enroll(token_of(first.link), NEW_PASSWORD),
    )
    clock.advance(days=1)
    desk.accounts.enroll(token_of(second.link), NEW_PASSWORD)
    refused(Unauthorized, "auth.login", lambda: desk.logins.login("jdoe", PASSWORD))
    desk.logins.login("jdoe", NEW_PASSWORD)
    # Sessions opened with the old password end with it.
    refused(Unauthorized, "auth.token", lambda: desk.tokens.authenticate(old_session.token))
    with desk.rt.reads() as s:
        mails = s.scalars(select(Notice).order_by(Notice.id)).all()
    assert [m.subject for m in mails][1:] == ["certdesk: reset your password"] * 2
    assert second.link in opened(mails[-1].body_text, mails[-1].sealed_link, desk.secretbox)
    assert audit_actions(desk, "jdoe").count("user.reset") == 2


def test_reset_is_how_a_locked_out_person_gets_back_in(desk: Services) -> None:
    add_user(desk, "jdoe")
    for _ in range(5):
        with pytest.raises(Unauthorized):
            desk.logins.login("jdoe", "wrong password!")
    refused(Unauthorized, "account.locked", lambda: desk.logins.login("jdoe", PASSWORD))
    desk.accounts.enroll(token_of(desk.accounts.reset(OPERATOR, "jdoe").link), NEW_PASSWORD)
    desk.logins.login("jdoe", NEW_PASSWORD)


# --------------------------------------------------------------------------- hashing


def test_passwords_are_argon2id_with_the_documented_parameters(desk: Services) -> None:
    add_user(desk, "jdoe")
    stored = stored_user(desk, "jdoe").password_hash
    assert stored is not None
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    params = extract_parameters(stored)
    assert params.type is Type.ID
    assert params.memory_cost == passwords.MEMORY_COST_KIB >= 19 * 1024  # OWASP minimum
    assert params.time_cost == passwords.TIME_COST == 2
    assert params.parallelism == passwords.PARALLELISM == 1
    assert params.hash_len == 32 and params.salt_len == 16
    assert PASSWORD not in stored
    # Two people with the same password get different hashes (random salt).
    add_user(desk, "jroe")
    assert stored_user(desk, "jroe").password_hash != stored


def test_an_old_hash_is_upgraded_at_the_next_login(desk: Services) -> None:
    add_user(desk, "jdoe")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)
    with desk.rt.sessions.begin() as s:
        s.scalars(select(User).where(User.login_id == "jdoe")).one().password_hash = weak.hash(
            PASSWORD
        )
    desk.logins.login("jdoe", PASSWORD)
    upgraded = stored_user(desk, "jdoe").password_hash
    assert upgraded is not None and upgraded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    desk.logins.login("jdoe", PASSWORD)


# --------------------------------------------------------------------------- R10 expiry


@pytest.mark.parametrize(
    ("days", "expired"),
    [
        pytest.param(89, False, id="R10/expiry/day-89-ok"),
        pytest.param(90, True, id="R10/expiry/day-90-expired"),
        pytest.param(200, True, id="R10/expiry/day-200-expired"),
    ],
)
def test_password_expires_after_90_days(
    desk: Services, clock: ManualClock, days: int, expired: bool
) -> None:
    add_user(desk, "jdoe")
    clock.advance(days=days)
    if not expired:
        assert desk.logins.login("jdoe", PASSWORD).user.login_id == "jdoe"
        return
    before = snapshot(desk)
    err = refused(Unauthorized, "password.expired", lambda: desk.logins.login("jdoe", PASSWORD))
    assert "change it with the current password" in err.detail
    assert snapshot(desk) == before  # no session, no failure counted
    # The change accepts the expired password and logs in ...
    session = desk.logins.change_password("jdoe", PASSWORD, NEW_PASSWORD)
    assert desk.tokens.authenticate(session.token).name == "user:jdoe"
    assert session.user.password_expires_at == clock.now + timedelta(days=90)
    # ... the new password works, the old one no longer does.
    desk.logins.login("jdoe", NEW_PASSWORD)
    refused(Unauthorized, "auth.login", lambda: desk.logins.login("jdoe", PASSWORD))
    assert "password.change" in audit_actions(desk, "jdoe")


@SQLITE
@pytest.mark.parametrize(
    ("old", "new", "kind", "code"),
    [
        pytest.param(PASSWORD, PASSWORD, InvalidInput, "password.unchanged", id="R10/change/same"),
        pytest.param(PASSWORD, "short", InvalidInput, "password.too_short", id="R10/change/short"),
        pytest.param(
            "not it at all!", NEW_PASSWORD, Unauthorized, "auth.login", id="R10/change/wrong-old"
        ),
    ],
)
def test_password_change_refusals(
    desk: Services, old: str, new: str, kind: type[CertdeskError], code: str
) -> None:
    add_user(desk, "jdoe")
    hash_before = stored_user(desk, "jdoe").password_hash
    refused(kind, code, lambda: desk.logins.change_password("jdoe", old, new))
    assert stored_user(desk, "jdoe").password_hash == hash_before
    # A wrong current password is a failed login like any other (R10 lockout).
    assert stored_user(desk, "jdoe").failed_logins == (1 if code == "auth.login" else 0)


# --------------------------------------------------------------------------- R10 lockout


def test_five_failures_lock_the_account_for_15_minutes(desk: Services, clock: ManualClock) -> None:
    add_user(desk, "jdoe")
    for _ in range(4):
        refused(Unauthorized, "auth.login", lambda: desk.logins.login("jdoe", "wrong password!"))
    err = refused(
        Unauthorized, "account.locked", lambda: desk.logins.login("jdoe", "wrong password!")
    )
    until = clock.now + timedelta(minutes=15)
    assert err.extra["locked_until"] == until.isoformat()
    assert "10:15 PST (18:15 UTC)" in err.detail
    # The 6th attempt, with the right password, is refused too; so is a change of password.
    refused(Unauthorized, "account.locked", lambda: desk.logins.login("jdoe", PASSWORD))
    refused(
        Unauthorized, "account.locked",
        lambda: desk.logins.change_password("jdoe", PASSWORD, NEW_PASSWORD),
    )  # fmt: skip
    assert desk.accounts.get(OPERATOR, "jdoe").locked_until == until
    # Attempts during the lock neither count nor extend it.
    clock.advance(minutes=10)
    for _ in range(3):
        refused(Unauthorized, "account.locked", lambda: desk.logins.login("jdoe", "nope nope"))
    clock.advance(minutes=4, seconds=59)
    refused(Unauthorized, "account.locked", lambda: desk.logins.login("jdoe", PASSWORD))
    clock.advance(seconds=1)
    assert desk.logins.login("jdoe", PASSWORD).user.locked_until is None
    actions = audit_actions(desk, "jdoe")
    assert actions.count("login.failure") == 5
    assert actions.count("login.lockout") == 1


def test_a_successful_login_resets_the_failure_count(desk: Services) -> None:
    add_user(desk, "jdoe")
    for _ in range(3):
        for _ in range(4):
            refused(Unauthorized, "auth.login", lambda: desk.logins.login("jdoe", "wrong one!!"))
        desk.logins.login("jdoe", PASSWORD)
        assert stored_user(desk, "jdoe").failed_logins == 0


def test_unknown_login_and_wrong_password_look_the_same(desk: Services) -> None:
    add_user(desk, "jdoe")
    add_user(desk, "notyet", password=None)
    answers = []
    for login, password in [("jdoe", "wrong password!"), ("nobody", PASSWORD), ("notyet", "")]:
        with pytest.raises(Unauthorized) as err:
            desk.logins.login(login, password)
        answers.append((err.value.code, err.value.detail, err.value.extra))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == "auth.login"
    # An unknown login ID is not written down (it may be a password typed in the wrong field).
    with desk.rt.reads() as s:
        assert not s.scalars(select(AuditRow).where(AuditRow.object_id == "nobody")).all()
    # Unknown IDs never lock: they have no account to lock.
    for _ in range(6):
        refused(Unauthorized, "auth.login", lambda: desk.logins.login("nobody", PASSWORD))


# --------------------------------------------------------------------------- TOTP


def test_totp_setup_confirm_and_required(desk: Services, clock: ManualClock) -> None:
    add_user(desk, "jdoe")
    _, me = signed_in(desk, "jdoe")
    setup = desk.logins.totp_setup(me)
    assert setup.uri.startswith("otpauth://totp/certdesk:jdoe?")
    assert f"secret={setup.secret}" in setup.uri
    totp = pyotp.TOTP(setup.secret)

    # Encrypted at rest under a 0600 key file (never the base32 secret in the database).
    sealed = stored_user(desk, "jdoe").totp_secret
    assert sealed is not None and setup.secret.encode() not in sealed
    key = desk.rt.settings.secrets_dir / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert desk.secretbox.open(sealed) == setup.secret.encode()

    # Not required until confirmed.
    desk.logins.login("jdoe", PASSWORD)
    refused(InvalidInput, "totp.invalid", lambda: desk.logins.totp_confirm(me, "000000"))
    assert not desk.accounts.get(OPERATOR, "jdoe").totp_enabled
    assert desk.logins.totp_confirm(me, totp.at(clock.now)).totp_enabled
    refused(Conflict, "totp.enabled", lambda: desk.logins.totp_setup(me))

    refused(Unauthorized, "totp.required", lambda: desk.logins.login("jdoe", PASSWORD))
    wrong = f"{(int(totp.at(clock.now)) + 1) % 1_000_000:06d}"
    refused(Unauthorized, "totp.invalid", lambda: desk.logins.login("jdoe", PASSWORD, wrong))
    refused(Unauthorized, "totp.invalid", lambda: desk.logins.login("jdoe", PASSWORD, "12 ab"))
    # RFC 6238 §5.2: the code that confirmed the set-up is spent; it is not accepted again.
    used = totp.at(clock.now)
    refused(Unauthorized, "totp.invalid", lambda: desk.logins.login("jdoe", PASSWORD, used))
    clock.advance(seconds=30)
    assert desk.logins.login("jdoe", PASSWORD, totp.at(clock.now)).user.totp_enabled
    # One step of clock drift is accepted (once), two are not.
    clock.advance(seconds=60)
    drifted = totp.at(clock.now - timedelta(seconds=30))
    desk.logins.login("jdoe", PASSWORD, drifted)
    refused(Unauthorized, "totp.invalid", lambda: desk.logins.login("jdoe", PASSWORD, drifted))
    stale = totp.at(clock.now - timedelta(seconds=90))
    refused(Unauthorized, "totp.invalid", lambda: desk.logins.login("jdoe", PASSWORD, stale))
    # A wrong password is refused before the code is even looked at.
    refused(Unauthorized, "auth.login", lambda: desk.logins.login("jdoe", "wrong pass!", "1"))
    assert audit_actions(desk, "jdoe").count("totp.enable") == 1


def test_wrong_totp_codes_count_towards_the_lockout(desk: Services, clock: ManualClock) -> None:
    add_user(desk, "jdoe")
    _, me = signed_in(desk, "jdoe")
    secret = desk.logins.totp_setup(me).secret
    desk.logins.totp_confirm(me, pyotp.TOTP(secret).at(clock.now))
    for _ in range(4):
        refused(Unauthorized, "totp.invalid", lambda: desk.logins.login("jdoe", PASSWORD, "999999"))
    refused(Unauthorized, "account.locked", lambda: desk.logins.login("jdoe", PASSWORD, "999999"))
    good = pyotp.TOTP(secret).at(clock.now)
    refused(Unauthorized, "account.locked", lambda: desk.logins.login("jdoe", PASSWORD, good))


def test_totp_belongs_to_people_not_tokens(desk: Services) -> None:
    api = desk.tokens.authenticate(
        desk.tokens.create(OPERATOR, role=Role.REQUESTER, org_code="dmv").secret
    )
    refused(Forbidden, "totp.person_only", lambda: desk.logins.totp_setup(api))
    refused(Forbidden, "totp.person_only", lambda: desk.logins.totp_confirm(api, "123456"))
    refused(Forbidden, "user.person_only", lambda: desk.accounts.me(api))


# --------------------------------------------------------------------------- sessions


def test_a_session_follows_role_changes_at_once(desk: Services) -> None:
    add_user(desk, "jdoe", roles=("requester",))
    session, before = signed_in(desk, "jdoe")
    assert before.roles == {Role.REQUESTER}
    assert not before.may(Action.CASE_APPROVE)
    desk.accounts.set_roles(OPERATOR, "jdoe", ["requester", "approver"])
    after = desk.tokens.authenticate(session.token)
    assert after.roles == {Role.REQUESTER, Role.APPROVER}
    assert after.role == Role.APPROVER and after.may(Action.CASE_APPROVE)
    assert after.org_id == before.org_id and after.user_id == before.user_id
    desk.accounts.set_roles(OPERATOR, "jdoe", ["approver"])
    assert desk.tokens.authenticate(session.token).roles == {Role.APPROVER}
    with desk.rt.reads() as s:
        (row,) = s.scalars(select(AuditRow).where(AuditRow.action == "user.roles").limit(1))
    assert json.loads(row.summary) == {"before": ["requester"], "after": ["approver", "requester"]}


def test_a_disabled_account_cannot_log_in_and_its_sessions_stop(desk: Services) -> None:
    add_user(desk, "jdoe")
    session, _ = signed_in(desk, "jdoe")
    view = desk.accounts.disable(OPERATOR, "jdoe")
    assert view.disabled
    refused(Unauthorized, "auth.token", lambda: desk.tokens.authenticate(session.token))
    refused(Unauthorized, "account.disabled", lambda: desk.logins.login("jdoe", PASSWORD))
    # A wrong password still says only "wrong": being disabled is told to the owner alone.
    refused(Unauthorized, "auth.login", lambda: desk.logins.login("jdoe", "wrong password!"))
    refused(Conflict, "account.disabled", lambda: desk.accounts.reset(OPERATOR, "jdoe"))
    before = snapshot(desk)
    desk.accounts.disable(OPERATOR, "jdoe")  # idempotent: nothing to change, nothing audited
    assert snapshot(desk) == before
    desk.accounts.enable(OPERATOR, "jdoe")
    new, _ = signed_in(desk, "jdoe")
    refused(Unauthorized, "auth.token", lambda: desk.tokens.authenticate(session.token))
    assert desk.tokens.authenticate(new.token).name == "user:jdoe"
    assert [a for a in audit_actions(desk, "jdoe") if a.startswith("user.")] == [
        "user.create", "user.enroll", "user.disable", "user.enable",
    ]  # fmt: skip


def test_disabled_state_is_checked_on_every_request(desk: Services) -> None:
    """Even a session row left unrevoked stops working once its person is disabled."""
    add_user(desk, "jdoe")
    session, _ = signed_in(desk, "jdoe")
    with desk.rt.sessions.begin() as s:
        s.scalars(select(User).where(User.login_id == "jdoe")).one().disabled = True
    refused(Unauthorized, "account.disabled", lambda: desk.tokens.authenticate(session.token))


def test_sessions_expire_and_log_out(desk: Services, clock: ManualClock) -> None:
    add_user(desk, "jdoe")
    session = desk.logins.login("jdoe", PASSWORD)
    assert session.expires_at == clock.now + timedelta(hours=12)
    clock.advance(hours=11, minutes=59)
    desk.tokens.authenticate(session.token)
    clock.advance(minutes=1)
    refused(Unauthorized, "session.expired", lambda: desk.tokens.authenticate(session.token))
    second = desk.logins.login("jdoe", PASSWORD)
    desk.logins.logout(second.token)
    refused(Unauthorized, "auth.token", lambda: desk.tokens.authenticate(second.token))
    api = desk.tokens.create(OPERATOR, role=Role.AUDITOR, org_code=None).secret
    refused(InvalidInput, "session.not_a_session", lambda: desk.logins.logout(api))
    desk.tokens.authenticate(api)  # an API token is not ended by a logout
    assert audit_actions(desk, "jdoe").count("session.end") == 1


def test_operator_sessions_are_not_operator_api_tokens(desk: Services) -> None:
    add_user(desk, "ops1", org=None, roles=("operator",))
    _, actor = signed_in(desk, "ops1")
    assert actor.role == Role.OPERATOR and actor.org_id is None
    # `certdesk init` still makes the first operator API token.
    assert not desk.tokens.has_operator_token()


def test_change_password_ends_other_sessions(desk: Services) -> None:
    add_user(desk, "jdoe")
    old = desk.logins.login("jdoe", PASSWORD)
    new = desk.logins.change_password("jdoe", PASSWORD, NEW_PASSWORD)
    refused(Unauthorized, "auth.token", lambda: desk.tokens.authenticate(old.token))
    desk.tokens.authenticate(new.token)


# --------------------------------------------------------------------------- who manages whom


def da(svc: Services, org: str = "dmv") -> Actor:
    return org_actor(svc, org, Role.DELEGATED_ADMIN)


MANAGEMENT_REFUSALS = [
    pytest.param(
        lambda s: s.accounts.create(da(s), "newbie", name="N", email="n@cdt.ca.gov",
                                    org_code="cdt", roles=["requester"]),
        NotFound, "org.unknown", id="R10/da/create-in-other-org",
    ),
    pytest.param(
        lambda s: s.accounts.create(da(s), "newops", name="N", email="n@cdt.ca.gov",
                                    org_code=None, roles=["operator"]),
        Forbidden, "user.role", id="R10/da/grant-operator",
    ),
    pytest.param(
        lambda s: s.accounts.create(da(s), "newaud", name="N", email="n@cdt.ca.gov",
                                    org_code=None, roles=["auditor"]),
        Forbidden, "user.role", id="R10/da/grant-auditor",
    ),
    pytest.param(lambda s: s.accounts.get(da(s), "cdtuser"), NotFound, "user.unknown",
                 id="R10/da/show-other-org"),
    pytest.param(lambda s: s.accounts.get(da(s), "ops1"), NotFound, "user.unknown",
                 id="R10/da/show-operator"),
    pytest.param(lambda s: s.accounts.disable(da(s), "cdtuser"), NotFound, "user.unknown",
                 id="R10/da/disable-other-org"),
    pytest.param(lambda s: s.accounts.reset(da(s), "cdtuser"), NotFound, "user.unknown",
                 id="R10/da/reset-other-org"),
    pytest.param(lambda s: s.accounts.set_roles(da(s), "cdtuser", ["approver"]), NotFound,
                 "user.unknown", id="R10/da/roles-other-org"),
    pytest.param(lambda s: s.accounts.disable(da(s), "ops1"), NotFound, "user.unknown",
                 id="R10/da/disable-operator"),
    pytest.param(lambda s: s.accounts.list_users(da(s), "cdt"), NotFound, "org.unknown",
                 id="R10/da/list-other-org"),
    pytest.param(lambda s: s.accounts.set_roles(da(s), "dmvuser", ["operator"]), InvalidInput,
                 "user.org", id="R10/da/make-org-user-operator"),
    pytest.param(lambda s: s.accounts.list_users(org_actor(s, "dmv", Role.REQUESTER)),
                 Forbidden, "auth.forbidden", id="R10/requester/list"),
    pytest.param(lambda s: s.accounts.get(org_actor(s, "dmv", Role.APPROVER), "dmvuser"),
                 Forbidden, "auth.forbidden", id="R10/approver/show"),
    pytest.param(lambda s: s.accounts.create(AUDITOR, "newbie", name="N", email="n@cdt.ca.gov",
                                             org_code="cdt", roles=["requester"]),
                 Forbidden, "auth.forbidden", id="R10/auditor/create"),
    pytest.param(lambda s: s.accounts.disable(AUDITOR, "dmvuser"), Forbidden, "auth.forbidden",
                 id="R10/auditor/disable"),
    pytest.param(lambda s: s.accounts.reset(org_actor(s, "dmv", Role.REQUESTER), "dmvuser"),
                 Forbidden, "auth.forbidden", id="R10/requester/reset"),
]  # fmt: skip


@pytest.fixture
def people(desk: Services) -> Services:
    add_user(desk, "dmvuser", org="dmv", roles=("requester",))
    add_user(desk, "cdtuser", org="cdt", roles=("requester", "approver"))
    add_user(desk, "ops1", org=None, roles=("operator",))
    return desk


@SQLITE
@pytest.mark.parametrize(("call", "kind", "code"), MANAGEMENT_REFUSALS)
def test_management_refusals_change_nothing(
    people: Services,
    call: Callable[[Services], Any],
    kind: type[CertdeskError],
    code: str,
) -> None:
    before = snapshot(people)
    views = {u.login_id: u for u in people.accounts.list_users(OPERATOR)}
    refused(kind, code, lambda: call(people))
    assert snapshot(people) == before
    assert {u.login_id: u for u in people.accounts.list_users(OPERATOR)} == views


def test_a_delegated_admin_manages_its_own_organization(people: Services) -> None:
    admin = da(people)
    new = people.accounts.create(
        admin, "dmvadmin2", name="Second Admin", email="a2@dmv.ca.gov", org_code="dmv",
        roles=["delegated_admin", "approver"],
    )  # fmt: skip
    assert new.user.org == "dmv"
    assert [u.login_id for u in people.accounts.list_users(admin)] == ["dmvadmin2", "dmvuser"]
    assert people.accounts.set_roles(admin, "dmvuser", ["approver"]).roles == (Role.APPROVER,)
    assert people.accounts.disable(admin, "dmvuser").disabled
    assert not people.accounts.enable(admin, "dmvuser").disabled
    assert people.accounts.reset(admin, "dmvuser").link.startswith(f"{BASE}/enroll/")
    with people.rt.reads() as s:
        actors = set(s.scalars(select(AuditRow.actor).where(AuditRow.object_id == "dmvuser")))
    assert admin.name in actors


def test_auditors_list_everyone_and_operators_manage_everyone(people: Services) -> None:
    everyone = ["cdtuser", "dmvuser", "ops1"]
    assert [u.login_id for u in people.accounts.list_users(AUDITOR)] == everyone
    assert [u.login_id for u in people.accounts.list_users(AUDITOR, "cdt")] == ["cdtuser"]
    assert people.accounts.get(AUDITOR, "ops1").roles == (Role.OPERATOR,)
    assert people.accounts.set_roles(OPERATOR, "cdtuser", ["delegated_admin"]).roles == (
        Role.DELEGATED_ADMIN,
    )


def test_nobody_disables_themselves_or_changes_their_own_roles(people: Services) -> None:
    add_user(people, "dmvadmin", roles=("delegated_admin",))
    _, admin = signed_in(people, "dmvadmin")
    before = snapshot(people)
    refused(Conflict, "user.self", lambda: people.accounts.disable(admin, "dmvadmin"))
    refused(
        Conflict, "user.self", lambda: people.accounts.set_roles(admin, "dmvadmin", ["approver"])
    )
    assert snapshot(people) == before
    assert people.accounts.me(admin).roles == (Role.DELEGATED_ADMIN,)


# --------------------------------------------------------------------------- bad input


CREATE_REFUSALS = [
    pytest.param({"login_id": "x"}, InvalidInput, "user.login_id", id="R10/create/short-login"),
    pytest.param(
        {"login_id": "9lives"}, InvalidInput, "user.login_id", id="R10/create/digit-first"
    ),
    pytest.param({"email": "not-an-address"}, InvalidInput, "user.email", id="create/bad-email"),
    pytest.param({"name": "   "}, InvalidInput, "user.name", id="create/empty-name"),
    pytest.param({"roles": []}, InvalidInput, "user.roles", id="R10/create/no-role"),
    pytest.param({"roles": ["root"]}, InvalidInput, "user.role", id="R10/create/unknown-role"),
    pytest.param({"org_code": None}, InvalidInput, "user.org", id="R10/create/org-role-no-org"),
    pytest.param(
        {"roles": ["operator"]}, InvalidInput, "user.org", id="R10/create/operator-with-org"
    ),
    pytest.param(
        {"roles": ["operator", "requester"]}, InvalidInput, "user.roles", id="R10/create/mixed"
    ),
    pytest.param({"org_code": "nope"}, NotFound, "org.unknown", id="create/unknown-org"),
    pytest.param({"login_id": "taken"}, Conflict, "user.exists", id="R10/create/login-taken"),
    pytest.param({"login_id": "TAKEN"}, Conflict, "user.exists", id="R10/create/login-taken-case"),
]


@SQLITE
@pytest.mark.parametrize(("change", "kind", "code"), CREATE_REFUSALS)
def test_bad_create_input_changes_nothing(
    desk: Services, change: dict[str, Any], kind: type[CertdeskError], code: str
) -> None:
    add_user(desk, "taken")
    desk.accounts.disable(OPERATOR, "taken")  # a disabled ID is still taken: never reused
    args: dict[str, Any] = {
        "login_id": "newbie", "name": "New Person", "email": "new@dmv.ca.gov",
        "org_code": "dmv", "roles": ["requester"],
    }  # fmt: skip
    args.update(change)
    before = snapshot(desk)
    refused(kind, code, lambda: desk.accounts.create(OPERATOR, args.pop("login_id"), **args))
    assert snapshot(desk) == before  # no account, no link, no mail, no audit event


@SQLITE
@pytest.mark.parametrize(
    ("login", "code"),
    [
        pytest.param("ghost", "user.unknown", id="manage/unknown-user"),
        pytest.param("../jdoe", "user.unknown", id="manage/garbage-login"),
    ],
)
def test_unknown_users_are_not_found(desk: Services, login: str, code: str) -> None:
    before = snapshot(desk)
    for call in (
        desk.accounts.get,
        desk.accounts.disable,
        desk.accounts.enable,
        desk.accounts.reset,
    ):
        refused(NotFound, code, lambda c=call: c(OPERATOR, login))  # type: ignore[misc]
    refused(NotFound, code, lambda: desk.accounts.set_roles(OPERATOR, login, ["requester"]))
    assert snapshot(desk) == before


# --------------------------------------------------------------------------- R15 audit


def test_no_secret_ever_reaches_the_audit_log(desk: Services, clock: ManualClock) -> None:
    secrets: list[str] = [PASSWORD, NEW_PASSWORD, "wrong password!"]
    link = add_user(desk, "jdoe")
    secrets.append(token_of(link))
    session, me = signed_in(desk, "jdoe")
    secrets.append(session.token)
    setup = desk.logins.totp_setup(me)
    secrets += [setup.secret, setup.uri]
    desk.logins.totp_confirm(me, pyotp.TOTP(setup.secret).at(clock.now))
    with pytest.raises(Unauthorized):
        desk.logins.login("jdoe", "wrong password!")
    clock.advance(days=91)
    changed = desk.logins.change_password(
        "jdoe", PASSWORD, NEW_PASSWORD, pyotp.TOTP(setup.secret).at(clock.now)
    )
    secrets.append(changed.token)
    reset = desk.accounts.reset(OPERATOR, "jdoe")
    secrets.append(token_of(reset.link))
    desk.logins.logout(changed.token)
    stored = stored_user(desk, "jdoe")
    assert stored.password_hash and stored.totp_secret
    secrets.append(stored.password_hash)
    secrets.append(stored.password_hash.rsplit("$", 1)[1])  # the raw hash part
    secrets.append(stored.totp_secret.decode())

    with desk.rt.reads() as s:
        rows = s.scalars(select(AuditRow).order_by(AuditRow.seq)).all()
    actions = [r.action for r in rows if r.object_id == "jdoe"]
    for expected in (
        "user.create", "user.enroll", "session.create", "totp.setup", "totp.enable",
        "login.failure", "password.change", "user.reset", "session.end",
    ):  # fmt: skip
        assert expected in actions
    text = "\n".join(
        f"{r.actor} {r.action} {r.object_type} {r.object_id} {r.summary}" for r in rows
    )
    for secret in secrets:
        assert secret not in text
    assert desk.audit.verify(OPERATOR)[1] is None  # and the chain is intact (R15)
