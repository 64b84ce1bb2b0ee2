"""What the requesting organization does with a delivered case (R8, R12): the one door.

* **Certificates** of a case, current and replaced, with their chains (:mod:`.deliveries`).
* **Key download** (R12): a key certdesk generated leaves encrypted storage once, in a
  password-protected PKCS#12 (:mod:`.key_download`).
* **Inside the window** (R8) the requesting organization — its requesters and delegated
  admins — or cert services may *revoke* a certificate of the case (here), or *reissue* a
  submittal with changes without a new case (:mod:`.reissue`). Outside the window, or after
  the case was closed, both are refused with
  :func:`certdesk.core.workflow.require_window_open`'s message: open a new case.
"""

from __future__ import annotations

from certdesk.core.access import Action, Actor
from certdesk.core.certificates import CertStatus
from certdesk.errors import Conflict, NotFound
from certdesk.services.audit import AuditService
from certdesk.services.casework.case_issuance import as_cert_services
from certdesk.services.casework.casefile import load_case
from certdesk.services.casework.cases import CaseService
from certdesk.services.casework.deliveries import (
    DeliveredCertificate,
    Delivery,
    delivery_of,
    record_window_action,
    require_window,
)
from certdesk.services.casework.key_download import KeyDownload
from certdesk.services.casework.reissue import Reissue, Reissuing
from certdesk.services.pki.revocation import Reason, RevocationService
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import parse_serial
from certdesk.store import certificates as cert_store

__all__ = ["DeliveredCertificate", "Delivery", "Reissue", "WindowService"]


class WindowService:
    def __init__(
        self,
        rt: Runtime,
        audit: AuditService,
        cases: CaseService,
        revocation: RevocationService,
        keys: KeyDownload,
        reissuing: Reissuing,
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._cases = cases
        self._revocation = revocation
        self._keys = keys
        self._reissuing = reissuing

    def certificates_of_case(self, actor: Actor, number: str) -> Delivery:
        """Every certificate the case delivered, current and replaced, with its chain."""
        now = self._rt.clock()
        with self._rt.reads() as s:
            case = load_case(s, actor, number, Action.CASE_READ)
            return delivery_of(s, case, now)

    def download_key(self, actor: Actor, number: str, submittal_id: int, password: str) -> bytes:
        """The submittal's generated key, certificate and chain as a PKCS#12, once (R12)."""
        return self._keys.download_key(actor, number, submittal_id, password)

    def revoke(self, actor: Actor, number: str, serial: str, reason: Reason) -> Delivery:
        """Revoke a certificate of the case inside its window (R8)."""
        now = self._rt.clock()
        wanted = parse_serial(serial)
        with self._cases.locked(actor, number, Action.CASE_OPEN) as (s, case):
            require_window(case, now, "revoke a certificate of this case")
            row = cert_store.by_serial(s, wanted)
            if row is None or row.case_id != case.id:
                raise NotFound("cert.unknown", f"case {case.number} has no certificate {serial}")
            if row.status == CertStatus.REVOKED:
                raise Conflict("cert.revoked", f"certificate {row.serial} is already revoked")
        self._revocation.revoke(as_cert_services(actor, number), wanted, reason)
        with self._cases.locked(actor, number, Action.CASE_OPEN) as (s, case):
            record_window_action(s, case, actor, now, "revoke", f"{wanted} revoked ({reason})")
            self._audit.record(
                s, actor, "case.revoke", "case", case.number, serial=wanted, reason=str(reason)
            )
            return delivery_of(s, case, now)

    def reissue(self, actor: Actor, number: str, change: Reissue) -> Delivery:
        """Issue a replacement for a submittal's certificate inside the window (R8); the
        predecessor is revoked ``superseded`` after the overlap (by the worker), or now when
        the overlap is 0."""
        old_serial = self._reissuing.replace(actor, number, change)
        if self._rt.settings.reissue_overlap_hours != 0:
            return self.certificates_of_case(actor, number)
        try:
            self._revocation.revoke(as_cert_services(actor, number), old_serial, Reason.SUPERSEDED)
        except Conflict as exc:
            if exc.code != "cert.revoked":  # revoked in the window already: nothing to do
                raise
        return self.certificates_of_case(actor, number)
