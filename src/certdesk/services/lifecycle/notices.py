"""Notices by email (R9): renewal notices at 90/60/30/14/7/1 days, expiry, and case events.

The lifecycle worker calls :meth:`NoticeService.run` once per pass (``certdesk worker``), and
``certdesk notices run`` does the same from cron. A pass:

1. **claims** what waits for a retry and what a stalled or dead sender left behind (its claim
   ran out), ``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
2. **plans** what is due at ``now`` and not yet recorded (:mod:`certdesk.services.
   notice_plan`) and **inserts each notice already claimed** — status ``sending``, this
   worker, a lease — in one transaction, ``ON CONFLICT DO NOTHING`` on the unique key
   (subject, contact, reason). Only the inserting transaction sends a notice; a notice with
   bad data (no valid address, nobody to tell) is inserted as ``failed`` with the reason;
3. **renders** each claimed notice from its templates (a template error fails that notice
   alone) and **groups** them by contact: a contact with several notices gets one digest;
4. **sends** each message over SMTP after the claims are committed, and right after the
   server accepts it marks its notices ``sent`` (``late`` if handed over more than the grace
   after their moment) in one short transaction.

**Exactly once, precisely.** A (subject, contact, reason) is recorded at most once, ever,
by the unique key, and the recording transaction is also the claim. A claim is held by one
worker at a time: claims are taken by conditional statements, renewed while a long pass is
still sending, and every outcome is written only where the claim is still this worker's.
Hence no notice is sent by two workers, and none is skipped: a notice whose moment passed
while no worker ran is planned by the next pass and sent late, once, marked late. (A claim is
renewed before each message once half its lease is used, and one SMTP exchange times out
after 30 s, so only a process frozen for minutes — suspended, swapping — can lose a claim
while it still means to send; it then logs ``claim lost`` and the case below applies.)

The one place this cannot be "exactly": the SMTP server accepted a message and the process
died (or lost the database) before it marked the notices sent. Nothing can tell the two
halves of that moment apart afterwards, so certdesk chooses **at-least-once** there: when
the claim runs out (``CLAIM_LEASE``) the notices are claimed again, their interrupted attempt
counted, and sent again. The window is the few milliseconds between the server's "250" and
the commit of the mark. The repeat carries the same ``X-Certdesk-Notice`` headers and, since
the notices taken over are regrouped exactly as their first sender grouped them, the same
``Message-ID`` (derived from the notice ids), so it is recognisable as a duplicate (workers
of one installation share ``CERTDESK_NOTICE_DIGEST``; a ``limit`` that cuts through such a
group changes the grouping, never the once-only record). A renewal reminder that is
silently lost can take an agency's site down; a second copy of the
same message costs a reader a glance. Sending at most once would have meant never retrying
an interrupted send.

**Failures.** A server that cannot be reached, refuses our login or our sender stops the
pass: its notices wait (``pending``) for a retry and never fail for that reason alone. A
temporary refusal of one message (4xx) retries it with exponential backoff
(``CERTDESK_NOTICE_RETRY_SECONDS`` doubled per attempt, at most ``RETRY_CAP``) until
``CERTDESK_NOTICE_MAX_ATTEMPTS`` are used up; a permanent one (5xx, e.g. an unknown mailbox)
fails it at once. Either way a notice failed at the server tells cert services, once,
audited (:mod:`certdesk.services.lifecycle.undeliverable`). Every failure is on the notice
(``status``, ``attempts``, ``last_error``, ``next_attempt_at``) and in ``certdesk notices
list``, ``/api/v1/notices`` and ``/metrics``.
"""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import structlog

from certdesk.core.mail_kinds import SAFETY_KINDS, Mode, digest_moment, kind_of
from certdesk.core.notices import NoticeState, Recipient
from certdesk.notify.rendering import NoticeTemplates
from certdesk.notify.smtp import SmtpTransport, Transport, parse_smtp_url
from certdesk.services.audit import AuditService
from certdesk.services.lifecycle.notice_plan import NoticePlanner, Planned, policy_from
from certdesk.services.lifecycle.notice_sending import (
    CLAIM_LEASE,
    NoticeRunStats,
    RunClock,
    Sender,
)
from certdesk.services.lifecycle.notice_views import NoticeReads
from certdesk.services.lifecycle.undeliverable import Undeliverable
from certdesk.services.lifecycle.webhook_queue import WebhookQueue
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.store import mail_queue as store
from certdesk.store import notice_due
from certdesk.store import notice_roles as roles_store

log = structlog.get_logger("certdesk.notices")

_INSERT_BATCH = 500  # notices inserted (and claimed) per transaction

TransportFactory = Callable[[], Transport | None]


class NoticeService(NoticeReads):
    def __init__(
        self,
        rt: Runtime,
        transport: TransportFactory | None = None,
        audit: AuditService | None = None,
    ) -> None:
        self._rt = rt
        self._transport_factory = transport or self._smtp
        self.policy = policy_from(rt.settings)
        self.planner = NoticePlanner(self.policy, rt.settings)
        self.templates = NoticeTemplates(rt.settings.notice_template_dir)
        self._service = {"name": "Certificate Services", "base_url": rt.settings.base_url}
        audit = audit or AuditService(rt, SecretBox(rt.settings.secrets_dir))
        self.sender = Sender(
            rt, self.policy, self.templates, self._service, Undeliverable(rt, audit)
        )
        self.webhooks = WebhookQueue(rt)
        self._tls: ssl.SSLContext | None = None

    def _smtp(self) -> Transport | None:
        url = self._rt.settings.smtp_url
        if not url:
            return None
        # One TLS context for every pass of this process: building one reads the system's
        # CA bundle, which costs more than a whole pass with little to send.
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return SmtpTransport(parse_smtp_url(url), ssl_context=self._tls)

    # --- the pass --------------------------------------------------------------------------

    def run(self, now: datetime, worker_id: str, *, limit: int | None = None) -> NoticeRunStats:
        """Plan what is due at ``now``, claim it, render and send it; see the module doc.

        Safe to call from several threads and processes at once (PostgreSQL or SQLite).
        ``limit`` bounds the notices claimed by this pass; the rest wait for the next.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if limit is not None and limit < 1:
            raise ValueError("limit must be at least 1")
        stats = NoticeRunStats()
        current = RunClock(now, self._rt.clock)
        transport = self._transport_factory()
        try:
            # id -> the worker whose claim on it ran out (None: a retry or a new notice).
            claimed: dict[int, str | None] = {}
            if transport is not None:
                with self._rt.sessions.begin() as s:
                    claimed = store.claim_due(
                        s, current(), worker_id, current() + CLAIM_LEASE, limit
                    )
            room = None if limit is None else limit - len(claimed)
            with self._rt.reads() as s:
                planned = self.planner.due(s, now, self._rt.sessions.begin)
            for notice_id in self._record(planned, now, worker_id, current, transport, room, stats):
                claimed[notice_id] = None
            if transport is not None and claimed:
                self.sender.deliver(claimed, worker_id, current, transport, stats)
        finally:
            if transport is not None:
                transport.close()
        if stats.sent or stats.failed or stats.retrying:
            log.info("notices pass", worker=worker_id, **stats.as_dict())
        return stats

    def _record(
        self,
        planned: Sequence[Planned],
        now: datetime,
        worker_id: str,
        current: RunClock,
        transport: Transport | None,
        room: int | None,
        stats: NoticeRunStats,
    ) -> list[int]:
        """Step 2: insert the planned notices, claimed; returns the ids this pass must send.

        All recipients of one (subject, reason) go in the same transaction and the same pass:
        once any of them is recorded the planner considers that reason done for the subject,
        so a crash or a ``limit`` between them would leave the others unplanned for good. The
        webhook deliveries of the same moments are queued in that transaction too, so an
        event is never mailed without being queued for the webhooks, nor the other way round.
        Each person's preference applies here: the daily digest defers the notice to the
        next digest moment, "off" records it as skipped (safety notices are never off).
        """
        with self._rt.reads() as s:
            prefs = roles_store.preferences(s) if planned else {}
        batches: list[tuple[list[dict[str, Any]], list[Planned], dict[int, datetime]]] = [
            ([], [], {})
        ]
        # A certificate's next expiry-notice bound is stored by the transaction that records
        # the last of its planned notices (store/notice_due.py), never before.
        unrecorded = Counter(p.subject_id for p in planned if p.next_due is not None)
        taken = 0
        for p in planned:
            # The limit: the rest is planned again by the next pass (one subject's recipients
            # are never split, and a pass always makes progress if it has room at all).
            if room is not None and (room <= 0 or (taken and taken + len(p.recipients) > room)):
                break
            rows = [self._row(p, r, now, transport, prefs) for r in p.recipients]
            taken += len(rows)
            if batches[-1][0] and len(batches[-1][0]) + len(rows) > _INSERT_BATCH:
                batches.append(([], [], {}))
            batches[-1][0].extend(rows)
            batches[-1][1].append(p)
            if p.next_due is not None:
                unrecorded[p.subject_id] -= 1
                if not unrecorded[p.subject_id]:
                    batches[-1][2][p.subject_id] = p.next_due
        mine: list[int] = []
        for batch, moments, bounds in batches:
            if not batch:
                continue
            lease_until = current() + CLAIM_LEASE
            for row in batch:
                if row["status"] == NoticeState.SENDING:
                    row.update(claimed_by=worker_id, claim_expires_at=lease_until)
            with self._rt.sessions.begin() as s:
                keys = store.insert_new(s, batch)
                notice_due.advance(s, bounds)
                stats_hooks = self.webhooks.enqueue(s, moments, now)
            stats.webhooks += stats_hooks
            by_key = {
                (r["subject_type"], r["subject_id"], r["contact_email"], r["reason"]): r
                for r in batch
            }
            for k in keys:
                row = by_key[(k.subject_type, k.subject_id, k.contact_email, k.reason)]
                stats.planned += 1
                if row["status"] == NoticeState.SENDING:
                    mine.append(k.id)
                elif row["status"] == NoticeState.FAILED:
                    stats.failed += 1
                    stats.errors.append(f"notice {k.id} ({k.reason}): {row['last_error']}")
                elif row["status"] == NoticeState.SKIPPED:
                    stats.skipped += 1
                elif row["digest"]:
                    stats.deferred += 1
                else:
                    stats.retrying += 1
        return mine

    def _row(
        self,
        p: Planned,
        r: Recipient,
        now: datetime,
        transport: Transport | None,
        prefs: dict[str, dict[str, str]],
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "subject_type": p.subject_type,
            "subject_id": p.subject_id,
            "contact_email": r.email,
            "reason": p.due.reason,
            "due_at": p.due.due_at,
            "late": p.due.late,
            "attempts": 0,
            "next_attempt_at": None,
            "last_error": "",
            "claimed_by": None,
            "claim_expires_at": None,
            "subject": "",
            "created_at": now,
            "sent_at": None,
            "status": NoticeState.SENDING,
            "role": r.role,
            "digest": False,
        }
        kind = kind_of(p.due.reason)
        mode = prefs.get(r.email.strip().lower(), {}).get(kind, Mode.IMMEDIATE)
        if mode == Mode.OFF and kind in SAFETY_KINDS:
            mode = Mode.DIGEST  # a stored "off" from before the rule cannot silence these
        if r.problem is not None:
            row.update(status=NoticeState.FAILED, last_error=r.problem)
        elif mode == Mode.OFF:
            row.update(
                status=NoticeState.SKIPPED,
                last_error="not sent: turned off in this person's mail preferences",
            )
        elif mode == Mode.DIGEST:
            row.update(
                status=NoticeState.PENDING,
                digest=True,
                next_attempt_at=digest_moment(now, self._rt.settings.digest_hour),
            )
        elif transport is None:
            row.update(
                status=NoticeState.PENDING,
                next_attempt_at=now,
                last_error="waiting: CERTDESK_SMTP_URL is not set",
            )
        return row
