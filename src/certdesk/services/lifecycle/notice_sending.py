"""Sending the notices a pass holds (R9): render, group, send, and record each outcome.

:class:`Sender` does steps 3 and 4 of a pass for :class:`certdesk.services.lifecycle.notices.
NoticeService` (whose module text states the guarantee). Every outcome is written only where
this worker still holds the claim, in a transaction of its own right after the SMTP server
answered, so that the window in which an accepted message is not yet recorded stays short.
"""

from __future__ import annotations

import smtplib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import structlog

from certdesk.clock import Clock
from certdesk.core.lifecycle import LifecyclePolicy
from certdesk.core.notices import NoticeState, retry_delay
from certdesk.notify.rendering import NoticeTemplates, RenderedNotice, TemplateFailure
from certdesk.notify.smtp import Transport, is_permanent
from certdesk.services.lifecycle.notice_mail import (
    NoticeItem,
    SubjectGone,
    Subjects,
    build_message,
    context,
)
from certdesk.services.runtime import Runtime
from certdesk.store import notices as store
from certdesk.store.models import Notice

log = structlog.get_logger("certdesk.notices")

# How long a claim protects a notice that is being sent. It is renewed while a long pass is
# still sending, so it only runs out when its worker died or stalled for this long.
CLAIM_LEASE = timedelta(minutes=10)
RETRY_CAP = timedelta(hours=12)

Entry = tuple[NoticeItem, dict[str, Any], RenderedNotice]


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


class RunClock:
    """``now`` moved on by the time the pass has taken (real time, or a test's clock)."""

    def __init__(self, now: datetime, clock: Clock) -> None:
        self.start = now
        self._clock = clock
        self._started = clock()

    def __call__(self) -> datetime:
        return self.start + max(self._clock() - self._started, timedelta(0))


def server_level(exc: BaseException) -> bool:
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


def retry_later(
    rt: Runtime, ids: Sequence[int], worker_id: str, at: datetime, error: str, *, attempted: bool
) -> None:
    """Put this worker's claimed messages ``ids`` back in the queue, to be tried again after
    the backoff (``attempted``: this attempt failed and counts) or at the next pass."""
    if not ids:
        return
    base = timedelta(seconds=rt.settings.notice_retry_seconds)
    with rt.sessions.begin() as s:
        rows = {n.id: n.attempts for n in store.by_ids(s, ids)}
        for notice_id, attempts in rows.items():
            made = attempts + 1 if attempted else attempts
            delay = retry_delay(made, base, RETRY_CAP) if attempted else base
            store.settle(
                s,
                [notice_id],
                worker_id,
                {
                    "status": NoticeState.PENDING,
                    "attempts": made,
                    "next_attempt_at": at + delay,
                    "last_error": error,
                },
            )


class Sender:
    """Renders, groups and sends the notices one pass holds, and records what happened."""

    def __init__(
        self,
        rt: Runtime,
        policy: LifecyclePolicy,
        templates: NoticeTemplates,
        service: dict[str, str],
    ) -> None:
        self._rt = rt
        self.policy = policy
        self.templates = templates
        self._service = service

    def deliver(
        self,
        claimed: dict[int, str | None],
        worker_id: str,
        current: RunClock,
        transport: Transport,
        stats: NoticeRunStats,
    ) -> None:
        """Steps 3 and 4 for the notices this worker holds (id -> interrupted claimant)."""
        at = current()
        with self._rt.reads() as s:
            items = [NoticeItem.of(row) for row in store.by_ids(s, list(claimed))]
            subjects = Subjects.load(s, items)
        rendered: list[Entry] = []
        for item in items:
            try:
                kind, ctx = context(subjects, item, at, self.policy, self._service)
                rendered.append((item, ctx, self.templates.render(kind, ctx)))
            except (TemplateFailure, SubjectGone) as exc:
                self._settle(
                    [item.id], worker_id, {"status": NoticeState.FAILED, "last_error": str(exc)}
                )
                stats.failed += 1
                stats.errors.append(f"notice {item.id} ({item.reason}): {exc}")
        queue = deque(self._group(rendered, claimed))
        # Every claim of this pass was taken after it started: none runs out before this.
        held_until = current.start + CLAIM_LEASE
        while queue:
            group = queue.popleft()
            if current() + CLAIM_LEASE / 2 > held_until:
                held_until = self._renew(queue, group, worker_id, current)
            if not group:
                continue  # every claim in it was lost to another worker, which sends them
            ids_ = [item.id for item, _, _ in group]
            try:
                message = self._message(group, subjects, current())
            except TemplateFailure as exc:
                if len(group) > 1:  # the digest cannot be rendered: send them one by one
                    stats.errors.append(f"digest for {group[0][0].contact_email}: {exc}")
                    queue.extendleft([g] for g in reversed(group))
                else:
                    self._settle(
                        ids_, worker_id, {"status": NoticeState.FAILED, "last_error": str(exc)}
                    )
                    stats.failed += 1
                    stats.errors.append(f"notice {ids_[0]} ({group[0][0].reason}): {exc}")
                continue
            try:
                transport.send(message)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:1000]
                if server_level(exc):
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
        self,
        rendered: list[Entry],
        claimed: dict[int, str | None],
    ) -> list[list[Entry]]:
        """One group per contact (digests), or per notice; oldest moment first.

        Notices taken over from a worker whose claim ran out keep the grouping that worker
        used (its own pass grouped all of a contact's notices the same way), so that a
        message it may have handed over before it died is repeated with the same notices
        and therefore the same Message-ID, and is never merged with new ones.
        """
        digest = self._rt.settings.notice_digest
        groups: dict[tuple[str, ...], list[Entry]]
        groups = {}
        for entry in sorted(rendered, key=lambda e: (e[0].due_at, e[0].id)):
            item = entry[0]
            who = item.contact_email.lower() if digest else str(item.id)
            holder = claimed.get(item.id)
            key = ("again", holder, who) if holder is not None else ("new", who)
            groups.setdefault(key, []).append(entry)
        return list(groups.values())

    def _message(
        self,
        group: list[Entry],
        subjects: Subjects,
        at: datetime,
    ) -> EmailMessage:
        """The message carrying ``group`` (one notice, or a digest); raises
        :class:`TemplateFailure` when the layout or the digest cannot be rendered."""
        to = group[0][0].contact_email
        labels = [
            (item, subjects.label(item), bool(ctx["notice"]["late"])) for item, ctx, _ in group
        ]
        if len(group) == 1:
            _, ctx, rendered = group[0]
            mail = self.templates.mail(rendered, ctx)
        else:
            mail = self.templates.digest(
                [(ctx, r) for _, ctx, r in group],
                {
                    "service": self._service,
                    "contact": group[0][1]["contact"],
                    "now": at,
                    "late": any(late for _, _, late in labels),
                },
            )
        return build_message(self._rt.settings.mail_from, to, mail, labels, at)

    # --- outcomes: each written only where this worker still holds the claim ----------------

    def _settle(self, ids: Sequence[int], worker_id: str, values: dict[str, Any]) -> list[int]:
        with self._rt.sessions.begin() as s:
            return store.settle(s, ids, worker_id, values)

    def _renew(
        self, queue: deque[Any], group: list[Any], worker_id: str, current: RunClock
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
        return until

    def _sent(
        self,
        group: list[Entry],
        worker_id: str,
        at: datetime,
        stats: NoticeRunStats,
    ) -> None:
        # ``late`` is what the message told its reader (decided when it was rendered).
        outcome = {
            item.id: (rendered.subject, bool(ctx["notice"]["late"]))
            for item, ctx, rendered in group
        }
        with self._rt.transaction() as conn:  # Core: this runs once per message
            done = store.mark_sent(conn, worker_id, at, outcome)
        for lost in sorted(set(outcome) - set(done)):
            # The claim ran out while the message was on its way: another worker may send it
            # again (the at-least-once window, see the module doc).
            log.warning("notice sent after its claim ran out", notice=lost)
            stats.errors.append(f"notice {lost}: claim lost while sending")
        stats.sent += len(done)
        stats.late += sum(outcome[i][1] for i in done)
        stats.messages += 1
        stats.digests += len(group) > 1

    def _retry(
        self, ids: Sequence[int], worker_id: str, at: datetime, error: str, *, attempted: bool
    ) -> None:
        retry_later(self._rt, ids, worker_id, at, error, attempted=attempted)

    def _message_failed(
        self,
        group: list[Entry],
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
                    "status": NoticeState.FAILED,
                    "attempts": Notice.attempts + 1,
                    "last_error": f"{why}: {error}",
                },
            )
            stats.failed += len(ids)
        else:
            self._retry(ids, worker_id, at, error, attempted=True)
            stats.retrying += len(ids)
        stats.errors.append(f"{group[0][0].contact_email}: {error}")
