"""Cert services works a case (R3, R8, R11, R12): fulfil, complete, close, and renewal cases.

**Fulfilment** issues one certificate per submittal through the issuance pipeline and delivers
them together. The pipeline commits its own transactions (the intent before signing), so it
never runs inside a case transaction; fulfilment is a sequence of short transactions:

1. *claim*: the case is locked, the state machine asked (``fulfil`` is allowed), a lease
   written on the case (``payload.fulfilment``: holder process, actor, until) and an
   ``approved`` case moved to ``in_progress``;
2. per submittal without a certificate:

   a. the CSR is the agency's; or, for a managed submittal without one, certdesk's key
      (R12): generated once, sealed under a data key of its own
      (``services/pki/generated_keys.py``) and **committed before anything is signed**,
      so every certificate issued for it has its key stored;
   b. an *orphan* — an active certificate of the organization for the same first name and
      the same public key, not linked to any case, issued since the approval — is adopted;
      only if there is none is the pipeline asked to issue;
   c. the certificate is linked (``submittal.certificate_id``, ``certificate.case_id``) in
      its own transaction, and the lease renewed;
3. *deliver*: every submittal has its certificate; cost (R11, managed only), delivered_at,
   window_ends_at (R8, ``CERTDESK_WINDOW_DAYS``) and the ``fulfil`` event, in one
   transaction; the lease is cleared.

Guarantee: a retry after a failure or a crash at any point issues no second certificate for a
submittal. A submittal that has a certificate is skipped (2c committed); a certificate that
was stored but not linked (crash between the pipeline's commit and 2c) is adopted by 2b,
because its key is the submittal's (the agency's CSR, or the key committed in 2a). The
pipeline itself leaves at most a ``signing`` intent, voided at start-up and never delivered.
The lease keeps two fulfilments of one case from running at once; it lapses when its
process is known dead (same host) or after :data:`LEASE`, and an exception releases it.

**Completing** finishes cases that deliver no certificate: ``revoke`` and ``delete`` revoke
the named certificate (delete: ``cessationOfOperation``), ``question`` records the answer,
``delegated_admin_setup`` applies the set-up (:mod:`certdesk.services.casework.delegated_admin`).
The revocation commits before the case is closed, so a retry finds it revoked and closes.

**Closing** ends a delivered case (and its R8 window). For a ``change`` case the replaced
certificate is revoked as ``superseded`` then, not at delivery: it stays in service during the
window while the agency installs and tests the new one. A renewal's predecessor is never
revoked: it is linked (``renewal_of``) and expires on its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from certdesk.core import subscriber_keys
from certdesk.core.access import Action, Actor, Role, authorize
from certdesk.core.calendar import max_validity_days
from certdesk.core.cases import parties_of
from certdesk.core.costs import certificate_cost, certificate_days
from certdesk.core.keys import KeyType, parse_csr
from certdesk.core.workflow import (
    CaseType,
    Event,
    State,
    transition,
    window_ends_at,
)
from certdesk.errors import Conflict, InvalidInput
from certdesk.services.audit import AuditService
from certdesk.services.casework.casefile import (
    CaseView,
    apply_event,
    case_view,
    payload_of,
)
from certdesk.services.casework.cases import CaseInput, CaseService
from certdesk.services.casework.contacts import ContactInput
from certdesk.services.casework.delegated_admin import DelegatedAdminSetup
from certdesk.services.casework.submittals import ServiceOption, SubmittalInput
from certdesk.services.pki import generated_keys, signer_identity
from certdesk.services.pki.issuance import IssuanceService, IssueCommand, Platform
from certdesk.services.pki.revocation import Reason, RevocationService
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.services.visibility import visible_cert
from certdesk.store import cases as case_store
from certdesk.store import certificates as cert_store
from certdesk.store import orgs as org_store
from certdesk.store.models import (
    Case,
    CertificateName,
    CertificateRow,
    Comment,
    Submittal,
)

log = structlog.get_logger("certdesk.fulfilment")

LEASE = timedelta(minutes=5)
MAX_COMMENT = 20_000
# Revocation is what revoke and delete cases do; their default reasons (BR §7.2.2).
DEFAULT_REASON = {
    CaseType.REVOKE: Reason.UNSPECIFIED,
    CaseType.DELETE: Reason.CESSATION_OF_OPERATION,
}
FINISHED = (State.CLOSED, State.CANCELLED)


def as_cert_services(actor: Actor, number: str) -> Actor:
    """The identity the pipeline and revocation act with for a case action.

    Cert services act as themselves. An agency's R8 window action on a managed organization's
    certificate is, by R11, carried out by cert services; the case rules have authorized it,
    and the name keeps who asked and on which case (audit, ``requested_by``).
    """
    if actor.has(Role.OPERATOR):
        return actor
    return Actor(name=f"{actor.name} via {number}", role=Role.OPERATOR)


# --- the lease that keeps one fulfilment (or reissue) per case at a time ------------------


def claim(case: Case, actor: Actor, now: datetime) -> None:
    """Write this process's lease on ``case`` (locked by the caller), or refuse if busy."""
    payload = payload_of(case)
    lease = payload.get("fulfilment")
    if isinstance(lease, dict):
        until = datetime.fromisoformat(str(lease.get("until")))
        holder = str(lease.get("holder", ""))
        if until > now and not signer_identity.is_dead(holder):
            raise Conflict(
                "case.busy",
                f"case {case.number} is being worked by {lease.get('actor')} right now"
                f" (lease until {until:%H:%M:%S}Z); try again when that is done",
            )
    payload["fulfilment"] = {
        "holder": signer_identity.current(),
        "actor": actor.name,
        "until": (now + LEASE).isoformat(),
    }
    case.payload = json.dumps(payload, sort_keys=True)


def renew(case: Case, now: datetime) -> None:
    payload = payload_of(case)
    lease = payload.get("fulfilment")
    if isinstance(lease, dict) and lease.get("holder") == signer_identity.current():
        lease["until"] = (now + LEASE).isoformat()
        case.payload = json.dumps(payload, sort_keys=True)


def release(case: Case) -> None:
    payload = payload_of(case)
    if payload.pop("fulfilment", None) is not None:
        case.payload = json.dumps(payload, sort_keys=True)


# --- one submittal's certificate ---------------------------------------------------------


@dataclass(frozen=True)
class Work:
    """What one submittal's certificate is issued from, read in the claiming transaction."""

    submittal_id: int
    names: tuple[str, ...]
    csr_pem: str | None
    key_type: KeyType
    platform: Platform
    validity_days: int | None
    managed: bool
    certificate_id: int | None

    @classmethod
    def of(cls, sub: Submittal) -> Work:
        return cls(
            submittal_id=sub.id,
            names=tuple(sub.names.split(",")),
            csr_pem=sub.csr_pem,
            key_type=KeyType(sub.key_type),
            platform=Platform(sub.platform),
            validity_days=sub.validity_days,
            managed=sub.service_option == ServiceOption.MANAGED,
            certificate_id=sub.certificate_id,
        )


def require_csr_or_managed(managed: bool, csr_pem: str | None, submittal_id: int) -> None:
    # R12: certdesk generates keys for managed certificates only; a self-managed agency keeps
    # its keys and sends a CSR.
    if csr_pem is None and not managed:
        raise Conflict(
            "submittal.csr_required",
            f"submittal {submittal_id} carries no CSR and the organization is self-managed:"
            " certdesk generates keys only for managed certificates (R12); the agency sends a"
            " CSR on a new case",
        )


def find_orphan(
    s: Session, org_id: int, names: Sequence[str], csr_pem: bytes, since: datetime
) -> CertificateRow | None:
    """An active certificate for exactly these names and this key, of this organization,
    linked to no case, issued since ``since``: one a crashed fulfilment stored but never
    linked."""
    wanted = subscriber_keys.spki(parse_csr(csr_pem))
    candidates = s.scalars(
        select(CertificateRow)
        .where(
            CertificateRow.org_id == org_id,
            CertificateRow.case_id.is_(None),
            CertificateRow.status == "active",
            CertificateRow.signing_started_at >= since,
            CertificateRow.id.in_(
                select(CertificateName.cert_id).where(CertificateName.name == names[0])
            ),
        )
        .order_by(CertificateRow.id)
    )
    for row in candidates:
        if set(row.names.split(",")) != set(names) or row.der is None:
            continue
        if subscriber_keys.spki(x509.load_der_x509_certificate(row.der)) == wanted:
            return row
    return None


class FulfilmentService:
    def __init__(
        self,
        rt: Runtime,
        audit: AuditService,
        cases: CaseService,
        issuance: IssuanceService,
        revocation: RevocationService,
        secretbox: SecretBox,
        setup: DelegatedAdminSetup,
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._cases = cases
        self._issuance = issuance
        self._revocation = revocation
        self._box = secretbox
        self._setup = setup

    # --- fulfil -----------------------------------------------------------------------------

    def fulfil(self, actor: Actor, number: str) -> CaseView:
        """Issue every submittal's certificate and deliver the case (see the module text)."""
        now = self._rt.clock()
        with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
            kind = CaseType(case.type)
            transition(State(case.state), Event.FULFIL, parties_of(actor, case.org_id), kind)
            subs = case_store.submittals_of(s, case.id)
            if not subs:
                raise InvalidInput(
                    "case.no_submittal", f"case {case.number} has no submittal to fulfil (R3)"
                )
            work = [Work.of(sub) for sub in subs]
            for item in work:
                if item.certificate_id is None:
                    require_csr_or_managed(item.managed, item.csr_pem, item.submittal_id)
            claim(case, actor, now)
            if case.state == State.APPROVED:
                apply_event(s, case, actor, Event.START, now, note="fulfilment started")
                self._audit.record(s, actor, "case.start", "case", case.number, note="fulfil")
            org = org_store.by_id(s, case.org_id)
            assert org is not None
            target = s.get(CertificateRow, case.target_cert_id) if case.target_cert_id else None
            renewal_of = (
                target.serial if target and kind in (CaseType.RENEWAL, CaseType.CHANGE) else None
            )
            since = case.approved_at or case.created_at
            number = case.number
            org_id, org_code = org.id, org.code
        done = False
        try:
            for item in work:
                if item.certificate_id is None:
                    self._issue(actor, number, org_id, org_code, item, renewal_of, since)
            view = self._deliver(actor, number)
            done = True
            return view
        finally:
            if not done:
                self._release(actor, number)

    def _issue(
        self,
        actor: Actor,
        number: str,
        org_id: int,
        org_code: str,
        item: Work,
        renewal_of: str | None,
        since: datetime,
    ) -> None:
        """Steps 2a-2c for one submittal."""
        if item.csr_pem is not None:
            csr = item.csr_pem.encode()
        else:
            key_der = self._stored_key(actor, number, item)
            csr = subscriber_keys.csr_for(key_der, item.names)
        with self._rt.reads() as s:
            orphan = find_orphan(s, org_id, item.names, csr, since)
            serial = orphan.serial if orphan is not None else None
        if serial is None:
            serial = self._issuance.issue(
                as_cert_services(actor, number),
                IssueCommand(
                    org_code=org_code,
                    csr=csr,
                    platform=item.platform,
                    days=item.validity_days,
                    renewal_of=renewal_of,
                ),
            ).serial
        now = self._rt.clock()
        with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
            sub = case_store.submittal(s, case.id, item.submittal_id)
            row = cert_store.by_serial(s, serial, for_update=True)
            assert sub is not None and row is not None
            sub.certificate_id = row.id
            row.case_id = case.id
            renew(case, now)
            self._audit.record(
                s,
                actor,
                "submittal.certificate",
                "case",
                case.number,
                submittal_id=sub.id,
                serial=serial,
                adopted=orphan is not None,
            )

    def _stored_key(self, actor: Actor, number: str, item: Work) -> bytes:
        """Step 2a: the submittal's generated key, made and committed now if it has none."""
        with self._rt.reads() as s:
            stored = generated_keys.open_key(s, self._box, item.submittal_id)
        if stored is not None:
            return stored
        key_der = subscriber_keys.new_key(item.key_type)
        now = self._rt.clock()
        with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
            sub = case_store.submittal(s, case.id, item.submittal_id)
            assert sub is not None
            stored = generated_keys.open_key(s, self._box, sub.id)
            if stored is not None:  # stored meanwhile: that one is the key
                return stored
            generated_keys.keep(s, self._box, sub.id, key_der, now)
            renew(case, now)
            self._audit.record(
                s,
                actor,
                "submittal.key_generate",
                "case",
                case.number,
                submittal_id=sub.id,
                key_type=str(item.key_type),
            )
        return key_der

    def _deliver(self, actor: Actor, number: str) -> CaseView:
        """Step 3: cost, dates and the ``fulfil`` event, once every certificate is linked."""
        now = self._rt.clock()
        settings = self._rt.settings
        with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
            subs = case_store.submittals_of(s, case.id)
            missing = [sub.id for sub in subs if sub.certificate_id is None]
            if missing:
                raise Conflict(
                    "case.incomplete",
                    f"submittal {', '.join(map(str, missing))} of case {case.number} has no"
                    " certificate yet; fulfil again",
                )
            org = org_store.by_id(s, case.org_id)
            assert org is not None
            rate = (
                org.cost_cents_per_year
                if org.cost_cents_per_year is not None
                else settings.cost_cents_per_year
            )
            delivered: list[dict[str, Any]] = []
            for sub in subs:
                row = s.get(CertificateRow, sub.certificate_id)
                assert row is not None
                row.case_id = case.id
                # R11: managed certificates cost the rate per certificate-year; self-managed
                # ones cost nothing and record none.
                managed = sub.service_option == ServiceOption.MANAGED
                row.cost_cents = (
                    certificate_cost(rate, certificate_days(row.not_before, row.not_after))
                    if managed
                    else None
                )
                delivered.append(
                    {"submittal_id": sub.id, "serial": row.serial, "cost_cents": row.cost_cents}
                )
            case.delivered_at = now
            case.window_ends_at = window_ends_at(now, settings.window_days)
            release(case)
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
                window_ends_at=case.window_ends_at.isoformat(),
            )
            return case_view(s, case, now)

    def _release(self, actor: Actor, number: str) -> None:
        try:
            with self._cases.locked(actor, number, Action.CASE_WORK) as (_s, case):
                release(case)
        except Exception:  # the lease lapses on its own; the first error is the one to show
            log.warning("could not release the fulfilment lease", case=number, exc_info=True)

    # --- complete ---------------------------------------------------------------------------

    def complete(
        self, actor: Actor, number: str, *, reason: Reason | None = None, comment: str = ""
    ) -> CaseView:
        """Finish a case that delivers no certificate (revoke, delete, question, set-up).

        ``comment`` is the answer of a question (required) and an optional remark otherwise;
        ``reason`` overrides the revocation reason of a revoke or delete case.
        """
        text = comment.strip()
        if len(text) > MAX_COMMENT:
            raise InvalidInput("case.comment", f"a comment is at most {MAX_COMMENT} characters")
        now = self._rt.clock()
        with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
            kind = CaseType(case.type)
            transition(State(case.state), Event.COMPLETE, parties_of(actor, case.org_id), kind)
            if kind is CaseType.QUESTION:
                if not text:
                    raise InvalidInput(
                        "case.answer", "answering a question needs the answer (comment)"
                    )
                self._comment(s, case, actor, text, now)
                return self._close(s, case, actor, Event.COMPLETE, now, note="answered")
            target = s.get(CertificateRow, case.target_cert_id) if case.target_cert_id else None
            revocation = (
                (target.serial, target.status, reason or self._requested_reason(case, kind))
                if target is not None and kind in DEFAULT_REASON
                else None
            )
            if kind is not CaseType.DELEGATED_ADMIN_SETUP and revocation is None:
                raise Conflict("case.target", f"case {case.number} names no certificate")
        if revocation is None:
            return self._setup.apply(actor, number, comment=text)
        serial, status, why = revocation
        # The revocation commits first: if the case is not closed below, a retry finds the
        # certificate revoked and only closes.
        revoked_now = status != "revoked"
        if revoked_now:
            self._revocation.revoke(actor, serial, why)
        with self._cases.locked(actor, number, Action.CASE_WORK) as (s, case):
            if text:
                self._comment(s, case, actor, text, now)
            note = f"{serial} revoked ({why})" if revoked_now else f"{serial} was already revoked"
            return self._close(
                s, case, actor, Event.COMPLETE, now, note=note, serial=serial, reason=str(why)
            )

    @staticmethod
    def _requested_reason(case: Case, kind: CaseType) -> Reason:
        asked = payload_of(case).get("revocation_reason")
        try:
            return Reason(str(asked)) if asked else DEFAULT_REASON[kind]
        except ValueError:
            return DEFAULT_REASON[kind]

    def _comment(self, s: Session, case: Case, actor: Actor, text: str, now: datetime) -> None:
        row = Comment(case_id=case.id, actor=actor.name, body=text, at=now)
        s.add(row)
        s.flush()
        self._audit.record(
            s, actor, "case.comment", "case", case.number, comment_id=row.id, text=text
        )

    def _close(
        self,
        s: Session,
        case: Case,
        actor: Actor,
        event: Event,
        now: datetime,
        *,
        note: str,
        **summary: Any,
    ) -> CaseView:
        before = case.state
        apply_event(s, case, actor, event, now, note=note)
        case.closed_at = now
        release(case)
        self._audit.record(
            s, actor, f"case.{event}", "case", case.number, before=before, note=note, **summary
        )
        return case_view(s, case, now)

    # --- close ------------------------------------------------------------------------------

    def close(self, actor: Actor, number: str) -> CaseView:
        """End a delivered case and its R8 window (requester, operator; the worker later)."""
        now = self._rt.clock()
        with self._cases.locked(actor, number, Action.CASE_OPEN) as (s, case):
            kind = CaseType(case.type)
            transition(State(case.state), Event.CLOSE, parties_of(actor, case.org_id), kind)
            target = s.get(CertificateRow, case.target_cert_id) if case.target_cert_id else None
            superseded = (
                target.serial
                if kind is CaseType.CHANGE and target is not None and target.status == "active"
                else None
            )
        if superseded is not None:
            try:
                self._revocation.revoke(
                    as_cert_services(actor, number), superseded, Reason.SUPERSEDED
                )
            except Conflict as exc:
                if exc.code != "cert.revoked":
                    raise
        with self._cases.locked(actor, number, Action.CASE_OPEN) as (s, case):
            note = f"{superseded} revoked (superseded)" if superseded else ""
            return self._close(s, case, actor, Event.CLOSE, now, note=note, superseded=superseded)

    # --- renewal cases (R6, by hand until the worker opens them) ---------------------------

    def open_renewal(self, actor: Actor, serial: str) -> CaseView:
        """A draft renewal case for certificate ``serial``, pre-filled from its submittal.

        Names, certificate type, platform, server software, key type, validity and contacts
        are copied from the submittal the certificate was issued for (from the certificate
        and the organization's contacts when it came from no case). An agency CSR is copied
        too (the agency may replace it on the draft); a key certdesk generated is not: the
        renewal gets a new one. The new certificate will name the old one in ``renewal_of``.
        """
        now = self._rt.clock()
        with self._rt.reads() as s:
            cert = visible_cert(s, actor, serial)
            authorize(actor, Action.CASE_OPEN, cert.org_id, hide=True)
            if cert.status == "revoked":
                raise Conflict(
                    "cert.revoked",
                    f"certificate {cert.serial} is revoked; a new certificate needs a new case",
                )
            open_case = s.scalars(
                select(Case.number).where(
                    Case.target_cert_id == cert.id,
                    Case.type == str(CaseType.RENEWAL),
                    Case.state.not_in([str(st) for st in FINISHED]),
                )
            ).first()
            if open_case is not None:
                raise Conflict(
                    "case.renewal_open",
                    f"renewal case {open_case} is already open for certificate {cert.serial}",
                )
            org = org_store.by_id(s, cert.org_id)
            assert org is not None
            sub = s.scalars(select(Submittal).where(Submittal.certificate_id == cert.id)).first()
            contacts = (
                case_store.contacts_of_submittals(s, [sub.id])[sub.id] if sub is not None else []
            )
            ceiling = max_validity_days(now)
            if self._rt.settings.max_validity_days is not None:
                ceiling = min(ceiling, self._rt.settings.max_validity_days)
            validity = sub.validity_days if sub is not None else None
            spec = SubmittalInput(
                names=tuple((sub.names if sub is not None else cert.names).split(",")),
                cert_type=sub.cert_type if sub is not None else None,
                platform=sub.platform if sub is not None else cert.platform,
                server_software=sub.server_software if sub is not None else "",
                server_version=sub.server_version if sub is not None else "",
                key_type=sub.key_type if sub is not None else cert.key_type,
                validity_days=validity if validity is not None and validity <= ceiling else None,
                csr=sub.csr_pem.encode() if sub is not None and sub.csr_pem else None,
                contacts=tuple(ContactInput(c.kind, c.name, c.email, c.phone) for c in contacts),
            )
            names = spec.names
            code, cert_serial = org.code, cert.serial
            expires = cert.not_after
        return self._cases.open(
            actor,
            CaseInput(
                org_code=code,
                type=str(CaseType.RENEWAL),
                title=f"Renewal of {names[0]}"[:200],
                description=(
                    f"Renewal of certificate {cert_serial} ({', '.join(names)}), which expires"
                    f" {expires:%Y-%m-%d %H:%M}Z."
                )[:20_000],
                target_serial=cert_serial,
                submittals=(spec,),
            ),
        )
