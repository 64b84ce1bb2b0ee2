"""Who may do what (R2, R10): roles, actions and the one authorization check.

Operators and auditors act across organizations; every other role acts only inside its own
organization. Objects of another organization are reported as not found, so that a token of
one agency cannot even learn that another agency's certificate exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from certdesk.errors import Forbidden, NotFound


class Role(StrEnum):
    REQUESTER = "requester"
    DELEGATED_ADMIN = "delegated_admin"
    OPERATOR = "operator"
    AUDITOR = "auditor"


class Action(StrEnum):
    ORG_READ = "org.read"
    ORG_MANAGE = "org.manage"  # create organizations, add or remove grants (R2)
    TOKEN_CREATE = "token.create"
    POLICY_CHECK = "policy.check"
    CERT_READ = "cert.read"
    CERT_ISSUE = "cert.issue"  # direct issuance, outside a case
    CERT_REVOKE = "cert.revoke"


GLOBAL_ROLES = frozenset({Role.OPERATOR, Role.AUDITOR})

PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.OPERATOR: frozenset(Action),
    Role.AUDITOR: frozenset({Action.ORG_READ, Action.POLICY_CHECK, Action.CERT_READ}),
    # Delegated administrators of self-managed agencies issue and revoke directly, but only
    # for names their organization was granted (R2); the grant check is the issuance's.
    Role.DELEGATED_ADMIN: frozenset(
        {
            Action.ORG_READ,
            Action.TOKEN_CREATE,
            Action.POLICY_CHECK,
            Action.CERT_READ,
            Action.CERT_ISSUE,
            Action.CERT_REVOKE,
        }
    ),
    # Requesters of managed agencies obtain certificates through cases (R3/R4).
    Role.REQUESTER: frozenset({Action.ORG_READ, Action.POLICY_CHECK, Action.CERT_READ}),
}

# Which roles a token creator may hand out.
GRANTABLE: dict[Role, frozenset[Role]] = {
    Role.OPERATOR: frozenset(Role),
    Role.DELEGATED_ADMIN: frozenset({Role.REQUESTER, Role.DELEGATED_ADMIN}),
    Role.AUDITOR: frozenset(),
    Role.REQUESTER: frozenset(),
}


@dataclass(frozen=True)
class Actor:
    """The caller of a service: a person, a token or the local operator CLI."""

    name: str
    role: Role
    org_id: int | None = None

    @property
    def is_global(self) -> bool:
        return self.role in GLOBAL_ROLES


def sees_org(actor: Actor, org_id: int) -> bool:
    """Whether ``actor`` may know that organization ``org_id`` exists at all."""
    return actor.is_global or actor.org_id == org_id


def authorize(actor: Actor, action: Action, org_id: int | None, *, hide: bool = False) -> None:
    """Raise unless ``actor`` may do ``action`` on an object of organization ``org_id``.

    ``hide=True`` is for existing objects: a refusal across organizations is then reported
    as :class:`NotFound` rather than :class:`Forbidden`.
    """
    if action not in PERMISSIONS[actor.role]:
        raise Forbidden("auth.forbidden", f"role {actor.role} may not {action}")
    if actor.is_global:
        return
    if org_id is None or org_id != actor.org_id:
        if hide:
            raise NotFound("not_found", "no such object")
        raise Forbidden("auth.other_org", "this token may only act for its own organization")
