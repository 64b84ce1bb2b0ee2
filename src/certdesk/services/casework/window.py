"""What the requesting organization does with a delivered case (R8, R12).

* **Certificates** of a case — every certificate it delivered, the replaced ones too, each
  with its full chain (leaf, then the issuing CA) — for whoever may read the case.
* **Key download** (R12): a key certdesk generated leaves encrypted storage once, inside a
  PKCS#12 protected by the caller's password. The same transaction that builds the file
  destroys the stored key with its data key (crypto-shredding,
  ``services/pki/generated_keys.py``), so a second attempt is refused (409) — a lost file
  means a reissue with a new key. If the response is lost after that commit, so is the
  key; that is the price of "the key never leaves encrypted storage except in a
  password-protected PKCS#12 download", taken deliberately.
* **Inside the window** (R8: ``CERTDESK_WINDOW_DAYS`` calendar days after delivery, the case
  still ``delivered``) the requesting organization — its requesters and delegated admins —
  or cert services may *revoke* a certificate of the case, or *reissue* a submittal with
  changes (names, CSR, key type, platform, validity, server software) without a new case.
  The replacement names its predecessor in ``renewal_of``, is linked to the same submittal
  and case, costs nothing more (R11: the case was charged at delivery), and the predecessor
  is revoked ``superseded`` once the replacement is linked. Outside the window, or after the
  case was closed, both are refused with :func:`certdesk.core.workflow.require_window_open`'s
  message: open a new case.

A reissue is one request: checked (R1, R2 for agency users, R12, R13) and leased in one
transaction, issued by the pipeline, then linked with the submittal's new description in a
second. A crash between the pipeline's commit and the link leaves an unlinked certificate in
the inventory; repeating the reissue with the same CSR adopts it instead of issuing again
(with a generated key, a repeat makes a new key and certificate).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from certdesk.core import subscriber_keys
from certdesk.core.access import Action, Actor
from certdesk.core.grants import Grant, GrantKind
from certdesk.core.workflow import CERTIFICATE_TYPES, CaseType, State, require_window_open
from certdesk.errors import Conflict, NotFound
from certdesk.services.audit import AuditService
from certdesk.services.casework.casefile import iso, load_case
from certdesk.services.casework.cases import CaseService
from certdesk.services.casework.fulfilment import (
    as_cert_services,
    claim,
    find_orphan,
    release,
    require_csr_or_managed,
)
from certdesk.services.casework.submittals import (
    CheckedSubmittal,
    ServiceOption,
    SubmittalInput,
    check_submittal,
)
from certdesk.services.pki import generated_keys
from certdesk.services.pki.inventory import issuing_chain
from certdesk.services.pki.issuance import IssuanceService, IssueCommand
from certdesk.services.pki.revocation import Reason, RevocationService
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.services.visibility import parse_serial
from certdesk.store import cases as case_store
from certdesk.store import certificates as cert_store
from certdesk.store import orgs as org_store
from certdesk.store.models import Case, CertificateRow, Submittal

log = structlog.get_logger("certdesk.window")

DELIVERED_STATES = (State.DELIVERED, State.CLOSED)


@dataclass(frozen=True)
class DeliveredCertificate:
    serial: str
    submittal_id: int | None  # the submittal it is the current certificate of; None: replaced
    names: tuple[str, ...]
    status: str
    platform: str
    key_type: str
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None
    revocation_reason: str | None
    renewal_of: str | None
    cost_cents: int | None
    key: str  # agency (its own CSR) | stored (downloadable once) | downloaded | none
    fullchain_pem: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "submittal_id": self.submittal_id,
            "names": list(self.names),
            "status": self.status,
            "platform": self.platform,
            "key_type": self.key_type,
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
            "revoked_at": iso(self.revoked_at),
            "revocation_reason": self.revocation_reason,
            "renewal_of": self.renewal_of,
            "cost_cents": self.cost_cents,
            "key": self.key,
            "fullchain": self.fullchain_pem,
        }


@dataclass(frozen=True)
class Delivery:
    """A case's certificates and its R8 window."""

    number: str
    state: str
    delivered_at: datetime | None
    window_ends_at: datetime | None
    window_open: bool
    certificates: tuple[DeliveredCertificate, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "delivered_at": iso(self.delivered_at),
            "window_ends_at": iso(self.window_ends_at),
            "window_open": self.window_open,
            "certificates": [c.as_dict() for c in self.certificates],
        }


@dataclass(frozen=True)
class Reissue:
    """Changes for a reissue; None (or empty names) keeps what the submittal has.

    A new CSR brings its own names and key. Without one, an agency CSR on the submittal is
    used again (its names must then stay the same) and a managed submittal without a CSR
    gets a new generated key.
    """

    submittal_id: int
    names: tuple[str, ...] = ()
    csr: bytes | None = None
    key_type: str | None = None
    platform: str | None = None
    validity_days: int | None = None
    server_software: str | None = None
    server_version: str | None = None


def _pem(certs: list[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


class WindowService:
    def __init__(
        self,
        rt: Runtime,
        audit: AuditService,
        cases: CaseService,
        issuance: IssuanceService,
        revocation: RevocationService,
        secretbox: SecretBox,
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._cases = cases
        self._issuance = issuance
        self._revocation = revocation
        self._box = secretbox

    # --- read -------------------------------------------------------------------------------

    def certificates_of_case(self, actor: Actor, number: str) -> Delivery:
        """Every certificate the case delivered, current and replaced, with its chain."""
        now = self._rt.clock()
        with self._rt.reads() as s:
            case = load_case(s, actor, number, Action.CASE_READ)
            return self._delivery(s, case, now)

    def _delivery(self, s: Session, case: Case, now: datetime) -> Delivery:
        rows = list(
            s.scalars(
                select(CertificateRow)
                .where(CertificateRow.case_id == case.id)
                .order_by(CertificateRow.id)
            )
        )
        current = {
            sub.certificate_id: sub
            for sub in case_store.submittals_of(s, case.id)
            if sub.certificate_id is not None
        }
        chains: dict[int, list[x509.Certificate]] = {}
        items = []
        for row in rows:
            assert row.der is not None  # linked certificates are active, revoked or expired
            if row.issuer_id not in chains:
                chains[row.issuer_id] = issuing_chain(s, row.issuer_id)
            sub = current.get(row.id)
            previous = s.get(CertificateRow, row.renewal_of) if row.renewal_of else None
            status = row.status
            if status == "active" and row.not_after <= now:
                status = "expired"
            leaf = x509.load_der_x509_certificate(row.der)
            items.append(
                DeliveredCertificate(
                    serial=row.serial,
                    submittal_id=sub.id if sub is not None else None,
                    names=tuple(row.names.split(",")),
                    status=status,
                    platform=row.platform,
                    key_type=row.key_type,
                    not_before=row.not_before,
                    not_after=row.not_after,
                    revoked_at=row.revoked_at,
                    revocation_reason=row.revocation_reason,
                    renewal_of=previous.serial if previous else None,
                    cost_cents=row.cost_cents,
                    key=self._key_state(s, sub),
                    fullchain_pem=_pem([leaf, *chains[row.issuer_id]]),
                )
            )
        open_now = (
            case.state == State.DELIVERED
            and case.window_ends_at is not None
            and now < case.window_ends_at
        )
        return Delivery(
            case.number, case.state, case.delivered_at, case.window_ends_at, open_now, tuple(items)
        )

    @staticmethod
    def _key_state(s: Session, sub: Submittal | None) -> str:
        if sub is None:
            return "none"
        if generated_keys.held(s, sub.id):
            return "stored"
        if sub.key_downloaded_at is not None:
            return "downloaded"
        return "agency" if sub.csr_pem else "none"

    # --- R12: the one download of a generated key ------------------------------------------

    def download_key(self, actor: Actor, number: str, submittal_id: int, password: str) -> bytes:
        """The submittal's generated key, certificate and chain as a PKCS#12, once."""
        secret = subscriber_keys.bundle_password(password, self._rt.settings.password_min_length)
        now = self._rt.clock()
        with self._cases.locked(actor, number, Action.CASE_OPEN) as (s, case):
            if case.state not in DELIVERED_STATES:
                raise Conflict(
                    "case.not_delivered",
                    f"case {case.number} is {case.state}: nothing was delivered yet",
                )
            sub = self._submittal(s, case, submittal_id)
            if sub.key_downloaded_at is not None:
                raise Conflict(
                    "key.downloaded",
                    f"the private key of submittal {sub.id} was downloaded at"
                    f" {sub.key_downloaded_at:%Y-%m-%d %H:%M}Z and then erased (R12); it cannot"
                    " be downloaded again: reissue the certificate with a new key inside the"
                    " window, or open a new case",
                )
            key_der = generated_keys.open_key(s, self._box, sub.id)
            if key_der is None or sub.certificate_id is None:
                raise Conflict(
                    "key.none",
                    f"submittal {sub.id} was issued from the agency's own CSR: certdesk never"
                    " held its private key",
                )
            row = s.get(CertificateRow, sub.certificate_id)
            assert row is not None and row.der is not None
            bundle = subscriber_keys.pkcs12_bundle(
                key_der,
                x509.load_der_x509_certificate(row.der),
                issuing_chain(s, row.issuer_id),
                secret,
                row.names.split(",")[0],
            )
            generated_keys.shred(s, sub.id)  # R12: its data key dies with this commit
            sub.key_downloaded_at = now
            self._audit.record(
                s,
                actor,
                "submittal.key_download",
                "case",
                case.number,
                submittal_id=sub.id,
                serial=row.serial,
            )
        generated_keys.scrub(self._rt)
        return bundle

    # --- R8 window actions -------------------------------------------------------------------

    def revoke(self, actor: Actor, number: str, serial: str, reason: Reason) -> Delivery:
        """Revoke a certificate of the case inside its window (R8)."""
        now = self._rt.clock()
        wanted = parse_serial(serial)
        action = "revoke a certificate of this case"
        with self._cases.locked(actor, number, Action.CASE_OPEN) as (s, case):
            self._require_window(case, now, action)
            row = cert_store.by_serial(s, wanted)
            if row is None or row.case_id != case.id:
                raise NotFound("cert.unknown", f"case {case.number} has no certificate {serial}")
            if row.status == "revoked":
                raise Conflict("cert.revoked", f"certificate {row.serial} is already revoked")
        self._revocation.revoke(as_cert_services(actor, number), wanted, reason)
        with self._cases.locked(actor, number, Action.CASE_OPEN) as (s, case):
            self._history(s, case, actor, now, "revoke", f"{wanted} revoked ({reason})")
            self._audit.record(
                s, actor, "case.revoke", "case", case.number, serial=wanted, reason=str(reason)
            )
            return self._delivery(s, case, now)

    def reissue(self, actor: Actor, number: str, change: Reissue) -> Delivery:
        """Issue a replacement for a submittal's certificate inside the window (R8)."""
        now = self._rt.clock()
        action = "change a certificate of this case"
        with self._cases.locked(actor, number, Action.CASE_OPEN) as (s, case):
            self._require_window(case, now, action)
            sub = self._submittal(s, case, change.submittal_id)
            old = s.get(CertificateRow, sub.certificate_id) if sub.certificate_id else None
            if old is None:
                raise Conflict("submittal.no_certificate", f"submittal {sub.id} has no certificate")
            org = org_store.by_id(s, case.org_id)
            assert org is not None
            checked = self._check(actor, sub, change, [g for g in org.grants], org.self_managed)
            require_csr_or_managed(
                checked.service_option is ServiceOption.MANAGED, checked.csr_pem, sub.id
            )
            claim(case, actor, now)
            before = {
                "names": sub.names.split(","),
                "platform": sub.platform,
                "key_type": sub.key_type,
                "validity_days": sub.validity_days,
                "csr": sub.csr_pem is not None,
            }
            org_id, org_code, old_serial, since = org.id, org.code, old.serial, case.delivered_at
        done = False
        try:
            key_der = None
            if checked.csr_pem is not None:
                csr = checked.csr_pem.encode()
            else:
                key_der = subscriber_keys.new_key(checked.key_type)
                csr = subscriber_keys.csr_for(key_der, checked.names)
            with self._rt.reads() as s:
                orphan = find_orphan(s, org_id, checked.names, csr, since or now)
                serial = orphan.serial if orphan is not None else None
            if serial is None:
                serial = self._issuance.issue(
                    as_cert_services(actor, number),
                    IssueCommand(
                        org_code=org_code,
                        csr=csr,
                        platform=checked.platform,
                        days=checked.validity_days,
                        renewal_of=old_serial,
                    ),
                ).serial
            view = self._link(actor, number, change.submittal_id, checked, key_der, serial, before)
            generated_keys.scrub(self._rt)  # the replaced key's data key, if any
            done = True
        finally:
            if not done:
                self._release(actor, number)
        try:
            self._revocation.revoke(as_cert_services(actor, number), old_serial, Reason.SUPERSEDED)
        except Conflict as exc:
            if exc.code != "cert.revoked":  # revoked in the window already: nothing to do
                raise
        del view  # the predecessor's status changed since: read again
        return self.certificates_of_case(actor, number)

    def _link(
        self,
        actor: Actor,
        number: str,
        submittal_id: int,
        checked: CheckedSubmittal,
        key_der: bytes | None,
        serial: str,
        before: dict[str, Any],
    ) -> Delivery:
        now = self._rt.clock()
        with self._cases.locked(actor, number, Action.CASE_OPEN) as (s, case):
            sub = self._submittal(s, case, submittal_id)
            row = cert_store.by_serial(s, serial, for_update=True)
            assert row is not None
            old_id = sub.certificate_id
            sub.names = ",".join(checked.names)
            sub.cert_type = str(checked.cert_type)
            sub.platform = str(checked.platform)
            sub.server_software = checked.server_software
            sub.server_version = checked.server_version
            sub.key_type = str(checked.key_type)
            sub.validity_days = checked.validity_days
            sub.csr_pem = checked.csr_pem
            if key_der is not None:
                generated_keys.keep(s, self._box, sub.id, key_der, now)
            else:
                generated_keys.shred(s, sub.id)
            sub.key_downloaded_at = None
            sub.certificate_id = row.id
            row.case_id = case.id
            # R11: the case was charged at delivery; its replacement costs nothing more.
            row.cost_cents = 0 if checked.service_option is ServiceOption.MANAGED else None
            release(case)
            old = s.get(CertificateRow, old_id) if old_id else None
            replaced = old.serial if old else "-"
            self._history(
                s, case, actor, now, "reissue", f"submittal {sub.id}: {serial} replaces {replaced}"
            )
            after = {
                "names": list(checked.names),
                "platform": str(checked.platform),
                "key_type": str(checked.key_type),
                "validity_days": checked.validity_days,
                "csr": checked.csr_pem is not None,
            }
            self._audit.record(
                s,
                actor,
                "case.reissue",
                "case",
                case.number,
                submittal_id=sub.id,
                serial=serial,
                replaces=old.serial if old else None,
                before={k: v for k, v in before.items() if after[k] != v},
                after={k: v for k, v in after.items() if before[k] != v},
            )
            return self._delivery(s, case, now)

    def _check(
        self,
        actor: Actor,
        sub: Submittal,
        change: Reissue,
        grant_rows: list[Any],
        self_managed: bool,
    ) -> CheckedSubmittal:
        """The submittal as changed, judged like a new one (R1, R2, R12, R13)."""
        if change.csr is not None:
            names: tuple[str, ...] = change.names
            csr: bytes | None = change.csr
        else:
            names = change.names or tuple(sub.names.split(","))
            csr = sub.csr_pem.encode() if sub.csr_pem else None
        key_type = change.key_type
        if key_type is None and csr is None:
            key_type = sub.key_type
        spec = SubmittalInput(
            names=names,
            cert_type=None,
            platform=change.platform or sub.platform,
            server_software=(
                change.server_software
                if change.server_software is not None
                else sub.server_software
            ),
            server_version=(
                change.server_version if change.server_version is not None else sub.server_version
            ),
            key_type=key_type,
            validity_days=(
                change.validity_days if change.validity_days is not None else sub.validity_days
            ),
            csr=csr,
        )
        # R2: agency users are bound by their organization's grants; cert services are not.
        grants = None if actor.is_global else [Grant(GrantKind(g.kind), g.name) for g in grant_rows]
        return check_submittal(
            spec,
            suffixes=self._rt.settings.allowed_suffixes,
            grants=grants,
            self_managed=self_managed,
            now=self._rt.clock(),
            max_days=self._rt.settings.max_validity_days,
            max_names=self._rt.settings.max_names_per_cert,
        )

    def _require_window(self, case: Case, now: datetime, action: str) -> None:
        kind = CaseType(case.type)
        if kind not in CERTIFICATE_TYPES:
            raise Conflict("case.type", f"a {kind} case delivers no certificate")
        require_window_open(case.window_ends_at, now, action)
        if case.state != State.DELIVERED:
            raise Conflict(
                "case.window_closed",
                f"case {case.number} is {case.state}, which ends its window; to {action},"
                " open a new case (R8)",
            )

    def _submittal(self, s: Session, case: Case, submittal_id: int) -> Submittal:
        sub = case_store.submittal(s, case.id, submittal_id)
        if sub is None:
            raise NotFound(
                "submittal.unknown", f"case {case.number} has no submittal {submittal_id}"
            )
        return sub

    def _history(
        self, s: Session, case: Case, actor: Actor, now: datetime, event: str, note: str
    ) -> None:
        # A window action changes no state; it is written in the case's history all the same.
        case_store.add_event(
            s,
            case,
            at=now,
            actor=actor.name,
            event=event,
            from_state=case.state,
            to_state=case.state,
            note=note,
        )
        case.updated_at = now

    def _release(self, actor: Actor, number: str) -> None:
        try:
            with self._cases.locked(actor, number, Action.CASE_OPEN) as (_s, case):
                release(case)
        except Exception:  # the lease lapses on its own; the first error is the one to show
            log.warning("could not release the reissue lease", case=number, exc_info=True)
