"""Ending a case (R3, R8): completing the cases that deliver no certificate, and closing a
delivered one.

**Completing**: ``revoke`` and ``delete`` revoke the named certificate (delete:
``cessationOfOperation``; a reason the case asks for overrides the default), ``question``
records the answer, ``delegated_admin_setup`` applies the set-up
(:mod:`certdesk.services.casework.delegated_admin`). The revocation commits before the case is
closed, so a retry finds it revoked and closes.

**Closing** ends a delivered case (and its R8 window). For a ``change`` case the replaced
certificate is revoked as ``superseded`` then, not at delivery: it stays in service during the
window while the agency installs and tests the new one. A renewal's predecessor is never
revoked: it is linked (``renewal_of``) and expires on its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor
from certdesk.core.cases import parties_of
from certdesk.core.certificates import CertStatus
from certdesk.core.workflow import CaseType, Event, State, transition
from certdesk.errors import Conflict, InvalidInput
from certdesk.services.audit import AuditService
from certdesk.services.casework import lease
from certdesk.services.casework.case_issuance import as_cert_services
from certdesk.services.casework.casefile import CaseView, apply_event, committed_view
from certdesk.services.casework.cases import CaseService
from certdesk.services.casework.delegated_admin import DelegatedAdminSetup
from certdesk.services.pki.revocation import Reason, RevocationService
from certdesk.services.runtime import Runtime
from certdesk.store import cases as case_store
from certdesk.store import certificates as cert_store
from certdesk.store.models import Case

MAX_COMMENT = 20_000
# Revocation is what revoke and delete cases do; their default reasons (BR §7.2.2).
DEFAULT_REASON = {
    CaseType.REVOKE: Reason.UNSPECIFIED,
    CaseType.DELETE: Reason.CESSATION_OF_OPERATION,
}


def requested_reason(case: Case, kind: CaseType) -> Reason:
    """The revocation reason a revoke or delete case asks for, else its type's default."""
    asked = case.revocation_reason
    try:
        return Reason(asked) if asked else DEFAULT_REASON[kind]
    except ValueError:
        return DEFAULT_REASON[kind]


class CaseClosing:
    def __init__(
        self,
        rt: Runtime,
        audit: AuditService,
        cases: CaseService,
        revocation: RevocationService,
        setup: DelegatedAdminSetup,
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._cases = cases
        self._revocation = revocation
        self._setup = setup

    def complete(
        self, actor: Actor, number: str, *, reason: Reason | None = None, comment: str = ""
    ) -> CaseView:
        """Finish a case that delivers no certificate (revoke, delete, question, set-up).

        ``comment`` is the answer of a question (required) and an optional remark otherwise;
        ``reason`` overrides the revocation reason of a revoke or delete case.
        """
        text = comment.strip()
        if len(text) > MAX_COMMENT:
            raise InvalidInput("case.comment", f"a comment is at most {MAX_COMMENT} characters")
        now = self._rt.clock()
        with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
            kind = CaseType(case.type)
            transition(State(case.state), Event.COMPLETE, parties_of(actor, case.org_id), kind)
            if kind is CaseType.QUESTION:
                if not text:
                    raise InvalidInput(
                        "case.answer", "answering a question needs the answer (comment)"
                    )
                self._comment(s, case, actor, text, now)
                self._close(s, case, actor, Event.COMPLETE, now, note="answered")
                answered, revocation = True, None
            else:
                answered = False
                target = cert_store.by_id(s, case.target_cert_id) if case.target_cert_id else None
                revocation = (
                    (target.serial, target.status, reason or requested_reason(case, kind))
                    if target is not None and kind in DEFAULT_REASON
                    else None
                )
                if kind is not CaseType.DELEGATED_ADMIN_SETUP and revocation is None:
                    raise Conflict("case.target", f"case {case.number} names no certificate")
        if answered:
            return committed_view(self._rt, case.number, now)
        if revocation is None:
            return self._setup.apply(actor, number, comment=text)
        serial, status, why = revocation
        # The revocation commits first: if the case is not closed below, a retry finds the
        # certificate revoked and only closes.
        revoked_now = status != CertStatus.REVOKED
        if revoked_now:
            self._revocation.revoke(actor, serial, why)
        with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
            if text:
                self._comment(s, case, actor, text, now)
            note = f"{serial} revoked ({why})" if revoked_now else f"{serial} was already revoked"
            self._close(
                s, case, actor, Event.COMPLETE, now, note=note, serial=serial, reason=str(why)
            )
        return committed_view(self._rt, case.number, now)

    def close(self, actor: Actor, number: str) -> CaseView:
        """End a delivered case and its R8 window (requester, operator; the worker later)."""
        now = self._rt.clock()
        with self._cases.locked(actor, number, Action.CASE_OPEN) as (s, case):
            kind = CaseType(case.type)
            transition(State(case.state), Event.CLOSE, parties_of(actor, case.org_id), kind)
            target = cert_store.by_id(s, case.target_cert_id) if case.target_cert_id else None
            superseded = (
                target.serial
                if kind is CaseType.CHANGE
                and target is not None
                and target.status == CertStatus.ACTIVE
                else None
            )
        if superseded is not None:
            try:
                self._revocation.revoke(
                    as_cert_services(actor, number), superseded, Reason.SUPERSEDED
                )
            except Conflict as exc:
                if exc.code != "cert.revoked":
                    raise
        with self._cases.locked(actor, number, Action.CASE_OPEN) as (s, case):
            note = f"{superseded} revoked (superseded)" if superseded else ""
            self._close(s, case, actor, Event.CLOSE, now, note=note, superseded=superseded)
        return committed_view(self._rt, case.number, now)

    def _comment(self, s: Session, case: Case, actor: Actor, text: str, now: datetime) -> None:
        row = case_store.add_comment(s, case, actor=actor.name, body=text, at=now)
        self._audit.record(
            s, actor, "case.comment", "case", case.number, comment_id=row.id, text=text
        )

    def _close(
        self,
        s: Session,
        case: Case,
        actor: Actor,
        event: Event,
        now: datetime,
        *,
        note: str,
        **summary: Any,
    ) -> None:
        before = case.state
        apply_event(s, case, actor, event, now, note=note)
        case_store.mark_closed(case, now)
        lease.release(case)
        self._audit.record(
            s, actor, f"case.{event}", "case", case.number, before=before, note=note, **summary
        )
