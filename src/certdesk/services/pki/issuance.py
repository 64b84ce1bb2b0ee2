"""The issuance pipeline (DESIGN §3.2), modelled on Boulder's RA → CA → SA.

1. policy on the request itself: parse and check the CSR (R12), the names against R1, the
   validity against R13 with the R7 expiry hour;
2. profile and pre-signing lint (``Issuer.prepare``) with the issuing CA this process last
   found active;
3. record the intent, in one transaction that first checks what depends on stored state:
   the organization and the actor's rights on it, R2 against its grants (read under a lock
   that grant changes respect), the renewal target, and that the CA of step 2 is still the
   active one; then the serial is reserved in a committed ``signing`` row;
4. sign exactly the linted bytes once;
5. store, in a second transaction: the row becomes ``active`` with the DER, only if it is
   still ``signing``, and the R15 audit event is appended;
6. deliver the PEM chain — never before step 5 has committed.

Steps 1, 2 and 4 touch no database, so the write transactions hold their locks only for
their own statements. Nothing is recorded unless every check passed. A request that breaks
R12, R1 or R13, or fails the lint, is refused before its organization is looked up, whoever
sends it: those rules do not depend on stored state, so the refusal tells nothing about any
organization.

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
from sqlalchemy import Connection

from certdesk.ca.issuer import Prepared
from certdesk.ca.profile import LeafRequest, new_serial
from certdesk.core.access import Action, Actor, authorize, sees_org
from certdesk.core.calendar import Validity, max_validity_days, validity_for
from certdesk.core.grants import Grant, GrantKind, require_allowed
from certdesk.core.keys import CsrFacts, check_csr, parse_csr
from certdesk.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from certdesk.services.audit import AuditService
from certdesk.services.pki import signer_identity
from certdesk.services.pki.authority import Authority, LoadedCA
from certdesk.services.runtime import Runtime
from certdesk.store import certificates as cert_store
from certdesk.store import orgs as org_store


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


@dataclass(frozen=True)
class _Request:
    """Step 1's result: the request judged on its own, before any stored state is read."""

    cmd: IssueCommand
    org_code: str
    csr: x509.CertificateSigningRequest
    facts: CsrFacts
    names: tuple[str, ...]  # normalized (R1), deduplicated, in request order
    validity: Validity
    now: datetime


class _IssuerChanged(Exception):
    """Another intermediate became active after step 2 prepared with the previous one."""


class IssuanceService:
    def __init__(self, rt: Runtime, authority: Authority, audit: AuditService) -> None:
        self._rt = rt
        self._authority = authority
        self._audit = audit

    def issue(self, actor: Actor, cmd: IssueCommand) -> Issued:
        started = time.perf_counter()
        settings = self._rt.settings

        # 1. Policy on the request. The CSR is judged before anything touches the database
        # (R12), and so are R1 (any name, whoever asks) and R13; R2 needs the grants: step 3.
        csr = parse_csr(cmd.csr)
        facts = check_csr(csr)
        now = self._rt.clock()
        req = _Request(
            cmd=cmd,
            org_code=cmd.org_code.strip().lower(),
            csr=csr,
            facts=facts,
            names=tuple(
                require_allowed(
                    facts.names, settings.allowed_suffixes, max_names=settings.max_names_per_cert
                )
            ),
            validity=validity_for(now, cmd.days, settings.max_validity_days),  # R13 + R7
            now=now,
        )

        # 2 and 3. Profile and lint, then record the intent durably before any signature
        # exists. If the CA changed in between, prepare again with the new one (once).
        loaded = self._authority.last_issuing()
        prepared = self._prepare(loaded, req)
        try:
            cert_id, org_code = self._record_intent(actor, req, loaded, prepared)
        except _IssuerChanged:
            loaded = self._authority.issuing()
            prepared = self._prepare(loaded, req)
            try:
                cert_id, org_code = self._record_intent(actor, req, loaded, prepared)
            except _IssuerChanged:
                raise Unavailable(
                    "ca.changing", "the issuing CA is being replaced; try again"
                ) from None

        # 4. Sign exactly the linted bytes, once.
        cert = loaded.ca.sign(prepared)
        der = cert.public_bytes(serialization.Encoding.DER)
        serial = serial_hex(prepared.request.serial)

        # 5. Store. If recovery voided the intent meanwhile, the certificate is never handed out.
        with self._rt.transaction() as conn:
            if not cert_store.mark_active(
                conn,
                cert_id,
                der=der,
                fingerprint=hashlib.sha256(der).hexdigest(),
                issued_at=self._rt.clock(),
            ):
                raise Conflict("issuance.voided", "the issuance was voided before it was stored")
            self._audit.record(
                conn,
                actor,
                "cert.issue",
                "certificate",
                serial,
                organization=org_code,
                names=list(req.names),
                not_after=req.validity.not_after.isoformat(),
                platform=str(cmd.platform),
                renewal_of=cmd.renewal_of,
            )

        # 6. Deliver.
        self._rt.metrics.issuance_seconds.observe(time.perf_counter() - started)
        return Issued(
            serial=serial,
            org_code=org_code,
            names=req.names,
            certificate=cert,
            chain=tuple(loaded.ca.chain()),
            not_before=req.validity.not_before,
            not_after=req.validity.not_after,
        )

    def _prepare(self, loaded: LoadedCA, req: _Request) -> Prepared:
        """Step 2: build the leaf and lint it (signed only with the lint key)."""
        return loaded.ca.prepare(
            LeafRequest(
                serial=new_serial(),
                public_key=req.csr.public_key(),
                names=req.names,
                not_before=req.validity.not_before,
                not_after=req.validity.not_after,
            ),
            max_days=max_validity_days(req.now),
        )

    def _record_intent(
        self, actor: Actor, req: _Request, loaded: LoadedCA, prepared: Prepared
    ) -> tuple[int, str]:
        """Step 3: the checks that need stored state, then the ``signing`` row, committed.

        Returns the row id and the organization's code; raises before writing anything if a
        check fails, and :class:`_IssuerChanged` if ``loaded`` is no longer the active CA.
        """
        with self._rt.transaction() as conn:
            ctx = cert_store.intent_context(conn, req.org_code)
            # Another agency's organization looks exactly like an unknown one.
            if ctx is None or not sees_org(actor, ctx.org_id):
                raise NotFound("org.unknown", f"no organization with code {req.cmd.org_code!r}")
            authorize(actor, Action.CERT_ISSUE, ctx.org_id)
            if not actor.is_global and not ctx.self_managed:
                raise Forbidden(
                    "org.managed",
                    f"organization {ctx.org_code} is managed: its certificates are issued by"
                    " cert services through a case (R11)",
                )
            # Cert services may issue any R1 name (step 1); everyone else only granted names
            # (R2), judged on grants read after the organization's row was locked.
            if not actor.is_global:
                grants = [Grant(GrantKind(k), n) for k, n in org_store.grants_of(conn, ctx.org_id)]
                settings = self._rt.settings
                require_allowed(
                    req.facts.names,
                    settings.allowed_suffixes,
                    grants,
                    max_names=settings.max_names_per_cert,
                )
            renewal_id = self._renewal_target(conn, req.cmd.renewal_of, ctx.org_id)
            if ctx.issuer_id is None:
                raise Unavailable("ca.not_initialized", "no issuing CA: run 'certdesk init'")
            if ctx.issuer_id != loaded.issuer_id:
                raise _IssuerChanged
            cert_id = cert_store.add_intent(
                conn,
                cert_store.Intent(
                    serial=serial_hex(prepared.request.serial),
                    issuer_id=loaded.issuer_id,
                    org_id=ctx.org_id,
                    names=req.names,
                    key_type=str(req.facts.key_type),
                    platform=str(req.cmd.platform),
                    not_before=req.validity.not_before,
                    not_after=req.validity.not_after,
                    tbs_sha256=prepared.tbs_sha256,
                    requested_by=actor.name,
                    signer=signer_identity.current(),
                    signing_started_at=req.now,
                    renewal_of=renewal_id,
                ),
            )
        return cert_id, ctx.org_code

    def _renewal_target(self, conn: Connection, serial: str | None, org_id: int) -> int | None:
        if serial is None:
            return None
        old = cert_store.owner_of(conn, serial.lower())
        if old is None or old[1] != org_id:
            raise NotFound("cert.unknown", f"no certificate with serial {serial}")
        return old[0]

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
                    why = (
                        f"signing interrupted ({'lease expired' if expired else 'signer died'});"
                        " never delivered"
                    )
                    cert_store.mark_void(row, why)
                    voided.append(row.serial)
                    self._audit.record(
                        s,
                        "system:recovery",
                        "cert.void",
                        "certificate",
                        row.serial,
                        reason=why,
                    )
        return voided
