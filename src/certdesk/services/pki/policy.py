"""Name checks for a caller: R1 for cert services, R1 + the organization's grants otherwise."""

from __future__ import annotations

from collections.abc import Sequence

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.grants import Grant, GrantKind, Verdict, judge
from certdesk.errors import InvalidInput, NotFound
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_org
from certdesk.store import orgs as org_store


class PolicyService:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def grants_for(self, actor: Actor, org_code: str | None) -> list[Grant] | None:
        """The grants that bound ``actor`` for ``org_code`` (None: operator scope, R1 only)."""
        if org_code is None:
            authorize(actor, Action.POLICY_CHECK, actor.org_id)
            if actor.is_global:
                return None
            org_id = actor.org_id
            with self._rt.reads() as s:
                org = org_store.by_id(s, org_id) if org_id is not None else None
                if org is None:
                    raise NotFound("org.unknown", "the token's organization no longer exists")
                return [Grant(GrantKind(g.kind), g.name) for g in org.grants]
        with self._rt.reads() as s:
            found = visible_org(s, actor, org_code)
            authorize(actor, Action.POLICY_CHECK, found.id, hide=True)
            return [Grant(GrantKind(g.kind), g.name) for g in found.grants]

    def check(self, actor: Actor, org_code: str | None, names: Sequence[str]) -> list[Verdict]:
        if not names:
            raise InvalidInput("name.none", "give at least one name to check")
        if len(names) > 1000:
            raise InvalidInput("name.too_many", "at most 1000 names per check")
        grants = self.grants_for(actor, org_code)
        suffixes = self._rt.settings.allowed_suffixes
        return [judge(n, suffixes, grants) for n in names]
