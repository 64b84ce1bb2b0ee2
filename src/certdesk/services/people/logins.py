"""Signing in (R10): password, lockout, password expiry, TOTP second factor, sessions.

A login is checked in this order, and each step says only what the caller has earned:

1. The account is locked → ``account.locked`` with the time the lock ends. While locked the
   password is not even checked (a locked account is no password oracle), and the attempt
   neither counts nor extends the lock. Saying "locked" reveals that the login ID exists; that
   is the price of telling a locked-out person why and until when, and it is chosen on
   purpose (the lock itself already shows to anyone who tries ``lockout_threshold`` times).
2. Unknown login ID, wrong password or no password chosen yet → the same ``auth.login`` 401
   with the same message, after the same argon2 work (a dummy hash for unknown IDs). A wrong
   password counts; at ``lockout_threshold`` in a row the account is locked for
   ``lockout_minutes`` and this attempt already answers ``account.locked``.
3. A disabled account → ``account.disabled`` (only once the password was right).
4. TOTP enabled and no code → ``totp.required``; a wrong code → ``totp.invalid``, and it
   counts towards the lockout like a wrong password (six digits are guessable otherwise).
5. The password is older than ``password_max_age_days`` → ``password.expired``: the person
   must change it with :meth:`LoginService.change_password`, which accepts an expired
   password and then logs in.
6. Success: the failure count is reset, the session is opened (``session_hours``).

Unknown login IDs are not audited (a mistyped password in the login field would land in the
log); failures and lockouts of real accounts are.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyotp
from sqlalchemy.orm import Session

from certdesk.core.access import Actor, Role
from certdesk.core.accounts import (
    Lockout,
    check_new_password,
    describe_instant,
    is_locked,
    password_expired,
    password_expires_at,
    primary_role,
)
from certdesk.errors import CertdeskError, Conflict, Forbidden, InvalidInput, Unauthorized
from certdesk.services.audit import AuditService
from certdesk.services.people.passwords import hash_password, needs_rehash, password_matches
from certdesk.services.people.tokens import TokenService
from certdesk.services.people.users import UserView, read_view
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.store import users as user_store
from certdesk.store.models import User

TOTP_ISSUER = "certdesk"
# RFC 6238 §5.2: accept the code of the previous and the next 30-second step too, for clock
# drift between the phone and the server.
TOTP_WINDOW = 1

ANONYMOUS = "anonymous"  # the actor of a failed login: nobody has proven who they are


@dataclass(frozen=True)
class LoginSession:
    token: str = field(repr=False)  # shown once; only its hash is stored
    expires_at: datetime
    user: UserView


@dataclass(frozen=True)
class TotpSetup:
    secret: str = field(repr=False)  # base32, for manual entry; shown once
    uri: str = field(repr=False)  # otpauth:// for a QR code; shown once


def _bad_login() -> Unauthorized:
    return Unauthorized("auth.login", "unknown login ID or wrong password")


def _locked(until: datetime, threshold: int) -> Unauthorized:
    return Unauthorized(
        "account.locked",
        f"the account is locked until {describe_instant(until)} after {threshold} failed logins"
        " in a row (R10); try again then, or ask for a password reset",
        locked_until=until.isoformat(),
    )


class LoginService:
    def __init__(
        self, rt: Runtime, audit: AuditService, tokens: TokenService, box: SecretBox
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._tokens = tokens
        self._box = box

    @property
    def _lockout(self) -> Lockout:
        settings = self._rt.settings
        return Lockout(settings.lockout_threshold, settings.lockout_minutes)

    def login(self, login_id: str, password: str, totp: str | None = None) -> LoginSession:
        """Check the credentials (see the module text for the order) and open a session."""
        return self._sign_in(login_id, password, totp, new_password=None)

    def change_password(
        self, login_id: str, old_password: str, new_password: str, totp: str | None = None
    ) -> LoginSession:
        """R10: change the password with the current one (also an expired one), then log in."""
        login = login_id.strip().lower()
        check_new_password(
            new_password, min_length=self._rt.settings.password_min_length, login_id=login
        )
        if new_password == old_password:
            raise InvalidInput(
                "password.unchanged", "the new password must differ from the current one"
            )
        return self._sign_in(login_id, old_password, totp, new_password=new_password)

    def logout(self, token: str) -> None:
        self._tokens.end_session(token)

    # ------------------------------------------------------------------ TOTP

    def totp_setup(self, actor: Actor) -> TotpSetup:
        """A new TOTP secret for the signed-in person, shown once; enabled by confirming."""
        with self._rt.sessions.begin() as s:
            user = self._person(s, actor)
            if user.totp_enabled:
                raise Conflict("totp.enabled", "the second factor is already enabled")
            secret = pyotp.random_base32()  # 160 bits, the HMAC-SHA1 key size (RFC 4226 §4)
            user.totp_secret = self._box.seal(secret.encode())
            self._audit.record(s, actor, "totp.setup", "user", user.login_id)
            uri = pyotp.TOTP(secret).provisioning_uri(name=user.login_id, issuer_name=TOTP_ISSUER)
        return TotpSetup(secret, uri)

    def totp_confirm(self, actor: Actor, code: str) -> UserView:
        """Enable TOTP once the person proves their authenticator has the secret."""
        with self._rt.sessions.begin() as s:
            user = self._person(s, actor)
            if user.totp_enabled:
                raise Conflict("totp.enabled", "the second factor is already enabled")
            if user.totp_secret is None:
                raise Conflict("totp.not_set_up", "set up the second factor first")
            if not self._totp_ok(user, code):
                raise InvalidInput("totp.invalid", "the authenticator code is wrong or expired")
            user_store.enable_totp(user)
            self._audit.record(s, actor, "totp.enable", "user", user.login_id)
            return self._view(s, user)

    # ------------------------------------------------------------------ the sign-in

    def _sign_in(
        self, login_id: str, password: str, totp: str | None, *, new_password: str | None
    ) -> LoginSession:
        login = login_id.strip().lower()
        now = self._rt.clock()
        # 1. Read and verify outside the write transaction: argon2 takes tens of
        # milliseconds, and on SQLite a write transaction holds the database's one write lock.
        with self._rt.reads() as s:
            seen = user_store.by_login(s, login)
            seen_hash = seen.password_hash if seen else None
            if seen is not None and is_locked(seen.locked_until, now):
                assert seen.locked_until is not None
                raise _locked(seen.locked_until, self._lockout.threshold)
        matches = password_matches(seen_hash, password)
        if seen is None:
            raise _bad_login()
        rehash = None
        if new_password is not None:
            rehash = hash_password(new_password) if matches else None
        elif matches and seen_hash and needs_rehash(seen_hash):
            rehash = hash_password(password)  # parameters were raised since it was stored
        # 2. Decide and record in one transaction, on the row locked against concurrent
        # attempts (their failure counts must add up). A refusal is raised only after the
        # commit, so that the failure it counts is kept.
        refusal: CertdeskError | None = None
        result: LoginSession | None = None
        with self._rt.sessions.begin() as s:
            user = user_store.by_login(s, login, for_update=True)
            if user is None or user.password_hash != seen_hash:
                refusal = _bad_login()  # the password changed meanwhile: try again
            elif is_locked(user.locked_until, now):
                assert user.locked_until is not None
                refusal = _locked(user.locked_until, self._lockout.threshold)
            elif not matches:
                refusal = self._failed(s, user, now, "password") or _bad_login()
            elif user.disabled:
                refusal = Unauthorized("account.disabled", "this account is disabled")
            elif user.totp_enabled and not (totp or "").strip():
                refusal = Unauthorized(
                    "totp.required",
                    "this account has a second factor: send the current code of the"
                    " authenticator app (totp)",
                )
            elif user.totp_enabled and not self._totp_ok(user, totp or ""):
                refusal = self._failed(s, user, now, "totp") or Unauthorized(
                    "totp.invalid", "the authenticator code is wrong or expired"
                )
            elif new_password is None and self._expired(user, now):
                refusal = self._expired_error(user)
            else:
                result = self._succeed(s, user, now, rehash, changed=new_password is not None)
        if refusal is not None:
            raise refusal
        assert result is not None
        return result

    def _failed(self, s: Session, user: User, now: datetime, reason: str) -> Unauthorized | None:
        """Count a failure; the refusal to give instead of the usual one if it locks."""
        failures, until = self._lockout.after_failure(user.failed_logins, now)
        user_store.record_failure(user, failures, until)
        in_a_row = failures or self._lockout.threshold
        self._audit.record(
            s, ANONYMOUS, "login.failure", "user", user.login_id, reason=reason, in_a_row=in_a_row
        )
        if until is None:
            return None
        self._audit.record(
            s, ANONYMOUS, "login.lockout", "user", user.login_id, until=until.isoformat()
        )
        return _locked(until, self._lockout.threshold)

    def _succeed(
        self, s: Session, user: User, now: datetime, new_hash: str | None, *, changed: bool
    ) -> LoginSession:
        me = f"user:{user.login_id}"
        user_store.record_login(user, now, new_hash=new_hash, changed=changed)
        if changed:
            user_store.end_sessions(s, user.id, now)  # sessions opened with the old password
            self._audit.record(s, me, "password.change", "user", user.login_id)
        roles = [Role(r.role) for r in user.roles]
        expires = now + timedelta(hours=self._rt.settings.session_hours)
        token, prefix = self._tokens.open_session(
            s, user_id=user.id, role=primary_role(roles), org_id=user.org_id, expires_at=expires
        )
        self._audit.record(
            s,
            me,
            "session.create",
            "user",
            user.login_id,
            token=prefix,
            expires_at=expires.isoformat(),
        )
        return LoginSession(token, expires, self._view(s, user))

    def _expired(self, user: User, now: datetime) -> bool:
        return password_expired(
            user.password_changed_at,
            now,
            max_age_days=self._rt.settings.password_max_age_days,
            must_change=user.must_change_password,
        )

    def _expired_error(self, user: User) -> Unauthorized:
        days = self._rt.settings.password_max_age_days
        when = ""
        if user.password_changed_at is not None and not user.must_change_password:
            when = f" at {describe_instant(password_expires_at(user.password_changed_at, days))}"
        return Unauthorized(
            "password.expired",
            f"the password expired{when} (R10: passwords expire after {days} days); change it"
            " with the current password to log in",
        )

    def _totp_ok(self, user: User, code: str) -> bool:
        code = "".join(code.split())
        if user.totp_secret is None or not (code.isascii() and code.isdigit() and len(code) == 6):
            return False
        secret = self._box.open(user.totp_secret).decode()
        totp = pyotp.TOTP(secret)
        now = self._rt.clock()
        step = totp.timecode(now)
        for candidate in range(step - TOTP_WINDOW, step + TOTP_WINDOW + 1):
            # RFC 6238 §5.2: a code is accepted once; a step at or before the last one used
            # is a replay, even inside the clock-skew window.
            if user.totp_last_step is not None and candidate <= user.totp_last_step:
                continue
            if hmac.compare_digest(totp.generate_otp(candidate), code):
                user_store.use_totp_step(user, candidate)
                return True
        return False

    def _person(self, s: Session, actor: Actor) -> User:
        if actor.user_id is None:
            raise Forbidden(
                "totp.person_only",
                "a second factor belongs to a person: sign in with your login ID and password",
            )
        user = user_store.by_id(s, actor.user_id, for_update=True)
        if user is None:
            raise Forbidden("totp.person_only", "no such person")
        return user

    def _view(self, s: Session, user: User) -> UserView:
        return read_view(s, user, self._rt.clock(), self._rt.settings.password_max_age_days)
