"""Who may do what (R2, R10): roles, actions and the one authorization check.

Operators and auditors act across organizations; every other role acts only inside its own
organization. Objects of another organization are reported as not found, so that a token of
one agency cannot even learn that another agency's certificate exists.

A person may hold several roles (an agency requester who is also an approver); a person
belongs to at most one organization. Tokens hold exactly one role.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from certdesk.errors import Forbidden, NotFound


class Role(StrEnum):
    REQUESTER = "requester"
    APPROVER = "approver"
    DELEGATED_ADMIN = "delegated_admin"
    OPERATOR = "operator"
    AUDITOR = "auditor"


class Action(StrEnum):
    ORG_READ = "org.read"
    ORG_MANAGE = "org.manage"  # create organizations, add or remove grants (R2), settings
    TOKEN_CREATE = "token.create"
    POLICY_CHECK = "policy.check"
    CERT_READ = "cert.read"
    CERT_ISSUE = "cert.issue"  # direct issuance, outside a case
    CERT_REVOKE = "cert.revoke"
    USER_READ = "user.read"
    USER_MANAGE = "user.manage"  # create, disable, reset, change roles (R10)
    CONTACT_MANAGE = "contact.manage"  # an audited contact change (R9)
    CASE_READ = "case.read"
    CASE_OPEN = "case.open"  # open, edit, submit, cancel, comment on own cases
    CASE_APPROVE = "case.approve"  # approve or reject (R4)
    CASE_WORK = "case.work"  # cert services: start, fulfil, complete (R5, R8)
    CASE_COMMENT = "case.comment"
    AUDIT_READ = "audit.read"
    REPORT_READ = "report.read"
    ACME_READ = "acme.read"  # EAB keys (never their secrets) and ACME accounts (R17)
    ACME_MANAGE = "acme.manage"  # create or revoke EAB keys, deactivate ACME accounts (R17)
    ISSUER_READ = "issuer.read"  # see the vendor CAs (R16)
    ISSUER_MANAGE = "issuer.manage"  # add, rebind, disable a vendor CA; choose issuers
    ACME_REPLACE = "acme.replace"  # cert services: ask ACME clients to renew early (RFC 9773)
    CT_READ = "ct.read"  # see the Certificate Transparency logs followed and how far (R18)
    CT_MANAGE = "ct.manage"  # add CT logs, read them now (R18)
    ENDPOINT_VERIFY = "endpoint.verify"  # connect to installed endpoints, discover (R14)
    EXTERNAL_MANAGE = "external.manage"  # import, attribute, adopt external certificates (R18)
    WEBHOOK_READ = "webhook.read"  # outbound webhooks and their delivery log (issue 14)
    WEBHOOK_MANAGE = "webhook.manage"  # add or remove an outbound webhook
    CONTRACT_MANAGE = "contract.manage"  # cert services' vendor contracts and licences


GLOBAL_ROLES = frozenset({Role.OPERATOR, Role.AUDITOR})
ORG_ROLES = frozenset({Role.REQUESTER, Role.APPROVER, Role.DELEGATED_ADMIN})

_READ = {
    Action.ORG_READ,
    Action.POLICY_CHECK,
    Action.CERT_READ,
    Action.CASE_READ,
    Action.CASE_COMMENT,
}

PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.OPERATOR: frozenset(Action),
    Role.AUDITOR: frozenset(
        {
            Action.ORG_READ,
            Action.POLICY_CHECK,
            Action.CERT_READ,
            Action.CASE_READ,
            Action.USER_READ,
            Action.AUDIT_READ,
            Action.REPORT_READ,
            Action.ACME_READ,
            Action.ISSUER_READ,
            Action.CT_READ,
            Action.WEBHOOK_READ,
        }
    ),
    # Delegated administrators of self-managed agencies issue and revoke directly, but only
    # for names their organization was granted (R2); the grant check is the issuance's.
    # They also administer their own organization's people and contacts.
    Role.DELEGATED_ADMIN: frozenset(
        _READ
        | {
            Action.TOKEN_CREATE,
            Action.CERT_ISSUE,
            Action.CERT_REVOKE,
            Action.USER_READ,
            Action.USER_MANAGE,
            Action.CONTACT_MANAGE,
            Action.CASE_OPEN,
            Action.REPORT_READ,
            # R17: a delegated administrator binds its organization's ACME clients.
            Action.ACME_READ,
            Action.ACME_MANAGE,
            # Their organization's outbound webhooks (issue 14).
            Action.WEBHOOK_READ,
            Action.WEBHOOK_MANAGE,
        }
    ),
    # Requesters of managed agencies obtain certificates through cases (R3/R4).
    Role.REQUESTER: frozenset(_READ | {Action.CASE_OPEN, Action.CONTACT_MANAGE}),
    Role.APPROVER: frozenset(_READ | {Action.CASE_APPROVE}),
}

# Which roles a token or account creator may hand out.
GRANTABLE: dict[Role, frozenset[Role]] = {
    Role.OPERATOR: frozenset(Role),
    Role.DELEGATED_ADMIN: frozenset(ORG_ROLES),
    Role.AUDITOR: frozenset(),
    Role.REQUESTER: frozenset(),
    Role.APPROVER: frozenset(),
}


@dataclass(frozen=True)
class Actor:
    """The caller of a service: a person, a token or the local operator CLI.

    ``role`` is the primary role; ``also`` holds a person's further roles in the same
    organization (or global ones).
    """

    name: str
    role: Role
    org_id: int | None = None
    user_id: int | None = None
    also: frozenset[Role] = field(default_factory=frozenset)

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset({self.role}) | self.also

    def has(self, role: Role) -> bool:
        return role in self.roles

    def may(self, action: Action) -> bool:
        return any(action in PERMISSIONS[r] for r in self.roles)

    @property
    def is_global(self) -> bool:
        return bool(self.roles & GLOBAL_ROLES)

    def grantable(self) -> frozenset[Role]:
        out: frozenset[Role] = frozenset()
        for r in self.roles:
            out |= GRANTABLE[r]
        return out


def sees_org(actor: Actor, org_id: int) -> bool:
    """Whether ``actor`` may know that organization ``org_id`` exists at all."""
    return actor.is_global or actor.org_id == org_id


def authorize(actor: Actor, action: Action, org_id: int | None, *, hide: bool = False) -> None:
    """Raise unless ``actor`` may do ``action`` on an object of organization ``org_id``.

    ``hide=True`` is for existing objects: a refusal across organizations is then reported
    as :class:`NotFound` rather than :class:`Forbidden`. It is a backstop only: services look
    objects up through ``services/visibility.py`` first, which answers another agency's
    object with the very problem an unknown one gets (code and detail); this generic
    ``not_found`` would tell the two apart (issue 10, finding 4).
    """
    global_ok = any(action in PERMISSIONS[r] for r in actor.roles & GLOBAL_ROLES)
    if global_ok:
        return
    local_ok = any(action in PERMISSIONS[r] for r in actor.roles - GLOBAL_ROLES)
    if hide and not actor.is_global and org_id is not None and org_id != actor.org_id:
        raise NotFound("not_found", "no such object")
    if not local_ok:
        roles = ", ".join(sorted(actor.roles))
        raise Forbidden("auth.forbidden", f"role {roles} may not {action}")
    if org_id is None or org_id != actor.org_id:
        raise Forbidden("auth.other_org", "this token may only act for its own organization")
