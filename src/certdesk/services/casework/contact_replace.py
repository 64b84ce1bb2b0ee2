"""Replacing one contact by another everywhere it matters, as one audited change (R9, R15).

An agency's contact leaves; another person takes over the certificates and the cases still
being worked. ``certdesk contact replace``, the API and the contacts page all come here.
"""

from __future__ import annotations

from dataclasses import dataclass

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.contacts import replacement_reaches
from certdesk.errors import Conflict, InvalidInput
from certdesk.services.audit import AuditService
from certdesk.services.casework.contacts import ContactView, contact_view, find_contact
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_org
from certdesk.store import contacts as contact_store


@dataclass(frozen=True)
class Replacement:
    """What one "replace X by Y everywhere" changed (R9, R15)."""

    old: ContactView
    new: ContactView
    submittals: tuple[int, ...]
    cases: tuple[str, ...]
    certificates: tuple[str, ...]
    old_removed: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "old": self.old.as_dict(),
            "new": self.new.as_dict(),
            "submittals": list(self.submittals),
            "cases": list(self.cases),
            "certificates": list(self.certificates),
            "old_removed": self.old_removed,
        }


class ContactReplacing:
    """``certdesk contact replace``, ``POST …/contacts/replace`` and the contact page."""

    def __init__(self, rt: Runtime, audit: AuditService) -> None:
        self._rt = rt
        self._audit = audit

    def replace(self, actor: Actor, org_code: str, old_ref: str, new_ref: str) -> Replacement:
        """See :func:`replace_contact`."""
        return replace_contact(self._rt, self._audit, actor, org_code, old_ref, new_ref)


def replace_contact(
    rt: Runtime, audit: AuditService, actor: Actor, org_code: str, old_ref: str, new_ref: str
) -> Replacement:
    """R9/R15: contact ``new_ref`` takes ``old_ref``'s place on every submittal of an
    open case or of a certificate in force, in the same role, as one audited change
    (``contact.replace``). ``new_ref`` also takes over hearing about the whole
    organization if ``old_ref`` did. The old contact stays on history (closed cases about
    certificates no longer in force) and is removed when nothing names it any more."""
    with rt.sessions.begin() as s:
        org = visible_org(s, actor, org_code)
        authorize(actor, Action.CONTACT_MANAGE, org.id, hide=True)
        old = find_contact(s, org, old_ref, for_update=True)
        new = find_contact(s, org, new_ref, for_update=True)
        if old.id == new.id:
            raise InvalidInput("contact.same", "a contact cannot replace itself")
        before_old, before_new = contact_view(old), contact_view(new)
        uses = contact_store.uses_of(s, old.id)
        reached = [u for u in uses if replacement_reaches(u.case_state, u.cert_status)]
        if not reached and not old.org_wide:
            raise Conflict(
                "contact.unused",
                f"{old.email} is not a contact of any open case or certificate in force",
            )
        for use in reached:
            contact_store.rename(s, use.submittal_id, old.id, new.id, use.kind)
        now = rt.clock()
        if old.org_wide and not new.org_wide:
            new.org_wide = True
            new.updated_at = now
        removed = len(reached) == len(uses)
        if removed:
            contact_store.remove(s, old)
        else:
            old.org_wide = False
            old.updated_at = now
        s.flush()
        result = Replacement(
            old=before_old,
            new=contact_view(new),
            submittals=tuple(sorted({u.submittal_id for u in reached})),
            cases=tuple(sorted({u.case_number for u in reached})),
            certificates=tuple(
                sorted({u.cert_serial for u in reached if u.cert_serial is not None})
            ),
            old_removed=removed,
        )
        audit.record(
            s,
            actor,
            "contact.replace",
            "contact",
            old.id,
            organization=org.code,
            before=before_old.fields(),
            after=before_new.fields(),
            replaced_by=new.id,
            submittals=list(result.submittals),
            cases=list(result.cases),
            certificates=list(result.certificates),
            old_removed=removed,
        )
        return result
