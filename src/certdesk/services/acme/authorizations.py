"""Authorizations and challenges over ACME (RFC 8555 §7.5, R17): reading them, the client's
answer to a challenge, and the client giving an authorization up.

A challenge the client answers is validated by the VA (services/acme/validation.py) in the
validation pool, outside every request transaction; the result is recorded in a transaction
of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from certdesk.core.acme_states import (
    AuthzStatus,
    ChallengeStatus,
    ChallengeType,
    authz_status,
    key_authorization,
)
from certdesk.errors import InvalidInput, NotFound
from certdesk.services.acme.accounts import AccountView
from certdesk.services.acme.persist import PersistRecords
from certdesk.services.acme.va import account_url
from certdesk.services.acme.validation import (
    ValidationFailed,
    ValidationPool,
    ValidationTask,
    Validator,
)
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.store import acme_compiled, acme_reads
from certdesk.store import acme_server as acme_store
from certdesk.store.models import AcmeAuthorization, AcmeServerChallenge

log = structlog.get_logger("certdesk.acme")


@dataclass(frozen=True)
class ChallengeView:
    id: int
    authz_id: int
    kind: ChallengeType
    token: str
    status: ChallengeStatus
    validated_at: datetime | None
    error: dict[str, Any] | None


@dataclass(frozen=True)
class AuthzView:
    id: int
    order_id: int
    name: str
    wildcard: bool
    status: AuthzStatus
    expires_at: datetime
    challenges: tuple[ChallengeView, ...]


def challenge_view(row: AcmeServerChallenge) -> ChallengeView:
    return ChallengeView(
        row.id, row.authz_id, row.type, row.token, row.status, row.validated_at, row.error
    )


def authz_of(row: AcmeAuthorization, challs: list[AcmeServerChallenge], now: datetime) -> AuthzView:
    """The authorization as the client sees it, its status derived at ``now``."""
    return AuthzView(
        row.id,
        row.order_id,
        row.name,
        row.wildcard,
        authz_status(row.status, [c.status for c in challs], row.expires_at, now),
        row.expires_at,
        tuple(challenge_view(c) for c in challs),
    )


@dataclass(frozen=True)
class Started:
    """A challenge answered (§7.5.1): its view, and the validation it started, if any."""

    view: ChallengeView
    validation: Future[None] | None


def authz_view_of(rows: Sequence[Any], now: datetime) -> AuthzView:
    """The authorization of ``store.acme_reads.authorization``'s rows, its status derived
    at ``now``."""
    first = rows[0]
    challs = tuple(
        ChallengeView(
            r.c_id, first.id, r.c_type, r.c_token, r.c_status, r.c_validated_at, r.c_error
        )
        for r in rows
        if r.c_id is not None
    )
    return AuthzView(
        first.id,
        first.order_id,
        first.name,
        first.wildcard,
        authz_status(first.status, [c.status for c in challs], first.expires_at, now),
        first.expires_at,
        challs,
    )


def _own_challenge_of(
    rows: Sequence[Any], account: AccountView, challenge_id: int, now: datetime
) -> tuple[AuthzView, ChallengeView]:
    if not rows or rows[0].account_id != account.id:
        raise NotFound("acme.not_found", "no such challenge")
    authz = authz_view_of(rows, now)
    return authz, next(c for c in authz.challenges if c.id == challenge_id)


class AcmeAuthorizations:
    def __init__(
        self,
        rt: Runtime,
        audit: AuditService,
        validators: dict[ChallengeType, Validator],
        pool: ValidationPool,
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._validators = validators
        self._pool = pool

    # --- reading ----------------------------------------------------------------------------

    def authorization(self, account: AccountView, authz_id: int) -> AuthzView:
        """The authorization as the client sees it (one statement, no ORM objects: a hot
        poll)."""
        with self._rt.reading() as conn:
            rows = acme_reads.authorization(conn, authz_id)
        if not rows or rows[0].account_id != account.id:
            raise NotFound("acme.not_found", "no such authorization")
        return authz_view_of(rows, self._rt.clock())

    def challenge(self, account: AccountView, challenge_id: int) -> ChallengeView:
        with self._rt.reading() as conn:
            rows = acme_reads.authorization_of_challenge(conn, challenge_id)
        return _own_challenge_of(rows, account, challenge_id, self._rt.clock())[1]

    # --- challenges (§7.5.1) ----------------------------------------------------------------

    def respond(self, account: AccountView, challenge_id: int) -> Started:
        """The client says it is ready: validate in the pool (once; a repeated answer to a
        challenge already under way or done changes nothing, §7.5.1). The validation's
        future is handed back so that the front end may wait a moment for its result."""
        now = self._rt.clock()
        # Not forced to disk by itself: lost to a power cut, the challenge is pending again
        # and the client answers it again; the validation's result commits after it.
        with self._rt.unforced.begin() as s:
            rows = acme_reads.authorization_of_challenge(s.connection(), challenge_id)
            authz, chall = _own_challenge_of(rows, account, challenge_id, now)
            started = authz.status is AuthzStatus.PENDING and acme_compiled.start_challenge(
                s.connection(), chall.id
            )
        if not started:
            return Started(chall, None)
        task = ValidationTask(
            chall.id,
            chall.kind,
            authz.name,
            chall.token,
            key_authorization(chall.token, account.thumbprint),
            account_url=account_url(self._rt.settings, account.id),
            thumbprint=account.thumbprint,
            wildcard=authz.wildcard,
        )
        validation = self._pool.submit(lambda: self._validate(account, task))
        return Started(replace(chall, status=ChallengeStatus.PROCESSING), validation)

    def _validate(self, account: AccountView, task: ValidationTask) -> None:
        """Run in the validation pool: the VA's check, then its result in one transaction."""
        error: dict[str, Any] | None = None
        until: datetime | None = None
        try:
            until = self._validators[task.kind].validate(task)
        except ValidationFailed as exc:
            error = exc.problem()
        except Exception as exc:  # a bug or an unexpected network failure: the challenge fails
            log.error("validation error", challenge=task.challenge_id, error=repr(exc)[:300])
            error = {
                "type": "urn:ietf:params:acme:error:serverInternal",
                "detail": "validation could not be completed",
                "status": 500,
            }
        try:
            # Not forced either: until a forced commit (finalize's certificate) depends on it,
            # a result lost to a power cut leaves the challenge processing, as a process that
            # dies mid-validation does; the authorization then expires and the client orders
            # again. Every later commit on the database makes it durable first (WAL order).
            if task.kind is ChallengeType.DNSPERSIST01:
                with self._rt.unforced.begin() as s:
                    at = self._record(s, account, task, error, until)
                    if error is None:
                        # The VA proved a standing record: remember it, to use and to watch.
                        PersistRecords.learn(s, account, task.name, task.wildcard, until, at)
            else:
                with self._rt.transaction(flush=False) as conn:
                    self._record(conn, account, task, error, until)
        except Exception as exc:
            log.error(
                "recording a validation failed", challenge=task.challenge_id, error=repr(exc)[:300]
            )

    def _record(
        self,
        s: Session | Connection,
        account: AccountView,
        task: ValidationTask,
        error: dict[str, Any] | None,
        until: datetime | None,
    ) -> datetime:
        at = self._rt.clock()
        acme_store.record_challenge(
            s, task.challenge_id, valid=error is None, at=at, error=error, valid_until=until
        )
        self._audit.record(
            s,
            account.actor(),
            "acme.challenge.valid" if error is None else "acme.challenge.invalid",
            "acme_challenge",
            task.challenge_id,
            name=task.name,
            method=str(task.kind),
            problem=None if error is None else error["detail"],
        )
        return at

    def deactivate_authorization(self, account: AccountView, authz_id: int) -> AuthzView:
        """RFC 8555 §7.5.2: the client gives up an authorization."""
        with self._rt.sessions.begin() as s:
            authz = self._own_authz(s, account, authz_id)
            if authz.status not in (AuthzStatus.PENDING, AuthzStatus.VALID):
                raise InvalidInput("acme.malformed", f"authorization is {authz.status}")
            acme_store.deactivate_authorization(authz)
            self._audit.record(
                s, account.actor(), "acme.authz.deactivate", "acme_authorization", authz.id
            )
            return self._authz_view(s, authz, self._rt.clock())

    # --- helpers ----------------------------------------------------------------------------

    def _own_authz(self, s: Session, account: AccountView, authz_id: int) -> AcmeAuthorization:
        row = acme_store.authorization(s, authz_id)
        if row is None or row.account_id != account.id:
            raise NotFound("acme.not_found", "no such authorization")
        return row

    def _own_challenge(
        self, s: Session, account: AccountView, challenge_id: int
    ) -> tuple[AcmeServerChallenge, AcmeAuthorization]:
        chall = acme_store.challenge(s, challenge_id)
        authz = None if chall is None else acme_store.authorization(s, chall.authz_id)
        if chall is None or authz is None or authz.account_id != account.id:
            raise NotFound("acme.not_found", "no such challenge")
        return chall, authz

    def _authz_view(self, s: Session, row: AcmeAuthorization, now: datetime) -> AuthzView:
        challs = acme_store.challenges_of(s, [row.id])
        return authz_of(row, challs, now)
