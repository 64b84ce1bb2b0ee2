"""The registry of vendor backends (smallstep's habit, STYLE habit 16): issuer row → Issuer.

:meth:`VendorBackends.backend` builds an :class:`~certdesk.ca.acme.backend.AcmeIssuer` from
a vendor's stored row — the account key unsealed, the vendor's HTTPS CA bundle written to a
private file for ``requests``, the trust anchors, the challenge solvers — and keeps it for
this process. An ACME session belongs to one thread, so the cache is per thread; a changed
row (a new account after a rebind, new anchors) builds a new backend.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from certdesk.ca.acme.account import key_from_pem
from certdesk.ca.acme.backend import AcmeIssuer, AcmeSettings
from certdesk.ca.acme.problems import Backoff
from certdesk.ca.acme.session import AcmeSession, Endpoint
from certdesk.ca.acme.solver_config import solvers_for
from certdesk.ca.acme.solvers import (
    ByZone,
    ChallengeResponses,
)
from certdesk.errors import NotFound
from certdesk.services.pki.vendor_settings import bundle_path, parse_anchors
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.store import vendors as vendor_store
from certdesk.store.vendors import VendorIssuer

Publish = Callable[[str, str], None]
Withdraw = Callable[[str], None]


@dataclass(frozen=True)
class Tuning:
    """How long one call drives an order, how often it polls, how it retries."""

    wait: timedelta = timedelta(seconds=60)
    poll_interval: timedelta = timedelta(seconds=1)
    backoff: Backoff | None = None


class VendorBackends:
    """Issuer id → backend, cached per process and thread."""

    def __init__(
        self,
        rt: Runtime,
        box: SecretBox,
        *,
        http01: tuple[Publish, Withdraw] | None = None,
        tuning: Tuning | None = None,
    ) -> None:
        self._rt = rt
        self._box = box
        # http-01 answers served by certdesk's own /.well-known/acme-challenge/ route: the
        # pair given (a database-backed publisher shared by every process), else in-process.
        self.challenges = ChallengeResponses()
        self._http01 = http01 or (self.challenges.publish, self.challenges.withdraw)
        self.tuning = tuning or Tuning()
        self._lock = threading.Lock()
        self._cache: dict[tuple[int, int], tuple[str, AcmeIssuer]] = {}

    def tune(self, tuning: Tuning) -> None:
        """New timings for backends built from now on (tests, benchmarks)."""
        with self._lock:
            self.tuning = tuning
            self._cache.clear()

    def backend(self, issuer_id: int) -> AcmeIssuer:
        """The vendor ``issuer_id`` as an Issuer (also Revoker and RenewalInfoSource)."""
        with self._rt.reads() as s:
            row = vendor_store.by_id(s, issuer_id)
        if row is None:
            raise NotFound("issuer.unknown", f"no vendor issuer with id {issuer_id}")
        version = _version(row)
        key = (threading.get_ident(), issuer_id)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        built = self._build(row)
        with self._lock:
            self._cache[key] = (version, built)
        return built

    def forget(self, issuer_id: int) -> None:
        with self._lock:
            for key in [k for k in self._cache if k[1] == issuer_id]:
                del self._cache[key]

    def _build(self, row: VendorIssuer) -> AcmeIssuer:
        bundle = (
            str(bundle_path(self._rt.settings.data_dir, row.slug, row.ca_bundle_pem))
            if row.ca_bundle_pem is not None
            else None
        )
        key = key_from_pem(self._box.open(row.account_key_sealed))
        tuning = self.tuning
        session = AcmeSession(
            Endpoint(row.directory_url, ca_bundle=bundle),
            key,
            account_url=row.account_url,
            backoff=tuning.backoff,
        )
        settings = AcmeSettings(
            anchors=parse_anchors(row.anchors_pem),
            profiles=dict(row.profiles),
            wait=tuning.wait,
            poll_interval=tuning.poll_interval,
            lint_tolerate=row.lint_tolerate,
        )
        return AcmeIssuer(session, self._solvers(row), settings)

    def _solvers(self, row: VendorIssuer) -> ByZone:
        secret = (
            self._box.open(row.solver_secret_sealed).decode()
            if row.solver_secret_sealed is not None
            else None
        )
        publish, withdraw = self._http01
        return solvers_for(row.solver, row.solver_config, secret, publish, withdraw)


def _version(row: VendorIssuer) -> str:
    """What a cached backend was built from; a change in any of it builds a new one."""
    parts = [
        row.directory_url,
        row.account_url,
        row.anchors_pem,
        row.ca_bundle_pem or "",
        str(row.solver),
        repr(sorted(row.solver_config.items())),
        repr(sorted(row.profiles.items())),
        hashlib.sha256(row.account_key_sealed).hexdigest(),
    ]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()
