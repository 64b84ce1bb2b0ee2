"""Renewal cases opened by hand (R6), until the worker opens them itself
(:mod:`certdesk.services.lifecycle.renewals` calls this too)."""

from __future__ import annotations

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.calendar import max_validity_days
from certdesk.core.certificates import CertStatus
from certdesk.core.workflow import CaseType, State
from certdesk.errors import Conflict
from certdesk.services.casework.casefile import CaseView
from certdesk.services.casework.cases import CaseInput, CaseService
from certdesk.services.casework.contacts import ContactInput
from certdesk.services.casework.submittals import SubmittalInput
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_cert
from certdesk.store import cases as case_store
from certdesk.store import orgs as org_store
from certdesk.store import submittals as submittal_store

FINISHED = (State.CLOSED, State.CANCELLED)


class RenewalCases:
    def __init__(self, rt: Runtime, cases: CaseService) -> None:
        self._rt = rt
        self._cases = cases

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
            if cert.status == CertStatus.REVOKED:
                raise Conflict(
                    "cert.revoked",
                    f"certificate {cert.serial} is revoked; a new certificate needs a new case",
                )
            open_case = case_store.unfinished_case_about(
                s, cert.id, str(CaseType.RENEWAL), [str(st) for st in FINISHED]
            )
            if open_case is not None:
                raise Conflict(
                    "case.renewal_open",
                    f"renewal case {open_case} is already open for certificate {cert.serial}",
                )
            org = org_store.by_id(s, cert.org_id)
            assert org is not None
            sub = submittal_store.submittal_of_certificate(s, cert.id)
            contacts = (
                submittal_store.contacts_of_submittals(s, [sub.id])[sub.id]
                if sub is not None
                else []
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
                contacts=tuple(
                    ContactInput(n.kind, n.contact.name, n.contact.email, n.contact.phone)
                    for n in contacts
                ),
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
