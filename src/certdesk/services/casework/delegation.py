"""The Delegated Administrator Security Certificate Submittal (R2, R3, R10).

A self-managed agency starts delegated administration with a ``delegated_admin_setup`` case
(the seed: "Customers requesting to use the delegated administration option should submit
the Delegated Administrator Security Certificate Submittal to initiate service setup"). The
case carries what its approval will create: the organization's grants (R2, ``zone:`` or
``host:``) and its delegated administrators (name, email, login ID; enrolled by link, R10).
Both are checked when given and kept in the case's ``delegated_setup`` column as::

    {"grants": ["zone:apps.dmv.ca.gov"],
     "admins": [{"name": …, "email": …, "login_id": …}]}

Applying them (grants, accounts, self-managed flag) happens when the case is worked.

What an agency may ask for (issue 10, finding 8). R2 adds grants only through an approved
case or by cert services, and nothing in a set-up case may tell its requester about anybody
else's organization or people:

- **Grants.** An agency's requester or delegated administrator asks only for grants within
  those its organization already holds (``zone:apps.dmv.ca.gov`` under ``zone:dmv.ca.gov``,
  a host a held grant covers); new names are cert services' to grant, and they may draft a
  set-up naming any R1 grant. The refusal is decided by the requester's own grants alone and
  reads the same whether another organization holds the name or nobody does, so it cannot
  be used to learn which zones other agencies hold.
- **Administrators.** Drafting never looks login IDs up: an ID that exists drafts exactly
  like a free one. Only applying the approved set-up does (see
  :mod:`certdesk.services.casework.delegated_admin`), where each administrator either gets a new
  account or the set-up is refused with one note that names neither the ID nor its holder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from certdesk.core.grants import Grant, GrantKind
from certdesk.errors import InvalidInput, PolicyRefusal
from certdesk.services.casework.contacts import check_email, check_person_name
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
        return {"delegated_admin": self.as_column()}

    def as_column(self) -> dict[str, Any]:
        """What ``cases.delegated_setup`` holds."""
        return {
            "grants": [str(g) for g in self.grants],
            "admins": [a.as_dict() for a in self.admins],
        }

    @classmethod
    def of_case(cls, case: Case) -> DelegatedSetup:
        """The set-up a ``delegated_admin_setup`` case carries (stored already checked)."""
        data = case.delegated_setup or {}
        grants = (str(g).partition(":") for g in data.get("grants", []))
        return cls(
            tuple(Grant(GrantKind(kind), name) for kind, _, name in grants),
            tuple(AdminInput(**a) for a in data.get("admins", [])),
        )


def check_setup(
    grants: Sequence[str],
    admins: Sequence[AdminInput],
    suffixes: Sequence[str],
    *,
    held: Sequence[Grant] | None,
    org_code: str,
) -> DelegatedSetup:
    """Judge the grants (R1 for the name, R2 for the shape and, for an agency, within
    ``held``: its organization's grants; None for cert services) and the people."""
    if len(grants) > MAX_GRANTS or len(admins) > MAX_ADMINS:
        raise InvalidInput(
            "case.delegated_admin",
            f"at most {MAX_GRANTS} grants and {MAX_ADMINS} administrators per case",
        )
    parsed = tuple(dict.fromkeys(Grant.parse(g.strip(), suffixes) for g in grants))
    if held is not None:
        for grant in parsed:
            check_within(grant, held, org_code)
    people = tuple(a.checked() for a in admins)
    logins = [p.login_id for p in people]
    if len(set(logins)) != len(logins):
        raise InvalidInput("case.admin_login", "each administrator needs a distinct login ID")
    return DelegatedSetup(parsed, people)


def check_within(grant: Grant, held: Sequence[Grant], org_code: str) -> None:
    """R2: an agency's set-up asks only for grants within those ``org_code`` holds.

    The answer depends on the organization's own grants only, and the message names only
    them: a name another agency holds is refused exactly like a name nobody holds.
    """
    if any(grant.within(h) for h in held):
        return
    holding = ", ".join(str(h) for h in held) or "no grant yet"
    raise PolicyRefusal(
        "grant.outside",
        f"grant {grant} is not within the grants of {org_code} ({holding}); an agency's"
        " set-up asks only for names inside those, and cert services grants new ones",
        rule="R2",
        grant=str(grant),
    )
