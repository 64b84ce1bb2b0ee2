"""A vendor CA's settings as cert services give them and people see them (R16).

The challenge solver's settings (checked by the same parser the registry uses), the view of a
stored vendor without its secrets, the trust anchors and HTTPS CA bundle, and the rule for an
issuer's name. :mod:`certdesk.services.pki.vendors` uses them to add and change vendors.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

from certdesk.ca.acme.solver_config import (
    Dns01Config,
    Http01Config,
    SolverConfig,
    parse_solver_config,
    tsig_key,
)
from certdesk.core.issuers import Solver
from certdesk.errors import InvalidInput
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
