"""Vendor CAs as cert services manage them: add (register with EAB), list, show, disable,
rebind, key rollover (R16).

Adding a vendor registers certdesk's account at the vendor's ACME server with External
Account Binding (RFC 8555 §7.3.4) before anything is stored: a wrong key id or HMAC key is
the vendor's refusal (``acme.eab_refused``) and leaves nothing behind. The account key is
sealed with the secret box at once (services/secretbox.py, like TOTP seeds); the EAB HMAC key
is used for that one request and is never stored, shown again, audited or logged.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from josepy.jwk import JWK

from certdesk.ca.acme.account import (
    Account,
    ExternalAccountBinding,
    key_from_pem,
    register,
)
from certdesk.ca.acme.problems import Backoff
from certdesk.ca.acme.session import Endpoint
from certdesk.ca.vendor_lint import FINDINGS
from certdesk.core.access import Action, Actor, authorize
from certdesk.core.issuers import ORGANIZATION_CHOICE
from certdesk.errors import Conflict, InvalidInput, NotFound, Unavailable
from certdesk.services.audit import AuditService
from certdesk.services.pki.vendor_keys import KeyRollover
from certdesk.services.pki.vendor_settings import (
    BUILTIN,
    SYSTEM_TRUST_STORE,
    SolverSettings,
    VendorView,
    bundle_path,
    check_name,
    parse_anchors,
    view_of,
)
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.store import vendors as vendor_store
from certdesk.store.vendors import VendorIssuer


class VendorIssuers:
    """Cert services' management of vendor CAs (operator only)."""

    def __init__(
        self,
        rt: Runtime,
        audit: AuditService,
        box: SecretBox,
        *,
        trust_store: Path = SYSTEM_TRUST_STORE,
        backoff: Backoff | None = None,
    ) -> None:
        self._rt = rt
        self._audit = audit
        self._box = box
        self._trust_store = trust_store
        self._backoff = backoff or Backoff(attempts=2)
        self._forget: list[Any] = []

    def on_change(self, forget: Any) -> None:
        """Call ``forget(issuer_id)`` after a vendor's account or settings change."""
        self._forget.append(forget)

    def _endpoint(self, slug: str, directory_url: str, ca_bundle_pem: str | None) -> Endpoint:
        bundle = (
            str(bundle_path(self._rt.settings.data_dir, slug, ca_bundle_pem))
            if ca_bundle_pem is not None
            else None
        )
        # An operator is waiting: a vendor that does not answer within 15 s is reported as
        # unavailable (the add can be repeated), with one retry of a transient failure.
        return Endpoint(directory_url, ca_bundle=bundle, timeout=15.0)

    def _default_anchors(self) -> str:
        try:
            return self._trust_store.read_text()
        except OSError as err:
            raise InvalidInput(
                "issuer.trust_anchors",
                f"no trust anchors given and the system store {self._trust_store} is"
                f" unreadable ({err.strerror}); give --trust-anchors",
            ) from None

    def add(
        self,
        actor: Actor,
        name: str,
        *,
        directory_url: str,
        eab_kid: str,
        eab_hmac_key: str,
        ca_bundle_pem: str | None = None,
        anchors_pem: str | None = None,
        solver: SolverSettings | None = None,
        profiles: Mapping[str, str] | None = None,
        title: str | None = None,
        lint_tolerate: Collection[str] = (),
    ) -> VendorView:
        """Register certdesk's account at the vendor with EAB, then store the vendor.

        ``lint_tolerate`` names pre-storage lint findings this vendor's certificates may
        carry (a lab CA such as pebble); any other finding still refuses a certificate.
        """
        authorize(actor, Action.ISSUER_MANAGE, None)
        slug = check_name(name)
        if not directory_url.startswith("https://"):
            raise InvalidInput("issuer.directory_url", "the ACME directory URL must be https://")
        if not eab_kid.strip() or not eab_hmac_key.strip():
            raise InvalidInput("issuer.eab", "both the EAB key id and the EAB HMAC key are needed")
        if ca_bundle_pem is not None:
            parse_anchors(ca_bundle_pem)  # the same PEM shape; refused before any request
        anchors = anchors_pem if anchors_pem is not None else self._default_anchors()
        parse_anchors(anchors)
        settings = solver or SolverSettings()
        config, secret = settings.checked()
        for kind, profile in (profiles or {}).items():
            if not kind or not profile:
                raise InvalidInput("issuer.profile", "a profile mapping is TYPE=PROFILE")
        tolerated = frozenset(lint_tolerate)
        if unknown := sorted(tolerated - FINDINGS.keys()):
            raise InvalidInput(
                "issuer.lint_tolerate",
                f"no lint finding named {', '.join(unknown)}; known: {', '.join(sorted(FINDINGS))}",
            )
        with self._rt.reads() as s:
            if vendor_store.slug_taken(s, slug):
                raise Conflict("issuer.exists", f"an issuer named {slug} exists already")
        # The one request that uses the HMAC key; nothing is stored unless it succeeds.
        account = self._register(
            slug,
            directory_url,
            ca_bundle_pem,
            ExternalAccountBinding(eab_kid.strip(), eab_hmac_key.strip()),
        )
        sealed_key = self._box.seal(account.key_pem())
        sealed_secret = self._box.seal(secret) if secret is not None else None
        with self._rt.sessions.begin() as s:
            if vendor_store.slug_taken(s, slug):
                raise Conflict("issuer.exists", f"an issuer named {slug} exists already")
            stored = vendor_store.add(
                s,
                slug=slug,
                name=title or slug,
                directory_url=directory_url,
                ca_bundle_pem=ca_bundle_pem,
                anchors_pem=anchors,
                eab_kid=eab_kid.strip(),
                account_url=account.url,
                account_key_sealed=sealed_key,
                solver=settings.kind,
                solver_config=config,
                solver_secret_sealed=sealed_secret,
                profiles=dict(profiles or {}),
                now=self._rt.clock(),
                lint_tolerate=tolerated,
            )
            self._audit.record(
                s,
                actor,
                "issuer.add",
                "issuer",
                slug,
                backend="acme",
                directory_url=directory_url,
                eab_kid=eab_kid.strip(),
                account_url=account.url,
                solver=str(settings.kind),
                profiles=dict(profiles or {}),
                lint_tolerate=sorted(tolerated),
            )
        return view_of(stored)

    def rebind(
        self,
        actor: Actor,
        name: str,
        *,
        eab_kid: str,
        eab_hmac_key: str,
        anchors_pem: str | None = None,
    ) -> VendorView:
        """Register the sealed account key again with a new binding (the vendor lost the
        account). Open orders of the old account are placed again, once, by whoever drives
        them next; ``anchors_pem`` replaces the trust anchors when given."""
        authorize(actor, Action.ISSUER_MANAGE, None)
        current = self._vendor(name)
        if anchors_pem is not None:
            parse_anchors(anchors_pem)
        key = key_from_pem(self._box.open(current.account_key_sealed))
        account = self._register(
            current.slug,
            current.directory_url,
            current.ca_bundle_pem,
            ExternalAccountBinding(eab_kid.strip(), eab_hmac_key.strip()),
            key=key,
        )
        with self._rt.sessions.begin() as s:
            vendor_store.set_account(
                s,
                current.id,
                eab_kid=eab_kid.strip(),
                account_url=account.url,
                anchors_pem=anchors_pem,
            )
            self._audit.record(
                s,
                actor,
                "issuer.rebind",
                "issuer",
                current.slug,
                eab_kid=eab_kid.strip(),
                account_url=account.url,
                previous_account_url=current.account_url,
                anchors_changed=anchors_pem is not None,
            )
        for forget in self._forget:
            forget(current.id)
        return self.show(actor, current.slug)

    def rollover(self, actor: Actor, name: str) -> VendorView:
        """Replace the account key at the vendor (RFC 8555 §7.3.5), audited; see
        :mod:`certdesk.services.pki.vendor_keys`."""
        authorize(actor, Action.ISSUER_MANAGE, None)
        current = self._vendor(check_name(name))
        endpoint = self._endpoint(current.slug, current.directory_url, current.ca_bundle_pem)
        KeyRollover(self._rt, self._audit, self._box, endpoint, self._backoff).run(actor, current)
        for forget in self._forget:
            forget(current.id)
        return self.show(actor, current.slug)

    def _register(
        self,
        slug: str,
        directory_url: str,
        ca_bundle_pem: str | None,
        binding: ExternalAccountBinding,
        *,
        key: JWK | None = None,
    ) -> Account:
        try:
            return register(
                self._endpoint(slug, directory_url, ca_bundle_pem),
                binding,
                key=key,
                backoff=self._backoff,
            )
        except Unavailable as err:
            # Nothing exists yet that could wait for the vendor: the directory URL (or the CA
            # bundle that verifies it) is what the operator checks, so this is their input's
            # problem, not a service outage (the add can simply be repeated).
            raise InvalidInput(
                "issuer.unreachable",
                f"the ACME directory {directory_url} did not answer: {err.detail}",
            ) from err

    def list(self, actor: Actor) -> list[VendorView]:
        authorize(actor, Action.ISSUER_READ, None)
        with self._rt.reads() as s:
            return [view_of(v) for v in vendor_store.all_vendors(s)]

    def show(self, actor: Actor, name: str) -> VendorView:
        authorize(actor, Action.ISSUER_READ, None)
        return view_of(self._vendor(check_name(name)))

    def disable(self, actor: Actor, name: str) -> VendorView:
        """No new orders through this vendor; open orders still finish."""
        authorize(actor, Action.ISSUER_MANAGE, None)
        slug = check_name(name)
        with self._rt.sessions.begin() as s:
            current = vendor_store.by_slug(s, slug)
            if current is None:
                raise NotFound("issuer.unknown", f"no vendor issuer named {name!r}")
            if current.active:
                vendor_store.set_active(s, current.id, False)
                self._audit.record(s, actor, "issuer.disable", "issuer", current.slug)
        return self.show(actor, slug)

    def _vendor(self, name: str) -> VendorIssuer:
        with self._rt.reads() as s:
            found = vendor_store.by_slug(s, name.strip().lower())
        if found is None:
            raise NotFound("issuer.unknown", f"no vendor issuer named {name!r}")
        return found

    def choose(self, actor: Actor, name: str) -> int | None:
        """:meth:`issuer_id` for cert services choosing an organization's issuer."""
        authorize(actor, Action.ISSUER_MANAGE, None)
        return self.issuer_id(name)

    def grant_choice(self, actor: Actor, name: str) -> int | None:
        """The issuer id cert services pin a grant to: a vendor's, the built-in CA's
        (``builtin``), or None (``organization``: the organization's issuer)."""
        authorize(actor, Action.ISSUER_MANAGE, None)
        slug = name.strip().lower()
        if slug == ORGANIZATION_CHOICE:
            return None
        if slug == BUILTIN:
            with self._rt.reads() as s:
                found = vendor_store.builtin_id(s)
            if found is None:
                raise Unavailable("ca.not_initialized", "no issuing CA: run 'certdesk init'")
            return found
        return self.issuer_id(slug)

    def issuer_id(self, name: str) -> int | None:
        """The id of the vendor ``name`` for choosing an issuer; None for ``builtin``. A
        disabled vendor takes no new organizations (or orders)."""
        slug = name.strip().lower()
        if slug == BUILTIN:
            return None
        found = self._vendor(slug)
        if not found.active:
            raise Conflict("issuer.disabled", f"the issuer {found.slug} is disabled")
        return found.id
