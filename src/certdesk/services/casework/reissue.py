"""R8: reissue a submittal's certificate with changes inside the window, on the same case.

The requesting organization — its requesters and delegated admins — or cert services may
change names, CSR, key type, platform, validity or server software without a new case. The
replacement names its predecessor in ``renewal_of``, is linked to the same submittal and
case, costs nothing more (R11: the case was charged at delivery), and the predecessor stays
valid for an overlap (``CERTDESK_REISSUE_OVERLAP_HOURS``; by default until the window
closes, since it may still be installed) after which the worker revokes it ``superseded``;
with an overlap of 0 it is revoked as soon as the replacement is linked.

A reissue is one request: checked (R1, R2 for agency users, R12, R13) and leased in one
transaction (which also reads the unlinked certificates a crashed attempt may have left),
issued by the pipeline, then linked with the submittal's new description in a second. A crash
between the pipeline's commit and the link leaves an unlinked certificate in the inventory;
repeating the reissue with the same CSR adopts it instead of issuing again (with a generated
key, a repeat makes a new key and certificate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from certdesk.core import subscriber_keys
from certdesk.core.access import Action, Actor
from certdesk.core.certificates import CertStatus
from certdesk.core.grants import Grant, GrantKind
from certdesk.core.workflow import retire_at
from certdesk.errors import Conflict
from certdesk.services.audit import AuditService
from certdesk.services.casework import case_issuance, lease
from certdesk.services.casework.case_issuance import Unlinked
from certdesk.services.casework.cases import CaseService
from certdesk.services.casework.deliveries import (
    record_window_action,
    require_window,
    submittal_of,
)
from certdesk.services.casework.generated_keys import GeneratedKeys
from certdesk.services.casework.submittals import (
    CheckedSubmittal,
    ServiceOption,
    SubmittalInput,
    check_submittal,
)
from certdesk.services.pki.issuance import IssuanceService, IssueCommand
from certdesk.services.runtime import Runtime
from certdesk.store import certificates as cert_store
from certdesk.store import orgs as org_store
from certdesk.store import submittals as submittal_store
from certdesk.store.models import Submittal

log = structlog.get_logger("certdesk.window")


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


@dataclass(frozen=True)
class _Claimed:
    checked: CheckedSubmittal
    before: dict[str, Any]
    org_code: str
    old_serial: str
    orphans: tuple[Unlinked, ...]


def _described(checked: CheckedSubmittal) -> dict[str, Any]:
    return {
        "names": list(checked.names),
        "platform": str(checked.platform),
        "key_type": str(checked.key_type),
        "validity_days": checked.validity_days,
        "csr": checked.csr_pem is not None,
    }


class Reissuing:
    def __init__(
        self,
        rt: Runtime,
        audit: AuditService,
        cases: CaseService,
        issuance: IssuanceService,
        keys: GeneratedKeys,
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._cases = cases
        self._issuance = issuance
        self._keys = keys

    def replace(self, actor: Actor, number: str, change: Reissue) -> str:
        """Issue and link the replacement; returns the predecessor's serial (to revoke)."""
        claimed = self._claim(actor, number, change)
        checked = claimed.checked
        done = False
        try:
            key_der = None
            if checked.csr_pem is not None:
                csr = checked.csr_pem.encode()
            else:
                key_der = self._keys.new_unsaved(checked.key_type)
                csr = subscriber_keys.csr_for(key_der, checked.names)
            serial = case_issuance.orphan_of(csr, claimed.orphans, set())
            if serial is None:
                serial = case_issuance.issue(
                    self._issuance,
                    actor,
                    number,
                    IssueCommand(
                        org_code=claimed.org_code,
                        csr=csr,
                        platform=checked.platform,
                        days=checked.validity_days,
                        renewal_of=claimed.old_serial,
                    ),
                )
            self._link(actor, number, change.submittal_id, claimed, key_der, serial)
            self._keys.scrub()  # the replaced key's data key, if any
            done = True
        finally:
            if not done:
                self._release(actor, number)
        return claimed.old_serial

    def _claim(self, actor: Actor, number: str, change: Reissue) -> _Claimed:
        now = self._rt.clock()
        with self._cases.locked(actor, number, Action.CASE_OPEN) as (s, case):
            require_window(case, now, "change a certificate of this case")
            sub = submittal_of(s, case, change.submittal_id)
            old = cert_store.by_id(s, sub.certificate_id) if sub.certificate_id else None
            if old is None:
                raise Conflict("submittal.no_certificate", f"submittal {sub.id} has no certificate")
            org = org_store.by_id(s, case.org_id)
            assert org is not None
            checked = self._check(actor, sub, change, list(org.grants), org.self_managed)
            case_issuance.require_csr_or_managed(
                checked.service_option is ServiceOption.MANAGED, checked.csr_pem, sub.id
            )
            lease.claim(case, actor, now)
            before = {
                "names": sub.names.split(","),
                "platform": sub.platform,
                "key_type": sub.key_type,
                "validity_days": sub.validity_days,
                "csr": sub.csr_pem is not None,
            }
            since = case.delivered_at or now
            return _Claimed(
                checked=checked,
                before=before,
                org_code=org.code,
                old_serial=old.serial,
                orphans=(
                    case_issuance.unlinked(s, org.id, checked.names, since)
                    if checked.csr_pem is not None
                    else ()
                ),
            )

    def _link(
        self,
        actor: Actor,
        number: str,
        submittal_id: int,
        claimed: _Claimed,
        key_der: bytes | None,
        serial: str,
    ) -> None:
        now = self._rt.clock()
        checked = claimed.checked
        with self._cases.locked(actor, number, Action.CASE_OPEN) as (s, case):
            sub = submittal_of(s, case, submittal_id)
            row = cert_store.by_serial(s, serial, for_update=True)
            assert row is not None
            old = cert_store.by_id(s, sub.certificate_id) if sub.certificate_id else None
            submittal_store.rewrite_submittal(
                sub,
                submittal_store.SubmittalFacts(
                    names=checked.names,
                    cert_type=str(checked.cert_type),
                    platform=str(checked.platform),
                    server_software=checked.server_software,
                    server_version=checked.server_version,
                    key_type=str(checked.key_type),
                    validity_days=checked.validity_days,
                    csr_pem=checked.csr_pem,
                ),
                row,
            )
            self._keys.replace_key(s, sub.id, key_der, now)
            # R11: the case was charged at delivery; its replacement costs nothing more.
            cert_store.set_cost(row, 0 if checked.service_option is ServiceOption.MANAGED else None)
            lease.release(case)
            # The old certificate stays valid for the overlap; recorded with the link, so
            # that the worker's revocation cannot be lost to a crash (issue 14).
            retires = None
            if old is not None and old.status == CertStatus.ACTIVE:
                retires = retire_at(
                    case.window_ends_at, now, self._rt.settings.reissue_overlap_hours
                )
                if retires is not None:
                    cert_store.schedule_retirement(old, retires)
            replaced = old.serial if old else "-"
            record_window_action(
                s, case, actor, now, "reissue", f"submittal {sub.id}: {serial} replaces {replaced}"
            )
            before, after = claimed.before, _described(checked)
            self._audit.record(
                s,
                actor,
                "case.reissue",
                "case",
                case.number,
                submittal_id=sub.id,
                serial=serial,
                replaces=old.serial if old else None,
                replaced_until=retires.isoformat() if retires else None,
                before={k: v for k, v in before.items() if after[k] != v},
                after={k: v for k, v in after.items() if before[k] != v},
            )

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

    def _release(self, actor: Actor, number: str) -> None:
        try:
            with self._cases.locked(actor, number, Action.CASE_OPEN) as (_s, case):
                lease.release(case)
        except Exception:  # the lease lapses on its own; the first error is the one to show
            log.warning("could not release the reissue lease", case=number, exc_info=True)
