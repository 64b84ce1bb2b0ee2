"""Organizations and their grants (R2, R11)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.grants import Grant
from certdesk.core.issuers import ORGANIZATION_CHOICE, Backend
from certdesk.errors import Conflict, InvalidInput, NotFound
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.services.visibility import visible_org
from certdesk.store import orgs as org_store
from certdesk.store.models import GrantRow, Issuer, Organization

BUILTIN = "builtin"  # how the built-in CA is named where an issuer is chosen
_CODE = re.compile(r"^[a-z][a-z0-9-]{1,31}$")


@dataclass(frozen=True)
class OrgView:
    id: int
    code: str
    name: str
    self_managed: bool
    grants: tuple[str, ...]
    issuer: str = BUILTIN  # R16: the issuer of its certificates (a vendor's name, or builtin)
    # R16: grants whose certificates come from another issuer than the organization's.
    grant_issuers: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "service": _service(self.self_managed),
            "grants": list(self.grants),
            "issuer": self.issuer,
            "grant_issuers": dict(self.grant_issuers),
        }


def _service(self_managed: bool) -> str:
    """The R11 service option as the API, the CLI and the audit log spell it."""
    return "self-managed" if self_managed else "managed"


def _view(org: Organization) -> OrgView:
    return OrgView(
        org.id,
        org.code,
        org.name,
        org.self_managed,
        tuple(str(Grant.parse(f"{g.kind}:{g.name}")) for g in org.grants),
        org.issuer.slug if org.issuer is not None else BUILTIN,
        tuple(
            (str(Grant.parse(f"{g.kind}:{g.name}")), _issuer_name(g.issuer))
            for g in org.grants
            if g.issuer is not None
        ),
    )


def _issuer_name(issuer: Issuer) -> str:
    """A vendor by its name; any issuer of the built-in CA as ``builtin``."""
    return BUILTIN if issuer.backend == Backend.LOCAL else issuer.slug


def normalize_code(code: str) -> str:
    value = code.strip().lower()
    if not _CODE.match(value):
        raise InvalidInput(
            "org.code",
            f"organization code {code!r} must be 2-32 characters: a letter, then letters,"
            " digits or '-'",
        )
    return value


class OrganizationService:
    def __init__(self, rt: Runtime, audit: AuditService) -> None:
        self._rt = rt
        self._audit = audit

    def create(
        self, actor: Actor, code: str, name: str, *, self_managed: bool, grants: list[str]
    ) -> OrgView:
        authorize(actor, Action.ORG_MANAGE, None)
        code = normalize_code(code)
        if not name.strip():
            raise InvalidInput("org.name", "organization name must not be empty")
        parsed = [Grant.parse(g, self._rt.settings.allowed_suffixes) for g in grants]
        now = self._rt.clock()
        try:
            with self._rt.sessions.begin() as s:
                if org_store.by_code(s, code) is not None:
                    raise Conflict("org.exists", f"organization {code} already exists")
                org = org_store.add_org(
                    s,
                    code=code,
                    name=name.strip(),
                    self_managed=self_managed,
                    grants=[(str(g.kind), g.name) for g in dict.fromkeys(parsed)],
                    at=now,
                    by=actor.name,
                )
                view = _view(org)
                self._audit.record(
                    s, actor, "org.create", "organization", code, after=view.as_dict()
                )
                return view
        except IntegrityError:
            raise Conflict("org.exists", f"organization {code} already exists") from None

    def get(self, actor: Actor, code: str) -> OrgView:
        with self._rt.reads() as s:
            org = visible_org(s, actor, code)
            authorize(actor, Action.ORG_READ, org.id, hide=True)
            return _view(org)

    def list_all(self, actor: Actor) -> list[OrgView]:
        authorize(actor, Action.ORG_READ, actor.org_id)
        with self._rt.reads() as s:
            only = None if actor.is_global else actor.org_id
            return [_view(o) for o in org_store.all_orgs(s, only)]

    def add_grant(self, actor: Actor, code: str, grant_text: str) -> OrgView:
        authorize(actor, Action.ORG_MANAGE, None)
        grant = Grant.parse(grant_text, self._rt.settings.allowed_suffixes)
        with self._rt.sessions.begin() as s:
            org = self._org(s, code)
            if org_store.find_grant(s, org.id, str(grant.kind), grant.name) is not None:
                raise Conflict("grant.exists", f"{org.code} already holds {grant}")
            org.grants.append(
                GrantRow(
                    kind=str(grant.kind),
                    name=grant.name,
                    created_at=self._rt.clock(),
                    created_by=actor.name,
                )
            )
            s.flush()
            self._audit.record(s, actor, "grant.add", "organization", org.code, grant=str(grant))
            return _view(org)

    def remove_grant(self, actor: Actor, code: str, grant_text: str) -> OrgView:
        authorize(actor, Action.ORG_MANAGE, None)
        grant = Grant.parse(grant_text, self._rt.settings.allowed_suffixes)
        with self._rt.sessions.begin() as s:
            org = self._org(s, code)
            row = org_store.find_grant(s, org.id, str(grant.kind), grant.name)
            if row is None:
                raise NotFound("grant.unknown", f"{org.code} does not hold {grant}")
            org.grants.remove(row)
            s.flush()
            self._audit.record(s, actor, "grant.remove", "organization", org.code, grant=str(grant))
            return _view(org)

    def set_service(self, actor: Actor, code: str, *, self_managed: bool) -> OrgView:
        """Switch an organization between managed and self-managed service (R11).

        Only cert services switch it (an agency's own people are refused; another agency's
        organization is not found). The change is audited as ``org.service`` with the same
        ``before``/``after`` summary as the delegated-administrator set-up writes (R15);
        asking for the service the organization already has changes and records nothing.
        Grants, people, tokens and certificates stay as they are, and costs already recorded
        do not change. Direct issuance and revocation by the agency's own people read the
        service when they act (issuance, revocation), so once an organization is managed
        again its delegated administrators can no longer issue directly.
        """
        with self._rt.sessions.begin() as s:
            # Locked like a grant change (see _org), so the switch and a concurrent change of
            # the same organization are serialized.
            org = visible_org(s, actor, code, for_update=True)
            authorize(actor, Action.ORG_MANAGE, org.id, hide=True)
            if org.self_managed != self_managed:
                before, after = _service(org.self_managed), _service(self_managed)
                org_store.set_self_managed(s, org, self_managed)
                self._audit.record(
                    s, actor, "org.service", "organization", org.code, before=before, after=after
                )
            return _view(org)

    def set_issuer(
        self, actor: Actor, code: str, issuer_id: int | None, issuer_name: str
    ) -> OrgView:
        """Choose the issuer of the organization's certificates (R16; None: the built-in CA).

        Cert services only; ``issuer_id`` comes from the vendor registry, which refuses an
        unknown or disabled vendor. Audited as ``org.issuer`` with before and after.
        """
        with self._rt.sessions.begin() as s:
            org = visible_org(s, actor, code, for_update=True)
            authorize(actor, Action.ISSUER_MANAGE, org.id, hide=True)
            if org.issuer_id != issuer_id:
                before = org.issuer.slug if org.issuer is not None else BUILTIN
                org_store.set_issuer(s, org, issuer_id)
                s.flush()
                s.refresh(org, ["issuer"])
                self._audit.record(
                    s,
                    actor,
                    "org.issuer",
                    "organization",
                    org.code,
                    before=before,
                    after=issuer_name,
                )
            return _view(org)

    def set_grant_issuer(
        self, actor: Actor, code: str, grant_text: str, issuer_id: int | None, issuer_name: str
    ) -> OrgView:
        """Choose the issuer of certificates under one grant (R16; None: the organization's).

        Cert services only; ``issuer_id`` comes from the vendor registry (a vendor, the
        built-in CA, or None). It outranks the organization's issuer and yields to a
        submittal's (core/issuers.choose_issuer). Audited as ``grant.issuer``.
        """
        grant = Grant.parse(grant_text, self._rt.settings.allowed_suffixes)
        with self._rt.sessions.begin() as s:
            org = visible_org(s, actor, code, for_update=True)
            authorize(actor, Action.ISSUER_MANAGE, org.id, hide=True)
            row = org_store.find_grant(s, org.id, str(grant.kind), grant.name)
            if row is None:
                raise NotFound("grant.unknown", f"{org.code} does not hold {grant}")
            if row.issuer_id != issuer_id:
                before = _issuer_name(row.issuer) if row.issuer is not None else ORGANIZATION_CHOICE
                org_store.set_grant_issuer(row, issuer_id)
                s.flush()
                s.refresh(row, ["issuer"])
                self._audit.record(
                    s,
                    actor,
                    "grant.issuer",
                    "organization",
                    org.code,
                    grant=str(grant),
                    before=before,
                    after=issuer_name,
                )
            return _view(org)

    def _org(self, s: Session, code: str) -> Organization:
        # Locked: a grant change waits for issuances of this organization that are checking
        # its grants, and they wait for it (see org_store.by_code).
        org = org_store.by_code(s, code.strip().lower(), for_update=True)
        if org is None:
            raise NotFound("org.unknown", f"no organization with code {code!r}")
        return org
