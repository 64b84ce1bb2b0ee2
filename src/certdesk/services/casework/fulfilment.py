"""Cert services fulfils a case (R3, R8, R11, R12): one certificate per submittal, delivered
together.

The issuance pipeline commits its own transactions (the intent before signing), so it never
runs inside a case transaction. Fulfilment adds two transactions to the pipeline's two per
certificate, whatever the number of submittals (and a third when certdesk generates keys):

1. *claim* (the case locked): the state machine is asked (``fulfil`` is allowed), the lease
   written (:mod:`.lease`), an ``approved`` case moved to ``in_progress``, and for each
   submittal without a certificate the *orphans* read — active certificates of the
   organization for the same names, linked to no case, issued since the approval;
2. *keys* (only if needed): a managed submittal without a CSR gets certdesk's key (R12),
   generated, sealed and **committed before anything is signed** (:mod:`.generated_keys`);
3. per submittal without a certificate: an orphan with the submittal's public key is adopted;
   only if there is none is the pipeline asked to issue (its own two transactions);
4. *deliver*: every certificate is linked to its submittal and case, cost (R11, managed
   only), delivered_at, window_ends_at (R8, ``CERTDESK_WINDOW_DAYS``) and the ``fulfil``
   event are written, and the lease cleared, in one transaction.

Guarantee: a retry after a failure or a crash at any point issues no second certificate for a
submittal. When a step fails, a last transaction links what was issued so far and clears the
lease; a certificate that was stored but never linked (a crash before step 4) is adopted by
step 3, because its key is the submittal's (the agency's CSR, or the key committed in step 2).
The pipeline itself leaves at most a ``signing`` intent, voided at start-up and never
delivered. The lease keeps two fulfilments of one case from running at once.

Completing and closing a case live in :mod:`.closing`, renewal cases opened by hand in
:mod:`.renewal_cases`; :class:`FulfilmentService` is the one door to all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.orm import Session

from certdesk.core import subscriber_keys
from certdesk.core.access import Action, Actor
from certdesk.core.cases import parties_of
from certdesk.core.costs import certificate_cost, certificate_days
from certdesk.core.workflow import CaseType, Event, State, transition, window_ends_at
from certdesk.errors import Conflict, InvalidInput, NotFound
from certdesk.services.audit import AuditService
from certdesk.services.casework import case_issuance, lease
from certdesk.services.casework.case_issuance import Unlinked, Work
from certdesk.services.casework.casefile import CaseView, apply_event, committed_view
from certdesk.services.casework.cases import CaseService
from certdesk.services.casework.closing import CaseClosing
from certdesk.services.casework.generated_keys import GeneratedKeys
from certdesk.services.casework.renewal_cases import RenewalCases
from certdesk.services.casework.submittals import ServiceOption
from certdesk.services.pki import generated_keys
from certdesk.services.pki.issuance import IssuanceService, IssueCommand
from certdesk.services.pki.issued import Ordered
from certdesk.services.pki.revocation import Reason
from certdesk.services.runtime import Runtime
from certdesk.store import cases as case_store
from certdesk.store import certificates as cert_store
from certdesk.store import issuers as issuer_store
from certdesk.store import orgs as org_store
from certdesk.store import submittals as submittal_store
from certdesk.store.models import Case

log = structlog.get_logger("certdesk.fulfilment")


@dataclass(frozen=True)
class _Claimed:
    """What step 1 read for the steps outside any transaction."""

    number: str
    org_code: str
    renewal_of: str | None  # the serial a renewal or change case replaces
    todo: tuple[Work, ...]  # the submittals without a certificate
    orphans: Mapping[int, tuple[Unlinked, ...]]  # submittal id → unlinked candidates


@dataclass(frozen=True)
class _Got:
    serial: str
    adopted: bool


class FulfilmentService:
    def __init__(
        self,
        rt: Runtime,
        audit: AuditService,
        cases: CaseService,
        issuance: IssuanceService,
        keys: GeneratedKeys,
        closing: CaseClosing,
        renewal_cases: RenewalCases,
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._cases = cases
        self._issuance = issuance
        self._keys = keys
        self._closing = closing
        self._renewal_cases = renewal_cases

    # --- fulfil -----------------------------------------------------------------------------

    def fulfil(self, actor: Actor, number: str) -> CaseView:
        """Issue every submittal's certificate and deliver the case (see the module text)."""
        claimed = self._claim(actor, number)
        got: dict[int, _Got] = {}
        ordered: dict[int, Ordered] = {}
        try:
            csrs = self._csrs(actor, claimed)
            taken: set[str] = set()
            for item in claimed.todo:
                result = self._issue(actor, claimed, item, csrs, taken)
                if isinstance(result, Ordered):
                    ordered[item.submittal_id] = result
                else:
                    got[item.submittal_id] = result
            if ordered:
                # R16: a vendor's certificates come later. What was issued is linked, the
                # lease cleared, and the case waits "ordering at VENDOR"; the worker follows
                # the orders and fulfils the case again when they are all issued.
                self._await_vendors(actor, claimed.number, got, ordered)
                return committed_view(self._rt, claimed.number, self._rt.clock())
            delivered_at = self._deliver(actor, claimed.number, got)
        except BaseException:
            self._release(actor, claimed.number, got)
            raise
        # Read after the commit: the view's reads never run inside the case's write lock.
        return committed_view(self._rt, claimed.number, delivered_at)

    def waiting_on_vendors(self) -> list[str]:
        """Cases in progress whose vendor orders have all come in, so the worker can deliver
        them (R16); a case with an order still open or failed is left alone."""
        with self._rt.reads() as s:
            return case_store.awaiting_delivery(s)

    def _claim(self, actor: Actor, number: str) -> _Claimed:
        """Step 1."""
        now = self._rt.clock()
        with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
            kind = CaseType(case.type)
            transition(State(case.state), Event.FULFIL, parties_of(actor, case.org_id), kind)
            subs = submittal_store.submittals_of(s, case.id)
            if not subs:
                raise InvalidInput(
                    "case.no_submittal", f"case {case.number} has no submittal to fulfil (R3)"
                )
            todo = tuple(
                Work.of(sub, generated_keys.held(s, sub.id))
                for sub in subs
                if sub.certificate_id is None
            )
            for item in todo:
                case_issuance.require_csr_or_managed(item.managed, item.csr_pem, item.submittal_id)
            lease.claim(case, actor, now, len(todo))
            if case.state == State.APPROVED:
                apply_event(s, case, actor, Event.START, now, note="fulfilment started")
                self._audit.record(s, actor, "case.start", "case", case.number, note="fulfil")
            org = org_store.by_id(s, case.org_id)
            assert org is not None
            target = cert_store.by_id(s, case.target_cert_id) if case.target_cert_id else None
            since = case.approved_at or case.created_at
            return _Claimed(
                number=case.number,
                org_code=org.code,
                renewal_of=(
                    target.serial
                    if target and kind in (CaseType.RENEWAL, CaseType.CHANGE)
                    else None
                ),
                todo=todo,
                # A submittal that never had a key cannot have a certificate yet.
                orphans={
                    item.submittal_id: case_issuance.unlinked(s, org.id, item.names, since)
                    for item in todo
                    if item.csr_pem is not None or item.key_held
                },
            )

    def _csrs(self, actor: Actor, claimed: _Claimed) -> dict[int, bytes]:
        """Step 2: each submittal's CSR — the agency's, or one for certdesk's stored key."""
        csrs = {
            item.submittal_id: item.csr_pem.encode()
            for item in claimed.todo
            if item.csr_pem is not None
        }
        keys: dict[int, bytes] = {}
        for item in claimed.todo:
            if item.csr_pem is None and (key := self._keys.stored(item)) is not None:
                keys[item.submittal_id] = key
        missing = [item for item in claimed.todo if item.submittal_id not in csrs | keys]
        if missing:
            keys |= self._keys.generate(actor, claimed.number, missing)
        by_id = {item.submittal_id: item for item in claimed.todo}
        for sub_id, key in keys.items():
            csrs[sub_id] = subscriber_keys.csr_for(key, by_id[sub_id].names)
        return csrs

    def _issue(
        self,
        actor: Actor,
        claimed: _Claimed,
        item: Work,
        csrs: Mapping[int, bytes],
        taken: set[str],
    ) -> _Got | Ordered:
        """Step 3 for one submittal: adopt its orphan, or issue (or order at a vendor)."""
        csr = csrs[item.submittal_id]
        orphan = case_issuance.orphan_of(csr, claimed.orphans.get(item.submittal_id, ()), taken)
        if orphan is not None:
            taken.add(orphan)
            return _Got(orphan, adopted=True)
        result = case_issuance.issue_or_order(
            self._issuance,
            actor,
            claimed.number,
            IssueCommand(
                org_code=claimed.org_code,
                csr=csr,
                platform=item.platform,
                days=item.validity_days,
                renewal_of=claimed.renewal_of,
                issuer_id=item.issuer_id,
                submittal_id=item.submittal_id,
            ),
        )
        return result if isinstance(result, Ordered) else _Got(result, adopted=False)

    def _deliver(self, actor: Actor, number: str, got: Mapping[int, _Got]) -> datetime:
        """Step 4: link, cost, dates and the ``fulfil`` event, in one transaction; returns
        the moment of delivery."""
        now = self._rt.clock()
        settings = self._rt.settings
        with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
            subs = submittal_store.submittals_of(s, case.id)
            missing = [sub.id for sub in subs if sub.certificate_id is None and sub.id not in got]
            if missing:
                raise Conflict(
                    "case.incomplete",
                    f"submittal {', '.join(map(str, missing))} of case {case.number} has no"
                    " certificate yet; fulfil again",
                )
            self._link(s, actor, case, got)
            org = org_store.by_id(s, case.org_id)
            assert org is not None
            rate = (
                org.cost_cents_per_year
                if org.cost_cents_per_year is not None
                else settings.cost_cents_per_year
            )
            delivered: list[dict[str, Any]] = []
            for sub in subs:
                assert sub.certificate_id is not None
                row = cert_store.by_id(s, sub.certificate_id)
                assert row is not None
                # R11: managed certificates cost the rate per certificate-year; self-managed
                # ones cost nothing and record none.
                cert_store.set_cost(
                    row,
                    certificate_cost(rate, certificate_days(row.not_before, row.not_after))
                    if sub.service_option == ServiceOption.MANAGED
                    else None,
                )
                delivered.append(
                    {"submittal_id": sub.id, "serial": row.serial, "cost_cents": row.cost_cents}
                )
            ends = window_ends_at(now, settings.window_days)
            case_store.mark_delivered(case, at=now, window_ends_at=ends)
            lease.release(case)
            apply_event(
                s,
                case,
                actor,
                Event.FULFIL,
                now,
                note="delivered " + ", ".join(d["serial"] for d in delivered),
            )
            self._audit.record(
                s,
                actor,
                "case.fulfil",
                "case",
                case.number,
                certificates=delivered,
                window_ends_at=ends.isoformat(),
            )
        return now

    def _link(self, s: Session, actor: Actor, case: Case, got: Mapping[int, _Got]) -> None:
        """Link each certificate in ``got`` to its submittal and the case (audited)."""
        for sub_id, item in got.items():
            sub = submittal_store.submittal(s, case.id, sub_id)
            row = cert_store.by_serial(s, item.serial, for_update=True)
            assert sub is not None and row is not None
            submittal_store.link_certificate(sub, row)
            self._audit.record(
                s,
                actor,
                "submittal.certificate",
                "case",
                case.number,
                submittal_id=sub.id,
                serial=item.serial,
                adopted=item.adopted,
            )

    def _await_vendors(
        self, actor: Actor, number: str, got: Mapping[int, _Got], ordered: Mapping[int, Ordered]
    ) -> None:
        """Some certificates are on order at a vendor: link what was issued, clear the lease
        and record the orders (audited), in one transaction; the case stays in progress."""
        with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
            self._link(s, actor, case, got)
            lease.release(case)
            self._audit.record(
                s,
                actor,
                "case.order",
                "case",
                case.number,
                orders=[
                    {"submittal_id": sub_id, "issuer": o.issuer, "order": o.order_id}
                    for sub_id, o in sorted(ordered.items())
                ],
            )

    def _release(self, actor: Actor, number: str, got: Mapping[int, _Got]) -> None:
        """After a failure: keep what was issued (linked) and clear the lease."""
        try:
            with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
                self._link(s, actor, case, got)
                lease.release(case)
        except Exception:  # the lease lapses on its own; the first error is the one to show
            log.warning("could not release the fulfilment lease", case=number, exc_info=True)

    def choose_issuer(
        self, actor: Actor, number: str, submittal_id: int, issuer_id: int | None
    ) -> CaseView:
        """Cert services choose the issuer of one submittal's certificate (R16; None: the
        grant's, else the organization's). Only before that certificate is issued or
        ordered: an order placed stays with its issuer."""
        now = self._rt.clock()
        with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
            transition(
                State(case.state), Event.FULFIL, parties_of(actor, case.org_id), CaseType(case.type)
            )
            sub = submittal_store.submittal(s, case.id, submittal_id)
            if sub is None:
                raise NotFound(
                    "submittal.unknown", f"case {case.number} has no submittal {submittal_id}"
                )
            if sub.certificate_id is not None or issuer_store.latest_orders(s, [sub.id]):
                raise Conflict(
                    "submittal.ordered",
                    f"submittal {sub.id} already has a certificate or an order; its issuer stays",
                )
            submittal_store.set_submittal_issuer(sub, issuer_id)
            self._audit.record(
                s, actor, "submittal.issuer", "case", case.number,
                submittal_id=sub.id, issuer_id=issuer_id,
            )  # fmt: skip
        return committed_view(self._rt, number, now)

    # --- the rest of cert services' work on a case (one door for the adapters) --------------

    def complete(
        self, actor: Actor, number: str, *, reason: Reason | None = None, comment: str = ""
    ) -> CaseView:
        """Finish a case that delivers no certificate (:meth:`CaseClosing.complete`)."""
        return self._closing.complete(actor, number, reason=reason, comment=comment)

    def close(self, actor: Actor, number: str) -> CaseView:
        """End a delivered case and its R8 window (:meth:`CaseClosing.close`)."""
        return self._closing.close(actor, number)

    def open_renewal(self, actor: Actor, serial: str) -> CaseView:
        """A draft renewal case for ``serial`` (:meth:`RenewalCases.open_renewal`)."""
        return self._renewal_cases.open_renewal(actor, serial)
