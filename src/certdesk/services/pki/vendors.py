"""Vendor CAs as cert services manage them: add (register with EAB), list, show, disable,
rebind (R16).

Adding a vendor registers certdesk's account at the vendor's ACME server with External
Account Binding (RFC 8555 §7.3.4) before anything is stored: a wrong key id or HMAC key is
the vendor's refusal (``acme.eab_refused``) and leaves nothing behind. The account key is
sealed with the secret box at once (services/secretbox.py, like TOTP seeds); the EAB HMAC key
is used for that one request and is never stored, shown again, audited or logged.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from josepy.jwk import JWK

from certdesk.ca.acme.account import Account, ExternalAccountBinding, key_from_pem, register
from certdesk.ca.acme.problems import Backoff
from certdesk.ca.acme.session import Endpoint
from certdesk.ca.acme.solver_config import (
    Dns01Config,
    Http01Config,
    SolverConfig,
    parse_solver_config,
    tsig_key,
)
from certdesk.ca.vendor_lint import FINDINGS
from certdesk.core.access import Action, Actor, authorize
from certdesk.core.issuers import Solver
from certdesk.errors import Conflict, InvalidInput, NotFound, Unavailable
from certdesk.services.audit import AuditService
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.store import vendors as vendor_store
from certdesk.store.vendors import VendorIssuer

SYSTEM_TRUST_STORE = Path("/etc/ssl/certs/ca-certificates.crt")
BUILTIN = "builtin"  # the word that names the built-in CA where an issuer is chosen
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_DNS_ALGORITHMS = frozenset({"hmac-sha256", "hmac-sha384", "hmac-sha512"})


@dataclass(frozen=True)
class SolverSettings:
    """How the vendor's challenges are answered; the TSIG secret is sealed when stored."""

    kind: Solver = Solver.NONE
    # dns-01 (RFC 2136 + TSIG): the primary server (an address), its port, the zones it
    # updates, the TSIG key.
    dns_server: str | None = None
    dns_port: int = 53
    zones: tuple[str, ...] = ()
    tsig_name: str | None = None
    tsig_algorithm: str = "hmac-sha256"
    tsig_secret: str | None = field(default=None, repr=False)
    # http-01: a webroot to write the answers into (None: certdesk's own challenge route).
    webroot: str | None = None

    def checked(self) -> tuple[dict[str, Any], bytes | None]:
        """The stored config and the secret to seal; raises on missing or wrong settings."""
        if self.kind is Solver.NONE:
            return {}, None
        if self.kind is Solver.HTTP01:
            if self.webroot is not None and not Path(self.webroot).is_absolute():
                raise InvalidInput("issuer.webroot", "the http-01 webroot must be an absolute path")
            webroot = Path(self.webroot) if self.webroot else None
            return SolverConfig(http01=Http01Config(webroot)).to_dict(), None
        missing = [
            flag
            for flag, value in (
                ("--dns-server", self.dns_server),
                ("--dns-zone", self.zones),
                ("--tsig-key-name", self.tsig_name),
                ("--tsig-secret", self.tsig_secret),
            )
            if not value
        ]
        if missing:
            raise InvalidInput(
                "issuer.solver_settings", f"the dns-01 solver needs {', '.join(missing)}"
            )
        if self.tsig_algorithm not in _DNS_ALGORITHMS:
            raise InvalidInput(
                "issuer.solver_settings",
                f"TSIG algorithm must be one of {', '.join(sorted(_DNS_ALGORITHMS))}",
            )
        if not 0 < self.dns_port < 65536:
            raise InvalidInput("issuer.solver_settings", "the DNS port must be 1-65535")
        assert self.tsig_secret is not None and self.dns_server and self.tsig_name
        stored = SolverConfig(
            dns01=Dns01Config(
                server=self.dns_server,
                port=self.dns_port,
                tsig_name=self.tsig_name,
                tsig_algorithm=self.tsig_algorithm,
                zones=tuple(z.lower().rstrip(".") for z in self.zones),
            )
        ).to_dict()
        # The same parser and key check the registry uses when it builds the solvers, so
        # what is stored is what works: a bad address, zone or secret is refused here.
        parsed = parse_solver_config(self.kind, stored)
        assert parsed.dns01 is not None
        tsig_key(parsed.dns01, self.tsig_secret)
        return stored, self.tsig_secret.encode()


@dataclass(frozen=True)
class VendorView:
    """A vendor CA as people see it: nothing secret, no key."""

    name: str
    title: str
    backend: str
    active: bool
    directory_url: str
    eab_kid: str
    account_url: str
    solver: str
    solver_config: Mapping[str, Any]
    profiles: Mapping[str, str]
    lint_tolerate: tuple[str, ...]  # lint findings its certificates may carry (a lab CA)
    anchors: tuple[str, ...]  # subjects of the trust anchors
    custom_ca_bundle: bool
    created_at: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "backend": self.backend,
            "active": self.active,
            "directory_url": self.directory_url,
            "eab_kid": self.eab_kid,
            "account_url": self.account_url,
            "solver": self.solver,
            "solver_config": dict(self.solver_config),
            "profiles": dict(self.profiles),
            "lint_tolerate": list(self.lint_tolerate),
            "trust_anchors": list(self.anchors),
            "custom_ca_bundle": self.custom_ca_bundle,
            "created_at": self.created_at,
        }


def view_of(v: VendorIssuer) -> VendorView:
    return VendorView(
        name=v.slug,
        title=v.name,
        backend="acme",
        active=v.active,
        directory_url=v.directory_url,
        eab_kid=v.eab_kid,
        account_url=v.account_url,
        solver=str(v.solver),
        solver_config=v.solver_config,
        profiles=v.profiles,
        lint_tolerate=tuple(sorted(v.lint_tolerate)),
        anchors=tuple(c.subject.rfc4514_string() for c in parse_anchors(v.anchors_pem)),
        custom_ca_bundle=v.ca_bundle_pem is not None,
        created_at=v.created_at,
    )


def parse_anchors(pem: str) -> tuple[x509.Certificate, ...]:
    try:
        with warnings.catch_warnings():
            # The system store holds old roots with a non-positive serial, which cryptography
            # loads with a deprecation warning; they are still the operator's trust anchors.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            certs = tuple(x509.load_pem_x509_certificates(pem.encode()))
    except ValueError:
        raise InvalidInput(
            "issuer.trust_anchors", "the trust anchors are not PEM certificates"
        ) from None
    if not certs:
        raise InvalidInput("issuer.trust_anchors", "no trust anchor certificate given")
    return certs


def check_name(name: str) -> str:
    slug = name.strip().lower()
    if not _SLUG.match(slug) or slug == BUILTIN:
        raise InvalidInput(
            "issuer.name",
            f"issuer name {name!r} must be 1-32 lower-case letters, digits or '-'"
            f" (and not {BUILTIN!r})",
        )
    return slug


def bundle_path(data_dir: Path, slug: str, pem: str) -> Path:
    """Write the vendor's HTTPS CA bundle where ``requests`` can read it (``verify``).

    A private file under the data directory, named by its content's hash, so a changed bundle
    never half-replaces one a request is reading.
    """
    digest = hashlib.sha256(pem.encode()).hexdigest()[:16]
    folder = data_dir / "vendors"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{slug}-ca-bundle-{digest}.pem"
    if not path.exists():
        partial = path.with_suffix(".part")
        partial.write_text(pem)
        partial.chmod(0o600)
        partial.replace(path)
    return path


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
