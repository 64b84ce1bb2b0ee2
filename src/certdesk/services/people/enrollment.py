"""Single-use links to choose a password (R10): issued for a new account or a reset, and
redeemed once (part of :class:`certdesk.services.people.accounts.AccountService`; the module
text there says how links work)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.orm import Session

from certdesk.config import Settings
from certdesk.core.accounts import check_new_password, describe_instant
from certdesk.errors import Conflict, NotFound
from certdesk.links import enrollment_link
from certdesk.notify.messages import password_link
from certdesk.services.audit import AuditService
from certdesk.services.people.account_mail import queue_account_mail
from certdesk.services.people.passwords import hash_password
from certdesk.services.people.users import UserView, read_view
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.store import users as user_store
from certdesk.store.models import User

Purpose = Literal["enroll", "reset"]


def token_digest(token: str) -> str:
    # The token carries 256 bits of randomness, so a fast hash is enough (as for API tokens).
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(
    s: Session,
    settings: Settings,
    box: SecretBox,
    user: User,
    purpose: Purpose,
    now: datetime,
    *,
    mail: bool = True,
) -> tuple[str, datetime]:
    """A new single-use link for ``user`` (every earlier unused one retired), queued as mail
    to the person unless ``mail`` is false; returns the link and when it expires."""
    user_store.retire_links(s, user.id, now)
    # 256 bits as hex: a token never starts with '-' (which a command line would take for
    # an option) and a double click selects all of it, wherever a person copies it from.
    token = secrets.token_hex(32)
    expires = now + timedelta(hours=settings.enrollment_hours)
    enrollment = user_store.add_link(
        s,
        user_id=user.id,
        token_hash=token_digest(token),
        purpose=purpose,
        expires_at=expires,
        at=now,
    )
    link = enrollment_link(settings.base_url, token)
    if not mail:
        return link, expires
    message = password_link(
        purpose=purpose,
        name=user.name,
        login_id=user.login_id,
        link=link,
        expires_at=expires,
        training_url=settings.training_url,
    )
    # The link's id names the mail in the queue (its once-only key).
    queue_account_mail(
        s,
        user.email,
        message,
        now,
        box=box,
        user_id=user.id,
        reason=f"account.{purpose}#{enrollment.id}",
    )
    return link, expires


class Enrollments:
    """Redeeming a link (the part of the account service that needs no signed-in actor)."""

    _rt: Runtime
    _audit: AuditService

    def enroll(self, token: str, password: str) -> UserView:
        """Redeem an enrollment or reset link: set the password, use the link up."""
        now = self._rt.clock()
        settings = self._rt.settings
        with self._rt.sessions.begin() as s:
            link = user_store.enrollment_by_hash(s, token_digest(token.strip()))
            if link is None:
                raise NotFound(
                    "enrollment.unknown",
                    "this link is not valid; ask your administrator for a new one",
                )
            if link.used_at is not None:
                raise Conflict(
                    "enrollment.used",
                    "this link has already been used or was replaced by a newer one; ask your"
                    " administrator for a new one",
                )
            if now >= link.expires_at:
                raise Conflict(
                    "enrollment.expired",
                    f"this link expired at {describe_instant(link.expires_at)}; ask your"
                    " administrator for a new one",
                )
            user = user_store.by_id(s, link.user_id)
            if user is None or user.disabled:
                raise Conflict("account.disabled", "this account is disabled")
            check_new_password(
                password, min_length=settings.password_min_length, login_id=user.login_id
            )
            # Choosing a password through a link is also how a locked-out person gets back in.
            user_store.set_password(user, hash_password(password), now)
            user_store.retire_links(s, user.id, now)  # this one included
            user_store.end_sessions(s, user.id, now)
            self._audit.record(
                s,
                f"user:{user.login_id}",
                "user.enroll",
                "user",
                user.login_id,
                purpose=link.purpose,
            )
            return read_view(s, user, self._rt.clock(), settings.password_max_age_days)
