"""How each person wants to hear of each kind of mail (issue 14): at once, in a daily digest,
or not at all — except the safety notices (expiry, revocation, password expiry), which can
move to the digest but never be switched off (:mod:`certdesk.core.mail_kinds`).

A person changes their own; cert services and a delegated administrator (for the people of
its organization) may change someone else's, e.g. for a person who left on holiday. Every
change is audited. The notices pass applies the choice when it records a notice
(:mod:`certdesk.services.lifecycle.notices`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.mail_kinds import KIND_LABELS, SAFETY_KINDS, Kind, Mode, check_choice
from certdesk.errors import Forbidden, NotFound
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.store import mail_preferences as store
from certdesk.store import users as user_store
from certdesk.store.models import User


@dataclass(frozen=True)
class PreferenceView:
    kind: str
    label: str
    mode: str
    safety: bool  # cannot be switched off

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class MailPreferences:
    def __init__(self, rt: Runtime, audit: AuditService) -> None:
        self._rt = rt
        self._audit = audit

    def show(self, actor: Actor, login_id: str | None = None) -> list[PreferenceView]:
        """Every kind with the person's choice (immediate where none was made)."""
        with self._rt.reads() as s:
            user = self._person(s, actor, login_id, manage=False)
            chosen = store.of_user(s, user.id)
        return [
            PreferenceView(
                str(k), KIND_LABELS[k], chosen.get(str(k), str(Mode.IMMEDIATE)), k in SAFETY_KINDS
            )
            for k in Kind
        ]

    def set(
        self, actor: Actor, choices: dict[str, str], login_id: str | None = None
    ) -> list[PreferenceView]:
        """Apply ``choices`` (kind → immediate | digest | off) all at once, or none of them."""
        checked = [check_choice(kind, mode) for kind, mode in choices.items()]
        with self._rt.sessions.begin() as s:
            user = self._person(s, actor, login_id, manage=True)
            now = self._rt.clock()
            for kind, mode in checked:
                store.put(s, user.id, str(kind), str(mode), now)
            if checked:
                self._audit.record(
                    s,
                    actor,
                    "user.mail_preferences",
                    "user",
                    user.login_id,
                    choices={str(k): str(m) for k, m in checked},
                )
            login = user.login_id
        return self.show(actor, login if login_id else None)

    def _person(self, s: Session, actor: Actor, login_id: str | None, *, manage: bool) -> User:
        if login_id is None:
            if actor.user_id is None:
                raise Forbidden(
                    "user.person_only",
                    "only a person signed in with a password has mail settings; name the"
                    " person whose settings to change",
                )
            user = user_store.by_id(s, actor.user_id)
            if user is None:
                raise NotFound("user.unknown", "no such user")
            return user
        user = user_store.by_login(s, login_id.strip().lower())
        if user is None or not (actor.is_global or user.org_id == actor.org_id):
            raise NotFound("user.unknown", f"no user {login_id!r}")
        if user.id != actor.user_id:
            action = Action.USER_MANAGE if manage else Action.USER_READ
            authorize(actor, action, user.org_id, hide=True)
        return user
