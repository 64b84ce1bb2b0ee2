"""Sending account mail (R10 enrollment and reset) from the one mail queue.

Account mail waits in the same queue as the R9 notices (:mod:`certdesk.store.notices`,
queued by :mod:`certdesk.services.people.account_mail`) and goes out the same way: each
message is **claimed** with a lease before it is sent (two senders never make the same
attempt), the outcome is written right after the SMTP server answered and only where the
claim is still this sender's, and a claim whose sender died runs out and is taken over, its
attempt counted. The guarantee is the notices' (see :mod:`certdesk.services.lifecycle.
notices`): recorded once, never lost; the one message a crash between the server's "250"
and the mark can send twice goes out with the same ``Message-ID``.

**Failures.** A server that cannot be reached, or refuses our login or our sender, stops the
run: the mail waits (``pending``) and is retried with exponential backoff, however long the
outage lasts; an outage never fails a mail for good. A temporary refusal of one message (4xx)
is retried with the same backoff up to ``CERTDESK_NOTICE_MAX_ATTEMPTS``; a permanent refusal
(5xx) fails it at once. ``certdesk worker`` sends what is due each pass; ``certdesk mail
send`` (an operator, after fixing the SMTP server) sends everything waiting at once.
"""

from __future__ import annotations

import ssl
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

import structlog

from certdesk.core.notices import NoticeState
from certdesk.errors import CertdeskError, Unavailable
from certdesk.notify.smtp import SmtpTransport, Transport, is_permanent, parse_smtp_url
from certdesk.services.lifecycle.notice_mail import message_id
from certdesk.services.lifecycle.notice_sending import (
    CLAIM_LEASE,
    RunClock,
    retry_later,
    server_level,
)
from certdesk.services.people.account_mail import opened
from certdesk.services.pki import signer_identity
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.store import notices as store
from certdesk.store.models import Notice
from certdesk.store.notices import ACCOUNT

log = structlog.get_logger("certdesk.mail")

BATCH = 500  # account mail claimed per run


@dataclass
class SendReport:
    """What one run did (``certdesk mail send --json`` and the worker's ``mail`` job)."""

    sent: int = 0
    retrying: int = 0  # failed this time (or not attempted), waiting for a retry
    failed: int = 0  # failed for good this time
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class _Stored:
    id: int
    to: str
    subject: str
    text: str
    html: str
    sealed_link: str | None
    attempts: int

    @classmethod
    def of(cls, row: Notice) -> _Stored:
        return cls(
            row.id,
            row.contact_email,
            row.subject,
            row.body_text,
            row.body_html,
            row.sealed_link,
            row.attempts,
        )


class AccountMailService:
    """Sends the account mail that waits in the mail queue."""

    def __init__(self, rt: Runtime, box: SecretBox) -> None:
        self._rt = rt
        self._box = box
        self._tls: ssl.SSLContext | None = None

    def waiting(self) -> int:
        """Account mail not sent yet (pending, or being sent)."""
        with self._rt.reads() as s:
            return store.waiting_count(s, ACCOUNT)

    def send(
        self,
        transport: Transport | None = None,
        *,
        due_only: bool = False,
        worker_id: str | None = None,
        limit: int = BATCH,
    ) -> SendReport:
        """Send up to ``limit`` waiting account mails, oldest first, over ``transport`` or
        ``CERTDESK_SMTP_URL`` (closed at the end). ``due_only``: only mail whose retry moment
        has come (the worker); otherwise all that waits (an operator's ``mail send``)."""
        if transport is None:
            transport = self._smtp()
        worker = worker_id or signer_identity.current()
        current = RunClock(self._rt.clock(), self._rt.clock)
        report = SendReport()
        try:
            with self._rt.sessions.begin() as s:
                claimed = store.claim_due(
                    s,
                    current(),
                    worker,
                    current() + CLAIM_LEASE,
                    limit,
                    subject_types=(ACCOUNT,),
                    ignore_backoff=not due_only,
                )
            if claimed:
                self._deliver(sorted(claimed), worker, current, transport, report)
        finally:
            transport.close()
        if report.sent or report.failed or report.retrying:
            log.info("account mail", worker=worker, **report.as_dict())
        return report

    def _smtp(self) -> Transport:
        url = self._rt.settings.smtp_url
        if not url:
            raise Unavailable(
                "mail.not_configured",
                f"CERTDESK_SMTP_URL is not set; {self.waiting()} message(s) wait in the outbox",
            )
        if self._tls is None:  # one TLS context per process: it reads the CA bundle
            self._tls = ssl.create_default_context()
        return SmtpTransport(parse_smtp_url(url), ssl_context=self._tls)

    def _deliver(
        self,
        ids: list[int],
        worker: str,
        current: RunClock,
        transport: Transport,
        report: SendReport,
    ) -> None:
        with self._rt.reads() as s:
            queue = deque(_Stored.of(row) for row in store.by_ids(s, ids))
        # Every claim of this run was taken after it started: none runs out before this.
        held_until = current.start + CLAIM_LEASE
        while queue:
            mail = queue.popleft()
            if current() + CLAIM_LEASE / 2 > held_until:
                held_until = current() + CLAIM_LEASE
                with self._rt.sessions.begin() as s:
                    held = store.renew(s, [mail.id, *(m.id for m in queue)], worker, held_until)
                if mail.id not in held or any(m.id not in held for m in queue):
                    # This run stalled and another sender took over: that sender sends them.
                    log.warning("account mail claims lost", worker=worker)
                    queue = deque(m for m in queue if m.id in held)
                    if mail.id not in held:
                        continue
            try:
                message = self._message(mail, current())
            except CertdeskError as exc:  # the secret box cannot open the link: not this key
                rest = [mail.id, *(m.id for m in queue)]
                retry_later(self._rt, rest, worker, current(), exc.detail, attempted=False)
                report.retrying += len(rest)
                report.errors.append(exc.detail)
                return
            try:
                transport.send(message)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:1000]
                report.errors.append(f"{mail.to}: {error}")
                if server_level(exc):
                    # The server, not this message: nothing fails for it; all of it waits.
                    retry_later(self._rt, [mail.id], worker, current(), error, attempted=True)
                    rest = [m.id for m in queue]
                    retry_later(
                        self._rt, rest, worker, current(), f"not attempted: {error}",
                        attempted=False,
                    )  # fmt: skip
                    report.retrying += 1 + len(rest)
                    return
                self._refused(mail, worker, current(), exc, error, report)
                continue
            with self._rt.transaction() as conn:
                done = store.mark_sent(conn, worker, current(), {mail.id: (mail.subject, False)})
            if done:
                report.sent += 1
            else:
                # The claim ran out while the message was on its way (the at-least-once
                # window): another sender may send it again, with the same Message-ID.
                log.warning("account mail sent after its claim ran out", mail=mail.id)
                report.errors.append(f"mail {mail.id}: claim lost while sending")

    def _refused(
        self,
        mail: _Stored,
        worker: str,
        at: datetime,
        exc: Exception,
        error: str,
        report: SendReport,
    ) -> None:
        """The server refused this message: for good (5xx, or attempts used up) or for now."""
        attempts = mail.attempts + 1
        if is_permanent(exc) or attempts >= self._rt.settings.notice_max_attempts:
            why = "refused" if is_permanent(exc) else f"gave up after {attempts} attempts"
            with self._rt.sessions.begin() as s:
                store.settle(
                    s,
                    [mail.id],
                    worker,
                    {
                        "status": NoticeState.FAILED,
                        "attempts": attempts,
                        "last_error": f"{why}: {error}",
                    },
                )
            report.failed += 1
        else:
            retry_later(self._rt, [mail.id], worker, at, error, attempted=True)
            report.retrying += 1

    def _message(self, mail: _Stored, at: datetime) -> EmailMessage:
        sender = self._rt.settings.mail_from
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = mail.to
        msg["Subject"] = mail.subject
        msg.set_raw("Date", format_datetime(at))
        # The same Message-ID for every attempt: a repeat after a crash is recognisable.
        msg.set_raw("Message-ID", message_id([mail.id], sender, kind="mail"))
        msg.set_raw("Auto-Submitted", "auto-generated")  # RFC 3834 §5
        msg.set_content(opened(mail.text, mail.sealed_link, self._box))
        if mail.html:
            msg.add_alternative(opened(mail.html, mail.sealed_link, self._box), subtype="html")
        return msg
