"""R11: the cost per certificate-year of an organization's managed certificates.

An organization either has its own rate or uses ``CERTDESK_COST_CENTS_PER_YEAR``. The rate
applies when a managed certificate is delivered
(:mod:`certdesk.services.casework.fulfilment` records
``certificate.cost_cents`` then); changing it never changes what was already recorded.
Only cert services set it, and every change is audited (R15).
"""

from __future__ import annotations

from dataclasses import dataclass

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.costs import check_rate
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_org
from certdesk.store import orgs as org_store
from certdesk.store.models import Organization


@dataclass(frozen=True)
class CostView:
    org_code: str
    self_managed: bool
    cents_per_year: int | None  # the organization's own rate; None: the default applies
    effective_cents_per_year: int

    def as_dict(self) -> dict[str, object]:
        return {
            "organization": self.org_code,
            "service": "self-managed" if self.self_managed else "managed",
            "cents_per_year": self.cents_per_year,
            "effective_cents_per_year": self.effective_cents_per_year,
            "default": self.cents_per_year is None,
        }


class CostService:
    def __init__(self, rt: Runtime, audit: AuditService) -> None:
        self._rt = rt
        self._audit = audit

    def _view(self, org: Organization) -> CostView:
        default = self._rt.settings.cost_cents_per_year
        own = org.cost_cents_per_year
        return CostView(org.code, org.self_managed, own, own if own is not None else default)

    def show(self, actor: Actor, code: str) -> CostView:
        with self._rt.reads() as s:
            org = visible_org(s, actor, code)
            authorize(actor, Action.ORG_READ, org.id, hide=True)
            return self._view(org)

    def set_cost(self, actor: Actor, code: str, cents_per_year: int | None) -> CostView:
        """Set the organization's rate in cents per certificate-year (None: the default)."""
        rate = check_rate(cents_per_year) if cents_per_year is not None else None
        with self._rt.sessions.begin() as s:
            org = visible_org(s, actor, code, for_update=True)
            authorize(actor, Action.ORG_MANAGE, org.id, hide=True)
            before = org.cost_cents_per_year
            if before != rate:
                org_store.set_cost(org, rate)
                self._audit.record(
                    s, actor, "org.cost", "organization", org.code, before=before, after=rate
                )
            return self._view(org)
