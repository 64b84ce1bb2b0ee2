"""Applying a Delegated Administrator set-up (R2, R3, R10, R11): grants, people, self-managed.

An approved ``delegated_admin_setup`` case (:mod:`certdesk.services.casework.delegation` holds
what it carries) is applied right after its last approval commits — the approval service calls
:meth:`DelegatedAdminSetup.after_approval` — and cert services can apply it by hand with
``complete`` (when the automatic run was refused, or interrupted by a crash):

1. in one transaction holding the case (and the organization row, as grant changes do):
   the state machine is asked (``complete``), every administrator's login ID is checked —
   free, or already the same person (same e-mail, same organization) — and then the
   organization's missing grants are added and it is marked self-managed (R11);
2. each new administrator gets an account with the ``delegated_admin`` role through the
   accounts service, whose enrollment link goes out by mail in the same transaction (R10);
   an existing one gets the role added if it lacks it;
3. the case is closed (``complete``).

Every step skips what is already done, so running it again after an interruption finishes
the work without duplicating a grant or an account. Every change is audited (R15); the
automatic run acts as ``system:delegated-setup``, cert services' ``complete`` as themselves.
A login ID that belongs to someone else refuses the set-up before anything changes, with
one answer whoever holds it; the note left on the case names neither the ID nor the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from certdesk.core.access import Action, Actor, Role
from certdesk.core.cases import allow
from certdesk.core.workflow import CaseType, Event, State
from certdesk.errors import CertdeskError, Conflict
from certdesk.services.audit import AuditService
from certdesk.services.casework.casefile import (
    SYSTEM_ACTOR,
    CaseView,
    apply_event,
    case_view,
    committed_view,
    facts_of,
)
from certdesk.services.casework.cases import CaseService
from certdesk.services.casework.delegation import AdminInput, DelegatedSetup
from certdesk.services.people.accounts import AccountService
from certdesk.services.runtime import Runtime
from certdesk.store import cases as case_store
from certdesk.store import orgs as org_store
from certdesk.store import users as user_store

SETUP_ACTOR = Actor(name="system:delegated-setup", role=Role.OPERATOR)


@dataclass(frozen=True)
class _Plan:
    org_code: str
    new_admins: tuple[AdminInput, ...]
    kept_admins: tuple[str, ...]  # login IDs that already belong to the same person
    grants_added: tuple[str, ...]


class DelegatedAdminSetup:
    def __init__(
        self, rt: Runtime, audit: AuditService, cases: CaseService, accounts: AccountService
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._cases = cases
        self._accounts = accounts

    def after_approval(self, actor: Actor, view: CaseView) -> CaseView:
        """The approval service's follow-up: apply a set-up case its last approval approved.

        A refusal (a login ID taken meanwhile) does not undo the approval: it is written on
        the case as a comment for cert services, who resolve it and ``complete`` the case.
        """
        if view.summary.type != CaseType.DELEGATED_ADMIN_SETUP or view.state != State.APPROVED:
            return view
        try:
            self.apply(None, view.number)
        except CertdeskError as exc:
            self._note_refusal(view.number, exc)
        return self._cases.show(actor, view.number)

    def apply(self, operator: Actor | None, number: str, *, comment: str = "") -> CaseView:
        """Steps 1-3; ``operator`` None is the automatic run after the last approval."""
        actor = operator or SETUP_ACTOR
        plan = self._grant(actor, operator is None, number)
        created: list[str] = []
        for admin in plan.new_admins:
            try:
                self._accounts.create(
                    actor,
                    admin.login_id,
                    name=admin.name,
                    email=admin.email,
                    org_code=plan.org_code,
                    roles=[str(Role.DELEGATED_ADMIN)],
                )
                created.append(admin.login_id)
            except Conflict as exc:
                # Created meanwhile (a concurrent run): fine if it is the same person.
                if exc.code != "user.exists" or not self._same_person(admin, plan.org_code):
                    raise
        for login in plan.kept_admins:
            self._ensure_role(actor, login)
        now = self._rt.clock()
        with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
            if case.state == State.CLOSED:
                return case_view(s, case, now)  # a concurrent run finished first
            if comment:
                case_store.add_comment(s, case, actor=actor.name, body=comment, at=now, touch=False)
            before = case.state
            # Asked again: the set-up's accounts were made outside the case's lock.
            apply_event(
                s,
                case,
                SYSTEM_ACTOR if operator is None else actor,
                Event.COMPLETE,
                now,
                note="delegated administration set up",
                closed=True,
            )
            self._audit.record(
                s,
                actor,
                "case.complete",
                "case",
                case.number,
                before=before,
                organization=plan.org_code,
                grants_added=list(plan.grants_added),
                admins_created=created,
                admins_kept=list(plan.kept_admins),
                self_managed=True,
                comment=comment or None,
            )
        return committed_view(self._rt, case.number, now)

    def _grant(self, actor: Actor, automatic: bool, number: str) -> _Plan:
        """Step 1: check everything, then add the missing grants and mark self-managed."""
        now = self._rt.clock()
        with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
            kind = CaseType(case.type)
            allow(facts_of(case), Event.COMPLETE, None if automatic else actor)
            if kind is not CaseType.DELEGATED_ADMIN_SETUP:
                raise Conflict("case.type", f"case {case.number} is a {kind} case")
            setup = DelegatedSetup.of_case(case)
            org = org_store.by_id(s, case.org_id)
            assert org is not None
            # Locked like every grant change, so issuances checking grants see all or nothing.
            org = org_store.by_code(s, org.code, for_update=True)
            assert org is not None
            new: list[AdminInput] = []
            kept: list[str] = []
            for admin in setup.admins:
                user = user_store.by_login(s, admin.login_id)
                if user is None:
                    new.append(admin)
                elif user.email.lower() == admin.email.lower() and user.org_id == org.id:
                    kept.append(admin.login_id)
                else:
                    raise Conflict(
                        "user.exists",
                        f"login ID {admin.login_id} belongs to another account (IDs are never"
                        " reused); cancel this case and request another login ID on a new one",
                    )
            held = {(g.kind, g.name) for g in org.grants}
            added: list[str] = []
            for grant in setup.grants:
                if (str(grant.kind), grant.name) in held:
                    continue
                org_store.add_grant(s, org, str(grant.kind), grant.name, now, actor.name)
                added.append(str(grant))
                self._audit.record(
                    s, actor, "grant.add", "organization", org.code, grant=str(grant), case=number
                )
            if not org.self_managed:
                org_store.set_self_managed(s, org, True)
                self._audit.record(
                    s,
                    actor,
                    "org.service",
                    "organization",
                    org.code,
                    before="managed",
                    after="self-managed",
                    case=number,
                )
            return _Plan(org.code, tuple(new), tuple(kept), tuple(added))

    def _same_person(self, admin: AdminInput, org_code: str) -> bool:
        with self._rt.reads() as s:
            user = user_store.by_login(s, admin.login_id)
            org = org_store.by_code(s, org_code)
            return (
                user is not None
                and org is not None
                and user.email.lower() == admin.email.lower()
                and user.org_id == org.id
            )

    def _ensure_role(self, actor: Actor, login: str) -> None:
        view = self._accounts.get(actor, login)
        if Role.DELEGATED_ADMIN not in view.roles:
            self._accounts.set_roles(
                actor, login, [*(str(r) for r in view.roles), str(Role.DELEGATED_ADMIN)]
            )

    def _note_refusal(self, number: str, exc: CertdeskError) -> None:
        # The case's comments are read by its requester, who may have named a login ID only
        # to learn whether it exists (issue 10, finding 8): the note says what happens next,
        # never which ID or why. The reason is in the audit event, which only cert services
        # and auditors read, and cert services' own `complete` shows it to them.
        text = (
            "Delegated administration was not set up automatically. Cert services completes"
            " this case, or asks for a change, once that is resolved."
        )
        now = self._rt.clock()
        with self._cases.locked(SETUP_ACTOR, number, Action.CASE_WORK) as (s, case):
            row = case_store.add_comment(
                s, case, actor=SETUP_ACTOR.name, body=text, at=now, touch=False
            )
            self._audit.record(
                s,
                SETUP_ACTOR,
                "case.comment",
                "case",
                case.number,
                comment_id=row.id,
                text=text,
                refused=exc.code,
                reason=exc.detail,
            )
