"""Sending account mail (R10 enrollment and reset) from the one mail queue.

Account mail waits in the same queue as the R9 notices (:mod:`certdesk.store.mail_queue`,
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

import structlog

from certdesk.errors import CertdeskError, Unavailable
from certdesk.notify.messages import Mail
from certdesk.notify.smtp import SmtpTransport, Transport, parse_smtp_url
from certdesk.notify.wire import Outgoing, Sender
from certdesk.services.lifecycle.mail_queue import CLAIM_LEASE, Halt, QueueSender, RunClock
from certdesk.services.lifecycle.queued_mail import queued_mail
from certdesk.services.people.account_mail import opened
from certdesk.services.pki import signer_identity
from certdesk.services.runtime import Runtime
from certdesk.services.secretbox import SecretBox
from certdesk.store import mail_queue as store
from certdesk.store.models import Notice
from certdesk.store.notices import STORED_MESSAGES

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
            return sum(store.waiting_count(s, kind) for kind in STORED_MESSAGES)

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
                    subject_types=STORED_MESSAGES,
                    ignore_backoff=not due_only,
                )
            if claimed:
                with self._rt.reads() as s:
                    queue = deque([_Stored.of(row)] for row in store.by_ids(s, sorted(claimed)))
                _AccountMailRun(self._rt, self._box).send_all(
                    queue, worker, current, transport, report
                )
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


class _AccountMailRun(QueueSender[_Stored, SendReport]):
    """Account mail through the queue's loop: each stored mail is one message."""

    noun = "mail"
    what = "account mail"

    def __init__(self, rt: Runtime, box: SecretBox) -> None:
        super().__init__(rt)
        self._box = box
        self._from = Sender.of(rt.settings.mail_from)

    def _id(self, entry: _Stored) -> int:
        return entry.id

    def _to(self, group: list[_Stored]) -> str:
        return group[0].to

    def _unavailable(self, group: list[_Stored], error: str) -> str:
        return f"{group[0].to}: {error}"

    def _outcome(self, group: list[_Stored]) -> dict[int, tuple[str, bool]]:
        return {mail.id: (mail.subject, False) for mail in group}

    def _compose(
        self,
        group: list[_Stored],
        at: datetime,
        queue: deque[list[_Stored]],
        worker_id: str,
        tally: SendReport,
    ) -> Outgoing:
        (mail,) = group
        try:
            return self._message(mail, at)
        except CertdeskError as exc:  # the secret box cannot open the link: not this key
            raise Halt(exc.detail) from None

    def _message(self, mail: _Stored, at: datetime) -> Outgoing:
        # Built like a notice (one way to build mail); the sealed link is opened only into
        # the bytes handed to the SMTP server (R10).
        body = Mail(
            mail.subject,
            opened(mail.text, mail.sealed_link, self._box),
            opened(mail.html, mail.sealed_link, self._box) if mail.html else "",
        )
        return queued_mail(self._from, mail.to, body, [mail.id], at, kind="mail")
