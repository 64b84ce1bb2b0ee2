"""Mail: written to the outbox in the transaction that decides to send it, sent from there.

A service calls :func:`enqueue` inside its own write transaction, so a mail exists exactly
when the change that caused it was committed (an account that was rolled back sends no
enrollment mail). :func:`send_pending` delivers what is waiting over SMTP; ``certdesk mail
send`` runs it, and the lifecycle worker calls the same function.

Delivery is at least once. Each attempt is claimed before it is made (the row's attempt count
moves from n to n+1 only if it still is n), so two senders running at once never send the
same attempt twice; a crash between the SMTP server's acceptance and the "sent" mark is the
one case in which a message can go out twice. Temporary failures (4xx, connection errors)
stay pending and are retried by the next run, up to ``MAX_ATTEMPTS``; a permanent refusal
(5xx) fails the row at once. ``attempts``, ``last_error`` and ``status`` record all of it.
"""

from __future__ import annotations

import re
import smtplib
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from certdesk.errors import Unavailable
from certdesk.links import ENROLL_PATH
from certdesk.notify.messages import Mail
from certdesk.notify.smtp import SmtpTransport, Transport, is_permanent, parse_smtp_url
from certdesk.services.secretbox import SecretBox
from certdesk.store.models import Outbox

if TYPE_CHECKING:
    from certdesk.services.runtime import Runtime

__all__ = [
    "MAX_ATTEMPTS",
    "Mail",
    "SendReport",
    "enqueue",
    "open_links",
    "pending_count",
    "send_pending",
]

MAX_ATTEMPTS = 5
PENDING, SENT, FAILED = "pending", "sent", "failed"

# R10: a single-use link is a credential until it is used. While its mail waits, the outbox
# holds the link's token sealed with the secret box (a reader of the database file cannot use
# it); it is opened only to build the message for the SMTP server. Once the mail has gone out
# (or can never go out), the link is removed from the stored copy altogether.
_LINK = re.compile(re.escape(ENROLL_PATH) + r"[A-Za-z0-9_.=-]+")
_TOKEN = re.compile(re.escape(ENROLL_PATH) + r"([A-Za-z0-9_-]+)")
_SEALED = re.compile(re.escape(ENROLL_PATH) + r"sealed\.([A-Za-z0-9_=-]+)")
_REDACTED = ENROLL_PATH + "[link removed after sending]"


def enqueue(s: Session, to_addr: str, mail: Mail, now: datetime, *, box: SecretBox) -> None:
    """Queue ``mail`` for ``to_addr`` inside the caller's transaction ``s``."""

    def seal(m: re.Match[str]) -> str:
        return f"{ENROLL_PATH}sealed.{box.seal(m.group(1).encode()).decode()}"

    s.add(
        Outbox(
            to_addr=to_addr,
            subject=mail.subject,
            body_text=_TOKEN.sub(seal, mail.text),
            body_html=_TOKEN.sub(seal, mail.html),
            status=PENDING,
            attempts=0,
            last_error="",
            created_at=now,
        )
    )


@dataclass
class SendReport:
    sent: int = 0
    retrying: int = 0  # failed this time, pending for the next run
    failed: int = 0  # failed for good this time
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def pending_count(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(Outbox).where(Outbox.status == PENDING)) or 0


def open_links(body: str, box: SecretBox) -> str:
    """``body`` as it is mailed: sealed link tokens opened (for the SMTP message only)."""
    return _SEALED.sub(lambda m: ENROLL_PATH + box.open(m.group(1).encode()).decode(), body)


def send_pending(
    rt: Runtime,
    box: SecretBox,
    transport: Transport | None = None,
    *,
    limit: int = 500,
    max_attempts: int = MAX_ATTEMPTS,
) -> SendReport:
    """Send up to ``limit`` pending messages, oldest first, over ``transport`` or SMTP;
    ``box`` opens the sealed links (the process's checked secret box)."""
    if transport is None:
        if not rt.settings.smtp_url:
            with rt.reads() as s:
                waiting = pending_count(s)
            raise Unavailable(
                "mail.not_configured",
                f"CERTDESK_SMTP_URL is not set; {waiting} message(s) wait in the outbox",
            )
        transport = SmtpTransport(parse_smtp_url(rt.settings.smtp_url))
    with rt.reads() as s:
        batch = s.execute(
            select(Outbox.id, Outbox.attempts)
            .where(Outbox.status == PENDING)
            .order_by(Outbox.id)
            .limit(limit)
        ).all()
    report = SendReport()
    try:
        for row_id, seen in batch:
            message = _claim(rt, box, row_id, seen)
            if message is None:
                continue  # another sender took this attempt
            try:
                transport.send(message)
            except (OSError, smtplib.SMTPException) as exc:
                error = f"{type(exc).__name__}: {exc}"[:1000]
                final = is_permanent(exc) or seen + 1 >= max_attempts
                _finish(rt, row_id, FAILED if final else PENDING, error)
                report.errors.append(f"{message['To']}: {error}")
                if final:
                    report.failed += 1
                else:
                    report.retrying += 1
            else:
                _finish(rt, row_id, SENT, "")
                report.sent += 1
    finally:
        transport.close()
    return report


def _claim(rt: Runtime, box: SecretBox, row_id: int, seen: int) -> EmailMessage | None:
    with rt.sessions.begin() as s:
        claimed = s.execute(
            update(Outbox)
            .where(Outbox.id == row_id, Outbox.status == PENDING, Outbox.attempts == seen)
            .values(attempts=seen + 1)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        row = s.get_one(Outbox, row_id)
        return _message(row, sender=rt.settings.mail_from, now=rt.clock(), box=box)


def _finish(rt: Runtime, row_id: int, status: str, error: str) -> None:
    with rt.sessions.begin() as s:
        row = s.get_one(Outbox, row_id)
        row.status = status
        row.last_error = error
        if status == SENT:
            row.sent_at = rt.clock()
        if status != PENDING:
            row.body_text = _LINK.sub(_REDACTED, row.body_text)
            row.body_html = _LINK.sub(_REDACTED, row.body_html)


def _message(row: Outbox, *, sender: str, now: datetime, box: SecretBox) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = row.to_addr
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(idstring=f"outbox.{row.id}", domain=_domain(sender))
    msg.set_content(open_links(row.body_text, box))
    if row.body_html:
        msg.add_alternative(open_links(row.body_html, box), subtype="html")
    return msg


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip("> ") or "localhost"
