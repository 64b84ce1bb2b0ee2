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
while no worker ran is planned by the next pass and sent late, once, marked late.

The one place this cannot be "exactly": the SMTP server accepted a message and the process
died (or lost the database) before it marked the notices sent. Nothing can tell the two
halves of that moment apart afterwards, so certdesk chooses **at-least-once** there: when
the claim runs out (``CLAIM_LEASE``) the notices are claimed again, their interrupted attempt
counted, and sent again. The window is the few milliseconds between the server's "250" and
the commit of the mark; the repeat carries the same ``Message-ID`` (derived from the notice
ids) and the same ``X-Certdesk-Notice`` headers, so it is recognisable as a duplicate. A
renewal reminder that is silently lost can take an agency's site down; a second copy of the
same message costs a reader a glance. Sending at most once would have meant never retrying
an interrupted send.

**Failures.** A server that cannot be reached, refuses our login or our sender stops the
pass: its notices wait (``pending``) for a retry and never fail for that reason alone. A
temporary refusal of one message (4xx) retries it with exponential backoff
(``CERTDESK_NOTICE_RETRY_SECONDS`` doubled per attempt, at most ``RETRY_CAP``) until
``CERTDESK_NOTICE_MAX_ATTEMPTS``; a permanent one (5xx, e.g. an unknown mailbox) fails it at
once. Every failure is on the notice (``status``, ``attempts``, ``last_error``,
``next_attempt_at``) and in ``certdesk notices list``, ``/api/v1/notices`` and ``/metrics``.
"""

from __future__ import annotations

import re
import smtplib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from certdesk.clock import Clock
from certdesk.core.access import Action, Actor, authorize
from certdesk.core.lifecycle import REASON_EXPIRED, expiry_notice_at, expiry_reason
from certdesk.core.notices import is_late, retry_delay
from certdesk.errors import InvalidInput, NotFound
from certdesk.notify.rendering import NoticeTemplates, RenderedNotice, TemplateFailure
from certdesk.notify.smtp import SmtpTransport, Transport, is_permanent, parse_smtp_url
from certdesk.services.casefile import load_case
from certdesk.services.inventory import parse_serial
from certdesk.services.notice_mail import (
    NoticeItem,
    SubjectGone,
    Subjects,
    build_message,
    context,
)
from certdesk.services.notice_plan import NoticePlanner, Planned, policy_from
from certdesk.services.runtime import Runtime
from certdesk.store import certificates as cert_store
from certdesk.store import notices as store
from certdesk.store.models import Notice
from certdesk.store.notices import CERTIFICATE, FAILED, PENDING, SENDING, SENT

log = structlog.get_logger("certdesk.notices")

# How long a claim protects a notice that is being sent. It is renewed while a long pass is
# still sending, so it only runs out when its worker died or stalled for this long.
CLAIM_LEASE = timedelta(minutes=10)
RETRY_CAP = timedelta(hours=12)
_INSERT_BATCH = 500  # notices inserted (and claimed) per transaction
_STATUSES = ("pending", "retrying", "sending", "sent", "failed")
_REASON = re.compile(r"^(expiry\.[1-9][0-9]{0,3}|expired)$")
MAX_PAGE = 500

TransportFactory = Callable[[], Transport | None]


@dataclass
class NoticeRunStats:
    """What one pass did (counts of notices unless named otherwise)."""

    planned: int = 0  # notices recorded by this pass
    sent: int = 0  # notices accepted by the SMTP server
    late: int = 0  # of those, sent late
    failed: int = 0  # failed for good (bad address, template error, 5xx, attempts used up)
    retrying: int = 0  # waiting for a retry (SMTP down or 4xx, or no SMTP configured)
    digests: int = 0  # messages that carried more than one notice
    messages: int = 0  # messages accepted by the SMTP server
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class NoticeView:
    id: int
    subject_type: str
    subject: str  # the certificate's serial or the case's number
    reason: str
    contact_email: str
    status: str  # pending | retrying | sending | sent | failed
    late: bool
    attempts: int
    due_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str
    mail_subject: str
    created_at: datetime

    def as_dict(self) -> dict[str, object]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat().replace("+00:00", "Z") if d else None

        out: dict[str, object] = dict(self.__dict__)
        for k in ("due_at", "next_attempt_at", "sent_at", "created_at"):
            out[k] = iso(out[k])  # type: ignore[arg-type]
        return out


@dataclass(frozen=True)
class NoticePage:
    items: list[NoticeView]
    next_cursor: str | None


@dataclass(frozen=True)
class PreviewMail:
    to: str
    reason: str
    late: bool
    subject: str
    text: str
    html: str
    problem: str | None  # why this recipient would get nothing (the notice would fail)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class _RunClock:
    """``now`` moved on by the time the pass has taken (real time, or a test's clock)."""

    def __init__(self, now: datetime, clock: Clock) -> None:
        self._now = now
        self._clock = clock
        self._start = clock()

    def __call__(self) -> datetime:
        return self._now + max(self._clock() - self._start, timedelta(0))


def _server_level(exc: BaseException) -> bool:
    """The server (or our access to it), not this message, is the problem: retry later.

    Not reachable, dropped the connection, refused our login or our sender address: every
    message would fail the same way, so the pass stops and nothing is failed for it.
    """
    if isinstance(
        exc,
        smtplib.SMTPServerDisconnected
        | smtplib.SMTPConnectError
        | smtplib.SMTPHeloError
        | smtplib.SMTPAuthenticationError
        | smtplib.SMTPSenderRefused
        | smtplib.SMTPNotSupportedError,
    ):
        return True
    # smtplib's exceptions are OSErrors too; the other SMTP replies concern this message.
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


class NoticeService:
    def __init__(self, rt: Runtime, transport: TransportFactory | None = None) -> None:
        self._rt = rt
        self._transport_factory = transport or self._smtp
        self.policy = policy_from(rt.settings)
        self.planner = NoticePlanner(self.policy)
        self.templates = NoticeTemplates(rt.settings.notice_template_dir)
        self._service = {"name": "Certificate Services", "base_url": rt.settings.base_url}

    def _smtp(self) -> Transport | None:
        url = self._rt.settings.smtp_url
        return SmtpTransport(parse_smtp_url(url)) if url else None

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
        current = _RunClock(now, self._rt.clock)
        transport = self._transport_factory()
        try:
            claimed: list[int] = []
            if transport is not None:
                with self._rt.sessions.begin() as s:
                    claimed = store.claim_due(
                        s, current(), worker_id, current() + CLAIM_LEASE, limit
                    )
            room = None if limit is None else limit - len(claimed)
            with self._rt.reads() as s:
                planned = self.planner.due(s, now)
            claimed += self._record(planned, now, worker_id, current, transport, room, stats)
            if transport is not None and claimed:
                self._deliver(claimed, worker_id, current, transport, stats)
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
        current: _RunClock,
        transport: Transport | None,
        room: int | None,
        stats: NoticeRunStats,
    ) -> list[int]:
        """Step 2: insert the planned notices, claimed; returns the ids this pass must send."""
        rows: list[dict[str, Any]] = []
        for p in planned:
            for r in p.recipients:
                if room is not None and len(rows) >= room:
                    break
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
                    "status": SENDING,
                }
                if r.problem is not None:
                    row.update(status=FAILED, last_error=r.problem)
                elif transport is None:
                    row.update(
                        status=PENDING,
                        next_attempt_at=now,
                        last_error="waiting: CERTDESK_SMTP_URL is not set",
                    )
                rows.append(row)
        mine: list[int] = []
        for i in range(0, len(rows), _INSERT_BATCH):
            chunk = rows[i : i + _INSERT_BATCH]
            lease_until = current() + CLAIM_LEASE
            for row in chunk:
                if row["status"] == SENDING:
                    row.update(claimed_by=worker_id, claim_expires_at=lease_until)
            with self._rt.sessions.begin() as s:
                keys = store.insert_new(s, chunk)
            status_of = {
                (r["subject_type"], r["subject_id"], r["contact_email"], r["reason"]): r
                for r in chunk
            }
            for k in keys:
                row = status_of[(k.subject_type, k.subject_id, k.contact_email, k.reason)]
                stats.planned += 1
                if row["status"] == SENDING:
                    mine.append(k.id)
                elif row["status"] == FAILED:
                    stats.failed += 1
                    stats.errors.append(f"notice {k.id} ({k.reason}): {row['last_error']}")
                else:
                    stats.retrying += 1
        return mine

    def _deliver(
        self,
        ids: Sequence[int],
        worker_id: str,
        current: _RunClock,
        transport: Transport,
        stats: NoticeRunStats,
    ) -> None:
        """Steps 3 and 4 for the notices ``ids`` this worker holds."""
        at = current()
        with self._rt.reads() as s:
            items = [NoticeItem.of(row) for row in store.by_ids(s, ids)]
            subjects = Subjects.load(s, items)
        rendered: list[tuple[NoticeItem, dict[str, Any], RenderedNotice]] = []
        for item in items:
            try:
                kind, ctx = context(subjects, item, at, self.policy, self._service)
                rendered.append((item, ctx, self.templates.render(kind, ctx)))
            except (TemplateFailure, SubjectGone) as exc:
                self._settle([item.id], worker_id, {"status": FAILED, "last_error": str(exc)})
                stats.failed += 1
                stats.errors.append(f"notice {item.id} ({item.reason}): {exc}")
        queue = deque(self._group(rendered))
        held_until = at + CLAIM_LEASE
        while queue:
            group = queue.popleft()
            ids_ = [item.id for item, _, _ in group]
            if current() + CLAIM_LEASE / 2 > held_until:
                held_until = self._renew(queue, group, worker_id, current)
            message = self._message(group, subjects, current(), stats)
            if message is None:  # the digest template failed: send them one by one
                queue.extendleft(reversed([[g] for g in group]))
                continue
            try:
                transport.send(message)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:1000]
                if _server_level(exc):
                    self._retry(ids_, worker_id, current(), error, attempted=True)
                    rest = [item.id for g in queue for item, _, _ in g]
                    self._retry(
                        rest, worker_id, current(), f"not attempted: {error}", attempted=False
                    )
                    stats.retrying += len(ids_) + len(rest)
                    stats.errors.append(f"SMTP server unavailable: {error}")
                    return
                self._message_failed(group, worker_id, current(), exc, error, stats)
                continue
            self._sent(group, worker_id, current(), stats)

    def _group(
        self, rendered: list[tuple[NoticeItem, dict[str, Any], RenderedNotice]]
    ) -> list[list[tuple[NoticeItem, dict[str, Any], RenderedNotice]]]:
        """One group per contact (digests), or per notice; oldest moment first."""
        groups: dict[str, list[tuple[NoticeItem, dict[str, Any], RenderedNotice]]] = {}
        for entry in sorted(rendered, key=lambda e: (e[0].due_at, e[0].id)):
            key = (
                entry[0].contact_email.lower()
                if self._rt.settings.notice_digest
                else str(entry[0].id)
            )
            groups.setdefault(key, []).append(entry)
        return list(groups.values())

    def _message(
        self,
        group: list[tuple[NoticeItem, dict[str, Any], RenderedNotice]],
        subjects: Subjects,
        at: datetime,
        stats: NoticeRunStats,
    ) -> Any:
        to = group[0][0].contact_email
        labels = [
            (item, subjects.label(item), bool(ctx["notice"]["late"])) for item, ctx, _ in group
        ]
        if len(group) == 1:
            mail = group[0][2].mail
        else:
            first_ctx = group[0][1]
            try:
                mail = self.templates.digest(
                    [(ctx, r) for _, ctx, r in group],
                    {
                        "service": self._service,
                        "contact": first_ctx["contact"],
                        "now": at,
                        "late": any(late for _, _, late in labels),
                    },
                )
            except TemplateFailure as exc:
                stats.errors.append(f"digest for {to}: {exc}; sending its notices one by one")
                return None
        return build_message(self._rt.settings.mail_from, to, mail, labels, at)

    # --- outcomes: each written only where this worker still holds the claim ----------------

    def _settle(self, ids: Sequence[int], worker_id: str, values: dict[str, Any]) -> list[int]:
        with self._rt.sessions.begin() as s:
            return store.settle(s, ids, worker_id, values)

    def _renew(
        self, queue: deque[Any], group: list[Any], worker_id: str, current: _RunClock
    ) -> datetime:
        until = current() + CLAIM_LEASE
        wanted = [item.id for g in [group, *queue] for item, _, _ in g]
        with self._rt.sessions.begin() as s:
            held = store.renew(s, wanted, worker_id, until)
        lost = set(wanted) - held
        if lost:
            # Another worker took over claims that ran out (this pass stalled): it sends them.
            log.warning("notice claims lost", worker=worker_id, notices=sorted(lost))
            for g in [group, *queue]:
                g[:] = [e for e in g if e[0].id in held]
            while queue and not queue[0]:
                queue.popleft()
        return until

    def _sent(
        self,
        group: list[tuple[NoticeItem, dict[str, Any], RenderedNotice]],
        worker_id: str,
        at: datetime,
        stats: NoticeRunStats,
    ) -> None:
        with self._rt.sessions.begin() as s:
            for item, ctx, rendered in group:
                late = bool(ctx["notice"]["late"]) or is_late(item.due_at, at, self.policy)
                done = store.settle(
                    s,
                    [item.id],
                    worker_id,
                    {
                        "status": SENT,
                        "sent_at": at,
                        "attempts": Notice.attempts + 1,
                        "late": late,
                        "subject": rendered.mail.subject,
                        "last_error": "",
                        "next_attempt_at": None,
                    },
                )
                if not done:
                    # The claim ran out while the message was on its way: another worker may
                    # send it again (the at-least-once window, see the module doc).
                    log.warning("notice sent after its claim ran out", notice=item.id)
                    stats.errors.append(f"notice {item.id}: claim lost while sending")
                    continue
                stats.sent += 1
                stats.late += late
        stats.messages += 1
        stats.digests += len(group) > 1

    def _retry(
        self, ids: Sequence[int], worker_id: str, at: datetime, error: str, *, attempted: bool
    ) -> None:
        if not ids:
            return
        base = timedelta(seconds=self._rt.settings.notice_retry_seconds)
        with self._rt.sessions.begin() as s:
            rows = {n.id: n.attempts for n in store.by_ids(s, ids)}
            for notice_id, attempts in rows.items():
                made = attempts + 1 if attempted else attempts
                delay = retry_delay(made, base, RETRY_CAP) if attempted else base
                store.settle(
                    s,
                    [notice_id],
                    worker_id,
                    {
                        "status": PENDING,
                        "attempts": made,
                        "next_attempt_at": at + delay,
                        "last_error": error,
                    },
                )

    def _message_failed(
        self,
        group: list[tuple[NoticeItem, dict[str, Any], RenderedNotice]],
        worker_id: str,
        at: datetime,
        exc: Exception,
        error: str,
        stats: NoticeRunStats,
    ) -> None:
        """This message was refused (or broke); its notices fail or wait for a retry."""
        ids = [item.id for item, _, _ in group]
        with self._rt.reads() as s:
            attempts = max(n.attempts for n in store.by_ids(s, ids)) + 1
        if is_permanent(exc) or attempts >= self._rt.settings.notice_max_attempts:
            why = "refused" if is_permanent(exc) else f"gave up after {attempts} attempts"
            self._settle(
                ids,
                worker_id,
                {
                    "status": FAILED,
                    "attempts": Notice.attempts + 1,
                    "last_error": f"{why}: {error}",
                },
            )
            stats.failed += len(ids)
        else:
            self._retry(ids, worker_id, at, error, attempted=True)
            stats.retrying += len(ids)
        stats.errors.append(f"{group[0][0].contact_email}: {error}")

    # --- visibility ------------------------------------------------------------------------

    def search(
        self,
        actor: Actor,
        *,
        cert: str | None = None,
        case: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> NoticePage:
        """Notices visible to ``actor`` (operators and auditors: all; others: their
        organization's), newest first."""
        if status is not None and status not in _STATUSES:
            raise InvalidInput(
                "notice.status", f"unknown status {status!r}; use one of " + ", ".join(_STATUSES)
            )
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("page.limit", f"limit must be between 1 and {MAX_PAGE}")
        before = None
        if cursor:
            if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 18:
                raise InvalidInput("page.cursor", "invalid page cursor")
            before = int(cursor)
        authorize(actor, Action.CERT_READ, actor.org_id)
        with self._rt.reads() as s:
            cert_id = case_id = None
            if cert is not None:
                row = cert_store.by_serial(s, parse_serial(cert))
                if row is None or row.status in ("signing", "void"):
                    raise NotFound("cert.unknown", f"no certificate with serial {cert}")
                authorize(actor, Action.CERT_READ, row.org_id, hide=True)
                cert_id = row.id
            if case is not None:
                case_id = load_case(s, actor, case, Action.CASE_READ).id
            rows = store.search(
                s,
                store.NoticeQuery(
                    org_id=None if actor.is_global else actor.org_id,
                    cert_id=cert_id,
                    case_id=case_id,
                    status=status,
                    before_id=before,
                    limit=limit,
                ),
            )
            labels = store.subject_labels(s, rows)
        items = [
            NoticeView(
                id=n.id,
                subject_type=n.subject_type,
                subject=labels.get((n.subject_type, n.subject_id), str(n.subject_id)),
                reason=n.reason,
                contact_email=n.contact_email,
                status="retrying" if n.status == PENDING and n.last_error else n.status,
                late=n.late,
                attempts=n.attempts,
                due_at=n.due_at,
                next_attempt_at=n.next_attempt_at,
                sent_at=n.sent_at,
                last_error=n.last_error,
                mail_subject=n.subject,
                created_at=n.created_at,
            )
            for n in rows
        ]
        return NoticePage(items, str(rows[-1].id) if len(rows) == limit else None)

    def preview(self, actor: Actor, serial: str, reason: str | None = None) -> list[PreviewMail]:
        """What each contact of certificate ``serial`` would get for ``reason`` (default: the
        next expiry notice), rendered as it would be sent at its moment. Sends nothing."""
        now = self._rt.clock()
        if reason is not None and not _REASON.match(reason.strip()):
            raise InvalidInput(
                "notice.reason",
                f"unknown reason {reason!r}; use expiry.N (e.g. expiry.30) or expired",
            )
        with self._rt.reads() as s:
            row = cert_store.by_serial(s, parse_serial(serial))
            if row is None or row.status in ("signing", "void"):
                raise NotFound("cert.unknown", f"no certificate with serial {serial}")
            authorize(actor, Action.CERT_READ, row.org_id, hide=True)
            wanted = reason.strip() if reason else self._next_reason(row.not_after, now)
            due_at = (
                row.not_after
                if wanted == REASON_EXPIRED
                else expiry_notice_at(row.not_after, int(wanted.partition(".")[2]))
            )
            recipients = self.planner.certificate_recipients(s, {row.id: row.org_id})[row.id]
            at = max(now, due_at + timedelta(seconds=1) if wanted == REASON_EXPIRED else due_at)
            items = [
                NoticeItem(0, CERTIFICATE, row.id, r.email, wanted, due_at, False)
                for r in recipients
            ]
            subjects = Subjects.load(s, items)
        out: list[PreviewMail] = []
        for r, item in zip(recipients, items, strict=True):
            kind, ctx = context(subjects, item, at, self.policy, self._service)
            try:
                mail = self.templates.render(kind, ctx).mail
            except TemplateFailure as exc:
                raise InvalidInput("notice.template", str(exc)) from None
            late = bool(ctx["notice"]["late"])
            out.append(
                PreviewMail(r.email, wanted, late, mail.subject, mail.text, mail.html, r.problem)
            )
        return out

    def _next_reason(self, not_after: datetime, now: datetime) -> str:
        if now > not_after:
            return REASON_EXPIRED
        upcoming = [
            d for d in sorted(self.policy.notice_days) if expiry_notice_at(not_after, d) >= now
        ]
        # The largest threshold still ahead is the next one to go out.
        return (
            expiry_reason(upcoming[-1]) if upcoming else expiry_reason(min(self.policy.notice_days))
        )

    def status_counts(self) -> dict[str, int]:
        """Notices by status (``retrying`` split from ``pending``) and ``sent_late``; for
        /metrics and /readyz."""
        with self._rt.reads() as s:
            return store.status_counts(s)


class NoticeCollector(Collector):
    """``certdesk_notices{status=…}`` and ``certdesk_notices_sent_late`` for /metrics.

    Read from the shared database at scrape time (like the inventory counts), so every
    server process reports what every worker did.
    """

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterable[GaugeMetricFamily]:
        counts = self._counts()
        by_status = GaugeMetricFamily(
            "certdesk_notices",
            "Notices by status (R9); retrying: waiting for a retry after a failure.",
            labels=["status"],
        )
        for status in _STATUSES:
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status
        late = GaugeMetricFamily("certdesk_notices_sent_late", "Notices sent late (R9).")
        late.add_metric([], counts.get("sent_late", 0))
        yield late


def watch_notices(registry: CollectorRegistry, service: NoticeService) -> None:
    """Export the notice counts on ``registry`` (once; a second call changes nothing)."""
    try:
        registry.register(NoticeCollector(service.status_counts))
    except ValueError:
        pass  # already registered on this registry: prometheus refuses duplicate names
