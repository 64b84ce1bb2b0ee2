"""Sending the notices a pass holds (R9): render, group, send, and record each outcome.

:class:`Sender` does steps 3 and 4 of a pass for :class:`certdesk.services.lifecycle.notices.
NoticeService` (whose module text states the guarantee): it renders the notices and groups
them into messages; the sending loop itself, with its claims, backoff and once-only record,
is the mail queue's (:class:`certdesk.services.lifecycle.mail_queue.QueueSender`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from certdesk.core.lifecycle import LifecyclePolicy
from certdesk.core.notices import NoticeState
from certdesk.notify.rendering import NoticeTemplates, RenderedNotice, TemplateFailure
from certdesk.notify.smtp import Transport, server_level
from certdesk.notify.wire import Outgoing
from certdesk.notify.wire import Sender as MailFrom
from certdesk.services.lifecycle.mail_queue import (
    CLAIM_LEASE,
    RETRY_CAP,
    QueueSender,
    RunClock,
    retry_later,
)
from certdesk.services.lifecycle.notice_mail import (
    NoticeItem,
    SubjectGone,
    Subjects,
    build_message,
    context,
)
from certdesk.services.lifecycle.undeliverable import Undeliverable
from certdesk.services.runtime import Runtime
from certdesk.store import mail_queue as store

__all__ = [
    "CLAIM_LEASE",
    "RETRY_CAP",
    "NoticeRunStats",
    "RunClock",
    "Sender",
    "retry_later",
    "server_level",
]

Entry = tuple[NoticeItem, dict[str, Any], RenderedNotice]


@dataclass
class NoticeRunStats:
    """What one pass did (counts of notices unless named otherwise)."""

    planned: int = 0  # notices recorded by this pass
    sent: int = 0  # notices accepted by the SMTP server
    late: int = 0  # of those, sent late
    failed: int = 0  # failed for good (bad address, template error, 5xx, attempts used up)
    retrying: int = 0  # waiting for a retry (SMTP down or 4xx, or no SMTP configured)
    deferred: int = 0  # waiting for the person's daily digest
    skipped: int = 0  # recorded as not sent: turned off in the person's preferences
    webhooks: int = 0  # webhook deliveries queued for the moments recorded
    digests: int = 0  # messages that carried more than one notice
    messages: int = 0  # messages accepted by the SMTP server
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class Sender:
    """Renders and groups the notices one pass holds, then sends them (the queue's loop)."""

    def __init__(
        self,
        rt: Runtime,
        policy: LifecyclePolicy,
        templates: NoticeTemplates,
        service: dict[str, str],
        undeliverable: Undeliverable,
    ) -> None:
        self.rt = self._rt = rt
        self.policy = policy
        self.templates = templates
        self._service = service
        self.undeliverable = undeliverable
        self._from = MailFrom.of(rt.settings.mail_from)

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
        run = _NoticeRun(self, subjects)
        for item in items:
            try:
                kind, ctx = context(
                    subjects, item, at, self.policy, self._service,
                    self._rt.settings.password_max_age_days,
                )  # fmt: skip
                rendered.append((item, ctx, self.templates.render(kind, ctx)))
            except (TemplateFailure, SubjectGone) as exc:
                run.fail(item, worker_id, exc, stats)
        queue = deque(self._group(rendered, claimed))
        run.send_all(queue, worker_id, current, transport, stats)

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
        groups: dict[tuple[str | None, ...], list[Entry]]
        groups = {}
        for entry in sorted(rendered, key=lambda e: (e[0].due_at, e[0].id)):
            item = entry[0]
            # The person's daily digest gathers that day's deferred notices in one message.
            daily = item.digest
            who = item.contact_email.lower() if digest or daily else str(item.id)
            holder = claimed.get(item.id)
            kind = "daily" if daily else "new"
            key = ("again", holder, kind, who) if holder is not None else (kind, who)
            groups.setdefault(key, []).append(entry)
        return list(groups.values())

    def message(
        self,
        group: list[Entry],
        subjects: Subjects,
        at: datetime,
    ) -> Outgoing:
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
        return build_message(self._from, to, mail, labels, at)


class _NoticeRun(QueueSender[Entry, NoticeRunStats]):
    """One pass's notices through the queue's loop: how a group becomes a message."""

    def __init__(self, sender: Sender, subjects: Subjects) -> None:
        super().__init__(sender.rt)
        self._sender = sender
        self._subjects = subjects

    def fail(self, item: NoticeItem, worker_id: str, exc: Exception, stats: NoticeRunStats) -> None:
        """A notice that cannot be rendered fails alone, for good."""
        self._settle([item.id], worker_id, {"status": NoticeState.FAILED, "last_error": str(exc)})
        stats.failed += 1
        stats.errors.append(f"notice {item.id} ({item.reason}): {exc}")

    def _id(self, entry: Entry) -> int:
        return entry[0].id

    def _undeliverable(
        self, s: Session, group: list[Entry], failed: list[int], at: datetime, why: str
    ) -> None:
        refused = [item for item, _, _ in group if item.id in set(failed)]
        self._sender.undeliverable.record(s, refused, at, why)

    def _to(self, group: list[Entry]) -> str:
        return group[0][0].contact_email

    def _compose(
        self,
        group: list[Entry],
        at: datetime,
        queue: deque[list[Entry]],
        worker_id: str,
        tally: NoticeRunStats,
    ) -> Outgoing | None:
        try:
            return self._sender.message(group, self._subjects, at)
        except TemplateFailure as exc:
            if len(group) > 1:  # the digest cannot be rendered: send them one by one
                tally.errors.append(f"digest for {group[0][0].contact_email}: {exc}")
                queue.extendleft([g] for g in reversed(group))
            else:
                self.fail(group[0][0], worker_id, exc, tally)
            return None

    def _outcome(self, group: list[Entry]) -> dict[int, tuple[str, bool]]:
        # ``late`` is what the message told its reader (decided when it was rendered).
        return {
            item.id: (rendered.subject, bool(ctx["notice"]["late"]))
            for item, ctx, rendered in group
        }

    def _accepted(self, group: list[Entry], done: list[int], tally: NoticeRunStats) -> None:
        late = {item.id for item, ctx, _ in group if ctx["notice"]["late"]}
        tally.late += sum(1 for i in done if i in late)
        tally.messages += 1
        tally.digests += len(group) > 1
