"""Outbound webhooks (issue 14): the JSON events of the moments certdesk mails, queued in the
transaction that records the moment's notices, then delivered by the worker, signed with
HMAC-SHA256, retried with backoff. docs/webhooks.md describes the events and the signature.

**Once, precisely.** A (webhook, event) is recorded at most once (a unique key, inserted in
the notices' transaction, so an event is queued exactly when it is first mailed). A delivery
is claimed under a lease and its outcome written only where the claim is still this worker's.
As with mail, the one gap is a receiver that answered 2xx while the worker died before it
recorded that: the claim runs out and the event is delivered again with the same event id
(``Certdesk-Event-Id``), which is what receivers deduplicate on. An event whose moment passed
while no worker ran is delivered when one runs again, marked late; a receiver that is down
gets the event later (backoff doubling up to 12 hours) until ``CERTDESK_WEBHOOK_MAX_ATTEMPTS``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy.orm import Session

from certdesk.core.mail_kinds import event_type
from certdesk.core.notices import is_late, retry_delay
from certdesk.release import version
from certdesk.services.lifecycle.mail_queue import RunClock
from certdesk.services.lifecycle.notice_plan import Planned, policy_from
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.store import webhooks as store
from certdesk.store.notices import CASE, CERTIFICATE

log = structlog.get_logger("certdesk.webhooks")

LEASE = timedelta(minutes=5)
RETRY_CAP = timedelta(hours=12)
SIGNATURE_HEADER = "Certdesk-Signature"


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if value is not None and hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``Certdesk-Signature`` value: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of
    "<t>." + body under the webhook's secret>``."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class WebhookQueue:
    """Queues the events of recorded moments (called inside the notices' transaction)."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def enqueue(self, s: Session, moments: Sequence[Planned], now: datetime) -> int:
        rows: list[dict[str, Any]] = []
        if not moments or not store.any_active(s):
            return 0  # no webhook to hear of them: no event to build (one query per batch)
        for p in moments:
            kind = event_type(p.due.reason)
            if kind is None:
                continue
            found = self._event(s, p, kind)
            if found is None:
                continue
            org_id, event = found
            for hook in store.subscribers(s, org_id):
                wanted = [e for e in hook.events.split(",") if e]
                if wanted and kind not in wanted:
                    continue
                rows.append(
                    {
                        "webhook_id": hook.id,
                        "event_key": event["id"],
                        "event_type": kind,
                        "payload": json.dumps(event, sort_keys=True, separators=(",", ":")),
                        "due_at": p.due.due_at,
                        "status": store.PENDING,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "claimed_by": None,
                        "claim_expires_at": None,
                        "last_status": None,
                        "last_error": "",
                        "late": False,
                        "created_at": now,
                        "delivered_at": None,
                    }
                )
        return store.enqueue(s, rows)

    def _event(self, s: Session, p: Planned, kind: str) -> tuple[int, dict[str, Any]] | None:
        base = self._rt.settings.base_url.rstrip("/")
        event: dict[str, Any] = {
            "id": f"{p.subject_type}:{p.subject_id}:{p.due.reason}",
            "type": kind,
            "occurred_at": _iso(p.due.due_at),
            "reason": p.due.reason,
        }
        if p.subject_type == CASE:
            found = store.case_facts(s, p.subject_id)
            if found is None:
                return None
            case, org = found
            event["case"] = {
                "number": case.number,
                "title": case.title,
                "type": case.type,
                "state": str(case.state),
                "target_date": _iso(case.target_date),
                "due_date": _iso(case.due_date),
                "delivered_at": _iso(case.delivered_at),
                "window_ends_at": _iso(case.window_ends_at),
                "url": f"{base}/cases/{case.number}",
            }
        elif p.subject_type == CERTIFICATE:
            found_cert = store.cert_facts(s, p.subject_id)
            if found_cert is None:
                return None
            cert, org = found_cert
            event["certificate"] = {
                "serial": cert.serial,
                "names": cert.names.split(","),
                "status": str(cert.status),
                "not_after": _iso(cert.not_after),
                "revocation_reason": cert.revocation_reason,
                "url": f"{base}/certificates/{cert.serial}",
            }
            if p.due.reason.startswith("expiry."):
                event["certificate"]["days_before_expiry"] = int(p.due.reason.partition(".")[2])
        else:
            return None
        event["organization"] = {"code": org.code, "name": org.name}
        return org.id, event


@dataclass
class WebhookRunStats:
    delivered: int = 0
    late: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class WebhookSender:
    """The worker's ``webhooks`` job: deliver what is due, record each outcome."""

    def __init__(self, rt: Runtime, secretbox: SecretBox) -> None:
        self._rt = rt
        self._box = secretbox

    def run(
        self, now: datetime, worker_id: str, *, client: httpx.Client | None = None, limit: int = 200
    ) -> WebhookRunStats:
        stats = WebhookRunStats()
        current = RunClock(now, self._rt.clock)  # now, moved on by the time the run takes
        with self._rt.sessions.begin() as s:
            ids = store.claim_due(s, now, worker_id, now + LEASE, limit)
        if not ids:
            return stats
        with self._rt.reads() as s:
            work = [
                (d.id, d.payload, d.event_type, d.due_at, d.attempts, w)
                for d, w in store.claimed(s, ids)
            ]
            hooks = {w.id: (w.url, w.sealed_secret, w.removed_at) for *_, w in work}
        own = client is None
        http = client or httpx.Client(
            timeout=self._rt.settings.webhook_timeout_seconds,
            follow_redirects=False,
            headers={"User-Agent": f"certdesk-webhooks/{version()}"},
        )
        try:
            for delivery_id, payload, kind, due_at, attempts, hook in work:
                url, sealed, removed = hooks[hook.id]
                at = current()
                if removed is not None:
                    self._settle(
                        delivery_id,
                        worker_id,
                        {"status": store.FAILED, "last_error": "the webhook was removed"},
                    )
                    stats.failed += 1
                    continue
                self._deliver(
                    http,
                    delivery_id,
                    url,
                    sealed,
                    payload,
                    kind,
                    due_at,
                    attempts,
                    at,
                    worker_id,
                    stats,
                )
        finally:
            if own:
                http.close()
        if stats.delivered or stats.failed or stats.retrying:
            log.info("webhooks pass", worker=worker_id, **stats.as_dict())
        return stats

    def _deliver(
        self,
        http: httpx.Client,
        delivery_id: int,
        url: str,
        sealed: bytes,
        payload: str,
        kind: str,
        due_at: datetime,
        attempts: int,
        at: datetime,
        worker_id: str,
        stats: WebhookRunStats,
    ) -> None:
        body = payload.encode()
        secret = self._box.open(sealed)
        timestamp = int(time.time())
        event_id = json.loads(payload)["id"]
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            "Certdesk-Event": kind,
            "Certdesk-Event-Id": event_id,
            "Certdesk-Delivery": str(delivery_id),
        }
        status: int | None = None
        try:
            response = http.post(url, content=body, headers=headers)
            status = response.status_code
            error = "" if 200 <= status < 300 else f"the receiver answered {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
        made = attempts + 1
        if not error:
            late = is_late(due_at, at, policy_from(self._rt.settings))
            done = self._settle(
                delivery_id,
                worker_id,
                {
                    "status": store.DELIVERED,
                    "attempts": made,
                    "last_status": status,
                    "last_error": "",
                    "delivered_at": at,
                    "late": late,
                    "next_attempt_at": None,
                },
            )
            if done:
                stats.delivered += 1
                stats.late += late
            return
        stats.errors.append(f"delivery {delivery_id} to {url}: {error}")
        if made >= self._rt.settings.webhook_max_attempts:
            self._settle(
                delivery_id,
                worker_id,
                {
                    "status": store.FAILED,
                    "attempts": made,
                    "last_status": status,
                    "last_error": f"gave up after {made} attempts: {error}",
                },
            )
            stats.failed += 1
            return
        base = timedelta(seconds=self._rt.settings.webhook_retry_seconds)
        self._settle(
            delivery_id,
            worker_id,
            {
                "status": store.PENDING,
                "attempts": made,
                "last_status": status,
                "last_error": error,
                "next_attempt_at": at + retry_delay(made, base, RETRY_CAP),
            },
        )
        stats.retrying += 1

    def _settle(self, delivery_id: int, worker_id: str, values: dict[str, Any]) -> bool:
        with self._rt.sessions.begin() as s:
            return store.settle(s, delivery_id, worker_id, values)
