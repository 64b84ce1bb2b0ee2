"""R6 renewal planning (read-only): which certificates are due, and when each one's renewal
opens.

**When** is :func:`certdesk.core.lifecycle.renewal_plan`'s decision (turnaround + margin,
lifetime fraction, the customer's earlier date). This module only finds the candidates in SQL
(:mod:`certdesk.store.renewals`: an exact ``not_after`` range for the turnaround point, a
bounded superset for the lifetime point, the few cases carrying a requested date) and asks
the core about each, so a pass over a large inventory plans only the certificates near their
renewal. Opening the cases is :mod:`certdesk.services.lifecycle.renewals`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from certdesk.config import Settings
from certdesk.core.access import Action, Actor, authorize
from certdesk.core.calendar import BusinessCalendar
from certdesk.core.certificates import CertStatus
from certdesk.core.lifecycle import (
    LifecyclePolicy,
    RenewalPlan,
    renewal_plan,
    turnaround_due_before,
)
from certdesk.services.casework.casefile import iso
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_cert
from certdesk.store import cases as case_store
from certdesk.store import renewals as store

T = TypeVar("T")

_CHUNK = 2000


def lifecycle_policy(settings: Settings) -> LifecyclePolicy:
    """The renewal and window settings as the core's policy (R5, R6, R8)."""
    return LifecyclePolicy(
        renewal_margin_days=settings.renewal_margin_days,
        due_business_days=settings.due_business_days,
        lifetime_fraction=settings.renewal_lifetime_fraction,
        window_days=settings.window_days,
        window_closing_notice_days=min(3, settings.window_days - 1),
    )


@dataclass(frozen=True)
class DueRenewal:
    """A certificate whose renewal case must be opened now."""

    cert_id: int
    serial: str
    org_id: int
    plan: RenewalPlan


@dataclass(frozen=True)
class RenewalView:
    """A certificate's renewal plan, for ``certdesk renewal show``."""

    serial: str
    status: CertStatus
    not_before: datetime
    not_after: datetime
    plan: RenewalPlan
    requested: date | None
    renews_by_case: bool
    renewal_case: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "serial": self.serial,
            "status": self.status,
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
            "renews_by_case": self.renews_by_case,
            "opens_at": iso(self.plan.opens_at),
            "basis": str(self.plan.basis),
            "turnaround_at": iso(self.plan.turnaround_at),
            "lifetime_at": iso(self.plan.lifetime_at),
            "deliver_by": iso(self.plan.deliver_by),
            "requested": iso(self.requested),
            "renewal_case": self.renewal_case,
        }


class RenewalPlanner:
    """The read-only half of the renewal service: plans, due renewals, ``renewal show``."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self.policy = lifecycle_policy(rt.settings)
        configured = rt.settings.holidays
        self.calendar = BusinessCalendar(frozenset(configured) if configured is not None else None)

    def plan(
        self,
        not_before: datetime,
        not_after: datetime,
        requested: date | None,
        vendor_asks: datetime | None = None,
    ) -> RenewalPlan:
        return renewal_plan(
            not_before, not_after, self.calendar, self.policy, requested, vendor_asks
        )

    def due(self, now: datetime) -> Iterator[DueRenewal]:
        """Every certificate whose renewal case should be open at ``now`` and is not, by id.

        Read in chunks of short read transactions, so that memory stays flat and no read
        transaction stays open while the caller opens cases.
        """
        requested: dict[int, tuple[store.RenewalCandidate, date]] = {}
        vendor: dict[int, tuple[store.RenewalCandidate, datetime]] = {}
        with self._rt.reads() as s:
            for cand, day in store.requested_renewals(s, now):
                requested[cand.id] = (cand, day)
            for cand, at in store.vendor_renewals(s, now):
                vendor[cand.id] = (cand, at)
        emitted: set[int] = set()
        for cand in self._candidates(now):
            item = self._judge(cand, _second(requested, cand.id), now, _second(vendor, cand.id))
            if item is not None:
                emitted.add(cand.id)
                yield item
        # Certificates only a customer's date or the vendor's window makes due.
        extra = {cand_id: cand for cand_id, (cand, _) in (requested | vendor).items()}
        for cand_id, cand in sorted(extra.items()):
            if cand_id not in emitted:
                item = self._judge(cand, _second(requested, cand_id), now, _second(vendor, cand_id))
                if item is not None:
                    yield item

    def _candidates(self, now: datetime) -> Iterator[store.RenewalCandidate]:
        bound = turnaround_due_before(now, self.calendar, self.policy)
        after = 0
        while True:
            with self._rt.reads() as s:
                chunk = store.renewal_candidates(
                    s,
                    now,
                    turnaround_before=bound,
                    lifetime_fraction=self.policy.lifetime_fraction,
                    after_id=after,
                    limit=_CHUNK,
                )
            yield from chunk
            if len(chunk) < _CHUNK:
                return
            after = chunk[-1].id

    def _judge(
        self,
        cand: store.RenewalCandidate,
        requested: date | None,
        now: datetime,
        vendor_asks: datetime | None = None,
    ) -> DueRenewal | None:
        plan = self.plan(cand.not_before, cand.not_after, requested, vendor_asks)
        if plan.opens_at > now:
            return None
        return DueRenewal(cand.id, cand.serial, cand.org_id, plan)

    def show(self, actor: Actor, serial: str) -> RenewalView:
        """When ``serial``'s renewal opens, and why (R6)."""
        with self._rt.reads() as s:
            row = visible_cert(s, actor, serial)
            authorize(actor, Action.CERT_READ, row.org_id, hide=True)
            case = case_store.by_id(s, row.case_id) if row.case_id else None
            wanted = case.renewal_requested if case is not None else None
            linked = case_store.by_id(s, row.renewal_case_id) if row.renewal_case_id else None
            return RenewalView(
                serial=row.serial,
                status=CertStatus(row.status),
                not_before=row.not_before,
                not_after=row.not_after,
                plan=self.plan(row.not_before, row.not_after, wanted, row.vendor_renew_at),
                requested=wanted,
                renews_by_case=row.case_id is not None,
                renewal_case=linked.number if linked is not None else None,
            )


def _second(found: Mapping[int, tuple[Any, T]], key: int) -> T | None:
    pair = found.get(key)
    return None if pair is None else pair[1]
