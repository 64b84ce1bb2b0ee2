"""Discovery (R18): which certificates do these endpoints serve?

Each target gets one handshake (the chain as served; no version probes: that is
``verify``'s longer look), ``CERTDESK_VERIFY_CONCURRENCY`` at a time, each connection under
``CERTDESK_VERIFY_TIMEOUT_SECONDS``. A leaf the inventory lacks is imported as external and
every leaf's sighting ``host:port`` is recorded; an endpoint that served another certificate
before (or nothing now) marks the old sighting gone, and an external certificate gone from
every endpoint is flagged as disappeared. Refused addresses (private ranges not allowed) are
counted, never connected to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from certdesk.core.access import Action, Actor, authorize
from certdesk.core.endpoints import Target, expand_targets
from certdesk.errors import CertdeskError
from certdesk.services.discovery.external import ExternalCertificates, fingerprint
from certdesk.services.discovery.verification import Reach
from certdesk.services.runtime import Runtime
from certdesk.store import endpoints as store
from certdesk.verify import probe


@dataclass
class DiscoveryReport:
    endpoints: int = 0
    answered: int = 0
    unreachable: int = 0
    refused: int = 0  # addresses not allowed
    new_external: int = 0
    known: int = 0  # already in the inventory (managed or external)
    disappeared: list[str] = field(default_factory=list)  # fingerprints gone everywhere
    found: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Discovery:
    def __init__(self, rt: Runtime, external: ExternalCertificates, reach: Reach) -> None:
        self._rt = rt
        self._external = external
        self._reach = reach

    def targets(self, texts: Sequence[str]) -> list[Target]:
        return expand_targets(texts)

    def run(
        self,
        actor: Actor,
        targets: Sequence[Target],
        *,
        progress: Callable[[Target, bool], None] | None = None,
    ) -> DiscoveryReport:
        """Probe ``targets``; ``progress(target, served)`` after each one (``served``: it
        answered with a certificate)."""
        authorize(actor, Action.ENDPOINT_VERIFY, None)
        authorize(actor, Action.EXTERNAL_MANAGE, None)
        report = DiscoveryReport(endpoints=len(targets))
        seen: dict[tuple[str, int], str] = {}
        probed: list[tuple[str, int]] = []

        def one(t: Target) -> tuple[Target, x509.Certificate | None, str]:
            try:
                where = self._reach.where(t, None, None)
            except CertdeskError as exc:
                return t, None, "refused" if exc.code.endswith("not_allowed") else "unreachable"
            try:
                got = probe.served(where)
            except (OSError, ConnectionError):
                return t, None, "unreachable"
            return t, (got.chain[0] if got.chain else None), "ok"

        workers = max(1, min(self._rt.settings.verify_concurrency, len(targets) or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for target, leaf, outcome in pool.map(one, targets):
                if progress is not None:
                    progress(target, leaf is not None)
                if outcome == "refused":
                    report.refused += 1
                    continue
                probed.append((target.host, target.port))
                if leaf is None:
                    report.unreachable += 1
                    continue
                report.answered += 1
                fp = fingerprint(leaf)
                seen[(target.host, target.port)] = fp
                view, _kind = self._external.add(actor, leaf, source="discovery")
                if view is not None:
                    report.new_external += 1
                else:
                    report.known += 1
                report.found.append(
                    {"endpoint": str(target), "sha256": fp, "new": view is not None}
                )
        now = self._rt.clock()
        with self._rt.sessions.begin() as s:
            for (host, port), fp in seen.items():
                store.sighted(s, host, port, fp, now)
            report.disappeared = store.mark_gone(s, probed, seen, now)
        return report
