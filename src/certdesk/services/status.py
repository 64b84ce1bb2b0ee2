"""``certdesk status``: one read of how the installation is doing (issue 9, part 7).

``/readyz`` answers for one server process; this answers for the installation: its schema,
its CAs and CRLs, its lifecycle workers and what waits for them. Each thing that needs a
person is a :class:`Finding`, decided here and only here:

* **unavailable** (this host cannot serve; ``certdesk status`` exits 4): the schema is not the
  one this certdesk needs, no issuing CA, or its key cannot be loaded. A database that does
  not answer raises :class:`~certdesk.errors.Unavailable` (exit 4) instead of a report.
* **attention** (it serves, but someone should look; exit 1): a CA within
  :data:`CA_WARNING_DAYS` of ``notAfter`` or past it; a CA without a CRL or whose CRL is past
  ``nextUpdate``; workers that ran and all stopped beating (killed or hung); certificates
  past ``notAfter`` or R8 windows that ended and are still waiting for a worker longer than
  a worker would let them wait (three times ``CERTDESK_WORKER_INTERVAL_SECONDS``) — the sign
  of a cron ``certdesk worker --once`` that no longer runs.

Shown but never a finding: no worker running right now (a cron worker leaves no heartbeat
between runs), failed mail and notices (they stay failed until someone acts on them, see
``certdesk notices list --status failed``), pending counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError

from certdesk.core.lifecycle import crl_refresh_due
from certdesk.core.notices import NoticeState
from certdesk.errors import CertdeskError, Unavailable
from certdesk.release import version
from certdesk.services.lifecycle.worker_health import WorkerHealth, WorkerState
from certdesk.services.startup import SchemaState, schema_state
from certdesk.store import crls as crl_store
from certdesk.store import issuers as issuer_store
from certdesk.store.db import ping
from certdesk.store.issuers import LocalCa
from certdesk.store.schema import require_current

if TYPE_CHECKING:
    from certdesk.services.registry import Services

# A CA this close to its notAfter needs a successor planned (a new intermediate, a new root
# distributed to relying parties) — months of work in a state data center.
CA_WARNING_DAYS = 90


class Level(StrEnum):
    UNAVAILABLE = "unavailable"  # this host cannot serve
    ATTENTION = "attention"  # it serves; someone should look


@dataclass(frozen=True)
class Finding:
    level: Level
    code: str  # stable, for scripts: ca.expiring, crl.expired, worker.stale ...
    what: str


@dataclass(frozen=True)
class CaStatus:
    id: str  # the slug, as in /ca/<id>.cer and 'certdesk crl'
    name: str
    root: bool
    active: bool
    not_after: datetime
    days_left: int


@dataclass(frozen=True)
class CrlStatus:
    ca: str
    number: int | None  # None: never published
    this_update: datetime | None
    next_update: datetime | None
    refresh_due: bool  # past half its life (core.lifecycle.crl_refresh_due)


@dataclass(frozen=True)
class Status:
    """Everything ``certdesk status`` prints, read at ``now``."""

    now: datetime
    version: str
    schema: SchemaState
    ca_key: str  # "ok" or the error code of loading the issuing CA's key
    cas: tuple[CaStatus, ...] = ()
    crls: tuple[CrlStatus, ...] = ()
    workers: WorkerHealth | None = None  # None: not read (the schema is not current)
    notices: dict[str, int] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()

    @property
    def level(self) -> Level | None:
        """The worst finding's level; None when there is nothing to look at."""
        levels = {f.level for f in self.findings}
        for level in (Level.UNAVAILABLE, Level.ATTENTION):
            if level in levels:
                return level
        return None

    @property
    def outbox(self) -> dict[str, int]:
        by_status = self.workers.backlog.outbox_by_status if self.workers else {}
        return {k: by_status.get(k, 0) for k in (NoticeState.PENDING, NoticeState.FAILED)}

    def as_dict(self) -> dict[str, Any]:
        level = self.level
        return {
            "status": "healthy" if level is None else str(level),
            "now": self.now,
            "version": self.version,
            "schema": {
                "current": self.schema.current,
                "head": self.schema.head,
                "state": self.schema.state,
            },
            "ca_key": self.ca_key,
            "cas": [
                {
                    "id": c.id,
                    "name": c.name,
                    "root": c.root,
                    "active": c.active,
                    "not_after": c.not_after,
                    "days_left": c.days_left,
                }
                for c in self.cas
            ],
            "crls": [
                {
                    "ca": c.ca,
                    "number": c.number,
                    "this_update": c.this_update,
                    "next_update": c.next_update,
                    "refresh_due": c.refresh_due,
                }
                for c in self.crls
            ],
            "workers": [_worker_dict(w) for w in (self.workers.workers if self.workers else ())],
            "outbox": self.outbox,
            "notices": self.notices,
            "findings": [
                {"level": str(f.level), "code": f.code, "what": f.what} for f in self.findings
            ],
        }


def _worker_dict(w: WorkerState) -> dict[str, Any]:
    return {
        "id": w.worker_id,
        "started_at": w.started_at,
        "heartbeat_at": w.beat_at,
        "last_pass_at": w.last_pass_at,
        "last_pass_seconds": w.last_pass_seconds,
        "jobs_done": w.jobs_done,
        "last_error": w.last_error,
        "healthy": w.healthy,
    }


def read_status(svc: Services) -> Status:
    """Read the installation's status; :class:`Unavailable` when the database is down."""
    rt = svc.rt
    now = rt.clock()
    try:
        ping(rt.engine)
    except DBAPIError as exc:
        reason = (str(exc.orig).strip().splitlines() or [""])[0]
        raise Unavailable(
            "database.unreachable",
            f"the database does not answer ({type(exc.orig).__name__}: {reason});"
            " check CERTDESK_DATABASE_URL",
        ) from None
    schema = schema_state(svc)
    try:
        require_current(rt.engine)
    except Unavailable as exc:
        # Tables of another schema may not hold what the rest reads: stop here.
        finding = Finding(Level.UNAVAILABLE, exc.code, exc.detail)
        return Status(now, version(), schema, "unknown", findings=(finding,))

    findings: list[Finding] = []
    ca_key = _ca_key(svc, findings)
    cas, crls = _authorities(svc, now, findings)
    workers = svc.worker_health.snapshot()
    findings += _worker_findings(workers, svc.worker_health.stale_after)
    return Status(
        now=now,
        version=version(),
        schema=schema,
        ca_key=ca_key,
        cas=cas,
        crls=crls,
        workers=workers,
        notices=svc.notices.status_counts(),
        findings=tuple(findings),
    )


def _ca_key(svc: Services, findings: list[Finding]) -> str:
    try:
        svc.authority.issuing()
    except CertdeskError as exc:  # ca.not_initialized, ca.key_missing, ca.key_locked
        findings.append(Finding(Level.UNAVAILABLE, exc.code, f"issuing CA: {exc.detail}"))
        return exc.code
    return "ok"


def _authorities(
    svc: Services, now: datetime, findings: list[Finding]
) -> tuple[tuple[CaStatus, ...], tuple[CrlStatus, ...]]:
    cas: list[CaStatus] = []
    crls: list[CrlStatus] = []
    with svc.rt.reads() as s:
        for issuer in issuer_store.all_issuers(s):
            days_left = (issuer.not_after - now) // timedelta(days=1)
            cas.append(
                CaStatus(
                    issuer.slug,
                    issuer.name,
                    issuer.is_root,
                    issuer.active,
                    issuer.not_after,
                    days_left,
                )
            )
            if issuer.active and issuer.not_after <= now:
                findings.append(
                    Finding(
                        Level.ATTENTION, "ca.expired", f"CA {issuer.slug} expired on {_day(issuer)}"
                    )
                )
            elif issuer.active and days_left < CA_WARNING_DAYS:
                findings.append(
                    Finding(
                        Level.ATTENTION,
                        "ca.expiring",
                        f"CA {issuer.slug} expires on {_day(issuer)}, in {days_left} days:"
                        " plan its successor",
                    )
                )
            latest = crl_store.latest(s, issuer.id)
            if latest is None:
                crls.append(CrlStatus(issuer.slug, None, None, None, refresh_due=True))
                findings.append(
                    Finding(
                        Level.ATTENTION,
                        "crl.missing",
                        f"CA {issuer.slug} has no CRL: run 'certdesk crl'",
                    )
                )
                continue
            crls.append(
                CrlStatus(
                    issuer.slug,
                    latest.number,
                    latest.this_update,
                    latest.next_update,
                    refresh_due=crl_refresh_due(latest.this_update, latest.next_update, now),
                )
            )
            if latest.next_update <= now:
                findings.append(
                    Finding(
                        Level.ATTENTION,
                        "crl.expired",
                        f"the CRL of CA {issuer.slug} (#{latest.number}) passed its nextUpdate"
                        f" {latest.next_update:%Y-%m-%d %H:%M}Z: is a worker running?",
                    )
                )
    return tuple(cas), tuple(crls)


def _day(issuer: LocalCa) -> str:
    return f"{issuer.not_after:%Y-%m-%d}"


def _worker_findings(health: WorkerHealth, stale_after: timedelta) -> list[Finding]:
    findings: list[Finding] = []
    if health.workers and not any(w.healthy for w in health.workers):
        newest = max(w.beat_at for w in health.workers)
        findings.append(
            Finding(
                Level.ATTENTION,
                "worker.stale",
                "no worker is beating: the last heartbeat was"
                f" {ago(health.now - newest)} ago (killed or hung?)",
            )
        )
    backlog = health.backlog
    waiting = (
        ("backlog.expiry", "certificates past notAfter", backlog.expiry),
        ("backlog.windows", "ended R8 windows", backlog.windows),
    )
    for code, job, oldest in waiting:
        if oldest is not None and health.now - oldest > stale_after:
            findings.append(
                Finding(
                    Level.ATTENTION,
                    code,
                    f"{job} have waited {ago(health.now - oldest)} for a worker:"
                    " run 'certdesk worker' (or --once from cron)",
                )
            )
    return findings


def ago(delta: timedelta) -> str:
    """A duration the way a person reads it: 42s, 17m, 5h, 3d."""
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
