"""The issuance pipeline (DESIGN §3.2), modelled on Boulder's RA → CA → SA.

1. policy: parse and check the CSR (R12), the names against R1 and the organization's grants
   (R2), the validity against R13 with the R7 expiry hour;
2. profile and pre-signing lint (``Issuer.prepare``);
3. record the intent: the serial is reserved in a committed ``signing`` row;
4. sign exactly the linted bytes once;
5. store: the row becomes ``active`` with the DER, only if it is still ``signing``;
6. deliver the PEM chain — never before step 5 has committed.

Invariant: a certificate leaves this module only after its row is ``active``; a crash at any
step leaves at most a ``signing`` row, which :meth:`IssuanceService.recover` voids (the serial
is never reused: the row and its unique serial stay).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from certdesk.ca.profile import LeafRequest, new_serial
from certdesk.core.access import Action, Actor, authorize, sees_org
from certdesk.core.calendar import max_validity_days, validity_for
from certdesk.core.keys import check_csr, parse_csr
from certdesk.core.names import Grant, GrantKind, require_allowed
from certdesk.errors import Conflict, Forbidden, InvalidInput, NotFound
from certdesk.services import signer_identity
from certdesk.services.audit import AuditService
from certdesk.services.authority import Authority
from certdesk.services.runtime import Runtime
from certdesk.store import certificates as cert_store
from certdesk.store import orgs as org_store
from certdesk.store.models import CertificateRow


class Platform(StrEnum):
    """R11: the server platform a certificate is for."""

    DEDICATED = "dedicated"
    VIRTUAL = "virtual"


def parse_platform(value: str) -> Platform:
    try:
        return Platform(value)
    except ValueError:
        raise InvalidInput(
            "cert.platform", f"platform must be 'dedicated' or 'virtual', not {value!r}"
        ) from None


@dataclass(frozen=True)
class IssueCommand:
    org_code: str
    csr: bytes
    platform: Platform = Platform.VIRTUAL
    days: int | None = None
    renewal_of: str | None = None  # serial of the certificate this one replaces


@dataclass(frozen=True)
class Issued:
    serial: str
    org_code: str
    names: tuple[str, ...]
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # issuing CA first, root excluded
    not_before: datetime
    not_after: datetime

    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def chain_pem(self) -> str:
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain)


def serial_hex(serial: int) -> str:
    return format(serial, "x")


class IssuanceService:
    def __init__(self, rt: Runtime, authority: Authority, audit: AuditService) -> None:
        self._rt = rt
        self._authority = authority
        self._audit = audit

    def issue(self, actor: Actor, cmd: IssueCommand) -> Issued:
        started = time.perf_counter()
        settings = self._rt.settings

        # 1. Policy. The CSR is judged before anything touches the database (R12).
        csr = parse_csr(cmd.csr)
        facts = check_csr(csr)
        with self._rt.reads() as s:
            org = org_store.by_code(s, cmd.org_code.strip().lower())
            # Another agency's organization looks exactly like an unknown one.
            if org is None or not sees_org(actor, org.id):
                raise NotFound("org.unknown", f"no organization with code {cmd.org_code!r}")
            authorize(actor, Action.CERT_ISSUE, org.id)
            if not actor.is_global and not org.self_managed:
                raise Forbidden(
                    "org.managed",
                    f"organization {org.code} is managed: its certificates are issued by cert"
                    " services through a case (R11)",
                )
            # Cert services may issue any R1 name; everyone else only granted names (R2).
            grants = (
                None if actor.is_global else [Grant(GrantKind(g.kind), g.name) for g in org.grants]
            )
            org_id, org_code = org.id, org.code
            renewal_id = self._renewal_target(s, cmd.renewal_of, org_id)
        names = tuple(require_allowed(facts.names, settings.allowed_suffixes, grants))
        now = self._rt.clock()
        validity = validity_for(now, cmd.days, settings.max_validity_days)  # R13 + R7

        # 2. Profile and lint.
        loaded = self._authority.issuing()
        serial = new_serial()
        prepared = loaded.ca.prepare(
            LeafRequest(
                serial=serial,
                public_key=csr.public_key(),
                names=names,
                not_before=validity.not_before,
                not_after=validity.not_after,
            ),
            max_days=max_validity_days(now),
        )

        # 3. Record the intent durably before any signature exists.
        row = CertificateRow(
            serial=serial_hex(serial),
            issuer_id=loaded.issuer_id,
            org_id=org_id,
            status="signing",
            names=",".join(names),
            key_type=str(facts.key_type),
            platform=str(cmd.platform),
            not_before=validity.not_before,
            not_after=validity.not_after,
            tbs_sha256=prepared.tbs_sha256,
            requested_by=actor.name,
            signer=signer_identity.current(),
            signing_started_at=now,
            renewal_of=renewal_id,
        )
        with self._rt.sessions.begin() as s:
            cert_store.add_intent(s, row, names)
            cert_id = row.id

        # 4. Sign exactly the linted bytes, once.
        cert = loaded.ca.sign(prepared)
        der = cert.public_bytes(serialization.Encoding.DER)

        # 5. Store. If recovery voided the intent meanwhile, the certificate is never handed out.
        with self._rt.sessions.begin() as s:
            if not cert_store.mark_active(
                s,
                cert_id,
                der=der,
                fingerprint=hashlib.sha256(der).hexdigest(),
                issued_at=self._rt.clock(),
            ):
                raise Conflict("issuance.voided", "the issuance was voided before it was stored")
            self._audit.record(
                s,
                actor,
                "cert.issue",
                "certificate",
                row.serial,
                organization=org_code,
                names=list(names),
                not_after=validity.not_after.isoformat(),
                platform=str(cmd.platform),
                renewal_of=cmd.renewal_of,
            )

        # 6. Deliver.
        self._rt.metrics.issuance_seconds.observe(time.perf_counter() - started)
        return Issued(
            serial=row.serial,
            org_code=org_code,
            names=names,
            certificate=cert,
            chain=tuple(loaded.ca.chain()),
            not_before=validity.not_before,
            not_after=validity.not_after,
        )

    def _renewal_target(self, s: Session, serial: str | None, org_id: int) -> int | None:
        if serial is None:
            return None
        old = cert_store.by_serial(s, serial.lower())
        if old is None or old.org_id != org_id:
            raise NotFound("cert.unknown", f"no certificate with serial {serial}")
        return old.id

    def recover(self, *, all_dead: bool = False) -> list[str]:
        """Void ``signing`` intents left by processes that died (run at every start).

        An intent is voided when its signer is known dead (same host, pid gone or recycled)
        or its lease expired (``CERTDESK_SIGNING_LEASE_SECONDS``), whichever comes first. The
        row, and so the serial, stays: a serial is never reused. Nothing was delivered for a
        voided intent, because delivery follows the commit that makes the row ``active``.
        """
        now = self._rt.clock()
        lease = timedelta(seconds=self._rt.settings.signing_lease_seconds)
        voided: list[str] = []
        with self._rt.sessions.begin() as s:
            for row in cert_store.stale_intents(s, started_before=now + timedelta(seconds=1)):
                expired = row.signing_started_at < now - lease
                if all_dead or expired or signer_identity.is_dead(row.signer):
                    row.status = "void"
                    row.void_reason = (
                        f"signing interrupted ({'lease expired' if expired else 'signer died'});"
                        " never delivered"
                    )
                    voided.append(row.serial)
                    self._audit.record(
                        s,
                        "system:recovery",
                        "cert.void",
                        "certificate",
                        row.serial,
                        reason=row.void_reason,
                    )
        return voided
