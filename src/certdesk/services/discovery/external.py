"""External certificates (R18): imported from files or found by discovery, kept without a
key, attributed to the organization whose grant covers their names, given contacts, and
adopted — replaced by a managed certificate through a case.

A certificate certdesk issued itself is never imported as external (its fingerprint is in
the inventory already); a second import of the same certificate changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, authorize, sees_org
from certdesk.core.endpoints import attribute
from certdesk.core.workflow import CaseType
from certdesk.errors import Conflict, InvalidInput, NotFound
from certdesk.services.audit import AuditService
from certdesk.services.casework.cases import CaseInput, CaseService
from certdesk.services.casework.contacts import ContactInput
from certdesk.services.casework.submittals import SubmittalInput
from certdesk.services.runtime import Runtime
from certdesk.store import endpoints as store
from certdesk.store import orgs as org_store
from certdesk.store.models import ExternalCertificate
from certdesk.verify import formats

_NOT_FOUND = "no such external certificate"
_DER = Encoding.DER


@dataclass(frozen=True)
class ExternalView:
    id: int
    sha256: str
    subject: str
    issuer: str
    serial: str
    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    organization: str | None
    source: str
    last_seen_at: datetime | None
    gone_at: datetime | None
    adopted_case: str | None
    contacts: tuple[tuple[str, str], ...] = ()
    found_at: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat().replace("+00:00", "Z") if d else None

        return {
            "id": self.id,
            "sha256": self.sha256,
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "names": list(self.names),
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
            "organization": self.organization,
            "source": self.source,
            "last_seen_at": iso(self.last_seen_at),
            "gone_at": iso(self.gone_at),
            "adopted_case": self.adopted_case,
            "contacts": [{"name": n, "email": e} for n, e in self.contacts],
            "found_at": list(self.found_at),
        }


@dataclass
class ImportReport:
    added: list[ExternalView] = field(default_factory=list)
    duplicates: int = 0  # already external, or issued by certdesk
    managed: int = 0  # of those: certdesk's own certificates
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": [v.as_dict() for v in self.added],
            "duplicates": self.duplicates,
            "managed": self.managed,
            "errors": self.errors,
        }


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [str(a.value) for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    return [*san.get_values_for_type(x509.DNSName)] + [
        str(i) for i in san.get_values_for_type(x509.IPAddress)
    ]


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


class ExternalCertificates:
    def __init__(self, rt: Runtime, audit: AuditService, cases: CaseService) -> None:
        self._rt = rt
        self._audit = audit
        self._cases = cases

    # --- import ------------------------------------------------------------------------------

    def import_files(
        self,
        actor: Actor,
        files: Sequence[tuple[str, bytes]],
        *,
        password: bytes | None = None,
        contacts: Sequence[tuple[str, str]] = (),
        source: str = "import",
    ) -> ImportReport:
        """Import every end-entity certificate of ``files`` (label, bytes); CA certificates
        in bundles are skipped. A file that cannot be read is an error line, not a stop."""
        authorize(actor, Action.EXTERNAL_MANAGE, None)
        report = ImportReport()
        certs: list[x509.Certificate] = []
        for label, data in files:
            try:
                certs += [c for c in formats.certificates(data, label, password) if not _is_ca(c)]
            except InvalidInput as exc:
                report.errors.append(exc.detail)
        if not files:
            raise InvalidInput("import.nothing", "no file to import")
        for cert in certs:
            view, outcome = self.add(actor, cert, source=source, contacts=contacts)
            if view is not None:
                report.added.append(view)
            else:
                report.duplicates += 1
                report.managed += outcome == "certificate"
        return report

    def add(
        self,
        actor: Actor | str,
        cert: x509.Certificate,
        *,
        source: str,
        contacts: Sequence[tuple[str, str]] = (),
    ) -> tuple[ExternalView | None, str | None]:
        """Add one certificate as external; ``(None, kind)`` when the inventory has it."""
        fp = fingerprint(cert)
        names = _names(cert)
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            seen = store.known(s, fp)
            if seen is not None:
                return None, seen.kind
            org_id = attribute(names, store.all_grants(s))
            row = store.add_external(
                s,
                {
                    "fingerprint_sha256": fp,
                    "der": cert.public_bytes(_DER),
                    "subject": cert.subject.rfc4514_string(),
                    "issuer_dn": cert.issuer.rfc4514_string(),
                    "serial": format(cert.serial_number, "x"),
                    "names": ",".join(names),
                    "not_before": cert.not_valid_before_utc,
                    "not_after": cert.not_valid_after_utc,
                    "org_id": org_id,
                    "source": source,
                    "created_by": actor if isinstance(actor, str) else actor.name,
                    "created_at": now,
                    "last_seen_at": now if source == "discovery" else None,
                },
            )
            if row is None:
                return None, "external"
            if contacts:
                store.set_contacts(s, row.id, contacts)
            self._audit.record(
                s,
                actor,
                "external.add",
                "external_certificate",
                row.id,
                sha256=fp,
                names=names,
                source=source,
                org_id=org_id,
            )
            return self._view(s, row), None

    # --- reading ---------------------------------------------------------------------------

    def list(self, actor: Actor, *, unassigned: bool = False) -> list[ExternalView]:
        authorize(actor, Action.CERT_READ, actor.org_id if not actor.is_global else None)
        with self._rt.reads() as s:
            org_id = None if actor.is_global else actor.org_id
            if org_id is None and not actor.is_global:
                return []
            rows = store.list_external(s, org_id, unassigned=unassigned and actor.is_global)
            return [self._view(s, r) for r in rows]

    def show(self, actor: Actor, external_id: int) -> ExternalView:
        with self._rt.reads() as s:
            row = self._visible(s, actor, external_id)
            return self._view(s, row, full=True)

    def _visible(self, s: Session, actor: Actor, external_id: int) -> ExternalCertificate:
        row = store.external(s, external_id)
        if row is None or not (actor.is_global or (row.org_id and sees_org(actor, row.org_id))):
            raise NotFound("external.not_found", _NOT_FOUND)
        authorize(actor, Action.CERT_READ, row.org_id, hide=True)
        return row

    def _view(self, s: Session, row: ExternalCertificate, *, full: bool = False) -> ExternalView:
        org = org_store.by_id(s, row.org_id) if row.org_id is not None else None
        case = store.case_number(s, row.adopted_case_id) if row.adopted_case_id else None
        found = (
            tuple(
                f"{x.host}:{x.port}" + (" (gone)" if x.gone_at else "")
                for x in store.sightings_of(s, row.fingerprint_sha256)
            )
            if full
            else ()
        )
        return ExternalView(
            id=row.id,
            sha256=row.fingerprint_sha256,
            subject=row.subject,
            issuer=row.issuer_dn,
            serial=row.serial,
            names=tuple(n for n in row.names.split(",") if n),
            not_before=row.not_before,
            not_after=row.not_after,
            organization=org.code if org else None,
            source=row.source,
            last_seen_at=row.last_seen_at,
            gone_at=row.gone_at,
            adopted_case=case,
            contacts=tuple(store.contacts(s, [row.id])[row.id]) if full else (),
            found_at=found,
        )

    # --- changes ---------------------------------------------------------------------------

    def set_contacts(
        self, actor: Actor, external_id: int, people: Sequence[tuple[str, str]]
    ) -> ExternalView:
        """Replace the certificate's contacts (R9: who hears of its expiry and findings)."""
        for _name, email in people:
            if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
                raise InvalidInput("contact.bad_email", f"not an e-mail address: {email!r}")
        with self._rt.sessions.begin() as s:
            row = self._visible(s, actor, external_id)
            authorize(actor, Action.CONTACT_MANAGE, row.org_id, hide=True)
            store.set_contacts(s, row.id, people)
            self._audit.record(
                s, actor, "external.contacts", "external_certificate", row.id,
                contacts=[e for _n, e in people],
            )  # fmt: skip
            return self._view(s, row, full=True)

    def assign(self, actor: Actor, external_id: int, org_code: str | None) -> ExternalView:
        """Cert services attribute the certificate to an organization (or unassign it)."""
        authorize(actor, Action.EXTERNAL_MANAGE, None)
        with self._rt.sessions.begin() as s:
            row = self._visible(s, actor, external_id)
            org_id = None
            if org_code is not None:
                org = org_store.by_code(s, org_code)
                if org is None:
                    raise NotFound("org.not_found", f"no organization {org_code!r}")
                org_id = org.id
            row.org_id = org_id
            self._audit.record(
                s, actor, "external.assign", "external_certificate", row.id, org=org_code
            )
            return self._view(s, row, full=True)

    def adopt(self, actor: Actor, external_id: int) -> ExternalView:
        """Replace the external certificate with a managed one: a new-certificate case for
        its names and contacts, in the organization it is attributed to (one action). An ACME
        client of that organization can instead simply order the same names."""
        authorize(actor, Action.EXTERNAL_MANAGE, None)
        with self._rt.reads() as s:
            row = self._visible(s, actor, external_id)
            if row.adopted_case_id is not None:
                raise Conflict(
                    "external.adopted",
                    f"already adopted by case {store.case_number(s, row.adopted_case_id)}",
                )
            if row.org_id is None:
                raise Conflict(
                    "external.unassigned",
                    "the certificate belongs to no organization yet; assign it first",
                )
            org = org_store.by_id(s, row.org_id)
            assert org is not None
            people = store.contacts(s, [row.id])[row.id]
            names = tuple(n for n in row.names.split(",") if n)
            expires = row.not_after
        view = self._cases.open(
            actor,
            CaseInput(
                org_code=org.code,
                type=str(CaseType.NEW),
                title=f"Replace external certificate for {names[0]}"[:200],
                description=(
                    f"Adopts the external certificate {row.fingerprint_sha256[:16]}… "
                    f"({', '.join(names)}), which expires {expires:%Y-%m-%d %H:%M}Z, as a "
                    "managed certificate."
                )[:20_000],
                submittals=(
                    SubmittalInput(
                        names=names,
                        contacts=tuple(ContactInput("technical", n, e, "") for n, e in people),
                    ),
                ),
            ),
        )
        with self._rt.sessions.begin() as s:
            row2 = store.external(s, external_id)
            assert row2 is not None
            row2.adopted_case_id = store.case_id(s, view.number)
            self._audit.record(
                s, actor, "external.adopt", "external_certificate", row2.id, case=view.number
            )
            return self._view(s, row2, full=True)
