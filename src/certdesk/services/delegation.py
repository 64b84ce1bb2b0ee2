"""The Delegated Administrator Security Certificate Submittal (R2, R3, R10).

A self-managed agency starts delegated administration with a ``delegated_admin_setup`` case
(the seed: "Customers requesting to use the delegated administration option should submit
the Delegated Administrator Security Certificate Submittal to initiate service setup"). The
case carries what its approval will create: the organization's grants (R2, ``zone:`` or
``host:``) and its delegated administrators (name, email, login ID; enrolled by link, R10).
Both are checked when given and kept in the case's payload as::

    {"delegated_admin": {"grants": ["zone:apps.dmv.ca.gov"],
                         "admins": [{"name": …, "email": …, "login_id": …}]}}

Applying them (grants, accounts, self-managed flag) happens when the case is worked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from certdesk.core.names import Grant, GrantKind
from certdesk.errors import InvalidInput
from certdesk.services.contacts import check_email, check_person_name
from certdesk.store.models import Case

MAX_GRANTS = 100
MAX_ADMINS = 20
# The login ID rule of accounts (R10): a letter, then letters, digits, '.', '_' or '-'.
_LOGIN = re.compile(r"^[a-z][a-z0-9._-]{2,63}$")


@dataclass(frozen=True)
class AdminInput:
    """A delegated administrator to enrol when the set-up case is approved."""

    name: str
    email: str
    login_id: str

    def checked(self) -> AdminInput:
        login = self.login_id.strip().lower()
        if not _LOGIN.match(login):
            raise InvalidInput(
                "case.admin_login",
                f"login ID {self.login_id!r} must be 3-64 characters: a letter, then letters,"
                " digits, '.', '_' or '-'",
            )
        return AdminInput(check_person_name(self.name, "admin"), check_email(self.email), login)

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email, "login_id": self.login_id}


@dataclass(frozen=True)
class DelegatedSetup:
    grants: tuple[Grant, ...]
    admins: tuple[AdminInput, ...]

    @property
    def complete(self) -> bool:
        """Ready to submit: at least one grant and one administrator."""
        return bool(self.grants) and bool(self.admins)

    def as_payload(self) -> dict[str, object]:
        return {
            "delegated_admin": {
                "grants": [str(g) for g in self.grants],
                "admins": [a.as_dict() for a in self.admins],
            }
        }

    @classmethod
    def of_case(cls, case: Case) -> DelegatedSetup:
        """The set-up a ``delegated_admin_setup`` case carries (stored already checked)."""
        data = json.loads(case.payload or "{}").get("delegated_admin") or {}
        grants = (str(g).partition(":") for g in data.get("grants", []))
        return cls(
            tuple(Grant(GrantKind(kind), name) for kind, _, name in grants),
            tuple(AdminInput(**a) for a in data.get("admins", [])),
        )


def check_setup(
    grants: Sequence[str], admins: Sequence[AdminInput], suffixes: Sequence[str]
) -> DelegatedSetup:
    """Judge the grants (R1 for the name, R2 for the shape) and the people."""
    if len(grants) > MAX_GRANTS or len(admins) > MAX_ADMINS:
        raise InvalidInput(
            "case.delegated_admin",
            f"at most {MAX_GRANTS} grants and {MAX_ADMINS} administrators per case",
        )
    parsed = tuple(dict.fromkeys(Grant.parse(g.strip(), suffixes) for g in grants))
    people = tuple(a.checked() for a in admins)
    logins = [p.login_id for p in people]
    if len(set(logins)) != len(logins):
        raise InvalidInput("case.admin_login", "each administrator needs a distinct login ID")
    return DelegatedSetup(parsed, people)
